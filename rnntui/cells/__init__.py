"""The recurrent cells, side by side, one module each (as torch-rnn keeps VanillaRNN, GRU and LSTM).

Every cell module has the same interface, which ``model.py`` composes into a language model:

    NAME, GATES, STATE_SLOTS         its name, the gates drawn in the gates heatmap, and how many
                                     H-sized vectors its state holds per layer (h: 1; h and c: 2)
    RECURRENT                        the name of its square recurrent matrix (health's spectra)
    DRIVE                            (symbol, words) of what ranks a unit's contexts, or None (h)
    param_shapes(I, H)               one layer's parameters (base names; the model appends the layer)
    init(p, rng)                     their initialisation, in place
    Buffers(T, B, H, dtype)          one layer's buffers for a (T, B) chunk; ``hs`` (T+1, B, H) always
    buffer_floats(T, B, H)           how many numbers those buffers hold (the memory estimate)
    layer_forward(x, p, s0, ws)      x (T, B, I), state s0 (B, S*H) -> ws.hs[1:] (T, B, H)
    layer_backward(x, p, ws, dh, dx, g, ds0)   dLoss/dh (T, B, H) -> dx, gradients g, ds0
    final_state(ws)                  (B, S*H)
    step(x, p, s, gates=None)        one token: x (b, I), s (b, S*H) in place -> h (b, H)
    gate_values(gates)               the gates as (..., len(GATES), H) for drawing, 0..1
    reference_forward / reference_backward    the plain NumPy twin, the tests' oracle

Adding a cell: one module here and one line in ``CELLS``.
"""

from types import ModuleType

from rnntui.cells import gru, lstm, vanilla

CELLS: dict[str, ModuleType] = {"rnn": vanilla, "gru": gru, "lstm": lstm}


def get(name: str) -> ModuleType:
    """The cell module called ``name``; ValueError naming the choices otherwise."""
    try:
        return CELLS[name]
    except KeyError:
        raise ValueError(f"unknown cell {name!r}; choose one of {', '.join(CELLS)}") from None
