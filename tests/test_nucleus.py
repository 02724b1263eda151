"""Nucleus (top-p) sampling: the kept set is the smallest set of the likeliest tokens whose mass
reaches p, sampling never leaves it, and p = 1 is plain sampling."""

import itertools

import numpy as np
import pytest
from click.testing import CliRunner

from rnntui.generate import nucleus, pick, probabilities


def smallest_sets(probs, p):
    """Brute force: every subset whose mass is >= p, of the smallest size, likeliest first."""
    for size in range(1, len(probs) + 1):
        sets = [set(c) for c in itertools.combinations(range(len(probs)), size) if probs[list(c)].sum() >= p]
        if sets:
            return sets
    raise AssertionError


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9, 0.999])
def test_the_nucleus_is_the_smallest_set_whose_mass_reaches_p(seed, p):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(7, 0.5))
    keep = nucleus(probs, p)
    kept = set(np.flatnonzero(keep).tolist())
    smallest = smallest_sets(probs, p)
    assert kept in smallest  # the smallest size, and (of those) the one of the likeliest tokens
    assert probs[keep].sum() >= p and probs[keep].min() >= probs[~keep].max(initial=0.0)


def test_sampling_never_leaves_the_nucleus_and_its_probabilities_are_renormalised():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=30) * 2
    for T in (0.5, 1.0, 1.7):
        keep = nucleus(probabilities(logits, T), 0.8)
        p = probabilities(logits, T, top_p=0.8)
        assert np.all(p[~keep] == 0) and p.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(
            p[keep], probabilities(logits, T)[keep] / probabilities(logits, T)[keep].sum()
        )
        draws = {pick(logits, rng, T, top_p=0.8) for _ in range(3000)}
        assert draws <= set(np.flatnonzero(keep).tolist()) and len(draws) == keep.sum()


def test_top_p_one_is_plain_sampling():
    logits = np.random.default_rng(1).normal(size=50)
    np.testing.assert_array_equal(probabilities(logits, 0.9, top_p=1.0), probabilities(logits, 0.9))
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    assert [pick(logits, a, 0.9) for _ in range(500)] == [pick(logits, b, 0.9, top_p=1.0) for _ in range(500)]
    assert nucleus(probabilities(logits, 0.9), 1.0).all()


def test_top_p_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="top_p"):
        probabilities(np.zeros(3), 1.0, top_p=0.0)
    from rnntui.cli import main

    result = CliRunner().invoke(main, ["sample", "x.npz", "--top-p", "1.5"])
    assert result.exit_code == 2 and "--top-p" in result.output and "Traceback" not in result.output
