"""The models that ship with rnntui (``rnntui/data/<name>.npz``), and weights-only checkpoints.

A weights-only checkpoint keeps what a trained model needs to be used (its weights, vocabulary,
config, training options and loss histories) and drops what only continuing its run needs (the
optimiser state, the carried memory, the data position and the generator's state): a third of the
size for Adam (``rnntui export CKPT OUT.npz`` writes one). It loads for play, sample, eval,
compare, inspect and fine-tuning (``--init-from``); ``--resume`` refuses it and says why. The
shipped models are such files; their own metadata says what each is, so there is no separate
manifest to keep in step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rnntui import checkpoint
from rnntui.checkpoint import Checkpoint, CheckpointError

SHIPPED = Path(__file__).parent / "data"  # models that ship with rnntui, by name: data/<name>.npz
RUN_ONLY_META = ("rng", "data")  # what only resuming a run reads


def shipped_models() -> list[str]:
    """The names of the models shipped with rnntui (what ``--model`` and ``--init-from`` take)."""
    return sorted(p.stem for p in SHIPPED.glob("*.npz"))


def resolve(checkpoint_or_name: str | Path) -> Path:
    """The checkpoint a command's CHECKPOINT names: a file, or else the name of a shipped model."""
    path = Path(checkpoint_or_name)
    if path.exists() or path.suffix == ".npz" or len(path.parts) > 1:
        return path  # checkpoint.load says what is wrong with it
    if str(checkpoint_or_name) in shipped_models():
        return SHIPPED / f"{checkpoint_or_name}.npz"
    raise CheckpointError(
        f"{checkpoint_or_name}: no such checkpoint, nor the name of a shipped model "
        f"({', '.join(shipped_models())})"
    )


def load(checkpoint_or_name: str | Path) -> Checkpoint:
    """``checkpoint.load`` of a file, or of the shipped model of that name (``resolve``)."""
    return checkpoint.load(resolve(checkpoint_or_name))


def weights_only(ckpt: Checkpoint) -> Checkpoint:
    """``ckpt`` without its optimiser state, carried memory, data position and generator state,
    marked ``weights_only`` in its metadata."""
    meta = {k: v for k, v in ckpt.meta.items() if k not in RUN_ONLY_META} | {"weights_only": True}
    return replace(ckpt, meta=meta, opt_state={}, carry=None)


def is_weights_only(ckpt: Checkpoint) -> bool:
    """Whether a checkpoint is marked weights-only, or has none of the state a run resumes from (no
    carried memory, optimiser state or generator state: a model made elsewhere, say)."""
    meta = ckpt.meta
    return meta.get("weights_only") is True or (
        ckpt.carry is None and not ckpt.opt_state and "rng" not in meta
    )


def resume_refusal(path: str | Path) -> str:
    """Why a weights-only checkpoint cannot be resumed, and what it can do, in one line."""
    return (
        f"{path} is a weights-only checkpoint (no optimiser state, data position or carried memory), so "
        "its run cannot be resumed; play, sample, eval and inspect it, or start a new run from its "
        f"weights with --init-from {path}"
    )


@dataclass(frozen=True)
class ModelInfo:
    """One shipped model, as ``rnntui models`` lists it."""

    name: str
    cell: str
    level: str
    hidden: int
    layers: int
    vocab: int
    params: int
    file_bytes: int
    val_loss: float  # nats/token on its training text's held-out tail (nan if never evaluated)
    corpus: str


def model_path(name: str) -> Path:
    """The file of the shipped model ``name``; CheckpointError naming the shipped ones otherwise."""
    names = shipped_models()
    if name not in names:
        raise CheckpointError(f"no shipped model named {name!r}; the shipped models are {', '.join(names)}")
    return SHIPPED / f"{name}.npz"


def val_loss(meta: dict, val_history: np.ndarray) -> float:
    """A checkpoint's validation loss: the best its run recorded, or else its last evaluation."""
    best = meta.get("best_val")
    if isinstance(best, int | float) and math.isfinite(best):
        return float(best)
    return float(val_history[-1, 1]) if len(val_history) else math.nan


def describe(name: str) -> ModelInfo:
    path = model_path(name)
    ckpt = checkpoint.load(path)
    cfg = ckpt.model.cfg
    files = checkpoint.corpus_files(ckpt.meta)
    corpus = Path(files[0][0]).name if files else "?"
    return ModelInfo(name=name, cell=cfg.cell, level=ckpt.vocab.level, hidden=cfg.hidden, layers=cfg.layers,
                     vocab=len(ckpt.vocab), params=ckpt.model.flat.size, file_bytes=path.stat().st_size,
                     val_loss=val_loss(ckpt.meta, ckpt.val_history), corpus=corpus)  # fmt: skip


def list_models() -> list[ModelInfo]:
    """Every shipped model, by name."""
    return [describe(name) for name in shipped_models()]
