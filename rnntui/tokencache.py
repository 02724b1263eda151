"""Tokenise a corpus once; memory-map the token ids on every later run.

``tokenize(files, level, ...)`` returns the corpus's vocabulary, its token ids and its sha256. A
corpus is one text file or several, joined as ``corpus.iter_corpus`` joins them (a blank line
between two files). The first time, it reads the text as a stream of blocks, twice: (1) count the
tokens and hash the text, (2) encode each block and append its ids to a ``.npy`` file. It never
holds the whole text, nor more than one block of it as ids. Later runs open that file with
``np.load(mmap_mode="r")``: no tokenising, and only the pages training touches are ever read into
memory.

Where the cache lives (one pair of files per corpus and vocabulary options):

    <corpus folder>/.rnntui-cache/<corpus name>.<level>-<key>.npy    token ids, (N,) uint16 when
                                                                      V <= 65536, else uint32
    <corpus folder>/.rnntui-cache/<corpus name>.<level>-<key>.json   what they were made from

``key`` is a hash of the options that shape the vocabulary (the encoding; at word level also
lowercase, min_count and max_vocab; the base vocabulary of a fine-tuned model, which the text's new
tokens are appended to), so each set of options has its own cache. For several files, the key also
holds every file's path, the name is ``<first file's name>+<how many more>`` and the folder is the
one that holds them all. If that folder is not writable the pair goes to
``$XDG_CACHE_HOME/rnntui/tokens/`` (default ``~/.cache``), and if that fails too the ids are simply
kept in memory. Deleting the files is always safe.

The JSON records every file's size, mtime, inode and sha256, the sha256 of the joined text, the
options, the vocabulary, and the size and mtime of the ``.npy``. A cache is used only if all of that
still holds and every id is inside the vocabulary; when a file's size or mtime changed, the text is
hashed again and the ids reused only if the sha256 is unchanged. Anything else (stale, truncated,
corrupt, from another version, a JSON over 64 MiB or nested deeper than rnntui writes, a pipe in
place of a file) is rebuilt without a word. Both files are written atomically
(temporary file, fsync, ``os.replace``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

import numpy as np

from rnntui import memory
from rnntui.corpus import (
    BLOCK_BYTES,
    CorpusError,
    Vocab,
    code_points,
    grow_vocab,
    iter_corpus,
    iter_words,
    vocab_from_counts,
)
from rnntui.safeio import parse_json, read_bounded

FORMAT = "rnntui-token-cache"
VERSION = 2  # 2: a corpus is a list of files
CACHE_DIR = ".rnntui-cache"
MAX_JSON_BYTES = 1 << 26  # a cache's JSON is read only up to 64 MiB (millions of words); larger: rebuilt
NOTE_BYTES = 1 << 24  # tokenising a corpus this big (16 MiB) or bigger is announced through on_note


@dataclass(frozen=True)
class Tokenized:
    """A corpus as a model sees it."""

    vocab: Vocab
    ids: np.ndarray  # (N,) uint16 | uint32; read-only and memory-mapped when it came from a cache
    sha256: str  # of the normalised text, as UTF-8, files joined (what checkpoints record)
    cache: Path | None  # the .npy the ids live in; None when no cache could be written
    reused: bool  # True: read from the cache, no tokenising
    file_sha256: tuple[str, ...] = ()  # each file's own sha256 (of its normalised text), in order


def tokenize(
    paths: str | Path | Sequence[str | Path],
    level: str = "char",
    *,
    lowercase: bool = False,
    min_count: int = 1,
    max_vocab: int | None = None,
    encoding: str = "utf-8",
    base: Vocab | None = None,
    cache: bool = True,
    block_bytes: int = BLOCK_BYTES,
    on_note: Callable[[str], None] | None = None,
) -> Tokenized:
    """The vocabulary and token ids of one text file or several (joined by ``iter_corpus``), from
    their cache when that is valid.

    ``base``: a model's vocabulary to grow (fine-tuning): its tokens keep their ids and the tokens a
    fresh vocabulary of this text has beyond it are appended (``corpus.grow_vocab``). Raises
    CorpusError (one line for a person, naming the file) when a file is not usable text.
    ``on_note`` hears one line when a large corpus (NOTE_BYTES or more) has to be tokenised.
    """
    files = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    options: dict = {"level": level, "encoding": encoding}
    if level == "word":
        options |= {"lowercase": lowercase, "min_count": min_count, "max_vocab": max_vocab}
    if base is not None:
        options["base"] = hashlib.sha256(json.dumps(list(base.tokens)).encode()).hexdigest()
    if len(files) > 1:
        options["files"] = [str(f.resolve()) for f in files]
    stats = []
    for f in files:
        try:
            stats.append(f.stat() if f.is_file() else None)
        except OSError:
            stats.append(None)
    places = _cache_places(files, options) if cache and None not in stats else []

    # 1) a cache whose files are unchanged (same sizes and mtimes): no reading of the text at all
    found = [(npy, meta) for npy in places if (meta := _read_meta(npy, options)) is not None]
    for npy, meta in found:
        if _same_files(meta["corpus"]["files"], stats) and (hit := _open_ids(npy, meta)) is not None:
            shas = tuple(f["sha256"] for f in meta["corpus"]["files"])
            return Tokenized(hit[0], hit[1], meta["corpus"]["sha256"], npy, True, shas)

    # 2) count the tokens and hash the text, one block at a time
    size = sum(st.st_size for st in stats if st is not None)
    if on_note is not None and size >= NOTE_BYTES:
        what = str(files[0]) if len(files) == 1 else f"{len(files)} files"
        on_note(f"tokenising {what} ({size / 1e6:,.1f} MB) at {level} level…")
    vocab, n_tokens, sha, shas = _count(files, options, block_bytes)
    if base is not None:
        vocab = grow_vocab(base, vocab)

    # 3) a file was touched but the text is the same: the cached ids still hold
    for npy, meta in found:
        if meta["corpus"]["sha256"] == sha and (hit := _open_ids(npy, meta)) is not None:
            if hit[0] == vocab:
                try:
                    _write_meta(npy, _meta(stats, files, options, vocab, sha, shas, hit[2]))
                except OSError:
                    pass  # it will be hashed again next time
                return Tokenized(vocab, hit[1], sha, npy, True, shas)

    # 4) encode into the first place that takes a file; else into memory
    for npy in places:
        try:
            ids_stat = _write_ids(npy, stats, files, options, vocab, n_tokens, block_bytes)
            _write_meta(npy, _meta(stats, files, options, vocab, sha, shas, ids_stat))
            hit = _open_ids(npy, _read_meta(npy, options) or {})
        except OSError:
            continue  # read-only folder, disk full, ...: try the next place
        if hit is not None:
            return Tokenized(vocab, hit[1], sha, npy, False, shas)
    need = memory.Need({"token ids": n_tokens * np.dtype(vocab.dtype).itemsize})
    memory.require(
        need, f"{files[0]} held in memory (no cache folder takes its ids)", "free some disk or memory"
    )
    ids = np.empty(n_tokens, vocab.dtype)
    filled = 0
    for block in _encoded_blocks(files, options, vocab, block_bytes):
        if filled + len(block) > n_tokens:
            break
        ids[filled : filled + len(block)] = block
        filled += len(block)
    _check_unchanged(files, stats, filled == n_tokens)
    return Tokenized(vocab, ids, sha, None, False, shas)


# -- the two passes ---------------------------------------------------------------------------------


def _count(files: list[Path], options: dict, block_bytes: int) -> tuple[Vocab, int, str, tuple[str, ...]]:
    """Pass 1: the fresh vocabulary, the number of tokens, the sha256 of the joined text and of each
    file's own text."""
    digest = hashlib.sha256()
    each = [digest] if len(files) == 1 else [hashlib.sha256() for _ in files]  # one file: hashed once

    def hashed() -> Iterator[str]:
        for i, text in iter_corpus(files, options["encoding"], block_bytes):
            data = text.encode("utf-8")
            digest.update(data)
            if i is not None and each[i] is not digest:
                each[i].update(data)
            yield text

    n_tokens = 0
    if options["level"] == "char":
        seen = np.zeros(0x110000, dtype=bool)  # every Unicode code point
        for text in hashed():
            codes = code_points(text)
            seen[np.flatnonzero(np.bincount(codes))] = True
            n_tokens += len(codes)
        counts = {chr(c): 1 for c in np.flatnonzero(seen)}
    else:
        counts = Counter()
        for words in iter_words(hashed(), options["lowercase"]):
            counts.update(words)
            n_tokens += len(words)
    vocab = vocab_from_counts(options["level"], counts, lowercase=options.get("lowercase", False),
                              min_count=options.get("min_count", 1),
                              max_vocab=options.get("max_vocab"))  # fmt: skip
    return vocab, n_tokens, digest.hexdigest(), tuple(h.hexdigest() for h in each)


def _encoded_blocks(files: list[Path], options: dict, vocab: Vocab, block_bytes: int) -> Iterator[np.ndarray]:
    """Pass 2: the token ids, one block of text at a time."""
    blocks = iter_corpus(files, options["encoding"], block_bytes)
    if options["level"] == "char":
        for i, text in blocks:
            yield vocab.encode(text, what=str(files[i if i is not None else 0]))
    else:
        yield from vocab.encode_blocks((text for _, text in blocks), what=str(files[0]))


# -- files ------------------------------------------------------------------------------------------


def _cache_places(files: list[Path], options: dict) -> list[Path]:
    """Where the ids of the corpus ``files`` may be cached, in order of preference."""
    key = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:12]
    first = files[0]
    if len(files) == 1:
        name, folder = f"{first.name}.{options['level']}-{key}.npy", first.parent
    else:
        name = f"{first.name}+{len(files) - 1}.{options['level']}-{key}.npy"
        folder = Path(os.path.commonpath([f.resolve().parent for f in files]))
    places = [folder / CACHE_DIR / name]
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home directory to be found
        return places
    where = hashlib.sha256("\n".join(str(f.resolve()) for f in files).encode()).hexdigest()[:16]
    return [*places, base / "rnntui" / "tokens" / f"{where}-{name}"]


def _identity(stat: os.stat_result) -> dict:
    """What says a file is unchanged without reading it."""
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def _same_file(recorded: dict, stat: os.stat_result) -> bool:
    return all(recorded.get(k) == v for k, v in _identity(stat).items())


def _same_files(recorded: list[dict], stats: list[os.stat_result | None]) -> bool:
    return len(recorded) == len(stats) and all(
        st is not None and _same_file(r, st) for r, st in zip(recorded, stats, strict=True)
    )


def _check_unchanged(files: list[Path], stats: list[os.stat_result | None], counts_agree: bool) -> None:
    """The two passes must have read the same files as ``stats`` describe (taken before pass 1)."""
    for path, stat in zip(files, stats, strict=True):
        try:
            same = stat is None or _same_file(_identity(stat), path.stat())
        except OSError:
            same = False
        if not same:
            raise CorpusError(f"{path} changed while it was being read; run again")
    if not counts_agree:
        what = files[0] if len(files) == 1 else "the corpus"
        raise CorpusError(f"{what} changed while it was being read; run again")


def _meta(stats: list[os.stat_result], files: list[Path], options: dict, vocab: Vocab, sha: str,
          shas: tuple[str, ...], ids_stat: os.stat_result) -> dict:  # fmt: skip
    """The JSON of a cache; ``stats`` are the files' as they were before they were read, ``ids_stat``
    that of the very ids file this process wrote or checked (not whatever is at its path by now:
    another process may have replaced it since)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "corpus": {"sha256": sha, "files": [{"path": str(f.resolve()), **_identity(st), "sha256": h}
                                            for f, st, h in zip(files, stats, shas, strict=True)]},
        "options": options,
        "vocab": {"level": vocab.level, "lowercase": vocab.lowercase, "tokens": list(vocab.tokens)},
        "ids": {"dtype": np.dtype(vocab.dtype).name, **_identity(ids_stat)},
    }  # fmt: skip


def _read_meta(npy: Path, options: dict) -> dict | None:
    """The JSON beside ``npy`` if it is a cache of this version made with these options."""
    try:
        meta = parse_json(read_bounded(npy.with_suffix(".json"), MAX_JSON_BYTES))
        ok = (meta["format"], meta["version"], meta["options"]) == (FORMAT, VERSION, options)
        ok = ok and isinstance(meta["corpus"]["sha256"], str) and isinstance(meta["ids"], dict)
        ok = ok and all(isinstance(f["sha256"], str) for f in meta["corpus"]["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return meta if ok else None


def _open_ids(npy: Path, meta: dict) -> tuple[Vocab, np.ndarray, os.stat_result] | None:
    """The vocabulary, memory-mapped ids and file status of a cache, or None if anything about it
    is off."""
    try:
        recorded = meta["ids"]
        stat = npy.stat()
        if not S_ISREG(stat.st_mode) or not _same_file(recorded, stat):
            return None  # rewritten, truncated or touched since its JSON was written
        v = meta["vocab"]
        vocab = Vocab(level=v["level"], tokens=tuple(v["tokens"]), lowercase=bool(v["lowercase"]))
        ids = np.load(npy, mmap_mode="r", allow_pickle=False)
        if ids.ndim != 1 or ids.dtype != np.dtype(vocab.dtype) or ids.dtype.name != recorded["dtype"]:
            return None
        if len(vocab) < 2 or _max_id(npy, ids) >= len(vocab):
            return None  # an id outside the vocabulary would index past the embedding table
        if not _same_file(recorded, npy.stat()):
            return None  # replaced while it was being opened: the map may be of another file
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return vocab, ids, stat


def _max_id(npy: Path, ids: np.memmap, block: int = 1 << 20) -> int:
    """The largest id, read through ordinary file reads so the pages do not stay in this process."""
    if len(ids) == 0:
        return -1
    top = 0
    with open(npy, "rb") as f:
        f.seek(ids.offset)
        while (chunk := np.fromfile(f, dtype=ids.dtype, count=block)).size:
            top = max(top, int(chunk.max()))
    return top


def _write_ids(npy: Path, stats: list[os.stat_result], files: list[Path], options: dict, vocab: Vocab,
               n_tokens: int, block_bytes: int) -> os.stat_result:  # fmt: skip
    """Pass 2 into ``npy``: a .npy header, then the ids block by block (atomically). Returns the
    written file's status (the rename keeps its inode, size and mtime)."""
    with _atomic(npy) as f:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(vocab.dtype)), "fortran_order": False,
                  "shape": (n_tokens,)}  # fmt: skip
        np.lib.format.write_array_header_1_0(f, header)
        written = 0
        for block in _encoded_blocks(files, options, vocab, block_bytes):
            f.write(block.tobytes())
            written += len(block)
        _check_unchanged(files, stats, written == n_tokens)
        f.flush()
        return os.fstat(f.fileno())


def _write_meta(npy: Path, meta: dict) -> None:
    with _atomic(npy.with_suffix(".json")) as f:
        f.write(json.dumps(meta, ensure_ascii=False).encode("utf-8"))


@contextmanager
def _atomic(path: Path):
    """``with _atomic(path) as f``: write a temporary file beside ``path``, fsync, rename over it
    (the pattern of rnntui.checkpoint); on any error the temporary file is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; the cache is an ordinary file
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
