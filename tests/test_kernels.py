"""Every jitted kernel against the plain NumPy reference, on fresh random float32 inputs.

Tolerance: the reference runs in float64, and the kernels' float32 results (sums over at most a few
hundred terms, in an order that depends on threads and BLAS) are within about 1e-6 of the largest
value compared; ``assert_close`` allows 2e-5 of it (tests/numerics.py says why never per entry).
"""

import numpy as np
import pytest
from numerics import assert_close

from rnntui import kernels, reference

REL = 2e-5  # of the largest value compared, against a float64 reference


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


# H = 390: the recurrent product's matmul_nt path (H > 352, R < 32), with leftover rows and columns
@pytest.mark.parametrize(
    "T,B,I,H", [(1, 1, 3, 4), (7, 5, 6, 8), (16, 3, 32, 24), (32, 8, 64, 128), (6, 11, 5, 390)]
)
def test_rnn_forward_and_backward_match_reference(rng, T, B, I, H):
    x, h0 = f32(rng.standard_normal((T, B, I))), f32(rng.standard_normal((B, H)) * 0.5)
    Wxh, Whh = f32(rng.standard_normal((I, H)) / np.sqrt(I)), f32(rng.standard_normal((H, H)) / np.sqrt(H))
    bh = f32(rng.standard_normal(H) * 0.1)
    hs = np.empty((T + 1, B, H), np.float32)
    hs[0] = h0
    kernels.rnn_forward(x, Wxh, Whh, bh, hs)
    f64 = [a.astype(np.float64) for a in (x, h0, Wxh, Whh, bh)]
    ref_hs = reference.rnn_forward(*f64)
    assert_close(hs[1:], ref_hs, REL, "hs")

    dhs = f32(rng.standard_normal((T, B, H)))
    ref = reference.rnn_backward(*f64[:4], ref_hs, dhs.astype(np.float64))
    dx, dWxh, dWhh = np.empty_like(x), np.empty_like(Wxh), np.empty_like(Whh)
    dbh, dh0 = np.empty_like(bh), np.empty_like(h0)
    kernels.rnn_backward(x, Wxh, Whh, hs, dhs, dx, dWxh, dWhh, dbh, dh0)
    names = ("dx", "dWxh", "dWhh", "dbh", "dh0")
    for name, got, want in zip(names, (dx, dWxh, dWhh, dbh, dh0), ref, strict=True):
        assert_close(got, want, REL, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("R,K,M", [(1, 1, 1), (4, 8, 4), (5, 7, 9), (16, 256, 256), (3, 33, 6), (9, 400, 13)])
def test_matmul_nt_matches_numpy(rng, R, K, M, dtype):
    """Every block shape: full 4 x 4 blocks, leftover rows, leftover columns, fewer than 4 of either."""
    a, bt = rng.standard_normal((R, K)).astype(dtype), rng.standard_normal((M, K)).astype(dtype)
    out = np.full((R, M), np.nan, dtype)  # garbage: every element must be written
    kernels.matmul_nt(a, bt, out)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    want = a.astype(np.float64) @ bt.T.astype(np.float64)
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol * np.sqrt(K))


@pytest.mark.parametrize("K, M", [(1, 1), (3, 5), (8, 8), (9, 17), (64, 256), (130, 520)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transpose_matches_numpy(rng, K, M, dtype):
    W = rng.standard_normal((K, M)).astype(dtype)
    out = kernels.transpose(W)
    assert out.flags.c_contiguous and out.dtype == dtype
    np.testing.assert_array_equal(out, W.T)  # sizes that are not whole tiles of 8 included


@pytest.mark.parametrize("R,H", [(16, 256), (13, 256), (3, 100), (16, 512), (6, 390), (40, 400), (2, 400)])
def test_recurrent_product_matches_numpy(rng, R, H):
    """Every path (BLAS 8 rows at a time for H <= 352; above it matmul_nt for 4 <= R < 32, else one BLAS
    call) gives h @ W."""
    h, W = f32(rng.standard_normal((R, H))), f32(rng.standard_normal((H, H)))
    out = np.full((R, H), np.nan, np.float32)
    kernels.recurrent_product(h, W, np.ascontiguousarray(W.T), out)
    assert_close(out, h.astype(np.float64) @ W, REL)


def test_embedding_lookup_and_scatter(rng):
    V, E, T, B = 11, 5, 6, 4
    embed = f32(rng.standard_normal((V, E)))
    tokens = rng.integers(0, V, (T, B)).astype(np.int32)
    out = np.empty((T, B, E), np.float32)
    kernels.embed_forward(tokens, embed, out)
    np.testing.assert_array_equal(out, embed[tokens])
    dout = f32(rng.standard_normal((T, B, E)))
    dembed = f32(rng.standard_normal((V, E)))  # garbage: the kernel must overwrite it
    kernels.embed_backward(tokens, dout, dembed)
    want = np.zeros((V, E))
    np.add.at(want, tokens.reshape(-1), dout.reshape(-1, E))
    assert_close(dembed, want, REL)


@pytest.mark.parametrize("N,V", [(1, 2), (13, 7), (64, 300), (520, 1100)])
def test_softmax_xent_matches_reference(rng, N, V):
    logits = f32(rng.standard_normal((N, V)) * 3)
    targets = rng.integers(0, V, N).astype(np.int32)
    want_loss, want_grad = reference.softmax_xent(logits.astype(np.float64), targets)
    per_row = np.empty(N, np.float32)
    kernels.xent(logits, targets, per_row)
    got = logits.copy()
    loss = kernels.softmax_xent(got, targets, N) / N  # the sum; the gradient is of the mean
    assert loss == pytest.approx(want_loss, rel=1e-5)
    np.testing.assert_allclose(per_row.mean(), want_loss, rtol=1e-5)
    assert_close(got, want_grad, REL)


def test_softmax_xent_is_stable_for_huge_logits():
    logits = f32([[1000.0, -1000.0, 0.0]])
    loss = kernels.softmax_xent(logits, np.array([0], np.int32), 1)
    assert np.isfinite(loss) and loss == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("N,K,M", [(37, 9, 1), (37, 9, 64), (301, 64, 129)])
def test_products_match_numpy(rng, N, K, M):
    a, b = f32(rng.standard_normal((N, K))), f32(rng.standard_normal((K, M)))
    out = np.empty((N, M), np.float32)
    kernels.matmul(a, b, out)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    # scale: the size of the terms (|a| |b|), since a result may be small by cancelling
    assert_close(out, a64 @ b64, REL, "matmul", (np.abs(a64) @ np.abs(b64)).max())
    c = f32(rng.standard_normal((N, M)))
    c64 = c.astype(np.float64)
    out = np.empty((K, M), np.float32)
    kernels.matmul_tn(a, c, out)
    assert_close(out, a64.T @ c64, REL, "matmul_tn", (np.abs(a64.T) @ np.abs(c64)).max())
    sums = np.full(M, np.nan, np.float32)
    kernels.column_sums(c, sums)
    assert_close(sums, c64.sum(0), REL, "column_sums", np.abs(c64).sum(0).max())


def test_optimisers_match_reference(rng):
    """Each update (new p - old p, and the new optimiser state) against the float64 reference."""
    n = 10_000
    p, g = f32(rng.standard_normal(n)), f32(rng.standard_normal(n))
    m, v = f32(rng.standard_normal(n) * 0.1), f32(rng.random(n) * 0.1)

    def f64(*arrays):
        return [a.astype(np.float64) for a in arrays]

    p0 = p.astype(np.float64)
    want_p, want_m, want_v = reference.adam_step(*f64(p, g, m, v), 1e-2, 0.9, 0.999, 1e-8, 3, 0.5)
    kernels.adam_step(p, g, m, v, 1e-2, 0.9, 0.999, 1e-8, 3, 0.5)
    assert_close(p - p0, want_p - p0, REL, "adam update")
    assert_close(m, want_m, REL, "m")
    assert_close(v, want_v, REL, "v")

    cache, p0 = f32(rng.random(n)), p.astype(np.float64)
    want_p, want_c = reference.adagrad_step(*f64(p, g, cache), 0.1, 1e-8, 0.7)
    kernels.adagrad_step(p, g, cache, 0.1, 1e-8, 0.7)
    assert_close(p - p0, want_p - p0, REL, "adagrad update")
    assert_close(cache, want_c, REL, "cache")

    p0 = p.astype(np.float64)
    kernels.sgd_step(p, g, 0.3, 2.0)
    assert_close(p - p0, -0.3 * 2.0 * g.astype(np.float64), REL, "sgd update")
    assert kernels.global_norm(g) == pytest.approx(np.linalg.norm(g.astype(np.float64)), rel=1e-6)


@pytest.mark.parametrize("L", [1, 2])
def test_step_token_matches_chunk_forward(rng, L):
    """Feeding tokens one at a time gives the same memory and logits as the batched forward."""
    from rnntui.model import RNN, ModelConfig

    model = RNN.initialised(ModelConfig(vocab_size=9, embed=4, hidden=6, layers=L), rng)
    tokens = rng.integers(0, 9, 8)
    h = np.zeros((L, 6), np.float32)
    for t in tokens:
        logits = model.step(int(t), h).copy()
    grid = np.append(tokens, 0).reshape(-1, 1).astype(np.int32)  # (T+1, 1)
    losses, final = model.token_losses(grid, model.zero_state(1))
    assert_close(h, final[:, 0], REL)
    z = logits.astype(np.float64)
    last = np.log(np.exp(z - z.max()).sum()) + z.max() - z[0]  # the last target is token 0
    assert losses[-1, 0] == pytest.approx(last, rel=1e-5)


def test_non_finite_values_propagate():
    """A diverging run must show NaN, not be clamped back to finite numbers by the fast paths."""
    assert np.isnan(kernels.tanh32(np.float32(np.nan)))
    assert kernels.tanh32(np.float32(np.inf)) == 1.0 and kernels.tanh32(np.float32(-np.inf)) == -1.0
    for bad in (np.nan, np.inf, -np.inf):
        logits = np.zeros((3, 50), np.float32)
        logits[1, 7] = bad
        losses = np.empty(3, np.float32)
        kernels.xent(logits, np.array([0, 1, 2], np.int32), losses)
        assert np.isfinite(losses[[0, 2]]).all() and np.isnan(losses[1])
        assert np.isnan(kernels.softmax_xent(logits, np.array([0, 1, 2], np.int32), 3))
        assert np.isnan(logits[1]).all() and np.isfinite(logits[[0, 2]]).all()


def test_fast_tanh_is_accurate_and_bounded():
    """The float32 tanh approximation: within 1e-6 relative of float64 tanh everywhere, |y| <= 1."""
    x = np.concatenate([np.linspace(-12, 12, 200_001), [0.0, 1e-30, -1e-20, 1e-4, 40.0, -1e4, 3.4e38]])
    x32 = x.astype(np.float32)
    y = np.array([kernels.tanh32(v) for v in x32[::97]] + [kernels.tanh32(v) for v in x32[-7:]], np.float32)
    xs = np.concatenate([x32[::97], x32[-7:]])
    want = np.tanh(xs.astype(np.float64))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-37)
    assert np.abs(y).max() <= 1.0


def test_rnn_forward_float32_uses_accurate_tanh_for_every_element(rng):
    """The vectorised loop over a whole chunk, against float64 np.tanh: 2e-6 relative per element, beyond
    what the float32 pre-activation's own rounding explains."""
    T, B, I, H = 3, 4, 5, 300
    x = f32(rng.standard_normal((T, B, I)) * 3)
    Wxh, Whh = f32(rng.standard_normal((I, H))), np.zeros((H, H), np.float32)
    bh = np.zeros(H, np.float32)
    hs = np.zeros((T + 1, B, H), np.float32)
    kernels.rnn_forward(x, Wxh, Whh, bh, hs)
    x64, W64 = x.reshape(T * B, I).astype(np.float64), Wxh.astype(np.float64)
    want = np.tanh(x64 @ W64)
    # the float32 sum x . Wxh may round by I * eps32 * sum |x| |w| (in any order), and tanh' carries that
    summed = I * np.finfo(np.float32).eps * (np.abs(x64) @ np.abs(W64)) * (1 - want**2)
    err = np.abs(hs[1:].reshape(T * B, H) - want)
    assert (err <= 2e-6 * np.abs(want) + summed).all(), (err / (2e-6 * np.abs(want) + summed)).max()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_shifted_sum_matches_numpy(rng, dtype):
    row = (rng.standard_normal(1000) * 30).astype(dtype)
    row[:3] = (-200.0, 0.0, 88.0)
    m = row.dtype.type(kernels.row_max(row))  # Numba returns a Python float; keep the row's dtype
    assert m == row.max()
    want = np.exp((row - m).astype(np.float64))  # the shift rounds in the row's dtype, as np.exp's would
    got = row.copy()
    s = kernels.exp_shifted_sum(got, m, np.empty(len(row), np.int32))
    tiny = 2e-38  # the float32 path floors exp(z) at exp(-87) ~ 1.6e-38
    np.testing.assert_allclose(got, want, rtol=3e-7 if dtype == np.float32 else 1e-15, atol=tiny)
    assert s == pytest.approx(want.sum(), rel=1e-6)
    assert got.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "R,H,G",
    [(16, 24, 3), (16, 256, 3), (16, 256, 4), (13, 390, 3), (16, 512, 4), (3, 300, 4), (16, 390, 1),
     (11, 512, 1), (2, 512, 1), (16, 359, 1), (16, 359, 4), (40, 512, 3), (5, 390, 3)],
)  # fmt: skip
def test_stacked_gate_products_match_numpy(rng, R, H, G, dtype):
    """h Whh and dg Whh^T for a stacked-gate Whh (H, GH) (G = 1: the vanilla cell's square one), cut
    into blocks for the small path or not, against float64 NumPy, with a tolerance relative to the
    size of the values."""
    W = rng.standard_normal((H, G * H)).astype(dtype)
    WT = np.ascontiguousarray(W.T)
    h, g = rng.standard_normal((R, H)).astype(dtype), rng.standard_normal((R, G * H)).astype(dtype)
    Wb, tmp, part = kernels.stacked_workspace(W, R)
    assert Wb.shape[0] == max(1, kernels.stacked_blocks(H, G * H))
    out, outt = np.full((R, G * H), np.nan, dtype), np.full((R, H), np.nan, dtype)
    kernels.stacked_product(h, W, WT, Wb, tmp, out)
    kernels.stacked_product_t(g, WT, W, tmp, part, outt)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for got, want in ((out, h.astype(np.float64) @ W), (outt, g.astype(np.float64) @ WT)):
        assert np.abs(got - want).max() <= tol * np.abs(want).max() * np.sqrt(G * H)


def test_stacked_blocks_are_wide_and_fit_the_small_path():
    """Every cut the blocked products use: blocks at least 64 wide that divide GH evenly and fit the
    small-matrix limit 8 rows at a time; 1 when the whole fits; 0 (no cut) otherwise."""
    for H in range(8, 1100, 7):
        for G in (1, 3, 4):
            n = kernels.stacked_blocks(H, G * H)
            if n == 1:
                assert 8 * H * G * H <= kernels._SMALL_MNK
            elif n > 1:
                assert G * H % n == 0 and G * H // n >= 64 and 8 * H * (G * H // n) <= kernels._SMALL_MNK
