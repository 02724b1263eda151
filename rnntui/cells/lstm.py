"""The LSTM cell (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000), in
PyTorch's formulation, so ``torch.nn.LSTM``'s documentation checks it line by line:

    i_t = sigma(x_t Wxh_i + h_{t-1} Whh_i + bh_i)     (B, H)  input gate: how much to write
    f_t = sigma(x_t Wxh_f + h_{t-1} Whh_f + bh_f)     (B, H)  forget gate: how much to keep
    g_t = tanh(x_t Wxh_g + h_{t-1} Whh_g + bh_g)      (B, H)  what to write
    o_t = sigma(x_t Wxh_o + h_{t-1} Whh_o + bh_o)     (B, H)  output gate: how much to show
    c_t = f_t * c_{t-1} + i_t * g_t                   (B, H)  the cell state: the long memory
    h_t = o_t * tanh(c_t)                             (B, H)  what the layer above and the softmax see

Parameters of one layer (the gates side by side in one matrix, PyTorch's order i, f, g, o):
    Wxh (I, 4H)   Whh (H, 4H)   bh (4H,)
PyTorch's two biases per gate only ever appear summed, so rnntui keeps one. To load into
PyTorch: weight_ih = Wxh.T, weight_hh = Whh.T, bias_ih = bh, bias_hh = 0.

The forget gate's bias starts at 1 (Gers et al. 2000; Jozefowicz et al. 2015): sigma(1) ~ 0.73,
so from the first step the cell state is mostly kept and gradients flow back through many steps;
with 0 the cell would halve its memory every step until the gate learnt otherwise.

Why it remembers: d c_t / d c_{t-1} = f_t, a gate rather than a product through tanh' and a
matrix, so with f near 1 what was written stays and its gradient does not vanish.

The state carried between chunks and tokens is (h, c): ``STATE_SLOTS = 2``; the model lays it out
as one (B, 2H) array, h then c. This file holds the whole cell: the jitted forward and backward
(``forward``, ``backward``), one step for generation (``step``), and the plain NumPy twin the
tests trust (``reference_forward``, ``reference_backward``). Shapes follow ``kernels.py``.
"""

from __future__ import annotations

import numpy as np

from rnntui.cells.common import orthogonal, sigmoid
from rnntui.kernels import (
    column_sums,
    copy_rows,
    jit,
    sigmoid_add,
    stacked_product,
    stacked_product_t,
    stacked_workspace,
    tanh_add_vec,
    tanh_into,
    transpose,
)

NAME = "lstm"
GATES = ("input i", "forget f", "output o")  # shown in the gates heatmap, in this order
RECURRENT = "the candidate's recurrent blocks Whh_g"  # the spectrum health shows
DRIVE = ("c", "its cell state")  # what ranks a unit's contexts: h = o tanh(c) saturates, c does not
STATE_SLOTS = 2  # the state is (h, c)


def param_shapes(I: int, H: int) -> dict[str, tuple[int, ...]]:
    return {"Wxh": (I, 4 * H), "Whh": (H, 4 * H), "bh": (4 * H,)}


def init(p: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Wxh ~ N(0, 1/I); each gate's H x H block of Whh orthogonal; biases 0 but the forget gate's, 1."""
    I, H = p["Wxh"].shape[0], p["Whh"].shape[0]
    p["Wxh"][...] = rng.standard_normal((I, 4 * H)) / np.sqrt(I)
    for g in range(4):
        p["Whh"][:, g * H : (g + 1) * H] = orthogonal(rng, H)
    p["bh"][...] = 0.0
    p["bh"][H : 2 * H] = 1.0


# -- the jitted cell ---------------------------------------------------------------------------------


@jit
def _cell_update(c, f, cprev, i, g):
    """c = f * cprev + i * g, all (H,)."""
    for j in range(c.shape[0]):
        c[j] = f[j] * cprev[j] + i[j] * g[j]


@jit
def _mul_into(out, a, b):
    for j in range(out.shape[0]):
        out[j] = a[j] * b[j]


@jit
def gates_forward(g, rec, bh, cprev, cnew, hnew, tc, exact):
    """One step's elementwise part, for b rows.

    g (b, 4H): x Wxh on entry; i, f, g, o on exit. rec (b, 4H): h_{t-1} Whh. cprev, cnew, hnew (b, H).
    tc (b, H) gets tanh(c_t) (the backward pass needs it).
    Built from the vector pieces in kernels.py, one per quantity (see there why).
    """
    H = cprev.shape[1]
    for b in range(g.shape[0]):
        gb, rb = g[b], rec[b]
        sigmoid_add(gb[: 2 * H], rb[: 2 * H], bh[: 2 * H], exact)  # i, f
        tanh_add_vec(gb[2 * H : 3 * H], rb[2 * H : 3 * H], bh[2 * H : 3 * H], exact)  # g
        sigmoid_add(gb[3 * H :], rb[3 * H :], bh[3 * H :], exact)  # o
        _cell_update(cnew[b], gb[H : 2 * H], cprev[b], gb[:H], gb[2 * H : 3 * H])
        tanh_into(tc[b], cnew[b], exact)
        _mul_into(hnew[b], gb[3 * H :], tc[b])


@jit
def forward(x, Wxh, Whh, bh, hs, cs, gates, tcs):
    """A layer over a chunk. x (T, B, I); hs, cs (T+1, B, H) with h0, c0 in [0], [1:] filled;
    gates (T, B, 4H) gets i, f, g, o and tcs (T, B, H) tanh(c_t), for the backward pass."""
    T, B, I = x.shape
    H = hs.shape[2]
    np.dot(x.reshape(T * B, I), Wxh, gates.reshape(T * B, 4 * H))  # every step's input part at once
    exact = hs.itemsize == 8
    rec = np.empty((B, 4 * H), hs.dtype)
    WhhT = transpose(Whh)
    Wb, tmp, part = stacked_workspace(Whh, B)
    for t in range(T):
        stacked_product(hs[t], Whh, WhhT, Wb, tmp, rec)  # (B, 4H) = h_{t-1} Whh
        gates_forward(gates[t], rec, bh, cs[t], cs[t + 1], hs[t + 1], tcs[t], exact)


@jit
def gates_backward(g, cprev, tc, dh_above, dh_rec, dc, dg):
    """One step back, for b rows. dh_above (b, H): dLoss/dh_t from above; dh_rec (b, H): from step
    t+1 through Whh; dc (b, H) in: dLoss/dc_t from step t+1, out: dLoss/dc_{t-1}.
    Writes dg (b, 4H): dLoss/d of each gate's pre-activation. One short loop per quantity."""
    H = cprev.shape[1]
    for b in range(g.shape[0]):
        gb, dgb = g[b], dg[b]
        i, f, gg, o = gb[:H], gb[H : 2 * H], gb[2 * H : 3 * H], gb[3 * H :]
        dh, da, dr = dgb[3 * H :], dh_above[b], dh_rec[b]  # dh lives where do will go
        for j in range(H):
            dh[j] = da[j] + dr[j]
        dcb, tb = dc[b], tc[b]
        for j in range(H):  # dLoss/dc_t: from step t+1, and through h_t = o tanh(c_t)
            dcb[j] = dcb[j] + dh[j] * o[j] * (1.0 - tb[j] * tb[j])
        for j in range(H):
            dh[j] = dh[j] * tb[j] * o[j] * (1.0 - o[j])
        di, df, dgg, cp = dgb[:H], dgb[H : 2 * H], dgb[2 * H : 3 * H], cprev[b]
        for j in range(H):
            di[j] = dcb[j] * gg[j] * i[j] * (1.0 - i[j])
        for j in range(H):
            df[j] = dcb[j] * cp[j] * f[j] * (1.0 - f[j])
        for j in range(H):
            dgg[j] = dcb[j] * i[j] * (1.0 - gg[j] * gg[j])
        for j in range(H):
            dcb[j] = dcb[j] * f[j]


@jit
def backward(x, Wxh, Whh, hs, cs, gates, tcs, dhs, dg, dx, dWxh, dWhh, dbh, dh0, dc0):
    """Backpropagation through time for one layer, from forward's hs, cs, gates and tcs.

    dhs (T, B, H): dLoss/dh_t from above. dg (T, B, 4H): scratch, the gates' gradients.
    Writes dx (T, B, I), dWxh (I, 4H), dWhh (H, 4H), dbh (4H,), dh0 and dc0 (B, H).
    """
    T, B, I = x.shape
    H = hs.shape[2]
    WhhT = transpose(Whh)  # (4H, H)
    drec = np.zeros((B, H), hs.dtype)
    dc0[:] = 0.0  # carries dLoss/dc_t backwards, ending as dLoss/dc_0
    _, gtmp, part = stacked_workspace(Whh, B, False)
    for t in range(T - 1, -1, -1):
        gates_backward(gates[t], cs[t], tcs[t], dhs[t], drec, dc0, dg[t])
        stacked_product_t(dg[t], WhhT, Whh, gtmp, part, drec)  # (B, H) = dg_t Whh^T
    copy_rows(dh0, drec)
    N = T * B
    G = dg.reshape(N, 4 * H)
    if dWxh.size:  # empty: only dx, dh0 and dc0 (a Jacobian needs no weight gradients)
        np.dot(x.reshape(N, I).T, G, dWxh)
        np.dot(hs[:-1].reshape(N, H).T, G, dWhh)
        column_sums(G, dbh)
    np.dot(G, transpose(Wxh), dx.reshape(N, I))


# -- the model's interface -----------------------------------------------------------------------------


def buffer_floats(T: int, B: int, H: int) -> int:
    """How many numbers ``Buffers(T, B, H)`` holds (for the memory estimate before allocating)."""
    return 2 * (T + 1) * B * H + 2 * T * B * 4 * H + T * B * H + B * H


class Buffers:
    """One layer's buffers for a (T, B) chunk."""

    def __init__(self, T: int, B: int, H: int, dtype) -> None:
        self.hs = np.empty((T + 1, B, H), dtype)
        self.cs = np.empty((T + 1, B, H), dtype)
        self.gates = np.empty((T, B, 4 * H), dtype)
        self.tcs = np.empty((T, B, H), dtype)
        self.dg = np.empty((T, B, 4 * H), dtype)
        self.dc0 = np.empty((B, H), dtype)


def layer_forward(x, p, state0, ws: Buffers) -> None:
    """x (T, B, I), state0 (B, 2H) = (h0, c0) -> ws.hs, ws.cs."""
    H = ws.hs.shape[2]
    ws.hs[0], ws.cs[0] = state0[:, :H], state0[:, H:]
    forward(x, p["Wxh"], p["Whh"], p["bh"], ws.hs, ws.cs, ws.gates, ws.tcs)


def layer_backward(x, p, ws: Buffers, dhs, dx, g, dstate0) -> None:
    """dhs (T, B, H) -> dx (T, B, I), the layer's gradients in g (None: skip them), dstate0 (B, 2H)."""
    H = ws.hs.shape[2]
    if g is None:
        none = np.empty((0, 0), dx.dtype)
        g = {"Wxh": none, "Whh": none, "bh": none.ravel()}
    dh0 = np.empty_like(ws.dc0)
    backward(x, p["Wxh"], p["Whh"], ws.hs, ws.cs, ws.gates, ws.tcs, dhs, ws.dg,
             dx, g["Wxh"], g["Whh"], g["bh"], dh0, ws.dc0)  # fmt: skip
    dstate0[:, :H], dstate0[:, H:] = dh0, ws.dc0


def final_state(ws: Buffers) -> np.ndarray:
    return np.concatenate([ws.hs[-1], ws.cs[-1]], axis=-1)


def step(x, p, state, gates=None) -> np.ndarray:
    """One token for b streams: x (b, I), state (b, 2H) = (h, c) updated in place; returns h (b, H)
    (a view into state). gates (b, 4H), if given, receives i, f, g, o."""
    exact = state.dtype == np.float64
    H = state.shape[-1] // 2
    g = x @ p["Wxh"] if gates is None else np.matmul(x, p["Wxh"], out=gates)
    h, c = state[:, :H], state[:, H:]
    hnew, cnew = np.empty_like(h), np.empty_like(c)
    gates_forward(g, h @ p["Whh"], p["bh"], np.ascontiguousarray(c), cnew, hnew, np.empty_like(c), exact)
    h[...], c[...] = hnew, cnew
    return h


def gate_values(gates: np.ndarray) -> np.ndarray:
    """(..., 4H) i, f, g, o -> (..., 3, H) in GATES order (input, forget, output)."""
    H = gates.shape[-1] // 4
    return np.stack([gates[..., :H], gates[..., H : 2 * H], gates[..., 3 * H :]], axis=-2)


# -- the plain NumPy twin -------------------------------------------------------------------------------


def reference_forward(x, p, state0):
    """The equations above, one step at a time: x (T, B, I), state0 (B, 2H) -> (hs (T, B, H),
    gates (T, B, 4H) as i, f, g, o, cs (T, B, H))."""
    H = state0.shape[-1] // 2
    h, c = state0[:, :H], state0[:, H:]
    hs, cs, gates = [], [], []
    for x_t in x:
        a = x_t @ p["Wxh"] + h @ p["Whh"] + p["bh"]
        i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H]), sigmoid(a[:, 3 * H :])
        g = np.tanh(a[:, 2 * H : 3 * H])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
        gates.append(np.concatenate([i, f, g, o], axis=1))
    return np.stack(hs), np.stack(gates), np.stack(cs)


def reference_backward(x, p, state0, dhs):
    """Gradients of a scalar loss given dLoss/dh_t (T, B, H), by the chain rule written out step by
    step. Returns dx, {Wxh, Whh, bh: gradient}, dstate0 (B, 2H)."""
    hs, gates, cs = reference_forward(x, p, state0)
    H = state0.shape[-1] // 2
    g = {k: np.zeros_like(v) for k, v in p.items()}
    dx = np.zeros_like(x)
    dh_next, dc_next = np.zeros_like(state0[:, :H]), np.zeros_like(state0[:, :H])
    for t in reversed(range(len(x))):
        hp = state0[:, :H] if t == 0 else hs[t - 1]
        cp = state0[:, H:] if t == 0 else cs[t - 1]
        i, f, gg, o = (gates[t][:, k * H : (k + 1) * H] for k in range(4))
        dh = dhs[t] + dh_next
        tc = np.tanh(cs[t])
        dc = dc_next + dh * o * (1 - tc**2)
        da = np.concatenate([dc * gg * i * (1 - i), dc * cp * f * (1 - f), dc * i * (1 - gg**2),
                             dh * tc * o * (1 - o)], axis=1)  # fmt: skip
        g["Wxh"] += x[t].T @ da
        g["Whh"] += hp.T @ da
        g["bh"] += da.sum(0)
        dx[t] = da @ p["Wxh"].T
        dh_next = da @ p["Whh"].T
        dc_next = dc * f
    return dx, g, np.concatenate([dh_next, dc_next], axis=1)
