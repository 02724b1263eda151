"""rnntui <-> PyTorch: a model as a ``.safetensors`` file under ``torch.nn`` names and layouts.

The file holds the ``state_dict`` of this PyTorch model (``examples/pytorch_bridge.py`` defines it;
``batch_first`` either way, which no weight depends on):

    embedding = nn.Embedding(V, E)
    rnn       = nn.RNN(E, H, L)  (nonlinearity "tanh")  |  nn.GRU(E, H, L)  |  nn.LSTM(E, H, L)
    decoder   = nn.Linear(H, V)

Every tensor float32, G gates per layer (rnn 1; gru 3: r, z, n; lstm 4: i, f, g, o, stacked in that
order, as rnntui keeps them), I = E for layer k = 0 and H above:

    tensor               shape       rnntui's
    embedding.weight     (V, E)      embed
    rnn.weight_ih_l{k}   (G*H, I)    Wxh{k}.T
    rnn.weight_hh_l{k}   (G*H, H)    Whh{k}.T
    rnn.bias_ih_l{k}     (G*H,)      bh{k}
    rnn.bias_hh_l{k}     (G*H,)      zeros; gru: zeros for r and z, bhn{k} for n
    decoder.weight       (V, H)      Why.T
    decoder.bias         (V,)        by

Biases: PyTorch keeps two per gate, b_ih and b_hh, and every cell only ever adds them, except the
GRU's candidate, n = tanh(x W_in + b_in + r * (h W_hn + b_hn)), where b_hn sits inside the reset
gate's product: that one is rnntui's bhn. So export writes the exact equivalent bias_ih = bh,
bias_hh = 0 (the GRU's n block: bhn), and import folds a file's two into one: bh = b_ih + b_hh,
except the GRU's n block, bh_n = b_in and bhn = b_hn. Export then import is the identity. A module
made with ``bias=False`` (the rnn's, no bias_* tensor at all, or the decoder's) imports with zeros.

The safetensors metadata (str -> str) says what the tensors cannot: ``rnntui`` "1" (this layout's
version), ``format`` "pt", ``cell`` rnn|gru|lstm, ``nonlinearity`` "tanh" (rnn only; rnntui has no
relu cell), ``layers``, ``embed``, ``hidden`` (decimal), ``level`` char|word, ``lowercase``
"true"|"false", ``tokens`` (a JSON list: token i is row i of the embedding) and, from a trained
checkpoint, ``step``. ``metadata`` builds it.

Reading (``read``) trusts nothing: the 8-byte header length is checked against the file's size and
MAX_HEADER_BYTES, the header against the metadata (names, dtypes, shapes, offsets) and the memory
the machine has, all before a tensor is read; then the file, read once from the opened descriptor,
goes through the safetensors package, and every value must be finite. Anything wrong is one
CheckpointError line naming it, including what a PyTorch model can have and rnntui cannot represent
(a bidirectional RNN, LSTM projections, another cell).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import BinaryIO

import numpy as np

from rnntui import cells, memory
from rnntui.checkpoint import (
    MAX_META_BYTES,
    Checkpoint,
    CheckpointError,
    _finite,
    _model_and_vocab,
    write_atomically,
)
from rnntui.corpus import Vocab
from rnntui.model import RNN, ModelConfig
from rnntui.safeio import parse_json

LAYOUT_VERSION = 1  # the metadata's "rnntui": this file's names, layouts and metadata keys
MAX_HEADER_BYTES = MAX_META_BYTES  # 64 MiB, as a checkpoint's metadata (safetensors' own limit: 100 MB)
TORCH = {"rnn": "nn.RNN", "gru": "nn.GRU", "lstm": "nn.LSTM"}  # the module each cell is
_LAYER_TENSOR = re.compile(r"rnn\.(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)")


def gates(cell: str) -> int:
    """G: how many H-wide blocks a layer of ``cell`` stacks (rnn 1, gru 3, lstm 4)."""
    return cells.get(cell).param_shapes(1, 1)["Wxh"][1]


def metadata(cfg: ModelConfig, vocab: Vocab) -> dict[str, str]:
    """The safetensors metadata of a model of ``cfg`` over ``vocab`` (the module docstring's keys)."""
    meta = {"rnntui": str(LAYOUT_VERSION), "format": "pt", "cell": cfg.cell, "layers": str(cfg.layers),
            "embed": str(cfg.embed), "hidden": str(cfg.hidden), "level": vocab.level,
            "lowercase": "true" if vocab.lowercase else "false",
            "tokens": json.dumps(list(vocab.tokens), ensure_ascii=False)}  # fmt: skip
    if cfg.cell == "rnn":
        meta["nonlinearity"] = "tanh"
    return meta


def torch_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor of the file for ``cfg``, in the order ``to_tensors`` writes them."""
    V, E, H, GH = cfg.vocab_size, cfg.embed, cfg.hidden, gates(cfg.cell) * cfg.hidden
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (V, E)}
    for k in range(cfg.layers):
        shapes |= {f"rnn.weight_ih_l{k}": (GH, E if k == 0 else H), f"rnn.weight_hh_l{k}": (GH, H),
                   f"rnn.bias_ih_l{k}": (GH,), f"rnn.bias_hh_l{k}": (GH,)}  # fmt: skip
    return shapes | {"decoder.weight": (V, H), "decoder.bias": (V,)}


def to_tensors(model: RNN) -> dict[str, np.ndarray]:
    """The model's parameters under PyTorch's names and layouts (the table above), float32, C order."""
    p, cfg, H = model.params, model.cfg, model.cfg.hidden
    out = {"embedding.weight": p["embed"]}
    for k in range(cfg.layers):
        bias_hh = np.zeros_like(p[f"bh{k}"])
        if cfg.cell == "gru":
            bias_hh[2 * H :] = p[f"bhn{k}"]  # b_hn: inside the reset gate's product
        out |= {f"rnn.weight_ih_l{k}": p[f"Wxh{k}"].T, f"rnn.weight_hh_l{k}": p[f"Whh{k}"].T,
                f"rnn.bias_ih_l{k}": p[f"bh{k}"], f"rnn.bias_hh_l{k}": bias_hh}  # fmt: skip
    out |= {"decoder.weight": p["Why"].T, "decoder.bias": p["by"]}
    return {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in out.items()}


def from_tensors(tensors: dict[str, np.ndarray], model: RNN) -> None:
    """Set ``model``'s parameters from a file's tensors (``torch_shapes(model.cfg)``, checked), folding
    PyTorch's two biases into rnntui's (module docstring); bias tensors a ``bias=False`` module has
    none of are zeros."""
    p, cfg, H = model.params, model.cfg, model.cfg.hidden
    zeros = np.zeros(gates(cfg.cell) * H, np.float32)
    p["embed"][...] = tensors["embedding.weight"]
    for k in range(cfg.layers):
        p[f"Wxh{k}"][...] = tensors[f"rnn.weight_ih_l{k}"].T
        p[f"Whh{k}"][...] = tensors[f"rnn.weight_hh_l{k}"].T
        b_ih, b_hh = tensors.get(f"rnn.bias_ih_l{k}", zeros), tensors.get(f"rnn.bias_hh_l{k}", zeros)
        if cfg.cell == "gru":  # r, z: summed; n: b_in stays outside the reset product, b_hn inside
            p[f"bh{k}"][: 2 * H] = b_ih[: 2 * H] + b_hh[: 2 * H]
            p[f"bh{k}"][2 * H :] = b_ih[2 * H :]
            p[f"bhn{k}"][...] = b_hh[2 * H :]
        else:
            p[f"bh{k}"][...] = b_ih + b_hh
    p["Why"][...] = tensors["decoder.weight"].T
    p["by"][...] = tensors.get("decoder.bias", 0.0)


# -- export ---------------------------------------------------------------------------------------


def export(ckpt: Checkpoint, path: str | Path) -> Path:
    """Write ``ckpt``'s model as a safetensors file at ``path`` (atomically; the module docstring's
    names, layouts and metadata), through the safetensors package's NumPy API."""
    import safetensors.numpy  # a few ms; only this command and reading a .safetensors need it

    cfg = ckpt.model.cfg
    nbytes = 4 * ckpt.model.flat.size
    need = memory.Need({"the tensors in PyTorch's layout": nbytes, "the file's bytes": nbytes})
    memory.require(
        need, f"exporting this model ({ckpt.model.flat.size:,} parameters)", "it needs a bigger machine"
    )
    meta = metadata(cfg, ckpt.vocab)
    if isinstance(ckpt.meta.get("step"), int):
        meta["step"] = str(ckpt.meta["step"])
    data = safetensors.numpy.save(to_tensors(ckpt.model), metadata=meta)
    return write_atomically(Path(path), lambda f: f.write(data))


# -- import ---------------------------------------------------------------------------------------


def read(f: BinaryIO, path: Path) -> Checkpoint:
    """The model in the open safetensors file ``f`` (named ``path`` in messages) as a weights-only
    checkpoint, whose meta records where it came from (``imported_from``: path, sha256 of the file)
    and its ``step`` if the file says one. Validated as the module docstring says; CheckpointError
    otherwise."""
    import safetensors
    import safetensors.numpy

    # 1) the header: its length against the file's size and a limit, then bounded JSON
    size = os.fstat(f.fileno()).st_size
    if size < 8:
        raise CheckpointError(
            f"{path}: not a safetensors file ({size} bytes, shorter than its 8-byte header length)"
        )
    n = int.from_bytes(f.read(8), "little")
    if n > MAX_HEADER_BYTES:
        raise CheckpointError(
            f"{path}: not a safetensors file rnntui reads (a header of {n:,} bytes, more than the "
            f"{MAX_HEADER_BYTES:,} it reads)"
        )
    if 8 + n > size:
        raise CheckpointError(
            f"{path}: not a safetensors file (a header of {n:,} bytes in a file of {size:,})"
        )
    try:
        header = parse_json(f.read(n))
    except ValueError as err:
        raise CheckpointError(
            f"{path}: not a safetensors file (its header is not valid JSON: {err})"
        ) from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: not a safetensors file (its header is not a JSON object)")
    meta = header.pop("__metadata__", None)
    entries = header

    # 2) what PyTorch has and rnntui cannot represent, then the metadata, then every tensor's header
    _representable(entries, path)
    cfg, vocab = _config(meta, path)
    _check_entries(entries, cfg, size - 8 - n, path)

    # 3) will it fit? (the file's bytes, safetensors' copy of the tensors, the model)
    need = memory.Need({"the file": size, "its tensors": size - 8 - n} | memory.model_need(cfg).parts)
    memory.require(
        need, f"{path}: this model ({memory.param_count(cfg):,} parameters)", "it needs a bigger machine"
    )

    # 4) read the file once, from the descriptor that was checked; safetensors parses it too
    f.seek(0)
    data = f.read(size)
    if len(data) != size:
        raise CheckpointError(f"{path}: not a safetensors file (it changed while it was read)")
    try:
        tensors = safetensors.numpy.load(data)
    except safetensors.SafetensorError as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CheckpointError(f"{path}: not a valid safetensors file ({reason})") from None
    for name, a in tensors.items():
        _finite(a, name, path)
    model = RNN(cfg)
    from_tensors(tensors, model)
    info: dict = {"imported_from": {"path": str(path), "sha256": hashlib.sha256(data).hexdigest()}}
    step = meta.get("step", "")
    if step.isascii() and step.isdecimal() and len(step) < 19:  # what the views and health call "step"
        info["step"] = int(step)
    return Checkpoint(model=model, vocab=vocab, meta=info)


def _representable(entries: dict, path: Path) -> None:
    """Refuse tensors of a PyTorch model rnntui has no counterpart for, by what they are."""
    names = list(entries)
    reverse = [name for name in names if name.endswith("_reverse")]
    if reverse:
        raise CheckpointError(
            f"{path}: holds a bidirectional RNN ({reverse[0]}); rnntui's layers read left to right only, "
            "so it cannot represent one"
        )
    projection = [name for name in names if re.fullmatch(r"rnn\.weight_hr_l\d+", name)]
    if projection:
        raise CheckpointError(
            f"{path}: holds an LSTM with projections ({projection[0]}: nn.LSTM's proj_size); rnntui's "
            "LSTM has none, so it cannot represent one"
        )


def _config(meta, path: Path) -> tuple[ModelConfig, Vocab]:
    """The model config and vocabulary the metadata describes, each field checked."""
    how = "see the README, 'PyTorch', for the metadata rnntui needs"
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise CheckpointError(
            f"{path}: has no metadata of strings, so not the cell, sizes or vocabulary; {how}"
        )
    version = meta.get("rnntui")
    if version is None:
        raise CheckpointError(
            f"{path}: its metadata has no 'rnntui' entry: not a model in rnntui's layout; {how}"
        )
    if not (version.isdecimal() and len(version) < 6):
        raise CheckpointError(f"{path}: metadata 'rnntui' is {version[:20]!r}, not a layout version")
    if int(version) > LAYOUT_VERSION:
        raise CheckpointError(
            f"{path}: layout version {version} is newer than this rnntui reads ({LAYOUT_VERSION}); "
            "upgrade rnntui"
        )
    missing = [
        k for k in ("cell", "layers", "embed", "hidden", "level", "lowercase", "tokens") if k not in meta
    ]
    if "tokens" in missing:
        raise CheckpointError(
            f"{path}: its metadata has no vocabulary ('tokens': the token of each embedding row); {how}"
        )
    if missing:
        raise CheckpointError(f"{path}: its metadata lacks {', '.join(map(repr, missing))}; {how}")
    cell = meta["cell"]
    if cell not in cells.CELLS:
        raise CheckpointError(
            f"{path}: cell {cell[:40]!r} is not one rnntui has ({', '.join(cells.CELLS)}), so it cannot "
            "represent this model"
        )
    said = meta.get("nonlinearity")
    if cell == "rnn" and said is None:
        raise CheckpointError(
            f"{path}: its metadata does not say the nn.RNN's nonlinearity; rnntui's vanilla cell is tanh: "
            "add nonlinearity=tanh if that is what it was trained with"
        )
    if cell == "rnn" and said != "tanh":
        raise CheckpointError(
            f"{path}: an nn.RNN with nonlinearity {said[:20]!r}: rnntui's vanilla cell is tanh only, so it "
            "cannot represent it"
        )
    sizes = {}
    for key in ("layers", "embed", "hidden"):
        if not (
            meta[key].isascii() and meta[key].isdecimal() and len(meta[key]) < 10 and int(meta[key]) >= 1
        ):
            raise CheckpointError(f"{path}: metadata {key!r} is {meta[key][:20]!r}, not a positive integer")
        sizes[key] = int(meta[key])
    if meta["lowercase"] not in ("true", "false"):
        raise CheckpointError(
            f"{path}: metadata 'lowercase' is {meta['lowercase'][:20]!r}, not true or false"
        )
    try:
        tokens = parse_json(meta["tokens"].encode("utf-8"))
    except ValueError as err:
        raise CheckpointError(f"{path}: metadata 'tokens' is not a JSON list ({err})") from None
    if not isinstance(tokens, list):
        raise CheckpointError(f"{path}: metadata 'tokens' is not a JSON list of the vocabulary's tokens")
    described = {
        "model": {"vocab_size": len(tokens), **sizes, "cell": cell},
        "vocab": {"level": meta["level"], "lowercase": meta["lowercase"] == "true", "tokens": tokens},
    }
    return _model_and_vocab(described, path)


def _check_entries(entries: dict, cfg: ModelConfig, buffer: int, path: Path) -> None:
    """Every tensor's header against the model ``cfg`` describes: the names (none missing, none
    unknown), dtype F32, shapes, and byte offsets that tile the ``buffer`` bytes after the header."""
    if cfg.layers > len(entries):  # four tensors a layer: no need to list 10**9 names to say so
        raise CheckpointError(
            f"{path}: metadata says {cfg.layers:,} layers but the file holds {len(entries)} tensors"
        )
    shapes = torch_shapes(cfg)
    where = f"{TORCH[cfg.cell]}(E={cfg.embed}, H={cfg.hidden}, layers={cfg.layers}), V={cfg.vocab_size}"
    for name in entries:
        if name not in shapes:
            layer = _LAYER_TENSOR.fullmatch(name)
            if layer and int(layer[2]) >= cfg.layers:
                raise CheckpointError(
                    f"{path}: tensor {name!r} is beyond the {cfg.layers} layer(s) the metadata says"
                )
            raise CheckpointError(
                f"{path}: unknown tensor {name[:80]!r}; rnntui reads embedding.weight, rnn.*_l<k> of "
                "nn.RNN/GRU/LSTM and decoder.weight/bias, nothing else"
            )
    absent = set()  # bias=False in PyTorch: no bias tensors at all (rnn's, or the decoder's) are zeros
    if not any(name.startswith("rnn.bias_") for name in entries):
        absent |= {name for name in shapes if name.startswith("rnn.bias_")}
    absent |= {"decoder.bias"} - set(entries)
    spans = []
    for name, shape in shapes.items():
        if name in absent:
            continue
        if name not in entries:
            hint = "; the file has other rnn.bias_* tensors: bias=False has none" if "bias_" in name else ""
            raise CheckpointError(f"{path}: missing tensor {name!r} (of {where}){hint}")
        e = entries[name]
        if not isinstance(e, dict):
            raise CheckpointError(f"{path}: tensor {name!r} has a header that is not a JSON object")
        if e.get("dtype") != "F32":
            raise CheckpointError(
                f"{path}: tensor {name!r} has dtype {str(e.get('dtype'))[:20]}, expected F32 (float32): save "
                "the model's .float() state_dict"
            )
        got, offsets = e.get("shape"), e.get("data_offsets")
        if not (isinstance(got, list) and all(type(d) is int and d >= 0 for d in got)):
            raise CheckpointError(f"{path}: tensor {name!r} has no valid shape")
        if tuple(got) != shape:
            raise CheckpointError(
                f"{path}: tensor {name!r} has shape {tuple(got)}, expected {shape} for {where}"
            )
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
            raise CheckpointError(f"{path}: tensor {name!r} has no valid data_offsets")
        begin, end = offsets
        if not 0 <= begin <= end or end - begin != 4 * math.prod(shape):
            raise CheckpointError(
                f"{path}: tensor {name!r} has data_offsets {offsets}, which do not hold {shape} float32s"
            )
        spans.append((begin, end, name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise CheckpointError(
                f"{path}: tensor {name!r} starts at byte {begin:,} of the data, not {position:,}"
            )
        position = end
    if position != buffer:
        raise CheckpointError(
            f"{path}: its tensors take {position:,} bytes but the file holds {buffer:,} after the header "
            "(truncated, or bytes left over)"
        )
