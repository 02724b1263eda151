"""The jitted math of rnntui: pure functions on arrays, compiled by Numba.

Dimension legend, used in every shape comment:
    T = time steps in a chunk      B = batch (parallel text streams)
    V = vocabulary size            E = embedding size
    I = a layer's input size (E for the first layer, H above it)
    H = hidden size                N = T * B rows

Every layer is a pair ``x_forward`` / ``x_backward``. Kernels write into buffers the caller owns
(no large allocation per step) and keep the dtype they are given, so the float64 gradient check
runs exactly this code. ``reference.py`` holds the same math as slow, obvious NumPy; the tests
compare the two. ``nogil=True`` lets a training thread run while the TUI stays responsive;
``cache=True`` keeps compiled code on disk between launches.
"""

import numpy as np
from numba import njit

jit = njit(cache=True, nogil=True)


# -- embedding -----------------------------------------------------------------------------------


@jit
def embed_forward(tokens, embed, out):
    """Row lookup (the one-hot x matrix product). tokens (T, B) ints, embed (V, E) -> out (T, B, E)."""
    T, B = tokens.shape
    for t in range(T):
        for b in range(B):
            out[t, b, :] = embed[tokens[t, b]]


@jit
def embed_backward(tokens, dout, dembed):
    """Scatter-add: dembed (V, E) = sum of dout (T, B, E) rows by token. Overwrites dembed."""
    dembed[:] = 0.0
    T, B = tokens.shape
    for t in range(T):
        for b in range(B):
            dembed[tokens[t, b]] += dout[t, b]


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
    pre = hs[1:].reshape(T * B, H)
    np.dot(x.reshape(T * B, I), Wxh, pre)
    # 2) the recurrence, which must go step by step
    rec = np.empty((B, H), dtype=hs.dtype)
    for t in range(T):
        np.dot(hs[t], Whh, rec)  # (B, H)
        h = hs[t + 1]
        for b in range(B):
            for j in range(H):
                h[b, j] = np.tanh(h[b, j] + rec[b, j] + bh[j])


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
    WhhT = np.ascontiguousarray(Whh.T)  # one copy per call: cheaper than T products with a view
    dnext = np.zeros((B, H), dtype=hs.dtype)  # gradient flowing into h_t from step t+1
    for t in range(T - 1, -1, -1):
        h = hs[t + 1]
        da = dhs[t]
        for b in range(B):
            for j in range(H):
                da[b, j] = (da[b, j] + dnext[b, j]) * (1.0 - h[b, j] * h[b, j])  # tanh' = 1 - h^2
        np.dot(da, WhhT, dnext)
    dh0[:] = dnext
    # weight gradients: one large product over all N rows rather than T small ones
    da_all = dhs.reshape(T * B, H)
    np.dot(hs[:-1].reshape(T * B, H).T, da_all, dWhh)
    np.dot(x.reshape(T * B, I).T, da_all, dWxh)
    dbh[:] = 0.0
    for n in range(T * B):
        dbh += da_all[n]
    np.dot(da_all, np.ascontiguousarray(Wxh.T), dx.reshape(T * B, I))


# -- output layer and loss -------------------------------------------------------------------------


@jit
def softmax_xent(logits, targets):
    """Mean cross-entropy (nats) of logits (N, V) against targets (N,); logits become dLoss/dlogits.

    In place: logits is overwritten with (softmax - onehot) / N, the gradient of the mean loss.
    """
    N, V = logits.shape
    total = 0.0
    for n in range(N):
        row = logits[n]
        m = row.max()
        s = 0.0
        for v in range(V):
            e = np.exp(row[v] - m)
            row[v] = e
            s += e
        y = targets[n]
        total += np.log(s) - np.log(row[y])
        inv = 1.0 / (s * N)
        for v in range(V):
            row[v] *= inv
        row[y] -= 1.0 / N
    return total / N


@jit
def xent(logits, targets, losses):
    """Per-row cross-entropy (nats) of logits (N, V) against targets (N,) into losses (N,)."""
    N, V = logits.shape
    for n in range(N):
        row = logits[n]
        m = row.max()
        s = 0.0
        for v in range(V):
            s += np.exp(row[v] - m)
        losses[n] = np.log(s) + m - row[targets[n]]


# -- optimisers (flat parameter and gradient vectors) ----------------------------------------------


@jit
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
    for layer in range(len(Whhs)):
        a = np.dot(x, Wxhs[layer]) + np.dot(h[layer], Whhs[layer]) + bhs[layer]
        h[layer, :] = np.tanh(a)
        x = h[layer]
    logits[:] = np.dot(x, Why) + by
