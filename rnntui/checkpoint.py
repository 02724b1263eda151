"""The checkpoint format: one ``.npz`` of plain arrays plus a JSON metadata entry. Never pickle.

Arrays (all little-endian, loadable with ``numpy.load(path, allow_pickle=False)`` or any npz reader):
    meta            uint8 (n,)      UTF-8 JSON: format, version, config (with the cell), vocabulary,
                                    step, data position, RNG state, corpus (every file and its
                                    sha256), best validation loss, and for a fine-tuned run init_from
    param/<name>    float32         weights by name: embed (V, E); each layer l's cell weights (below);
                                    Why (H, V); by (V,)
    opt/<slot>      float32 (P,)    optimiser state over the flat parameter vector, in the order of
                                    the param/ entries above (adam: m, v; adagrad: cache; sgd: none)
    state/h         float32 (L, B, H)  the memory carried into the next training chunk
    state/c         float32 (L, B, H)  lstm only: the cell state carried with it
    history/train   float32 (S,)    training loss (nats/token) of every step
    history/val     float64 (K, 2)  (step, validation loss) at every evaluation
    history/spectra float64 (K, 1+2L)  (step, then per layer: spectral radius and largest singular
                                    value of Whh) at every evaluation

Each layer's cell weights (the gates side by side, in PyTorch's order; see rnntui/cells/):
    rnn     Wxh<l> (I, H)    Whh<l> (H, H)    bh<l> (H,)
    gru     Wxh<l> (I, 3H)   Whh<l> (H, 3H)   bh<l> (3H,)   bhn<l> (H,)      gates r, z, n
    lstm    Wxh<l> (I, 4H)   Whh<l> (H, 4H)   bh<l> (4H,)                    gates i, f, g, o

Version 2 added the cell (``meta.model.cell``) and ``state/c``; version-1 files are vanilla RNNs and
load as such.

Writes are atomic: a temporary file in the same folder, fsync, then ``os.replace``, so a crash
mid-write leaves the previous checkpoint intact and never a partial file under the real name.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnntui import cells
from rnntui.corpus import Vocab
from rnntui.model import RNN, ModelConfig, param_shapes

FORMAT = "rnntui-checkpoint"
VERSION = 2  # 2: the cell is recorded, and the LSTM's cell state carried


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not fit; the message is one line meant for a person."""


@dataclass
class Checkpoint:
    """Everything a checkpoint holds, in memory."""

    model: RNN
    vocab: Vocab
    meta: dict  # step, train config, data position, rng state, corpus info, ...
    opt_state: dict[str, np.ndarray] = field(default_factory=dict)
    carry: np.ndarray | None = None  # (L, B, H)
    train_history: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    val_history: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float64))
    spectra_history: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.float64))


def save(ckpt: Checkpoint, path: str | Path) -> Path:
    """Write ``ckpt`` to ``path`` atomically (temp file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        **ckpt.meta,
        "model": ckpt.model.cfg.to_dict(),
        "vocab": {"level": ckpt.vocab.level, "lowercase": ckpt.vocab.lowercase,
                  "tokens": list(ckpt.vocab.tokens)},
    }  # fmt: skip
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
    arrays |= {f"param/{k}": v for k, v in ckpt.model.params.items()}
    arrays |= {f"opt/{k}": v for k, v in ckpt.opt_state.items()}
    if ckpt.carry is not None:
        arrays["state/h"] = ckpt.model.memory(ckpt.carry)
        c = ckpt.model.cell_state(ckpt.carry)
        if c is not None:
            arrays["state/c"] = c
    arrays["history/train"] = np.asarray(ckpt.train_history, np.float32)
    arrays["history/val"] = np.asarray(ckpt.val_history, np.float64).reshape(-1, 2)
    arrays["history/spectra"] = np.asarray(ckpt.spectra_history, np.float64).reshape(
        -1, 1 + 2 * ckpt.model.cfg.layers
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; a checkpoint is an ordinary file
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno is not None:  # disk full, read-only, ...
            raise OSError(
                err.errno, f"{err.strerror}; any earlier checkpoint there is untouched", str(path)
            ) from err
        raise
    _fsync_dir(path.parent)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path: str | Path) -> Checkpoint:
    """Read and validate a checkpoint; any problem becomes a one-line CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory; pass a checkpoint file such as {path}/latest.npz")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as err:
        raise CheckpointError(f"{path}: not an rnntui checkpoint (unreadable .npz: {err})") from None
    except ValueError as err:  # object arrays (which need pickle), and files that are not npz at all
        if "object arrays" in str(err).lower():
            raise CheckpointError(f"{path}: holds pickled objects, which rnntui never loads") from None
        with open(path, "rb") as f:
            if f.read(1) == b"\x80":
                raise CheckpointError(f"{path}: is a Python pickle, which rnntui never loads") from None
        raise CheckpointError(f"{path}: not an rnntui checkpoint (not an .npz file)") from None
    if not isinstance(arrays, dict) or "meta" not in arrays:
        raise CheckpointError(f"{path}: not an rnntui checkpoint (no metadata entry)")
    try:
        meta = json.loads(arrays["meta"].astype(np.uint8).tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"{path}: metadata is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an rnntui checkpoint (format {meta.get('format')!r})")
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is newer than this rnntui reads ({VERSION}); "
            "upgrade rnntui"
        )
    try:
        cfg = ModelConfig(**meta["model"])
        cells.get(cfg.cell)
        v = meta["vocab"]
        vocab = Vocab(level=v["level"], tokens=tuple(v["tokens"]), lowercase=bool(v["lowercase"]))
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: metadata is incomplete ({err})") from None
    except ValueError as err:  # a cell this rnntui does not know
        raise CheckpointError(f"{path}: {err}") from None
    if len(vocab) != cfg.vocab_size:
        raise CheckpointError(
            f"{path}: vocabulary has {len(vocab)} tokens but the model expects {cfg.vocab_size}"
        )
    model = RNN(cfg)
    for name, shape in param_shapes(cfg).items():
        a = _array(arrays, f"param/{name}", shape, path)
        model.params[name][...] = a
    n_params = model.flat.size
    opt_state = {k[4:]: _array(arrays, k, (n_params,), path) for k in arrays if k.startswith("opt/")}
    carry = None
    if "state/h" in arrays:
        carry = _array(arrays, "state/h", (cfg.layers, -1, cfg.hidden), path)
        if model.cell.STATE_SLOTS == 2:
            c = _array(arrays, "state/c", carry.shape, path)
            carry = np.concatenate([carry, c], axis=-1)
        carry = carry.copy()
    return Checkpoint(
        model=model,
        vocab=vocab,
        meta={k: v for k, v in meta.items() if k not in ("format", "version", "model", "vocab")},
        opt_state={k: v.copy() for k, v in opt_state.items()},
        carry=carry,
        train_history=arrays.get("history/train", np.zeros(0, np.float32)).astype(np.float32),
        val_history=arrays.get("history/val", np.zeros((0, 2))).astype(np.float64).reshape(-1, 2),
        spectra_history=_history(arrays, "history/spectra", 1 + 2 * cfg.layers, path),
    )


def corpus_files(meta: dict) -> list[tuple[Path, str | None]]:
    """(path, sha256 of its normalised text) of every file of the corpus a checkpoint was trained
    on, in order. Checkpoints from before several files were possible record one ``path``."""
    info = meta.get("corpus") or {}
    if "files" in info:
        return [(Path(f["path"]), f.get("sha256")) for f in info["files"]]
    return [(Path(info["path"]), info.get("sha256"))] if info.get("path") else []


def _history(arrays: dict, key: str, columns: int, path: Path) -> np.ndarray:
    """An optional (K, columns) float64 history; absent means empty."""
    a = arrays.get(key, np.zeros((0, columns)))
    if a.ndim != 2 or a.shape[1] != columns:
        raise CheckpointError(f"{path}: array {key!r} has shape {a.shape}, expected (K, {columns})")
    return a.astype(np.float64)


def _array(arrays: dict, key: str, shape: tuple[int, ...], path: Path) -> np.ndarray:
    if key not in arrays:
        raise CheckpointError(f"{path}: missing array {key!r}")
    a = arrays[key]
    if a.dtype != np.float32:
        raise CheckpointError(f"{path}: array {key!r} has dtype {a.dtype}, expected float32")
    if a.ndim != len(shape) or any(s != -1 and s != d for s, d in zip(shape, a.shape, strict=True)):
        raise CheckpointError(f"{path}: array {key!r} has shape {a.shape}, expected {shape}")
    return a
