"""The same math as ``kernels.py``, written as slow, obvious NumPy: the oracle for the tests.

Nothing here is used at run time. Shapes follow the legend in ``kernels.py``.
"""

import numpy as np


def rnn_forward(x, h0, Wxh, Whh, bh):
    """x (T, B, I), h0 (B, H) -> hs (T, B, H) with h_t = tanh(x_t Wxh + h_{t-1} Whh + bh)."""
    hs, h = [], h0
    for x_t in x:
        h = np.tanh(x_t @ Wxh + h @ Whh + bh)
        hs.append(h)
    return np.stack(hs)


def rnn_backward(x, h0, Wxh, Whh, hs, dhs):
    """Gradients of a scalar loss given dLoss/dh_t (T, B, H) for every step.

    Returns dx (T, B, I), dWxh, dWhh, dbh, dh0.
    """
    dWxh, dWhh, dbh = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros(Whh.shape[0], hs.dtype)
    dx = np.zeros_like(x)
    dnext = np.zeros_like(h0)
    for t in reversed(range(len(x))):
        h_prev = h0 if t == 0 else hs[t - 1]
        da = (dhs[t] + dnext) * (1 - hs[t] ** 2)
        dWxh += x[t].T @ da
        dWhh += h_prev.T @ da
        dbh += da.sum(0)
        dx[t] = da @ Wxh.T
        dnext = da @ Whh.T
    return dx, dWxh, dWhh, dbh, dnext


def softmax_xent(logits, targets):
    """Mean cross-entropy and its gradient dLoss/dlogits, for logits (N, V) and targets (N,)."""
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    N = len(targets)
    loss = -np.log(p[np.arange(N), targets]).mean()
    d = p.copy()
    d[np.arange(N), targets] -= 1
    return loss, d / N


def adam_step(p, g, m, v, lr, beta1, beta2, eps, t, scale):
    """Adam on copies; returns new (p, m, v)."""
    g = g * scale
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    p = p - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    return p, m, v


def adagrad_step(p, g, cache, lr, eps, scale):
    """Adagrad on copies; returns new (p, cache)."""
    g = g * scale
    cache = cache + g * g
    return p - lr * g / (np.sqrt(cache) + eps), cache


def model_loss(params: dict, layers: int, tokens, h0, cell: str = "rnn"):
    """Mean next-token loss of a whole model, by the definition, through each cell's NumPy twin.

    params: embed (V, E), each layer's cell parameters (Wxh{l}, Whh{l}, bh{l}, ...), Why (H, V),
    by (V,); tokens (T+1, B); h0 (L, B, S*H). Returns (loss, final state (L, B, S*H)).
    """
    from rnntui import cells

    twin = cells.get(cell)
    x = params["embed"][tokens[:-1]]
    finals = []
    for layer in range(layers):
        p = {k: params[f"{k}{layer}"] for k in twin.param_shapes(1, 1)}
        out = twin.reference_forward(x, p, h0[layer])
        x = out[0]
        # the final state: h, and for the LSTM c after it (its twin returns cs third)
        finals.append(np.concatenate([x[-1], out[2][-1]], axis=-1) if twin.STATE_SLOTS == 2 else x[-1])
    T, B, H = x.shape
    logits = x.reshape(T * B, H) @ params["Why"] + params["by"]
    loss, _ = softmax_xent(logits, tokens[1:].reshape(-1))
    return loss, np.stack(finals)
