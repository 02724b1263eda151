"""The jitted math of rnntui: pure functions on arrays, compiled by Numba.

Dimension legend, used in every shape comment:
    T = time steps in a chunk      B = batch (parallel text streams)
    V = vocabulary size            E = embedding size
    I = a layer's input size (E for the first layer, H above it)
    H = hidden size                N = T * B rows

Every layer is a pair ``x_forward`` / ``x_backward``. Kernels write into buffers the caller owns
(no large allocation per step) and keep the dtype they are given, so the float64 gradient check
runs exactly this code. ``reference.py`` holds the same math as slow, obvious NumPy; the tests
compare the two. Every kernel is single-threaded; ``nogil=True`` lets the model run one share of
the batch per thread (model.py) and a training thread run while the TUI stays responsive.
``cache=True`` keeps compiled code on disk between launches.
"""

import numpy as np
from numba import njit

# error_model="numpy": a division by zero gives inf/nan as in NumPy instead of raising, which removes
# the per-element check that otherwise stops LLVM from vectorising any loop with a division.
jit = njit(cache=True, nogil=True, error_model="numpy")
# for reductions: may reorder a sum (so it vectorises) but still assumes nothing about NaN or inf
sumjit = njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "nsz", "contract"})


# -- fast float32 tanh and exp -----------------------------------------------------------------------
#
# libm's tanhf/expf are scalar calls that LLVM cannot vectorise; at H = 256 they cost as much as
# every matrix product of a step. For float32 arrays the kernels use the two approximations below
# instead: plain arithmetic that compiles to SIMD. Both are accurate to a few float32 ulps
# (tanh: relative error < 4e-7; exp: < 2e-7); the coefficients come from a weighted least-squares
# fit of the relative error (benchmarks/fit_approx.py). float64 arrays (the gradient check) keep
# the exact np.tanh / np.exp, so the finite-difference tests check the textbook model.

_TANH_P = np.array([0.9999999772248461, 0.13381696185387046, 0.0034964223955533387, 2.0624600591384654e-05,
                    1.338000882477712e-08], np.float32)  # fmt: skip
_TANH_Q = np.array([1.0, 0.4671501130960375, 0.02588005466778879, 0.00032870731208680277,
                    7.786094375643538e-07], np.float32)  # fmt: skip
_TANH_CLAMP = np.float32(9.0)  # tanh(9) rounds to 1 in float32
_ONE = np.float32(1.0)
_NAN32 = np.float32(np.nan)
_EXP_C = np.array([1.0000000005331486, 1.000000036429562, 0.4999999240529904, 0.16666419814972025,
                   0.041668152158756654, 0.008374839394474736, 0.0013840958078003816],
                  np.float32)  # fmt: skip
_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693145751953125)  # ln 2 split in two so k * _LN2_HI is exact
_LN2_LO = np.float32(1.4286068203094172e-06)
_EXP_MIN = np.float32(-87.0)  # exp(-87) ~ 1.6e-38, just above float32's smallest normal


@jit
def tanh32(x):
    """tanh of a float32 scalar as x P(x^2) / Q(x^2), clamped where tanh is 1 to float32 precision."""
    # clamps written as comparisons that are false for NaN, so NaN passes through (divergence shows)
    x = _TANH_CLAMP if x > _TANH_CLAMP else x
    x = -_TANH_CLAMP if x < -_TANH_CLAMP else x
    s = x * x
    p = _TANH_P[0] + s * (_TANH_P[1] + s * (_TANH_P[2] + s * (_TANH_P[3] + s * _TANH_P[4])))
    q = _TANH_Q[0] + s * (_TANH_Q[1] + s * (_TANH_Q[2] + s * (_TANH_Q[3] + s * _TANH_Q[4])))
    y = x * p / q
    y = _ONE if y > _ONE else y  # the fit overshoots 1 by an ulp near the clamp; keeps 1 - h^2 >= 0
    return -_ONE if y < -_ONE else y


_HALF = np.float32(0.5)


@jit
def sigmoid32(x):
    """The logistic sigmoid of a float32 scalar, written through tanh32 so it shares its SIMD code:
    sigma(x) = (1 + tanh(x / 2)) / 2."""
    return _HALF + _HALF * tanh32(_HALF * x)


# -- the gated cells' vector pieces --------------------------------------------------------------------
#
# Each is one short loop over contiguous 1-D slices, with the exact/fast choice made once outside the
# loop: LLVM vectorises such loops, and did not vectorise the same arithmetic written as one loop
# over every gate, or with the choice inside the loop (three to six times slower, measured).
# ``exact``: float64 arrays (the gradient check) use np.tanh / np.exp; float32 the approximations.


@jit
def sigmoid_add(out, a, b, exact):
    """out = sigma(out + a + b), all (n,)."""
    if exact:
        for j in range(out.shape[0]):
            out[j] = 1.0 / (1.0 + np.exp(-(out[j] + a[j] + b[j])))
    else:
        for j in range(out.shape[0]):
            out[j] = sigmoid32(out[j] + a[j] + b[j])


@jit
def tanh_add_vec(out, a, b, exact):
    """out = tanh(out + a + b), all (n,)."""
    if exact:
        for j in range(out.shape[0]):
            out[j] = np.tanh(out[j] + a[j] + b[j])
    else:
        for j in range(out.shape[0]):
            out[j] = tanh32(out[j] + a[j] + b[j])


@jit
def tanh_into(out, a, exact):
    """out = tanh(a), both (n,)."""
    if exact:
        for j in range(out.shape[0]):
            out[j] = np.tanh(a[j])
    else:
        for j in range(out.shape[0]):
            out[j] = tanh32(a[j])


@jit
def exp_rows_inplace(row, shift, k):
    """row[v] = exp(row[v] - shift) for a finite float32 row, every row[v] - shift <= 0; returns the sum.

    exp(z) = 2^n exp(r) with n = round(z / ln 2), |r| <= ln(2)/2: a polynomial for exp(r), then n is
    added straight into the float's exponent bits. k is an int32 scratch buffer as long as row.
    """
    V = row.shape[0]
    for v in range(V):
        z = row[v] - shift
        z = _EXP_MIN if z < _EXP_MIN else z
        n = np.floor(z * _LOG2E + np.float32(0.5))
        r = z - n * _LN2_HI - n * _LN2_LO
        c = _EXP_C
        row[v] = c[0] + r * (c[1] + r * (c[2] + r * (c[3] + r * (c[4] + r * (c[5] + r * c[6])))))
        k[v] = np.int32(n)
    bits = row.view(np.int32)
    for v in range(V):
        bits[v] += k[v] << 23
    return vector_sum(row)


@sumjit
def vector_sum(a):
    """Sum of a 1-D array in float64, in whatever order vectorises best."""
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i]
    return s


@njit(cache=True, nogil=True, fastmath=True)
def _finite_max(a):
    """Largest element of a non-empty 1-D array of finite numbers (fastmath lets it vectorise)."""
    m = a[0]
    for i in range(1, a.shape[0]):
        m = max(m, a[i])
    return m


@jit
def row_max(a):
    """Largest element of a non-empty 1-D array, or NaN if any element is NaN or infinite."""
    if not np.isfinite(vector_sum(a)):
        return _NAN32  # float32, so a float32 row's max stays float32 (float64 rows promote it)
    return _finite_max(a)


@jit
def exp_shifted_sum(row, shift, k):
    """row[v] = exp(row[v] - shift) in place, shift = row_max(row); returns the sum (float64).
    A NaN shift (a row that is not finite) makes the whole row and the sum NaN. Exact np.exp for
    float64; k is an int32 scratch buffer as long as the row."""
    if not np.isfinite(shift):
        row[:] = np.nan
        return np.nan
    if row.itemsize == 4:
        return exp_rows_inplace(row, shift, k)
    s = 0.0
    for v in range(row.shape[0]):
        e = np.exp(row[v] - shift)
        row[v] = e
        s += e
    return s


# -- embedding -----------------------------------------------------------------------------------


# Copies are loops, not slice assignments (dst[:] = src): Numba compiles a slice assignment from an
# array with a formatted shape-mismatch message, whose string machinery took seconds of every cold
# start (measured: 4.8 s against 0.8 s for the loop, one function under load).


@jit
def copy_vec(dst, src):
    """dst (n,) = src (n,)."""
    for j in range(dst.shape[0]):
        dst[j] = src[j]


@jit
def copy_rows(dst, src):
    """dst (r, n) = src (r, n)."""
    for i in range(dst.shape[0]):
        copy_vec(dst[i], src[i])


@jit
def transpose(W):
    """W (K, M) -> a C-contiguous copy of W.T, (M, K).

    In tiles of 8 columns of W: each output row is written whole while the 8 source columns it reads
    stay in cache. Numba's ``np.ascontiguousarray(W.T)`` walks the strided source one element at a
    time: 3.0 ms for a 512 x 2048 float32 matrix (an LSTM's Whh at H = 512) against 1.1 ms here,
    and such a copy is made in every forward and backward call (thread CPU time, one run)."""
    K, M = W.shape
    out = np.empty((M, K), W.dtype)
    for j0 in range(0, M, 8):
        for i0 in range(0, K, 8):
            for j in range(j0, min(j0 + 8, M)):
                row = out[j]
                for i in range(i0, min(i0 + 8, K)):
                    row[i] = W[i, j]
    return out


@jit
def embed_forward(tokens, embed, out):
    """Row lookup (the one-hot x matrix product). tokens (T, B) ints, embed (V, E) -> out (T, B, E)."""
    T, B = tokens.shape
    for t in range(T):
        for b in range(B):
            copy_vec(out[t, b], embed[tokens[t, b]])


@jit
def embed_backward(tokens, dout, dembed):
    """Scatter-add: dembed (V, E) = sum of dout (T, B, E) rows by token. Overwrites dembed."""
    dembed[:] = 0.0
    T, B = tokens.shape
    for t in range(T):
        for b in range(B):
            row, d = dembed[tokens[t, b]], dout[t, b]
            for e in range(row.shape[0]):
                row[e] += d[e]


# -- one vanilla tanh layer ------------------------------------------------------------------------


@jit
def rnn_forward(x, Wxh, Whh, bh, hs):
    """h_t = tanh(x_t Wxh + h_{t-1} Whh + bh) over a chunk.

    x (T, B, I), Wxh (I, H), Whh (H, H), bh (H,).
    hs (T+1, B, H): hs[0] holds h0 on entry; hs[1:] is filled. Keeping h0 in the same buffer makes
    hs[:-1] (every h_{t-1}) one contiguous block for the backward pass's single big product.
    """
    T, B, I = x.shape
    H = Whh.shape[0]
    # 1) the input contribution of every step at once: one (N, I) x (I, H) product
    np.dot(x.reshape(T * B, I), Wxh, hs[1:].reshape(T * B, H))
    # 2) the recurrence, which must go step by step
    WhhT = transpose(Whh)  # (H, H): rows of WhhT are the columns matmul_nt reads
    exact = hs.itemsize == 8  # float64: exact np.tanh; float32: the SIMD approximation
    rec = np.empty((B, H), dtype=hs.dtype)
    Wb, tmp, _ = stacked_workspace(Whh, B)  # column blocks for H > 352 (see the recurrent product)
    for t in range(T):
        stacked_product(hs[t], Whh, WhhT, Wb, tmp, rec)  # (B, H) = h_{t-1} Whh
        tanh_add(hs[t + 1], rec, bh, exact)


@jit
def tanh_add(h, rec, bh, exact):
    """h = tanh(h + rec + bh) in place, h and rec (b, H), bh (H,): one step's activation."""
    H = bh.shape[0]
    for b in range(h.shape[0]):
        hb, r = h[b], rec[b]
        if exact:
            for j in range(H):
                hb[j] = np.tanh(hb[j] + r[j] + bh[j])
        else:
            for j in range(H):
                hb[j] = tanh32(hb[j] + r[j] + bh[j])


@jit
def rnn_backward(x, Wxh, Whh, hs, dhs, dx, dWxh, dWhh, dbh, dh0):
    """Backpropagation through time for one layer.

    x (T, B, I), Wxh (I, H), Whh (H, H), hs (T+1, B, H) from rnn_forward.
    dhs (T, B, H): dLoss/dh_t from above (the output layer or the next layer). It is overwritten
    with dLoss/da_t (the gradient at the pre-activation), saving a buffer.
    Writes dx (T, B, I), dWxh (I, H), dWhh (H, H), dbh (H,), dh0 (B, H).
    """
    T, B, I = x.shape
    H = Whh.shape[0]
    WhhT = transpose(Whh)  # one copy per call: cheaper than T products with a view
    dnext = np.zeros((B, H), dtype=hs.dtype)  # gradient into h_t from step t+1
    WbT, tmp, _ = stacked_workspace(WhhT, B)  # WhhT's column blocks for H > 352
    for t in range(T - 1, -1, -1):
        tanh_backward(hs[t + 1], dhs[t], dnext)
        stacked_product(dhs[t], WhhT, Whh, WbT, tmp, dnext)  # da_t Whh^T
    copy_rows(dh0, dnext)
    # weight gradients: one large product over all N rows rather than T small ones
    N = T * B
    da_all = dhs.reshape(N, H)
    np.dot(hs[:-1].reshape(N, H).T, da_all, dWhh)
    np.dot(x.reshape(N, I).T, da_all, dWxh)
    column_sums(da_all, dbh)
    np.dot(da_all, transpose(Wxh), dx.reshape(N, I))


@jit
def tanh_backward(h, da, dnext):
    """da = (da + dnext) * (1 - h^2) in place, all (b, H): from dLoss/dh_t to dLoss/da_t."""
    for b in range(h.shape[0]):
        hb, d, dn = h[b], da[b], dnext[b]
        for j in range(hb.shape[0]):
            d[j] = (d[j] + dn[j]) * (1.0 - hb[j] * hb[j])  # tanh' = 1 - h^2


# -- the recurrent product ----------------------------------------------------------------------------
#
# Each step of the recurrence multiplies a few rows (one thread's share of the batch, often 16) by the
# H x H recurrent matrix. A BLAS call for 16 rows spends much of its time packing the matrix into its
# own layout again, on every call. OpenBLAS skips the packing for products it considers small, which
# for H <= 352 a block of 8 rows is: 8 rows at a time runs about twice as fast at H = 256. For larger
# H its small-matrix path is slow, and for 4 to 31 rows the loops of matmul_nt, which read the
# matrix as it is, beat one BLAS call by about 1.5x; from 32 rows on, packing pays for itself and one
# BLAS call is best, as it is for 1 to 3 rows (a matrix-vector product). Measured per product by
# benchmarks/bench_recurrence.py. The training kernels go one better for H > 352 (stacked_product,
# below): the matrix cut into column blocks that 8 rows at a time fit the small path again, 1.5x
# faster than matmul_nt at H = 384 and 512.
#
# The gated cells multiply by H x GH (forward) and GH x H (backward) matrices, G = 3 or 4 gates. The
# same small-matrix limit holds for them (rows x K x M up to about 10^6 multiply-adds: 4 rows at
# H = 256 for the GRU's 256 x 768, 2.4x faster than one call); where no block of 4 fits, blocks again.

_SMALL_H = 352  # 8 rows x H x H within OpenBLAS's small-matrix limit (measured: fast at 320, slow at 384)
_SMALL_ROWS = 8
_SMALL_MNK = 1_000_000  # rows x K x M within that limit (8 x 352 x 352 = 991,232 fits; 8 x 384^2 not)
_PACKING_PAYS = 32  # rows from which one BLAS call beats matmul_nt for H > _SMALL_H


@jit
def small_rows(K, M):
    """Rows at a time that keep h @ W (K, M) on OpenBLAS's small path as recurrent_product calls it:
    8 or 4, or 0 when recurrent_product takes another way (matmul_nt or one BLAS call)."""
    if K == M:
        return _SMALL_ROWS if K <= _SMALL_H else 0
    if 8 * K * M <= _SMALL_MNK:
        return 8
    return 4 if 4 * K * M <= _SMALL_MNK else 0


@jit
def recurrent_product(h, W, WT, out):
    """out = h @ W for h (R, K), W (K, M), out (R, M); WT is W's contiguous transpose.
    Square W (the vanilla cell, K = M = H) or a gated cell's stacked gates (M = GH or K = GH)."""
    R, K = h.shape
    M = W.shape[1]
    if M != K:
        rows = small_rows(K, M)
        if rows:
            for r in range(0, R, rows):
                np.dot(h[r : r + rows], W, out[r : r + rows])
        elif 4 <= R < _PACKING_PAYS:
            matmul_nt(h, WT, out)
        else:
            np.dot(h, W, out)
    elif K <= _SMALL_H:
        for r in range(0, R, _SMALL_ROWS):
            np.dot(h[r : r + _SMALL_ROWS], W, out[r : r + _SMALL_ROWS])
    elif 4 <= R < _PACKING_PAYS:
        matmul_nt(h, WT, out)
    else:  # fewer than 4 rows is a matrix-vector product, which BLAS does well
        np.dot(h, W, out)


# The gated cells' stacked gates make the recurrent matrix H x GH: too big for OpenBLAS's small
# path even 8 rows at a time from H = 256 on. Cut into column blocks (forward, h Whh) or row blocks
# (backward, dg Whh^T) that each fit, the products run up to 1.5x faster than recurrent_product's
# choice from H = 256 (LSTM) or 384 (GRU) on; below that, 4 rows of the whole matrix fit and win
# (benchmarks/bench_recurrence.py --gated).


_MIN_BLOCK = 64  # narrower blocks cost more in calls than the small path saves (prime H: blocks of 1)


@jit
def stacked_blocks(H, GH):
    """Into how many blocks to cut the GH side of an H x GH product so 8 rows x H x (GH / blocks) fit
    the small-matrix limit: the fewest that divide GH evenly into blocks at least _MIN_BLOCK wide; 1
    when it fits whole, 0 if no such cut exists (then the product is not cut)."""
    for n in range(1, GH // _MIN_BLOCK + 1):
        if GH % n == 0 and _SMALL_ROWS * H * (GH // n) <= _SMALL_MNK:
            return n
    return 0 if _SMALL_ROWS * H * GH > _SMALL_MNK else 1


@jit
def column_blocks(W, n):
    """W (K, M) -> (n, K, M / n): its n column blocks, each contiguous (made once per chunk)."""
    K, M = W.shape
    m = M // n
    out = np.empty((n, K, m), W.dtype)
    for j in range(n):
        copy_rows(out[j], W[:, j * m : (j + 1) * m])
    return out


@jit
def blocked_product(h, Wb, tmp, out):
    """out (R, M) = h (R, K) @ W, W given as its column blocks Wb (n, K, M / n) (``column_blocks``).
    Each block times 8 rows is a small product (OpenBLAS's small-matrix path, no packing); the blocks
    are written to tmp (n, R, M / n) and copied into place."""
    n, K, m = Wb.shape
    R = h.shape[0]
    for j in range(n):
        for r in range(0, R, _SMALL_ROWS):
            np.dot(h[r : r + _SMALL_ROWS], Wb[j], tmp[j, r : r + _SMALL_ROWS])
    for b in range(R):
        row = out[b]
        for j in range(n):
            copy_vec(row[j * m : (j + 1) * m], tmp[j, b])


@jit
def blocked_product_t(g, WT, gtmp, part, out):
    """out (R, M) = g (R, K) @ WT for K = n * k stacked gates: the sum over row blocks of WT (k, M),
    contiguous as they are, times g's column blocks, copied into gtmp (n, R, k); part (R, M) scratch.
    Each product is small enough for OpenBLAS's small-matrix path 8 rows at a time."""
    n, R, k = gtmp.shape
    for b in range(R):
        for j in range(n):
            copy_vec(gtmp[j, b], g[b, j * k : (j + 1) * k])
    for j in range(n):
        dest = out if j == 0 else part
        for r in range(0, R, _SMALL_ROWS):
            np.dot(gtmp[j, r : r + _SMALL_ROWS], WT[j * k : (j + 1) * k], dest[r : r + _SMALL_ROWS])
        if j > 0:
            out += part


@jit
def stacked_workspace(W, R, blocks=True):
    """For products with a stacked-gate matrix W (H, GH) and R rows: (W's column blocks (n, H, GH/n),
    scratch (n, R, GH/n), scratch (R, H)), n = stacked_blocks (at least 1). W is copied into blocks
    only when n > 1 and ``blocks`` (the forward's h @ W needs them; the backward's dg @ W^T reads
    W^T's rows as they are, and only the scratch); otherwise the first is W itself, (1, H, GH)."""
    H, GH = W.shape
    n = max(1, stacked_blocks(H, GH))
    Wb = column_blocks(W, n) if n > 1 and blocks else W.reshape((1, H, GH))
    return Wb, np.empty((n, R, GH // n), W.dtype), np.empty((R, H), W.dtype)


@jit
def stacked_product(h, W, WT, Wb, tmp, out):
    """out (R, M) = h (R, K) @ W (WT its transpose), in the column blocks Wb that
    ``stacked_workspace`` cut, each on the small path; by recurrent_product when the whole of W is
    already on it, for fewer than 4 rows (a matrix-vector product) or from 32 rows on (where one
    BLAS call's packing pays for itself)."""
    K, M = W.shape
    if Wb.shape[0] > 1 and 4 <= h.shape[0] < _PACKING_PAYS and small_rows(K, M) == 0:
        blocked_product(h, Wb, tmp, out)
    else:
        recurrent_product(h, W, WT, out)


@jit
def stacked_product_t(g, WT, W, gtmp, part, out):
    """out (R, H) = g (R, GH) @ WT, WT (GH, H) the stacked matrix's transpose (W = WT's transpose):
    in WT's row blocks (as many as gtmp has), each on the small path, unless 4 rows of the whole
    already fit it, or for fewer than 4 or 32 and more rows (then recurrent_product)."""
    GH, H = WT.shape
    if gtmp.shape[0] > 1 and 4 <= g.shape[0] < _PACKING_PAYS and small_rows(GH, H) == 0:
        blocked_product_t(g, WT, gtmp, part, out)
    else:
        recurrent_product(g, WT, W, out)


@sumjit
def matmul_nt(a, bt, out):
    """out = a @ bt.T for a (R, K), bt (M, K), out (R, M), all C-contiguous.

    Blocks of 4 x 4 outputs: each block is 16 dot products over K that share their loads (4 rows
    of a, 4 rows of bt), vectorised along K. Leftover rows and columns are single dot products.
    """
    R, K = a.shape
    M = bt.shape[0]
    R4, M4 = R - R % 4, M - M % 4
    for r in range(0, R4, 4):
        a0, a1, a2, a3 = a[r], a[r + 1], a[r + 2], a[r + 3]
        for j in range(0, M4, 4):
            b0, b1, b2, b3 = bt[j], bt[j + 1], bt[j + 2], bt[j + 3]
            # start from the k = 0 terms: a zero of the array's dtype (a0[0] * 0) is not a constant to
            # LLVM (it is NaN for an infinite a0[0]) and the loop below would then not vectorise well
            x0, x1, x2, x3 = a0[0], a1[0], a2[0], a3[0]
            y0, y1, y2, y3 = b0[0], b1[0], b2[0], b3[0]
            s00, s01, s02, s03 = x0 * y0, x0 * y1, x0 * y2, x0 * y3
            s10, s11, s12, s13 = x1 * y0, x1 * y1, x1 * y2, x1 * y3
            s20, s21, s22, s23 = x2 * y0, x2 * y1, x2 * y2, x2 * y3
            s30, s31, s32, s33 = x3 * y0, x3 * y1, x3 * y2, x3 * y3
            for k in range(1, K):
                x0, x1, x2, x3 = a0[k], a1[k], a2[k], a3[k]
                y0, y1, y2, y3 = b0[k], b1[k], b2[k], b3[k]
                s00 += x0 * y0
                s01 += x0 * y1
                s02 += x0 * y2
                s03 += x0 * y3
                s10 += x1 * y0
                s11 += x1 * y1
                s12 += x1 * y2
                s13 += x1 * y3
                s20 += x2 * y0
                s21 += x2 * y1
                s22 += x2 * y2
                s23 += x2 * y3
                s30 += x3 * y0
                s31 += x3 * y1
                s32 += x3 * y2
                s33 += x3 * y3
            out[r, j], out[r, j + 1], out[r, j + 2], out[r, j + 3] = s00, s01, s02, s03
            out[r + 1, j], out[r + 1, j + 1], out[r + 1, j + 2], out[r + 1, j + 3] = s10, s11, s12, s13
            out[r + 2, j], out[r + 2, j + 1], out[r + 2, j + 2], out[r + 2, j + 3] = s20, s21, s22, s23
            out[r + 3, j], out[r + 3, j + 1], out[r + 3, j + 2], out[r + 3, j + 3] = s30, s31, s32, s33
        for j in range(M4, M):
            for i in range(r, r + 4):
                out[i, j] = _dot(a[i], bt[j])
    for i in range(R4, R):
        for j in range(M):
            out[i, j] = _dot(a[i], bt[j])


@sumjit
def _dot(x, y):
    s = x[0] * y[0]
    for k in range(1, x.shape[0]):
        s += x[k] * y[k]
    return s


@jit
def matmul(a, b, out):
    """out = a @ b for a (N, K), b (K, M): BLAS, called from Numba so it is the single-threaded one."""
    np.dot(a, b, out)


@jit
def matmul_tn(a, b, out):
    """out = a.T @ b for a (N, K), b (N, M), out (K, M): a weight gradient."""
    np.dot(a.T, b, out)


@jit
def column_sums(a, out):
    """out (M,) = a (N, M).sum(0): the bias gradient."""
    out[:] = 0.0
    for n in range(a.shape[0]):
        out += a[n]


# -- output layer and loss -------------------------------------------------------------------------


@jit
def softmax_xent(logits, targets, N):
    """Summed cross-entropy (nats) of logits (n, V) against targets (n,); logits become dLoss/dlogits.

    In place: logits is overwritten with (softmax - onehot) / N, the gradient of the mean loss over
    N rows (N >= n: the rows may be one thread's share of a larger batch).
    """
    k = np.empty(logits.shape[1], np.int32)
    total = 0.0
    for n in range(logits.shape[0]):
        row = logits[n]
        m = row_max(row)
        y = targets[n]
        # the target's probability from libm's exp (one call per row), so the loss is -log p_y exactly
        # as a plain float32 softmax computes it: infinite once p_y underflows, which is how a
        # diverged run shows itself
        py = np.exp(row[y] - m)
        s = exp_shifted_sum(row, m, k)
        total += np.log(s) - np.log(py)
        inv = 1.0 / (s * N)
        for v in range(row.shape[0]):
            row[v] *= inv
        row[y] -= 1.0 / N
    return total


@jit
def xent(logits, targets, losses):
    """Per-row cross-entropy (nats) of logits (N, V) against targets (N,) into losses (N,)."""
    V = logits.shape[1]
    k = np.empty(V, np.int32)
    scratch = np.empty(V, logits.dtype)
    for n in range(logits.shape[0]):
        row = logits[n]
        m = row_max(row)
        copy_vec(scratch, row)
        s = exp_shifted_sum(scratch, m, k)
        losses[n] = np.log(s) + m - row[targets[n]]


# -- optimisers (flat parameter and gradient vectors) ----------------------------------------------


@sumjit
def global_norm(g):
    """sqrt(sum g^2) of a flat gradient, accumulated in float64."""
    s = 0.0
    for i in range(g.size):
        s += np.float64(g[i]) * g[i]
    return np.sqrt(s)


@jit
def adam_step(p, g, m, v, lr, beta1, beta2, eps, t, scale):
    """One Adam update of flat p with gradient g * scale (scale implements clipping); t counts from 1."""
    bc1 = 1.0 - beta1**t
    bc2 = 1.0 - beta2**t
    for i in range(p.size):
        gi = g[i] * scale
        m[i] = beta1 * m[i] + (1.0 - beta1) * gi
        v[i] = beta2 * v[i] + (1.0 - beta2) * gi * gi
        p[i] -= lr * (m[i] / bc1) / (np.sqrt(v[i] / bc2) + eps)


@jit
def adagrad_step(p, g, cache, lr, eps, scale):
    """One Adagrad update (min-char-rnn's optimiser): cache += g^2; p -= lr g / sqrt(cache)."""
    for i in range(p.size):
        gi = g[i] * scale
        cache[i] += gi * gi
        p[i] -= lr * gi / (np.sqrt(cache[i]) + eps)


@jit
def sgd_step(p, g, lr, scale):
    """Plain gradient descent on flat p."""
    for i in range(p.size):
        p[i] -= lr * g[i] * scale


# -- one token at a time (generation, autocomplete, inspection) -------------------------------------


@jit
def step_token(token, embed, Wxhs, Whhs, bhs, Why, by, h, logits):
    """Advance the state by one token and compute the next-token logits.

    token int, embed (V, E), Wxhs/Whhs/bhs: tuples of each layer's weights, h (L, H) updated in
    place, Why (H, V), by (V,) -> logits (V,).
    """
    x = embed[token]
    exact = h.itemsize == 8
    for layer in range(len(Whhs)):
        a = np.dot(x, Wxhs[layer]) + np.dot(h[layer], Whhs[layer]) + bhs[layer]
        hl = h[layer]
        if exact:
            for j in range(hl.shape[0]):
                hl[j] = np.tanh(a[j])
        else:
            for j in range(hl.shape[0]):
                hl[j] = tanh32(a[j])
        x = h[layer]
    out = np.dot(x, Why)
    for v in range(logits.shape[0]):
        logits[v] = out[v] + by[v]
