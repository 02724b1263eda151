"""The GRU cell (Cho et al. 2014), in PyTorch's formulation, so ``torch.nn.GRU``'s documentation
checks it line by line:

    r_t = sigma(x_t Wxh_r + h_{t-1} Whh_r + bh_r)                 (B, H)  reset gate
    z_t = sigma(x_t Wxh_z + h_{t-1} Whh_z + bh_z)                 (B, H)  update gate
    n_t = tanh(x_t Wxh_n + bh_n + r_t * (h_{t-1} Whh_n + bhn))    (B, H)  candidate memory
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}                         (B, H)

Parameters of one layer (the gates side by side in one matrix, PyTorch's order r, z, n):
    Wxh (I, 3H)   Whh (H, 3H)   bh (3H,)   bhn (H,)
PyTorch has two biases per gate (b_ih, b_hh); they only ever appear summed, except inside the
reset gate's product, so rnntui keeps one bias per gate plus the one PyTorch cannot fold, b_hn.
To load into PyTorch: weight_ih = Wxh.T, weight_hh = Whh.T, bias_ih = bh, bias_hh = (0, 0, bhn).

Why it remembers: when z is near 1, h_t is h_{t-1} copied through, and so is the gradient
(d h_t / d h_{t-1} contains the identity times z); a vanilla RNN's path always goes through tanh'.

This file holds the whole cell: the jitted forward and backward through time (``forward``,
``backward``), one step for generation (``step``), and the plain NumPy twin the tests trust
(``reference_forward``, ``reference_backward``). Shapes follow the legend in ``kernels.py``.
"""

from __future__ import annotations

import numpy as np

from rnntui.cells.common import orthogonal, sigmoid
from rnntui.kernels import (
    column_sums,
    copy_rows,
    copy_vec,
    jit,
    sigmoid_add,
    stacked_product,
    stacked_product_t,
    stacked_workspace,
    tanh32,
    transpose,
)

NAME = "gru"
GATES = ("update z", "reset r")  # shown in the gates heatmap, in this order
RECURRENT = "the candidate's recurrent blocks Whh_n"  # the spectrum health shows
DRIVE = None  # contexts are ranked by h itself (a blend, not a squash: nothing behind it saturates)
STATE_SLOTS = 1  # the state is h alone


def param_shapes(I: int, H: int) -> dict[str, tuple[int, ...]]:
    return {"Wxh": (I, 3 * H), "Whh": (H, 3 * H), "bh": (3 * H,), "bhn": (H,)}


def init(p: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Wxh ~ N(0, 1/I); each gate's H x H block of Whh orthogonal (as the vanilla cell's Whh);
    biases 0, so every gate starts half open."""
    I, H = p["Wxh"].shape[0], p["bhn"].shape[0]
    p["Wxh"][...] = rng.standard_normal((I, 3 * H)) / np.sqrt(I)
    for g in range(3):
        p["Whh"][:, g * H : (g + 1) * H] = orthogonal(rng, H)
    p["bh"][...] = 0.0
    p["bhn"][...] = 0.0


# -- the jitted cell ---------------------------------------------------------------------------------


@jit
def _candidate(n, b_n, r, hn, exact):
    """n = tanh(n + b_n + r * hn), all (H,)."""
    if exact:
        for j in range(n.shape[0]):
            n[j] = np.tanh(n[j] + b_n[j] + r[j] * hn[j])
    else:
        for j in range(n.shape[0]):
            n[j] = tanh32(n[j] + b_n[j] + r[j] * hn[j])


@jit
def _blend(h, z, n, hprev):
    """h = (1 - z) * n + z * hprev, all (H,)."""
    for j in range(h.shape[0]):
        h[j] = (1.0 - z[j]) * n[j] + z[j] * hprev[j]


@jit
def _add_into(out, a, b):
    for j in range(out.shape[0]):
        out[j] = a[j] + b[j]


@jit
def gates_forward(g, rec, bh, bhn, hprev, hnew, hn, exact):
    """One step's elementwise part, for b rows.

    g (b, 3H): x Wxh on entry; r, z, n on exit. rec (b, 3H): h_{t-1} Whh. hprev, hnew (b, H).
    hn (b, H) gets h_{t-1} Whh_n + bhn (the backward pass needs it).
    Built from vector pieces, one per quantity (kernels.py says why).
    """
    H = hprev.shape[1]
    for b in range(g.shape[0]):
        gb, rb = g[b], rec[b]
        sigmoid_add(gb[: 2 * H], rb[: 2 * H], bh[: 2 * H], exact)  # r, z
        _add_into(hn[b], rb[2 * H :], bhn)
        _candidate(gb[2 * H :], bh[2 * H :], gb[:H], hn[b], exact)
        _blend(hnew[b], gb[H : 2 * H], gb[2 * H :], hprev[b])


@jit
def forward(x, Wxh, Whh, bh, bhn, hs, gates, hn):
    """A layer over a chunk. x (T, B, I); hs (T+1, B, H) with h0 in hs[0], hs[1:] filled;
    gates (T, B, 3H) gets r, z, n and hn (T, B, H) the reset gate's input, for the backward pass."""
    T, B, I = x.shape
    H = hs.shape[2]
    np.dot(x.reshape(T * B, I), Wxh, gates.reshape(T * B, 3 * H))  # every step's input part at once
    exact = hs.itemsize == 8
    rec = np.empty((B, 3 * H), hs.dtype)
    WhhT = transpose(Whh)
    Wb, tmp, part = stacked_workspace(Whh, B)
    for t in range(T):
        stacked_product(hs[t], Whh, WhhT, Wb, tmp, rec)  # (B, 3H) = h_{t-1} Whh
        gates_forward(gates[t], rec, bh, bhn, hs[t], hs[t + 1], hn[t], exact)


@jit
def gates_backward(g, hn, hprev, dh_above, dh_rec, dgx, dgh, dprev):
    """One step back, for b rows. dh_above (b, H): dLoss/dh_t from the layer above; dh_rec (b, H):
    from step t+1 through Whh; dprev (b, H) in: from step t+1 through z (the copy path), out: this
    step's copy path into h_{t-1}. Writes dgx (b, 3H) (dLoss/d of x Wxh + bh: r, z, n blocks) and
    dgh (b, 3H) (dLoss/d of h Whh: the same, but the n block is the one inside the reset gate).
    One short loop per quantity, as in gates_forward."""
    H = hprev.shape[1]
    for b in range(g.shape[0]):
        gb, gx, gh = g[b], dgx[b], dgh[b]
        r, z, n = gb[:H], gb[H : 2 * H], gb[2 * H :]
        dh, da, dr_ = dprev[b], dh_above[b], dh_rec[b]
        for j in range(H):  # dLoss/dh_t, from every path into it
            dh[j] = da[j] + dr_[j] + dh[j]
        dan = gx[2 * H :]
        for j in range(H):  # at n's pre-activation
            dan[j] = dh[j] * (1.0 - z[j]) * (1.0 - n[j] * n[j])
        daz, hp = gx[H : 2 * H], hprev[b]
        for j in range(H):
            daz[j] = dh[j] * (hp[j] - n[j]) * z[j] * (1.0 - z[j])
        dar, hnb = gx[:H], hn[b]
        for j in range(H):
            dar[j] = dan[j] * hnb[j] * r[j] * (1.0 - r[j])
        ghn = gh[2 * H :]
        for j in range(H):
            ghn[j] = dan[j] * r[j]
        copy_vec(gh[: 2 * H], gx[: 2 * H])
        for j in range(H):  # the copy path: h_t = ... + z h_{t-1}
            dh[j] = dh[j] * z[j]


@jit
def backward(x, Wxh, Whh, hs, gates, hn, dhs, dgx, dgh, dx, dWxh, dWhh, dbh, dbhn, dh0):
    """Backpropagation through time for one layer, from forward's hs, gates and hn.

    dhs (T, B, H): dLoss/dh_t from above. dgx, dgh (T, B, 3H): scratch, the gates' gradients.
    Writes dx (T, B, I), dWxh (I, 3H), dWhh (H, 3H), dbh (3H,), dbhn (H,), dh0 (B, H); with empty
    dWxh (size 0) only dx and dh0 (a Jacobian needs no weight gradients).
    """
    T, B, I = x.shape
    H = hs.shape[2]
    WhhT = transpose(Whh)  # (3H, H)
    dprev = np.zeros((B, H), hs.dtype)
    drec = np.zeros((B, H), hs.dtype)
    _, gtmp, part = stacked_workspace(Whh, B, False)
    for t in range(T - 1, -1, -1):
        gates_backward(gates[t], hn[t], hs[t], dhs[t], drec, dgx[t], dgh[t], dprev)
        stacked_product_t(dgh[t], WhhT, Whh, gtmp, part, drec)  # (B, H) = dgh_t Whh^T
    dprev += drec
    copy_rows(dh0, dprev)
    N = T * B
    gx, gh = dgx.reshape(N, 3 * H), dgh.reshape(N, 3 * H)
    if dWxh.size:
        np.dot(x.reshape(N, I).T, gx, dWxh)
        np.dot(hs[:-1].reshape(N, H).T, gh, dWhh)
        column_sums(gx, dbh)
        column_sums(gh[:, 2 * H :], dbhn)
    np.dot(gx, transpose(Wxh), dx.reshape(N, I))


# -- the model's interface -----------------------------------------------------------------------------


def buffer_floats(T: int, B: int, H: int) -> int:
    """How many numbers ``Buffers(T, B, H)`` holds (for the memory estimate before allocating)."""
    return (T + 1) * B * H + 3 * T * B * 3 * H + T * B * H


class Buffers:
    """One layer's buffers for a (T, B) chunk."""

    def __init__(self, T: int, B: int, H: int, dtype) -> None:
        self.hs = np.empty((T + 1, B, H), dtype)
        self.gates = np.empty((T, B, 3 * H), dtype)
        self.hn = np.empty((T, B, H), dtype)
        self.dgx = np.empty((T, B, 3 * H), dtype)
        self.dgh = np.empty((T, B, 3 * H), dtype)


def layer_forward(x, p, state0, ws: Buffers) -> None:
    """x (T, B, I), state0 (B, H) -> ws.hs."""
    ws.hs[0] = state0
    forward(x, p["Wxh"], p["Whh"], p["bh"], p["bhn"], ws.hs, ws.gates, ws.hn)


def layer_backward(x, p, ws: Buffers, dhs, dx, g, dstate0) -> None:
    """dhs (T, B, H) -> dx (T, B, I), the layer's gradients in g (None: skip them), dstate0 (B, H)."""
    if g is None:
        none = np.empty((0, 0), dx.dtype)
        g = {"Wxh": none, "Whh": none, "bh": none.ravel(), "bhn": none.ravel()}
    backward(x, p["Wxh"], p["Whh"], ws.hs, ws.gates, ws.hn, dhs, ws.dgx, ws.dgh,
             dx, g["Wxh"], g["Whh"], g["bh"], g["bhn"], dstate0)  # fmt: skip


def final_state(ws: Buffers) -> np.ndarray:
    return ws.hs[-1]


def step(x, p, state, gates=None) -> np.ndarray:
    """One token for b streams: x (b, I), state (b, H) updated in place; returns h (b, H).
    gates (b, 3H), if given, receives r, z, n."""
    exact = state.dtype == np.float64
    g = x @ p["Wxh"] if gates is None else np.matmul(x, p["Wxh"], out=gates)
    hnew = np.empty_like(state)
    gates_forward(g, state @ p["Whh"], p["bh"], p["bhn"], state, hnew, np.empty_like(state), exact)
    state[...] = hnew
    return state


def gate_values(gates: np.ndarray) -> np.ndarray:
    """(..., 3H) r, z, n -> (..., 2, H) in GATES order (update z, reset r)."""
    H = gates.shape[-1] // 3
    return np.stack([gates[..., H : 2 * H], gates[..., :H]], axis=-2)


# -- the plain NumPy twin -------------------------------------------------------------------------------


def reference_forward(x, p, h0):
    """The equations above, one step at a time: x (T, B, I), h0 (B, H) -> (hs (T, B, H),
    gates (T, B, 3H) as r, z, n)."""
    Wr, Wz, Wn = np.split(p["Wxh"], 3, axis=1)
    Ur, Uz, Un = np.split(p["Whh"], 3, axis=1)
    br, bz, bn = np.split(p["bh"], 3)
    h, hs, gates = h0, [], []
    for x_t in x:
        r = sigmoid(x_t @ Wr + h @ Ur + br)
        z = sigmoid(x_t @ Wz + h @ Uz + bz)
        n = np.tanh(x_t @ Wn + bn + r * (h @ Un + p["bhn"]))
        h = (1 - z) * n + z * h
        hs.append(h)
        gates.append(np.concatenate([r, z, n], axis=-1))
    return np.stack(hs), np.stack(gates)


def reference_backward(x, p, h0, dhs):
    """Gradients of a scalar loss given dLoss/dh_t (T, B, H), by the chain rule written out step by
    step. Returns dx, {Wxh, Whh, bh, bhn: gradient}, dh0."""
    hs, gates = reference_forward(x, p, h0)
    H = h0.shape[-1]
    Ur, Uz, Un = np.split(p["Whh"], 3, axis=1)
    Wr, Wz, Wn = np.split(p["Wxh"], 3, axis=1)
    g = {k: np.zeros_like(v) for k, v in p.items()}
    dx = np.zeros_like(x)
    dnext = np.zeros_like(h0)
    for t in reversed(range(len(x))):
        hp = h0 if t == 0 else hs[t - 1]
        r, z, n = gates[t][..., :H], gates[t][..., H : 2 * H], gates[t][..., 2 * H :]
        hn = hp @ Un + p["bhn"]
        dh = dhs[t] + dnext
        dn = dh * (1 - z)
        dz = dh * (hp - n)
        dan = dn * (1 - n**2)
        dr = dan * hn
        dar, daz = dr * r * (1 - r), dz * z * (1 - z)
        dhn = dan * r
        g["Wxh"] += x[t].T @ np.concatenate([dar, daz, dan], axis=1)
        g["Whh"] += hp.T @ np.concatenate([dar, daz, dhn], axis=1)
        g["bh"] += np.concatenate([dar, daz, dan], axis=1).sum(0)
        g["bhn"] += dhn.sum(0)
        dx[t] = dar @ Wr.T + daz @ Wz.T + dan @ Wn.T
        dnext = dh * z + dar @ Ur.T + daz @ Uz.T + dhn @ Un.T
    return dx, g, dnext
