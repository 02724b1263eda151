"""How much memory a run needs, how much the machine has, and a one-line refusal when it won't fit.

Every size here is in bytes and is computed from the shapes before anything is allocated, so a
``--hidden`` too large for the machine is refused at once instead of ending in a MemoryError (or the
kernel's OOM killer) minutes later. The figures follow the allocations in ``rnntui.model`` (the
parameter vector, its gradient, each thread's workspace) and ``rnntui.train`` (optimiser state, the
carried memory); a test measures a real run against them, so keep them in step with that code.

Dimensions: V vocabulary, E embedding, H hidden, L layers, T time steps per chunk, B streams,
P parameters (``param_count``), ``parts`` threads a chunk is split between.

A cell's own buffers (a gated cell keeps its G gates per unit per step, GRU 3, LSTM 4, and the LSTM
its cell state c) are what the cell's ``buffer_floats`` says, so a new cell needs no change here.
"""

from __future__ import annotations

import math
import os
import resource
from dataclasses import dataclass, replace

from rnntui import cells
from rnntui.model import ModelConfig, param_shapes

FLOAT = 4  # bytes of a float32, the dtype of every parameter, gradient and workspace
OPT_SLOTS = {"adam": 2, "adagrad": 1, "sgd": 0}  # optimiser state vectors, each (P,)


class MemoryLimitError(ValueError):
    """A run would not fit in the memory this process may use; the message is one line for a person."""


@dataclass(frozen=True)
class Need:
    """An estimate of the memory something takes, by part (bytes each), largest first when shown."""

    parts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def describe(self) -> str:
        shown = sorted(((v, k) for k, v in self.parts.items() if v >= 1 << 20), reverse=True)[:4]
        return ", ".join(f"{k} {human(v)}" for v, k in shown)


def human(n: float) -> str:
    """Bytes for a person: 1.5 GB, 312 MB, 4 kB (powers of 1000, like ``df -H``)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


# -- what a model needs -------------------------------------------------------------------------------


def param_count(cfg: ModelConfig) -> int:
    """P: the length of the flat parameter vector, in exact integers and without listing every layer
    (a layer above the first has the same shapes as the second), so any config is counted at once."""
    if cfg.layers <= 2:
        return sum(math.prod(s) for s in param_shapes(cfg).values())
    one, two = (param_count(replace(cfg, layers=n)) for n in (1, 2))
    return one + (cfg.layers - 1) * (two - one)


def _layer_floats(cfg: ModelConfig, T: int, B: int) -> int:
    """Floats one layer keeps for a (T, B) chunk: its cell's buffers (``buffer_floats``), the
    gradient into its output dhs (T, B, H) and that of its initial state dh0 (B, S*H)."""
    H = cfg.hidden
    return cells.get(cfg.cell).buffer_floats(T, B, H) + T * B * H + B * cfg.state_size


def workspace_bytes(cfg: ModelConfig, T: int, B: int) -> int:
    """Buffers for a (T, B) chunk, summed over the threads' shares (they partition the B streams):
    x and dx (T, B, E), every layer's ``_layer_floats``, logits (T*B, V) and losses (T*B,)."""
    E, V = cfg.embed, cfg.vocab_size
    return FLOAT * (2 * T * B * E + cfg.layers * _layer_floats(cfg, T, B) + T * B * V + T * B)


def init_bytes(cfg: ModelConfig) -> int:
    """The transient peak of a fresh initialisation (``RNN.initialised``): each layer's weights are
    drawn into a float64 copy, and each H x H orthogonal block comes from a QR of a float64 matrix
    (at most 4 of them alive at once: LAPACK's copy, Q, R, the sign-fixed Q); the embedding and Why
    are drawn in float64 too. Measured at H = 2000 (resident high-water mark over the weights, in
    H x H float64 matrices): rnn 4.7 against the estimated 5, gru 6.5 against 7, lstm 9.1 against 8."""
    V, E, H = cfg.vocab_size, cfg.embed, cfg.hidden
    one, two = param_count(replace(cfg, layers=1)), param_count(replace(cfg, layers=2))
    first = one - V * E - H * V - V
    layer = first if cfg.layers == 1 else max(first, two - one)  # the largest layer: first or above
    return 8 * max(V * E, H * V, layer + 4 * H * H)


def training_need(cfg: ModelConfig, *, batch: int, seq: int, parts: int, optimizer: str,
                  dropout: bool = False) -> Need:  # fmt: skip
    """What training ``cfg`` on (seq, batch) chunks takes at its peak: the weights and their gradient
    (one more gradient per extra thread), the optimiser state, two sets of workspaces (a training
    chunk's and the evaluation's are kept at once) and the carried memory; or, if more, the weights
    plus the transient of initialising them (``init_bytes``), which is over before training starts."""
    P = param_count(cfg)
    threads = max(1, min(parts, batch))
    H, V = cfg.hidden, cfg.vocab_size
    weights = FLOAT * 2 * P
    steady = Need({
        "weights and gradients": weights + FLOAT * (P * (threads - 1) + H * V),  # + Why's transpose
        f"{optimizer} state": FLOAT * P * OPT_SLOTS.get(optimizer, 0),
        f"workspaces ({threads} thread{'s' * (threads > 1)})": 2 * workspace_bytes(cfg, seq, batch),
        "carried memory": FLOAT * 3 * cfg.layers * batch * H,  # carry, final state, dh0
    })  # fmt: skip
    if dropout:  # a chunk's masks and the masked inputs (rnntui.model.RNN.dropout_masks)
        steady.parts["dropout masks"] = 2 * FLOAT * seq * batch * (cfg.embed + cfg.layers * H)
    start = Need({"weights and gradients": weights, "initialising them (float64)": init_bytes(cfg)})
    return max(steady, start, key=lambda need: need.total)


def model_need(cfg: ModelConfig) -> Need:
    """What holding ``cfg``'s model takes (its weights and their gradient), as loading one does."""
    return Need({"weights and gradients": 2 * FLOAT * param_count(cfg)})


# -- what the machine has -------------------------------------------------------------------------


def available_bytes() -> int | None:
    """The memory this process can still take, or None if it cannot be told: the least of the
    machine's available memory (MemAvailable plus free swap), the free part of this process's
    cgroup limit, and what its address-space and data limits (``ulimit -v``, ``-d``) leave."""
    status = _proc_fields("/proc/self/status")
    candidates = [_machine_free(), _cgroup_free()]
    for limit, used in ((resource.RLIMIT_AS, "VmSize"), (resource.RLIMIT_DATA, "VmData")):
        soft = resource.getrlimit(limit)[0]
        if soft != resource.RLIM_INFINITY and used in status:
            candidates.append(max(0, soft - status[used]))
    known = [c for c in candidates if c is not None]
    return min(known) if known else None


def require(need: Need, what: str, advice: str) -> None:
    """Raise MemoryLimitError if ``need`` does not fit in ``available_bytes()``; one line naming the
    figure, the largest parts, what is available and ``advice`` (what to lower)."""
    free = available_bytes()
    if free is None or need.total <= free:
        return
    parts = need.describe()  # the parts of a MiB or more
    raise MemoryLimitError(
        f"{what} needs about {human(need.total)} of memory{f' ({parts})' if parts else ''} but {human(free)} "
        f"is available; {advice}"
    )


def _proc_fields(path: str) -> dict[str, int]:
    """``Key: 123 kB`` lines of a /proc file, in bytes (empty when there is no such file)."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                key, _, rest = line.partition(":")
                words = rest.split()
                if words and words[0].isdigit():
                    out[key] = int(words[0]) * (1024 if words[1:2] == ["kB"] else 1)
    except OSError:
        pass
    return out


def _machine_free() -> int | None:
    info = _proc_fields("/proc/meminfo")
    if "MemAvailable" in info:
        return info["MemAvailable"] + info.get("SwapFree", 0)
    try:  # not Linux: free physical pages
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_free() -> int | None:
    """memory.max − memory.current of this process's cgroup (v2), if it has a limit."""
    try:
        with open("/proc/self/cgroup") as f:
            rel = next((line.split(":", 2)[2].strip() for line in f if line.startswith("0::")), None)
        if rel is None:
            return None
        folder = os.path.join("/sys/fs/cgroup", rel.lstrip("/"))
        with open(os.path.join(folder, "memory.max")) as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open(os.path.join(folder, "memory.current")) as f:
            return max(0, int(limit) - int(f.read().strip()))
    except (OSError, ValueError, IndexError):
        return None
