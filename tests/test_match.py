"""Select and match: on-units across a span and the best Jaccard matches, against slow loops."""

import numpy as np
import pytest

from rnntui import match


def test_on_across_is_every_token_above_the_threshold():
    rng = np.random.default_rng(0)
    hs = rng.uniform(-1, 1, (40, 7))
    for w in (1, 3, 8):
        got = match.on_across(hs, w, 0.2)
        want = np.array(
            [[all(hs[t + i, j] > 0.2 for i in range(w)) for j in range(7)] for t in range(41 - w)]
        )
        np.testing.assert_array_equal(got, want)


def test_best_matches_are_the_slow_greedy_jaccard_ranking():
    rng = np.random.default_rng(1)
    hs = rng.uniform(-1, 1, (200, 12))
    hs[50:54, :6] = 0.9  # a window with the selection's units on
    pattern = np.zeros(12, bool)
    pattern[:6] = True
    w = 4
    got = match.best_matches(pattern, hs, w, 0.3, n=5)
    scores = []
    for t in range(200 - w + 1):
        on = {j for j in range(12) if all(hs[t + i, j] > 0.3 for i in range(w))}
        p = set(range(6))
        scores.append((len(on & p) / len(on | p) if on | p else 0.0, t, sorted(on & p)))
    scores.sort(key=lambda s: (-s[0], s[1]))
    taken, want = set(), []
    for jac, t, shared in scores:
        if len(want) == 5 or jac == 0:
            break
        if taken & set(range(t, t + w)):
            continue
        taken |= set(range(t, t + w))
        want.append((t, jac, shared))
    assert [(m.start, m.jaccard, m.shared.tolist()) for m in got] == [
        (t, pytest.approx(j), s) for t, j, s in want
    ]
    assert got[0].start == 50 and got[0].jaccard >= 6 / 12
    kept = match.off_counts(hs, 0.3)  # the lens keeps these per threshold: the same answer
    assert [(m.start, m.jaccard) for m in match.best_matches(pattern, hs, w, 0.3, n=5, off=kept)] == [
        (m.start, m.jaccard) for m in got]  # fmt: skip
    assert match.best_matches(np.zeros(12, bool), hs, w, 0.3) == []


def test_inspect_match_lists_the_matches_of_the_bracketed_span(tmp_path):
    """On the shipped (trained) model: a random one has few units that stay on for long."""
    from click.testing import CliRunner

    from rnntui import checkpoint
    from rnntui.cli import SHIPPED_MODEL, main
    from rnntui.inspect import hidden_trace

    ckpt = checkpoint.load(SHIPPED_MODEL)
    model, vocab = ckpt.model, ckpt.vocab
    text = "It is true (he said) that the just are happy, and (as I think) the unjust are not.\n" * 3
    search = tmp_path / "s.txt"
    search.write_text(text, encoding="utf-8")
    args = [
        "inspect",
        "match",
        str(SHIPPED_MODEL),
        "He said [(and I agree)]",
        "--text",
        str(search),
        "-n",
        "3",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    hs = hidden_trace(model.params, vocab.encode("\nHe said (and I agree)"))[:, 0]
    pattern = match.on_across(hs[9:], 13, 0.3)[0]  # after the newline and "He said "
    assert pattern.sum() >= 2
    assert result.output.startswith(
        f"{int(pattern.sum())} unit(s) of layer 0 on (h > 0.3) across '(and I agree)'"
    )
    found = match.best_matches(pattern, hidden_trace(model.params, vocab.encode(text))[:, 0], 13, 0.3, 3)
    listed = [float(line.split()[0]) for line in result.output.splitlines()[2:]]
    assert listed == pytest.approx([m.jaccard for m in found], abs=0.006) and len(listed) == 3
    bad = CliRunner().invoke(
        main, ["inspect", "match", str(SHIPPED_MODEL), "the [dog", "--text", str(search)]
    )
    assert bad.exit_code == 1 and "mark the span with one [ and one ]" in bad.output
