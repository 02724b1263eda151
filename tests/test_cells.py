"""Each cell's jitted forward and backward against its own plain NumPy twin, on random inputs.

float64 runs the exact activations, so kernel and twin agree to rounding (1e-10 relative to the
largest value compared); float32 runs the SIMD approximations and its own summation order, checked
against the float64 twin with a tolerance relative to the size of the values.
"""

import numpy as np
import pytest

from rnntui import cells

GATED = ["gru", "lstm"]


def rel_error(a, b):
    return np.abs(a - b).max() / max(np.abs(a).max() + np.abs(b).max(), 1e-8)


def _layer(cell, rng, I, H, dtype):
    p = {k: np.zeros(s, dtype) for k, s in cell.param_shapes(I, H).items()}
    cell.init(p, rng)
    for k in p:  # away from the init's structure (zero biases, orthogonal blocks)
        p[k] += (rng.standard_normal(p[k].shape) * 0.3).astype(dtype)
    return p


def _run(cell, x, p, state0, dhs):
    T, B, _ = x.shape
    H = dhs.shape[2]
    ws = cell.Buffers(T, B, H, x.dtype)
    cell.layer_forward(x, p, state0, ws)
    hs = ws.hs[1:].copy()
    final = cell.final_state(ws).copy()
    g = {k: np.full_like(v, np.nan) for k, v in p.items()}  # every gradient must be written
    dx, ds0 = np.full_like(x, np.nan), np.full_like(state0, np.nan)
    cell.layer_backward(x, p, ws, dhs.copy(), dx, g, ds0)
    return hs, final, dx, g, ds0


@pytest.mark.parametrize("name", list(cells.CELLS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("T,B,I,H", [(1, 1, 3, 4), (7, 5, 6, 8), (16, 3, 32, 24), (5, 11, 9, 390)])
def test_cell_kernels_match_numpy_twin(name, dtype, T, B, I, H):
    cell = cells.get(name)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    p = _layer(cell, rng, I, H, dtype)
    state0 = (rng.standard_normal((B, cell.STATE_SLOTS * H)) * 0.5).astype(dtype)
    dhs = rng.standard_normal((T, B, H)).astype(dtype)
    hs, final, dx, g, ds0 = _run(cell, x, p, state0, dhs)

    f64 = {k: v.astype(np.float64) for k, v in p.items()}
    want_hs = cell.reference_forward(x.astype(np.float64), f64, state0.astype(np.float64))[0]
    want_dx, want_g, want_ds0 = cell.reference_backward(
        x.astype(np.float64), f64, state0.astype(np.float64), dhs.astype(np.float64)
    )
    tol = 1e-10 if dtype == np.float64 else 2e-5
    assert rel_error(hs, want_hs) < tol
    assert rel_error(final[:, :H], want_hs[-1]) < tol
    assert rel_error(dx, want_dx) < tol
    assert rel_error(ds0, want_ds0) < tol
    for k in p:
        assert rel_error(g[k], want_g[k]) < tol, k


@pytest.mark.parametrize("name", list(cells.CELLS))
def test_step_matches_chunk_forward(name):
    """Feeding tokens one at a time through ``step`` gives the chunk forward's states."""
    cell = cells.get(name)
    rng = np.random.default_rng(9)
    T, B, I, H = 6, 3, 5, 7
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    p = _layer(cell, rng, I, H, np.float32)
    state0 = (rng.standard_normal((B, cell.STATE_SLOTS * H)) * 0.5).astype(np.float32)
    ws = cell.Buffers(T, B, H, np.float32)
    cell.layer_forward(x, p, state0, ws)
    s = state0.copy()
    for t in range(T):
        h = cell.step(x[t], p, s)
        np.testing.assert_allclose(h, ws.hs[t + 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s, cell.final_state(ws), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", GATED)
def test_gates_lie_in_zero_one(name):
    cell = cells.get(name)
    rng = np.random.default_rng(3)
    I, H, B = 4, 6, 5
    p = _layer(cell, rng, I, H, np.float64)
    G = len(p["bh"]) // H
    gates = np.empty((B, G * H))
    s = np.zeros((B, cell.STATE_SLOTS * H))
    cell.step(rng.standard_normal((B, I)) * 3, p, s, gates)
    v = cell.gate_values(gates)
    assert v.shape == (B, len(cell.GATES), H)
    assert (v > 0).all() and (v < 1).all()


def test_lstm_forget_bias_starts_at_one():
    p = {k: np.zeros(s) for k, s in cells.lstm.param_shapes(3, 4).items()}
    cells.lstm.init(p, np.random.default_rng(0))
    np.testing.assert_array_equal(p["bh"], np.r_[np.zeros(4), np.ones(4), np.zeros(8)])


def test_unknown_cell_names_the_choices():
    with pytest.raises(ValueError, match="rnn, gru, lstm"):
        cells.get("transformer")


def test_a_gated_run_compiles_only_its_own_cell(tiny_text, tmp_path):
    """Start-up pays only for the cell in use: after a GRU trains, samples and evaluates, no LSTM
    kernel and no vanilla recurrence has been compiled (or loaded from the cache) in that process."""
    import subprocess
    import sys

    code = f"""
from rnntui.cells import gru, lstm
from rnntui import kernels
from rnntui.generate import sample_text
from rnntui.train import TrainConfig, Trainer
t = Trainer.start({str(tiny_text)!r}, TrainConfig(hidden=8, embed=4, seq=8, batch=2, steps=2, cell="gru"),
                  {str(tmp_path / "run")!r})
t.run()
sample_text(t.model, t.vocab, length=5, seed=0)
assert gru.forward.signatures and gru.backward.signatures
used = [f.__name__ for f in (lstm.forward, lstm.backward, lstm.gates_forward, kernels.rnn_forward,
                             kernels.rnn_backward, kernels.step_token) if f.signatures]
print(used)
assert not used, used
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("name", list(cells.CELLS))
def test_buffer_floats_counts_what_buffers_holds(name):
    cell = cells.get(name)
    ws = cell.Buffers(5, 3, 7, np.float32)
    held = sum(a.size for a in vars(ws).values() if isinstance(a, np.ndarray))
    assert cell.buffer_floats(5, 3, 7) == held
