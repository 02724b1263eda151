"""Gradients against central finite differences in float64, for every parameter and h0.

The finite differences come from ``reference.model_loss`` (independent of the kernels), so this
checks both the backward pass and that the forward pass computes the textbook model.
Relative error: max|a - b| / max(|a| + |b|, 1e-8), which must be below 1e-6.
"""

import numpy as np
import pytest
from numerics import central_differences

from rnntui import reference
from rnntui.model import RNN, ModelConfig, param_shapes


def rel_error(a, b):
    return np.abs(a - b).max() / max(np.abs(a).max() + np.abs(b).max(), 1e-8)


# char-like (small V) and word-like (larger V, E != H) shapes; a T = 1 case; 1 and 2 layers
CASES = [
    dict(V=5, E=4, H=6, L=1, T=6, B=3),
    dict(V=5, E=4, H=6, L=2, T=5, B=2),
    dict(V=40, E=7, H=5, L=1, T=4, B=2),
    dict(V=40, E=7, H=5, L=2, T=3, B=3),
    dict(V=6, E=3, H=4, L=2, T=1, B=2),
]


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "V{V}-E{E}-H{H}-L{L}-T{T}-B{B}".format(**c))
def test_gradients_match_finite_differences(case, cell):
    rng = np.random.default_rng(7)
    V, E, H, L, T, B = (case[k] for k in "VEHLTB")
    cfg = ModelConfig(vocab_size=V, embed=E, hidden=H, layers=L, cell=cell)
    model = RNN.initialised(cfg, rng, dtype=np.float64)
    model.flat += rng.standard_normal(model.flat.size) * 0.3  # away from the init's special structure
    tokens = rng.integers(0, V, (T + 1, B))
    h0 = rng.standard_normal((L, B, cfg.state_size)) * 0.5

    loss, final = model.loss_and_grads(tokens, h0)
    want_loss, want_final = reference.model_loss(model.params, L, tokens, h0, cell)
    assert loss == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose(final, want_final, rtol=1e-12, atol=1e-12)

    def f():
        return reference.model_loss(model.params, L, tokens, h0, cell)[0]

    eps = 1e-5
    numeric = central_differences(f, model.flat, eps)
    for name, shape in param_shapes(model.cfg).items():
        got, want = model.grads[name], numeric[_slice(model, name)].reshape(shape)
        assert rel_error(got, want) < 1e-6, name

    dh0 = model.dh0.copy()
    numeric_h0 = central_differences(f, h0, eps)
    assert rel_error(dh0, numeric_h0) < 1e-6


def _slice(model, name):
    offset = 0
    for n, shape in model.shapes.items():
        size = int(np.prod(shape))
        if n == name:
            return slice(offset, offset + size)
        offset += size
    raise KeyError(name)


def test_initial_loss_is_near_uniform_guess():
    rng = np.random.default_rng(0)
    model = RNN.initialised(ModelConfig(vocab_size=80, embed=16, hidden=64), rng)
    tokens = rng.integers(0, 80, (33, 8))
    loss, _ = model.loss_and_grads(tokens, model.zero_state(8))
    assert abs(loss - np.log(80)) < 0.1


def test_recurrent_matrix_starts_orthogonal():
    model = RNN.initialised(ModelConfig(vocab_size=5, hidden=32, layers=2), np.random.default_rng(0))
    for layer in range(2):
        W = model.params[f"Whh{layer}"].astype(np.float64)
        np.testing.assert_allclose(W @ W.T, np.eye(32), atol=1e-5)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_splitting_the_batch_between_threads_changes_nothing(cell):
    """parts = 1, 2, 3 (uneven shares of B = 5 streams, one more part than there are cores) give
    the same loss, gradient, final memory, dh0 and per-token losses, up to the order of one sum."""
    rng = np.random.default_rng(3)
    cfg = ModelConfig(vocab_size=9, embed=4, hidden=7, layers=2, cell=cell)
    model = RNN.initialised(cfg, rng, dtype=np.float64)
    tokens = rng.integers(0, 9, (6, 5))
    h0 = rng.standard_normal((2, 5, cfg.state_size)) * 0.5
    results = []
    for parts in (1, 2, 3):
        model.parts = parts
        loss, final = model.loss_and_grads(tokens, h0)
        per_token, final2 = model.token_losses(tokens, h0)
        results.append((loss, model.grad.copy(), final, model.dh0.copy(), per_token, final2))
    for got in results[1:]:
        for a, b in zip(results[0], got, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert results[0][4].mean() == pytest.approx(results[0][0], rel=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("L", [1, 2])
def test_step_batch_matches_the_reference_and_one_token_steps(L, dtype, cell):
    """A beam's batched step: B streams, each fed its own token, give the textbook model's memory and
    logits (the cell's NumPy twin with T = 1) and what RNN.step computes for each stream alone."""
    rng = np.random.default_rng(5)
    V, E, H, B = 11, 5, 16, 4
    cfg = ModelConfig(vocab_size=V, embed=E, hidden=H, layers=L, cell=cell)
    model = RNN.initialised(cfg, rng, dtype)
    tokens = rng.integers(0, V, B)
    h0 = (rng.standard_normal((L, B, cfg.state_size)) * 0.5).astype(dtype)  # (L, B, S*H)
    h = h0.copy()
    logits = model.step_batch(tokens, h)
    assert logits.shape == (B, V) and logits.dtype == dtype
    p = {k: v.astype(np.float64) for k, v in model.params.items()}
    _, want_final = reference.model_loss(p, L, np.stack([tokens, tokens]), h0.astype(np.float64), cell)
    np.testing.assert_allclose(h, want_final, rtol=1e-4, atol=1e-5)
    x = model.memory(want_final)[L - 1][None]
    np.testing.assert_allclose(logits, x[0] @ p["Why"] + p["by"], rtol=1e-4, atol=1e-5)
    for b in range(B):
        hb = np.ascontiguousarray(h0[:, b])
        np.testing.assert_allclose(model.step(int(tokens[b]), hb), logits[b], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(hb, h[:, b], rtol=1e-4, atol=1e-5)


def test_a_failing_share_waits_for_the_others():
    """If one thread's share raises (or Ctrl-C arrives), loss_and_grads raises only once every
    other share has finished, so no thread is still writing the buffers the next call reuses."""
    import threading
    import time

    model = RNN.initialised(ModelConfig(vocab_size=9, embed=4, hidden=8), np.random.default_rng(0))
    model.parts = 3
    finished = []
    real = model._share_loss_and_grads

    def share(ws, g, tokens, h0, N, masks):
        if g is model.grads:
            raise MemoryError("share 0 failed")
        time.sleep(0.2)
        loss = real(ws, g, tokens, h0, N, masks)
        finished.append(threading.current_thread().name)
        return loss

    model._share_loss_and_grads = share
    tokens = np.random.default_rng(1).integers(0, 9, (5, 6))
    with pytest.raises(MemoryError):
        model.loss_and_grads(tokens, model.zero_state(6))
    assert len(finished) == 2
