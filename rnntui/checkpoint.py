"""The checkpoint format: one ``.npz`` of plain arrays plus a JSON metadata entry. Never pickle.

Arrays (all little-endian, loadable with ``numpy.load(path, allow_pickle=False)`` or any npz reader):
    meta            uint8 (n,)      UTF-8 JSON: format, version, config (with the cell), vocabulary,
                                    step, data position, RNG state, corpus (every file and its
                                    sha256), best validation loss, and for a fine-tuned run init_from
                                    (an imported model's: imported_from and step alone)
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

Only ``param/`` and ``meta`` are needed: a checkpoint of weights alone (``rnntui import`` writes one)
opens everywhere a model is read, and ``--resume`` refuses it. ``load`` also reads a ``.safetensors``
file of PyTorch names and layouts (``rnntui export``'s format; ``rnntui.interop``) as such a model.

Writes are atomic: a temporary file in the same folder, fsync, then ``os.replace``, so a crash
mid-write leaves the previous checkpoint intact and never a partial file under the real name.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from rnntui import cells, memory
from rnntui.corpus import LEVELS, Vocab
from rnntui.model import RNN, ModelConfig, param_shapes
from rnntui.safeio import NotRegularFileError, open_regular, parse_json

FORMAT = "rnntui-checkpoint"
VERSION = 2  # 2: the cell is recorded, and the LSTM's cell state carried
MAX_META_BYTES = 1 << 26  # 64 MiB: the JSON of a vocabulary of millions of words still fits


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
    return write_atomically(path, lambda f: np.savez(f, **arrays))


def write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """Make the file ``path`` with ``write(f)``: into a temporary file in the same folder, fsync,
    then ``os.replace``, so ``path`` is the whole new file or whatever it was before, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; a checkpoint is an ordinary file
            write(f)
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
    """Read and validate a checkpoint; any problem becomes a one-line CheckpointError.

    Nothing is allocated from what the file says before it is checked: the metadata is bounded
    (MAX_META_BYTES, safeio.MAX_JSON_DEPTH) before it is parsed, every array's header is read and its
    shape checked against the model the metadata describes, and the memory the model takes is
    compared with what the machine has (``memory.require``) before any array is read. Every array
    that will be used (parameters, optimiser state, carried memory) must be finite.
    """
    path = Path(path)
    try:
        f = open_regular(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except NotRegularFileError as err:
        if path.is_dir():
            raise CheckpointError(
                f"{path}: is a directory; pass a checkpoint file such as {path}/latest.npz"
            ) from None
        raise CheckpointError(str(err)) from None
    except OSError as err:
        raise CheckpointError(f"{path}: cannot be read ({err.strerror})") from None
    with f:
        if _is_safetensors(f, path):  # a PyTorch model, or rnntui export's: weights only (rnntui.interop)
            from rnntui import interop

            return interop.read(f, path)
        try:
            archive = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
            f.seek(0)
            if f.read(1) == b"\x80":
                raise CheckpointError(f"{path}: is a Python pickle, which rnntui never loads") from None
            raise CheckpointError(f"{path}: not an rnntui checkpoint (not an .npz file)") from None
        with archive:
            return _load_npz(_Npz(archive, path), path)


def _is_safetensors(f: BinaryIO, path: Path) -> bool:
    """Laid out as one (an 8-byte header length, then the JSON header's '{'), or named *.safetensors
    and not a zip (an .npz) by its first bytes."""
    head = f.read(9)
    f.seek(0)
    return head[8:9] == b"{" or (path.suffix == ".safetensors" and head[:4] != b"PK\x03\x04")


class _Npz:
    """The arrays of an open .npz, by name, known by their headers before any is read."""

    def __init__(self, archive: zipfile.ZipFile, path: Path) -> None:
        self.archive, self.path = archive, path
        self.headers: dict[str, tuple[zipfile.ZipInfo, tuple[int, ...], np.dtype, bool, int]] = {}
        try:
            for info in archive.infolist():
                if info.filename.endswith(".npy"):
                    with archive.open(info) as entry:
                        shape, fortran, dtype = _npy_header(entry)
                        offset = entry.tell()
                    self.headers[info.filename[:-4]] = (info, shape, dtype, fortran, offset)
        except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, ValueError, RuntimeError) as err:
            if "object" in str(err).lower():
                raise CheckpointError(f"{path}: holds pickled objects, which rnntui never loads") from None
            raise CheckpointError(f"{path}: not an rnntui checkpoint (unreadable .npz: {err})") from None

    def __contains__(self, key: str) -> bool:
        return key in self.headers

    def shape(self, key: str) -> tuple[int, ...]:
        return self.headers[key][1]

    def nbytes(self, key: str) -> int:
        _, shape, dtype, _, _ = self.headers[key]
        return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize

    def read(self, key: str, out: np.ndarray | None = None) -> np.ndarray:
        """Array ``key``, read straight into ``out`` (of its shape and dtype) when given."""
        info, shape, dtype, fortran, offset = self.headers[key]
        if info.file_size < offset + self.nbytes(key):
            raise CheckpointError(f"{self.path}: not an rnntui checkpoint (array {key!r} is truncated)")
        order = "F" if fortran else "C"
        target = out if out is not None and not fortran else np.empty(shape, dtype, order=order)
        data = target.reshape(-1, order=order).view(np.uint8)  # a view: target is contiguous
        try:
            with self.archive.open(info) as entry:
                entry.seek(offset)
                for start in range(0, len(data), 1 << 24):  # 16 MiB at a time: no second copy
                    piece = entry.read(min(1 << 24, len(data) - start))
                    if not piece:
                        raise EOFError("unexpected end of data")
                    data[start : start + len(piece)] = np.frombuffer(piece, np.uint8)
                    if len(piece) < min(1 << 24, len(data) - start):
                        raise EOFError("unexpected end of data")
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as err:
            raise CheckpointError(f"{self.path}: not an rnntui checkpoint (array {key!r}: {err})") from None
        if out is not None and out is not target:  # Fortran order, from another writer
            out[...] = target
            return out
        return target


def _npy_header(entry) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) from the header of a .npy stream (bounded by NumPy's 10 kB)."""
    fmt = np.lib.format
    version = fmt.read_magic(entry)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(entry)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(entry)
    else:
        raise ValueError(f".npy format version {version} is not one rnntui writes")
    if dtype.hasobject:
        raise ValueError("object arrays")
    if any(d < 0 for d in shape):
        raise ValueError(f"negative shape {shape}")
    return tuple(shape), fortran, dtype


def _load_npz(npz: _Npz, path: Path) -> Checkpoint:
    """The checkpoint in an open .npz, validated as ``load`` describes."""
    # 1) the metadata: bounded, then parsed
    if "meta" not in npz:
        raise CheckpointError(f"{path}: not an rnntui checkpoint (no metadata entry)")
    if npz.headers["meta"][2] != np.uint8 or len(npz.shape("meta")) != 1:
        raise CheckpointError(f"{path}: not an rnntui checkpoint (metadata is not a byte array)")
    if npz.nbytes("meta") > MAX_META_BYTES:
        raise CheckpointError(
            f"{path}: not an rnntui checkpoint (metadata of {npz.nbytes('meta'):,} bytes, "
            f"more than the {MAX_META_BYTES:,} rnntui reads)"
        )
    try:
        meta = parse_json(npz.read("meta").tobytes())
    except ValueError as err:
        raise CheckpointError(
            f"{path}: not an rnntui checkpoint (metadata is not valid JSON: {err})"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"{path}: not an rnntui checkpoint (format {found!r})")
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is newer than this rnntui reads ({VERSION}); "
            "upgrade rnntui"
        )
    cfg, vocab = _model_and_vocab(meta, path)
    _check_meta_fields(meta, path)

    # 2) every array's shape, from its header, before anything is allocated
    if cfg.layers > len(npz.headers):  # each layer has arrays of its own: no need to list 10**9 of them
        raise CheckpointError(f"{path}: metadata says {cfg.layers:,} layers but the file holds fewer arrays")
    shapes = param_shapes(cfg)
    for name, shape in shapes.items():
        _expect(npz, f"param/{name}", shape, path)
    n_params = memory.param_count(cfg)
    opt_keys = [k for k in npz.headers if k.startswith("opt/")]
    for key in opt_keys:
        _expect(npz, key, (n_params,), path)
    states = ["state/h", "state/c"][: cells.get(cfg.cell).STATE_SLOTS] if "state/h" in npz else []
    for key in states:  # the LSTM carries its cell state c beside h, of the same shape
        _expect(npz, key, (cfg.layers, -1, cfg.hidden) if key == "state/h" else npz.shape("state/h"), path)
    columns = {"history/train": None, "history/val": 2, "history/spectra": 1 + 2 * cfg.layers}
    for key, cols in columns.items():
        if key in npz and cols is not None and (len(npz.shape(key)) != 2 or npz.shape(key)[1] != cols):
            raise CheckpointError(f"{path}: array {key!r} has shape {npz.shape(key)}, expected (K, {cols})")
    read = [*opt_keys, *states, *(k for k in columns if k in npz)]

    # 3) will it fit?
    arrays = {"optimiser state, memory and history": sum(npz.nbytes(k) for k in read)}
    need = memory.Need(memory.model_need(cfg).parts | arrays)
    memory.require(need, f"{path}: this model ({n_params:,} parameters)", "it needs a bigger machine")

    # 4) read, each array checked finite as it comes
    model = RNN(cfg)
    for name in shapes:
        _finite(npz.read(f"param/{name}", out=model.params[name]), f"param/{name}", path)
    opt_state = {k[4:]: _finite(npz.read(k), k, path) for k in opt_keys}
    carry = None
    if states:  # (L, B, S*H): h, then the LSTM's c
        carry = np.concatenate([_finite(npz.read(key), key, path) for key in states], axis=-1)
    train = npz.read("history/train").astype(np.float32).ravel() if "history/train" in npz else None
    val = npz.read("history/val").astype(np.float64) if "history/val" in npz else None
    spectra = npz.read("history/spectra").astype(np.float64) if "history/spectra" in npz else None
    return Checkpoint(
        model=model,
        vocab=vocab,
        meta={k: v for k, v in meta.items() if k not in ("format", "version", "model", "vocab")},
        opt_state=opt_state,
        carry=carry,
        train_history=train if train is not None else np.zeros(0, np.float32),
        val_history=val if val is not None else np.zeros((0, 2), np.float64),
        spectra_history=spectra if spectra is not None else np.zeros((0, 1 + 2 * cfg.layers), np.float64),
    )


def _model_and_vocab(meta: dict, path: Path) -> tuple[ModelConfig, Vocab]:
    """The model config and vocabulary the metadata describes, every field checked for its type."""
    try:
        model, v = meta["model"], meta["vocab"]
        if not isinstance(model, dict) or not isinstance(v, dict):
            raise TypeError("'model' and 'vocab' must be objects")
        for key in ("vocab_size", "embed", "hidden", "layers"):
            if key in model and not (type(model[key]) is int and model[key] >= 1):
                raise ValueError(f"metadata has model {key} {model[key]!r}, not a positive integer")
        cfg = ModelConfig(**model)
        cells.get(cfg.cell)
        tokens = v["tokens"]
        if v["level"] not in LEVELS or not isinstance(v["lowercase"], bool) or not isinstance(tokens, list):
            raise TypeError("vocabulary level, lowercase or tokens of the wrong kind")
        if not all(isinstance(t, str) and t for t in tokens) or len(set(tokens)) != len(tokens):
            raise TypeError("vocabulary tokens must be distinct non-empty strings")
        if v["level"] == "char" and any(len(t) != 1 for t in tokens):
            raise TypeError("a char-level vocabulary holds single characters")
        vocab = Vocab(level=v["level"], tokens=tuple(tokens), lowercase=v["lowercase"])
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: metadata is incomplete ({err})") from None
    except ValueError as err:  # a cell this rnntui does not know
        raise CheckpointError(f"{path}: {err}") from None
    if len(vocab) != cfg.vocab_size:
        raise CheckpointError(
            f"{path}: vocabulary has {len(vocab)} tokens but the model expects {cfg.vocab_size}"
        )
    return cfg, vocab


def corpus_files(meta: dict) -> list[tuple[Path, str | None]]:
    """(path, sha256 of its normalised text) of every file of the corpus a checkpoint was trained
    on, in order. Checkpoints from before several files were possible record one ``path``."""
    info = meta.get("corpus") or {}
    if "files" in info:
        return [(Path(f["path"]), f.get("sha256")) for f in info["files"]]
    return [(Path(info["path"]), info.get("sha256"))] if info.get("path") else []


_META_KINDS = {"step": int, "train": dict, "data": dict, "rng": dict, "corpus": dict}


def _check_meta_fields(meta: dict, path: Path) -> None:
    """The optional fields other code reads (step, training options, corpus, ...) are of their kind."""
    for key, kind in _META_KINDS.items():
        if key in meta and not (isinstance(meta[key], kind) and not isinstance(meta[key], bool)):
            raise CheckpointError(f"{path}: metadata field {key!r} is not a {kind.__name__}")
    corpus = meta.get("corpus", {})
    for key in ("path", "sha256"):
        if key in corpus and not isinstance(corpus[key], str):
            raise CheckpointError(f"{path}: metadata field corpus.{key} is not a string")
    files = corpus.get("files", [])
    if not isinstance(files, list) or not all(
        isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("sha256"), str | None)
        for f in files
    ):
        raise CheckpointError(f"{path}: metadata field corpus.files is not a list of files and their sha256")
    best = meta.get("best_val")
    if best is not None and not (isinstance(best, int | float) and not isinstance(best, bool)):
        raise CheckpointError(f"{path}: metadata field 'best_val' is not a number")


def _expect(npz: _Npz, key: str, shape: tuple[int, ...], path: Path) -> None:
    """Array ``key`` exists as float32 of ``shape`` (-1: any size >= 1), judged by its header."""
    if key not in npz:
        raise CheckpointError(f"{path}: missing array {key!r}")
    dtype, got = npz.headers[key][2], npz.shape(key)
    if dtype != np.float32:
        raise CheckpointError(f"{path}: array {key!r} has dtype {dtype}, expected float32")
    if len(got) != len(shape) or any(s != d if s != -1 else d < 1 for s, d in zip(shape, got, strict=True)):
        raise CheckpointError(f"{path}: array {key!r} has shape {got}, expected {shape}")


def _finite(a: np.ndarray, key: str, path: Path, block: int = 1 << 20) -> np.ndarray:
    """``a`` itself, after checking every value is finite (a block at a time: no big temporary)."""
    flat = a.reshape(-1)
    for start in range(0, flat.size, block):
        bad = ~np.isfinite(flat[start : start + block])
        if bad.any():
            first = start + int(np.argmax(bad))
            raise CheckpointError(
                f"{path}: array {key!r} is not finite (value {flat[first]} at flat index {first:,}); "
                "the run diverged or the file was damaged"
            )
    return a
