"""Text -> vocabulary -> token array, and back again.

Two tokenisations:
  * ``char``: every distinct character is a token; the vocabulary is the sorted set of characters,
    so it is identical on every run and machine.
  * ``word``: words, punctuation marks and newlines are separate tokens; rare words become ``<unk>``.
    Detokenising puts spaces back the way English prose expects (none before a comma, etc.).

Tokens live in one contiguous integer array (uint16 when the vocabulary allows, else uint32).

A corpus of any size is read as a stream of normalised text blocks (``iter_text``), so nothing here
needs the whole text in memory at once; ``rnntui.tokencache`` builds on that to tokenise a large
corpus once and memory-map the ids on later runs.

A corpus may be several files (``corpus_files`` expands folders): their texts are joined with a
blank line between one file and the next (``iter_corpus``), so a stream never runs one text into
the next unmarked.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnntui.safeio import NotRegularFileError, open_regular

UNK = "<unk>"
LEVELS = ("char", "word")

# A word (letters/digits, with inner apostrophes or hyphens: "don't", "well-born"), a newline,
# or any single other non-space character (punctuation, quotes, symbols).
_WORD_RE = re.compile(r"\n|\w+(?:['’\-]\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = set(",.;:!?)]}%'’”…")
_NO_SPACE_AFTER = set("([{‘“$")


class CorpusError(ValueError):
    """The text cannot be used as asked; the message is one line meant for a person."""


BLOCK_BYTES = 1 << 22  # how much of a file iter_text reads at a time (4 MiB)


def read_text(path: str | Path, encoding: str = "utf-8", limit: int | None = None) -> str:
    """Read a text file, normalise CRLF/CR to LF and drop a UTF-8 BOM; refuse what is not text, and
    (with ``limit``) a file of more than ``limit`` bytes."""
    return "".join(iter_text(path, encoding, limit=limit))


def iter_text(path: str | Path, encoding: str = "utf-8", block_bytes: int = BLOCK_BYTES,
              limit: int | None = None) -> Iterator[str]:  # fmt: skip
    """The text of a file as a stream of blocks, normalised exactly like ``read_text``: CRLF and CR
    become LF, a leading BOM is dropped. Joined, the blocks are ``read_text(path)``.

    ``limit``: refuse a file larger than this many bytes (before reading it, and again should it
    grow past that while it is read).

    Only a regular file is read (symlinks followed): a named pipe, a device such as ``/dev/zero`` or
    a socket is refused at once, so no input can make this wait or grow without end.

    Refuses what is not text with the same one-line errors as ``read_text``, in the same order of
    precedence (undecodable bytes, then NUL bytes, then no text at all), so the binary and empty
    verdicts come only once the whole file has been read.
    """
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{path}: {'a broken symbolic link' if path.is_symlink() else 'no such file'}")
    if path.is_dir():
        raise CorpusError(f"{path}: is a directory, not a text file")
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
    except LookupError:
        raise CorpusError(f"unknown encoding {encoding!r}") from None
    offset = 0  # bytes handed to the decoder so far
    at_start, held_cr, has_nul, has_text = True, False, False, False
    try:
        f = open_regular(path)  # a pipe or a device (/dev/zero) would never end: refused
    except NotRegularFileError as err:
        raise CorpusError(str(err)) from None
    except OSError as err:
        raise CorpusError(f"{path}: cannot be read ({err.strerror or err})") from None
    with f:
        if limit is not None and os.fstat(f.fileno()).st_size > limit:
            raise CorpusError(f"{path}: larger than the {limit / 2**20:g} MiB read here")
        while True:
            try:
                data = f.read(block_bytes)
            except OSError as err:
                raise CorpusError(f"{path}: cannot be read ({err.strerror or err})") from None
            if limit is not None and offset + len(data) > limit:
                raise CorpusError(f"{path}: larger than the {limit / 2**20:g} MiB read here")
            final = not data
            pending = len(decoder.getstate()[0])  # bytes of a character split by the last read
            try:
                text = decoder.decode(data, final=final)
            except UnicodeDecodeError as err:
                raise CorpusError(
                    f"{path}: not valid {encoding} at byte {offset - pending + err.start}; "
                    "pass --encoding (e.g. latin-1) if the file uses another encoding"
                ) from None
            offset += len(data)
            has_nul = has_nul or "\x00" in text
            if at_start and text:
                text, at_start = text.removeprefix("\ufeff"), False
            if held_cr:  # a CR that ended the previous block: is it half of a CRLF?
                text, held_cr = "\r" + text, False
            if not final and text.endswith("\r"):
                text, held_cr = text[:-1], True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            has_text = has_text or (text != "" and not text.isspace())
            if text:
                yield text
            if final:
                break
    if has_nul:
        raise CorpusError(f"{path}: looks like binary data (contains NUL bytes), not text")
    if not has_text:
        raise CorpusError(f"{path}: is empty (no text to learn from)")


def corpus_files(paths: Sequence[str | Path]) -> list[Path]:
    """The text files that make a corpus: each path that is a file, as given; for each folder, every
    ``*.txt`` below it (hidden files and folders skipped), sorted by path, symbolic links followed
    once (a folder or file reached twice, through a link or by being named again, is read once).

    Raises CorpusError naming the path when one does not exist or a folder holds no ``*.txt``.
    """
    files: list[Path] = []
    seen: set[str] = set()

    def add(path: Path) -> None:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            files.append(path)

    for arg in map(Path, paths):
        if not arg.is_dir():
            if not arg.exists() and not arg.is_symlink():
                raise CorpusError(f"{arg}: no such file or folder")
            add(arg)
            continue
        found: list[Path] = []
        visited = {os.path.realpath(arg)}
        for root, dirs, names in os.walk(arg, followlinks=True):
            keep = []
            for d in sorted(dirs):
                real = os.path.realpath(os.path.join(root, d))
                if not d.startswith(".") and real not in visited:  # a link back up is not walked again
                    visited.add(real)
                    keep.append(d)
            dirs[:] = keep
            found += [Path(root, n) for n in names if n.endswith(".txt") and not n.startswith(".")]
        if not found:
            raise CorpusError(f"{arg}: is a folder with no *.txt files below it")
        for path in sorted(found, key=lambda p: p.relative_to(arg).parts):
            add(path)
    if not files:
        raise CorpusError("no corpus given")
    return files


def iter_corpus(files: Sequence[str | Path], encoding: str = "utf-8",
                block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[int | None, str]]:  # fmt: skip
    """The text of several files as one stream of ``(file index, block)``: each file's blocks as
    ``iter_text`` gives them, and between two files a separator block (index None) of the newlines
    that make the earlier one end in a blank line ("\n\n"). Joined, the blocks are ``read_corpus``.
    """
    for i, path in enumerate(files):
        tail = ""
        for text in iter_text(path, encoding, block_bytes):
            tail = (tail + text)[-2:]
            yield i, text
        if i < len(files) - 1:
            sep = "" if tail == "\n\n" else "\n" if tail.endswith("\n") else "\n\n"
            if sep:
                yield None, sep


def read_corpus(files: Sequence[str | Path], encoding: str = "utf-8") -> str:
    """The whole text of a corpus of one or more files, joined as ``iter_corpus`` joins them."""
    return "".join(text for _, text in iter_corpus(files, encoding))


def sha256_text(text: str) -> str:
    """The corpus fingerprint stored in checkpoints (of the normalised text)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_words(text: str, lowercase: bool = False) -> list[str]:
    """Word-level tokens of ``text``: words, single punctuation marks and newlines."""
    if lowercase:
        text = text.lower()
    return _WORD_RE.findall(text)


def iter_words(blocks: Iterable[str], lowercase: bool = False) -> Iterator[list[str]]:
    """``split_words`` over a stream of text blocks: the lists, concatenated, are exactly
    ``split_words("".join(blocks), lowercase)``.

    Each block is cut after its last space or newline and the rest carried into the next: no token
    spans whitespace, and case folding looks no further than the nearest whitespace either (the
    Greek final sigma), so text on either side of such a cut tokenises the same alone or joined.
    """
    carry = ""
    for text in blocks:
        if carry:
            text = carry + text
        cut = max(text.rfind(" "), text.rfind("\n")) + 1
        carry = text[cut:]
        if cut:
            yield split_words(text[:cut], lowercase)
    if carry:
        yield split_words(carry, lowercase)


@dataclass(frozen=True)
class Vocab:
    """The token inventory of a model. ``tokens[i]`` is the string of token id ``i``."""

    level: str
    tokens: tuple[str, ...]
    lowercase: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def unk_id(self) -> int | None:
        return self._index.get(UNK)  # type: ignore[attr-defined]

    def id_of(self, token: str) -> int | None:
        return self._index.get(token)  # type: ignore[attr-defined]

    @property
    def dtype(self) -> type:
        return np.uint16 if len(self.tokens) <= np.iinfo(np.uint16).max + 1 else np.uint32

    # -- text <-> ids ----------------------------------------------------------------------------

    def pieces(self, text: str) -> list[str]:
        """Split ``text`` into token strings at this vocabulary's level (before lookup)."""
        return list(text) if self.level == "char" else split_words(text, self.lowercase)

    def encode(self, text: str, *, what: str = "text") -> np.ndarray:
        """Token ids of ``text`` as a 1-D array ``(N,)``.

        Unknown words map to ``<unk>``; unknown characters (char level has no ``<unk>``) raise a
        CorpusError naming them, since silently dropping them would misreport the loss.
        """
        if self.level == "char":
            return self._encode_chars(text, what)
        unk = self.unk_id
        index = self._index  # type: ignore[attr-defined]
        return np.fromiter((index.get(w, unk) for w in self.pieces(text)), dtype=self.dtype)

    def encode_blocks(self, blocks: Iterable[str], *, what: str = "text") -> Iterator[np.ndarray]:
        """``encode`` over a stream of text blocks (``iter_text``): the arrays, concatenated, are
        ``encode("".join(blocks))``, and no more than a block is held at a time."""
        if self.level == "char":
            for text in blocks:
                yield self._encode_chars(text, what)
            return
        index, unk = self._index, self.unk_id  # type: ignore[attr-defined]
        for words in iter_words(blocks, self.lowercase):
            yield np.fromiter((index.get(w, unk) for w in words), dtype=self.dtype, count=len(words))

    def _encode_chars(self, text: str, what: str) -> np.ndarray:
        """Vectorised: code points mapped through a code point -> id table, a block of text at a
        time so a large corpus never needs a 4-bytes-per-character copy of itself."""
        table = self._char_table()
        ids = np.empty(len(text), dtype=self.dtype)
        block = 1 << 22
        for start in range(0, len(text), block):
            codes = code_points(text[start : start + block])
            if codes.dtype == np.uint8:  # ASCII: every code indexes the table
                got = table[codes]
            else:
                known = codes < len(table)
                got = np.where(known, table[np.where(known, codes, 0)], -1)
            if (got < 0).any():
                missing = list(dict.fromkeys(chr(c) for c in codes[got < 0][:10_000]))
                shown = "".join(repr(c)[1:-1] if c.isprintable() else repr(c) for c in missing[:20])
                raise CorpusError(f"{what} has {len(missing)} character(s) the model never saw: {shown}")
            ids[start : start + len(codes)] = got
        return ids

    def _char_table(self) -> np.ndarray:
        """Code point -> token id (-1: not in the vocabulary), at least 256 long so that ASCII
        code points index it without a bounds check."""
        table = self.__dict__.get("_table")
        if table is None:
            vocab_codes = np.array([ord(c) for c in self.tokens], dtype=np.int64)
            table = np.full(max(int(vocab_codes.max()) + 1, 256), -1, dtype=np.int32)
            table[vocab_codes] = np.arange(len(vocab_codes), dtype=np.int32)
            object.__setattr__(self, "_table", table)
        return table

    def decode(self, ids) -> str:
        """Text of a sequence of token ids (word level: spacing restored like prose)."""
        pieces = [self.tokens[int(i)] for i in ids]
        if self.level == "char":
            return "".join(pieces)
        return join_words(pieces)


def join_words(words: list[str]) -> str:
    """Detokenise word-level tokens: no space before closing punctuation or after an opening one,
    straight double quotes alternate between opening and closing, newlines carry no spaces."""
    joiner = WordJoiner()
    return "".join(joiner.add(w) for w in words)


class WordJoiner:
    """``join_words`` a token at a time: ``add(word)`` is the text that word adds (with the space
    before it, if any), so a generator can extend its text without joining it all again."""

    def __init__(self) -> None:
        self.quote_open = False
        self.prev = "\n"
        self.started = False

    def add(self, w: str) -> str:
        space = True
        prev = self.prev
        if prev == "\n" or w == "\n":
            space = False
        elif w in _NO_SPACE_BEFORE or prev in _NO_SPACE_AFTER:
            space = False
        elif w == '"':
            space = not self.quote_open  # an opening quote has a space before it, a closing one not
        elif prev == '"' and self.quote_open:
            space = False  # right after an opening quote
        if w == '"':
            self.quote_open = not self.quote_open
        piece = " " + w if space and self.started else w
        self.prev, self.started = w, True
        return piece


def build_vocab(
    text: str,
    level: str = "char",
    *,
    lowercase: bool = False,
    min_count: int = 1,
    max_vocab: int | None = None,
) -> Vocab:
    """The vocabulary of ``text``.

    char: the sorted distinct characters. word: ``<unk>`` first, then words seen at least
    ``min_count`` times, most frequent first (ties alphabetical), at most ``max_vocab`` in all.
    """
    if level not in LEVELS:
        raise CorpusError(f"unknown level {level!r}; choose char or word")
    if level == "char":
        return vocab_from_counts(level, dict.fromkeys(text, 1))
    counts = Counter(split_words(text, lowercase))
    return vocab_from_counts(level, counts, lowercase=lowercase, min_count=min_count, max_vocab=max_vocab)


def vocab_from_counts(
    level: str,
    counts: dict[str, int],
    *,
    lowercase: bool = False,
    min_count: int = 1,
    max_vocab: int | None = None,
) -> Vocab:
    """``build_vocab`` from token counts (char level: only which characters occur matters), so a
    corpus can be counted a block at a time."""
    if level not in LEVELS:
        raise CorpusError(f"unknown level {level!r}; choose char or word")
    if level == "char":
        tokens = tuple(sorted(counts))
    else:
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_vocab is not None:
            ranked = ranked[: max(max_vocab - 1, 1)]
        tokens = (UNK, *ranked)
    if len(tokens) < 2 or (level == "word" and len(tokens) < 3):
        raise CorpusError(
            f"the text has only {len(tokens) - (level == 'word')} distinct {level} token(s); "
            "a language model needs at least two to choose between"
        )
    return Vocab(level=level, tokens=tokens, lowercase=lowercase)


def grow_vocab(base: Vocab, fresh: Vocab) -> Vocab:
    """``base`` with the tokens of ``fresh`` it lacks appended, in ``fresh``'s order: the old
    tokens keep their ids. ``fresh`` is the vocabulary a fresh run on the new text would have, so
    at word level ``--min-count``/``--max-vocab`` bound what is added exactly as they bound a fresh
    run; at char level every new character is added. Both must share level and case folding."""
    known = base._index  # type: ignore[attr-defined]
    added = tuple(t for t in fresh.tokens if t not in known)
    return Vocab(level=base.level, tokens=base.tokens + added, lowercase=base.lowercase)


def code_points(text: str) -> np.ndarray:
    """The code points of ``text`` as an array: uint8 for ASCII (a plain copy), else uint32."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def split_train_val(ids: np.ndarray, val_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic split: the last ``val_frac`` of the tokens are validation, never trained on."""
    n_val = int(round(len(ids) * val_frac))
    return ids[: len(ids) - n_val], ids[len(ids) - n_val :]
