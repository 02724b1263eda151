"""The vanilla tanh RNN cell (Elman 1990): rnntui's default and reference.

    h_t = tanh(x_t Wxh + h_{t-1} Whh + bh)        (B, H)

Parameters of one layer: Wxh (I, H), Whh (H, H), bh (H,). PyTorch's ``nn.RNN`` has
weight_ih = Wxh.T, weight_hh = Whh.T, bias_ih = bh, bias_hh = 0.

Why it forgets: d h_t / d h_{t-1} = diag(1 - h_t^2) Whh^T, a product through tanh' and a matrix
at every step, so an old input's influence shrinks geometrically unless Whh amplifies it.

The jitted kernels are ``kernels.rnn_forward`` / ``kernels.rnn_backward`` (the recurrence that
every other kernel was first tuned on) and the NumPy twin ``reference.rnn_forward`` /
``reference.rnn_backward``; this module gives them the interface every cell has.
"""

from __future__ import annotations

import numpy as np

from rnntui import kernels, reference
from rnntui.cells.common import orthogonal

NAME = "rnn"
GATES: tuple[str, ...] = ()  # no gates: the memory is overwritten through tanh at every step
RECURRENT = "recurrent matrices Whh"  # the spectrum health shows
DRIVE = ("a", "its pre-activation")  # what ranks a unit's contexts (inspect.preactivations)
STATE_SLOTS = 1


def param_shapes(I: int, H: int) -> dict[str, tuple[int, ...]]:
    return {"Wxh": (I, H), "Whh": (H, H), "bh": (H,)}


def init(p: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Wxh ~ N(0, 1/I) (unit-variance pre-activations); Whh orthogonal (keeps the memory's norm
    through time at the start, delaying vanishing gradients); bh 0."""
    I, H = p["Wxh"].shape
    p["Wxh"][...] = rng.standard_normal((I, H)) / np.sqrt(I)
    p["Whh"][...] = orthogonal(rng, H)
    p["bh"][...] = 0.0


def buffer_floats(T: int, B: int, H: int) -> int:
    """How many numbers ``Buffers(T, B, H)`` holds (for the memory estimate before allocating)."""
    return (T + 1) * B * H


class Buffers:
    """One layer's buffers for a (T, B) chunk."""

    def __init__(self, T: int, B: int, H: int, dtype) -> None:
        self.hs = np.empty((T + 1, B, H), dtype)  # hs[0] = h0


def layer_forward(x, p, state0, ws: Buffers) -> None:
    """x (T, B, I), state0 (B, H) -> ws.hs."""
    ws.hs[0] = state0
    kernels.rnn_forward(x, p["Wxh"], p["Whh"], p["bh"], ws.hs)


def layer_backward(x, p, ws: Buffers, dhs, dx, g, dstate0) -> None:
    """dhs (T, B, H) (overwritten) -> dx (T, B, I), the layer's gradients in g, dstate0 (B, H)."""
    kernels.rnn_backward(x, p["Wxh"], p["Whh"], ws.hs, dhs, dx, g["Wxh"], g["Whh"], g["bh"], dstate0)


def final_state(ws: Buffers) -> np.ndarray:
    return ws.hs[-1]


def step(x, p, state, gates=None) -> np.ndarray:
    """One token for b streams: x (b, I), state (b, H) updated in place; returns h (b, H)."""
    a = x @ p["Wxh"]
    kernels.tanh_add(a, state @ p["Whh"], p["bh"], state.dtype == np.float64)
    state[...] = a
    return state


def gate_values(gates: np.ndarray) -> np.ndarray:
    return np.zeros((*gates.shape[:-1], 0, 0), gates.dtype)


def reference_forward(x, p, h0):
    """x (T, B, I), h0 (B, H) -> (hs (T, B, H), no gates (T, B, 0))."""
    hs = reference.rnn_forward(x, h0, p["Wxh"], p["Whh"], p["bh"])
    return hs, np.zeros((*hs.shape[:2], 0), hs.dtype)


def reference_backward(x, p, h0, dhs):
    """Returns dx, {Wxh, Whh, bh: gradient}, dh0."""
    hs = reference.rnn_forward(x, h0, p["Wxh"], p["Whh"], p["bh"])
    dx, dWxh, dWhh, dbh, dh0 = reference.rnn_backward(x, h0, p["Wxh"], p["Whh"], hs, dhs)
    return dx, {"Wxh": dWxh, "Whh": dWhh, "bh": dbh}, dh0
