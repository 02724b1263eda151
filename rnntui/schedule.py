"""Learning-rate schedules and decoupled weight decay: what the trainer multiplies its lr by, and
which parameters it shrinks.

    constant   lr
    step       lr * lr_decay ** (k // decay_every)                  (min-char-rnn's, the old default)
    cosine     lr * (floor + (1 - floor) * (1 + cos(pi * f)) / 2)   f: the share of the budget spent

and, with ``--warmup N``, any of them times min(1, (k + 1) / N): the first N updates ramp up linearly.
k is the update's index (0-based, counted over the whole run, resumes included). For the cosine f is
the share of the run's budget this update ends: after update k of a ``--steps N`` run, (k + 1) / N;
in a ``--minutes`` run, the share of the time spent (with both, whichever is further along). A resumed
run carries on from the f its checkpoint recorded and spends what is left over its own budget, so
the schedule continues where it was and reaches the floor at the end of the resumed run.
The floor is a tenth of the peak (nanoGPT's min_lr = lr / 10). With no budget at all (a library
caller's open-ended run: the CLI always sets one) f stays where it was and so does the cosine.
The cosine is the default: it lowered the best validation loss on both bundled texts within the
default budget (BENCHMARKS.md, "Defaults").

Weight decay is decoupled (Loshchilov & Hutter's AdamW, as PyTorch's AdamW applies it): before each
update, every weight matrix is multiplied by 1 - lr_k * weight_decay, whatever the optimiser. It
leaves biases alone, and the embedding too (its rows are looked up, not multiplied: a rare token's
row would shrink at every step while being trained almost never).
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "step", "cosine")
COSINE_FLOOR = 0.1  # the cosine ends at this share of the peak lr


def lr_factor(schedule: str, k: int, progress: float, *, lr_decay: float = 1.0, decay_every: int = 1000,
              warmup: int = 0) -> float:  # fmt: skip
    """What update k's learning rate is, as a share of the peak. ``progress``: the share f of the
    budget spent once update k is done, in [0, 1] (used by the cosine only)."""
    if schedule == "constant":
        factor = 1.0
    elif schedule == "step":
        factor = lr_decay ** (k // decay_every)
    elif schedule == "cosine":
        f = min(1.0, max(0.0, progress))
        factor = COSINE_FLOOR + (1.0 - COSINE_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * f))
    else:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if warmup > 0:
        factor *= min(1.0, (k + 1) / warmup)
    return factor


def decayed_names(shapes: dict[str, tuple[int, ...]]) -> list[str]:
    """The parameters weight decay shrinks: every matrix (each layer's Wxh and Whh, gates stacked,
    and Why), not the biases and not the embedding."""
    return [name for name, shape in shapes.items() if len(shape) == 2 and name != "embed"]
