"""Connectivity to the target (Distill, "Memorization in RNNs"): ||d logit_target / d x_(t-k)||,
checked against central finite differences in float64 through the forward pass, for every cell."""

import numpy as np
import pytest
from numerics import central_differences

from rnntui import inspect as ins
from rnntui.model import RNN, ModelConfig


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("V,E,H,L", [(7, 4, 6, 1), (30, 5, 4, 2)])
def test_connectivity_matches_finite_differences(cell, V, E, H, L):
    rng = np.random.default_rng(3)
    model = RNN.initialised(ModelConfig(vocab_size=V, embed=E, hidden=H, layers=L, cell=cell), rng,
                            dtype=np.float64)  # fmt: skip
    model.flat += rng.standard_normal(model.flat.size) * 0.5
    p = model.params
    ids = rng.integers(0, V, 9)
    target = int(rng.integers(0, V))
    fm = ins.fading_memory(p, ids, K=5, target=target)
    assert fm.connectivity.shape == (6,) and fm.target == target

    def logit(x):
        h = ins.hidden_trace_from_inputs(p, x)[-1, -1]  # the top layer's last memory
        return float(ins.logits_of(p, h)[target])

    x = p["embed"][ids].copy()
    eps = 1e-6
    for k in range(6):
        s = len(ids) - 1 - k
        grad = central_differences(lambda: logit(x), x[s], eps)  # x[s] nudged in place, (E,)
        assert fm.connectivity[k] == pytest.approx(np.linalg.norm(grad), rel=1e-6, abs=1e-10), k
    assert ins.fading_memory(p, ids, K=5).connectivity is None


def test_inspect_memory_prints_the_connectivity_column(tmp_path):
    from click.testing import CliRunner

    from rnntui.checkpoint import Checkpoint, save
    from rnntui.cli import main
    from rnntui.corpus import build_vocab

    vocab = build_vocab("the cat sat on the mat.", "char")
    model = RNN.initialised(ModelConfig(vocab_size=len(vocab), embed=4, hidden=6), np.random.default_rng(1))
    path = save(Checkpoint(model=model, vocab=vocab, meta={"step": 0}), tmp_path / "m.npz")
    result = CliRunner().invoke(main, ["inspect", "memory", str(path), "the cat", "-k", "4", "--target", "s"])
    assert result.exit_code == 0, result.output
    fm = ins.fading_memory(model.params, vocab.encode("the cat"), K=4, target=vocab.id_of("s"))
    rows = [line.split() for line in result.output.splitlines()[1:6]]
    assert [float(r[-1]) for r in rows] == pytest.approx(fm.connectivity, rel=2e-3)
    assert "of the next token 's'" in result.output
