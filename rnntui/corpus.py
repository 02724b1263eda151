"""Text -> vocabulary -> token array, and back again.

Two tokenisations:
  * ``char``: every distinct character is a token; the vocabulary is the sorted set of characters,
    so it is identical on every run and machine.
  * ``word``: words, punctuation marks and newlines are separate tokens; rare words become ``<unk>``.
    Detokenising puts spaces back the way English prose expects (none before a comma, etc.).

Tokens live in one contiguous integer array (uint16 when the vocabulary allows, else int32).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

UNK = "<unk>"
LEVELS = ("char", "word")

# A word (letters/digits, with inner apostrophes or hyphens: "don't", "well-born"), a newline,
# or any single other non-space character (punctuation, quotes, symbols).
_WORD_RE = re.compile(r"\n|\w+(?:['’\-]\w+)*|[^\w\s]")
_NO_SPACE_BEFORE = set(",.;:!?)]}%'’”…")
_NO_SPACE_AFTER = set("([{‘“$")


class CorpusError(ValueError):
    """The text cannot be used as asked; the message is one line meant for a person."""


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """Read a text file, normalise CRLF/CR to LF and drop a UTF-8 BOM; refuse what is not text."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{path}: no such file")
    if path.is_dir():
        raise CorpusError(f"{path}: is a directory, not a text file")
    data = path.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        raise CorpusError(
            f"{path}: not valid {encoding} at byte {err.start}; "
            "pass --encoding (e.g. latin-1) if the file uses another encoding"
        ) from None
    except LookupError:
        raise CorpusError(f"unknown encoding {encoding!r}") from None
    if "\x00" in text:
        raise CorpusError(f"{path}: looks like binary data (contains NUL bytes), not text")
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise CorpusError(f"{path}: is empty (no text to learn from)")
    return text


def sha256_text(text: str) -> str:
    """The corpus fingerprint stored in checkpoints (of the normalised text)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_words(text: str, lowercase: bool = False) -> list[str]:
    """Word-level tokens of ``text``: words, single punctuation marks and newlines."""
    if lowercase:
        text = text.lower()
    return _WORD_RE.findall(text)


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
        return np.uint16 if len(self.tokens) <= np.iinfo(np.uint16).max + 1 else np.int32

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

    def _encode_chars(self, text: str, what: str) -> np.ndarray:
        """Vectorised: code points (via UTF-32) mapped through a code point -> id table, a block of
        text at a time so a large corpus never needs a 4-bytes-per-character copy of itself."""
        vocab_codes = np.array([ord(c) for c in self.tokens], dtype=np.int64)
        table = np.full(int(vocab_codes.max()) + 1, -1, dtype=np.int32)
        table[vocab_codes] = np.arange(len(vocab_codes), dtype=np.int32)
        ids = np.empty(len(text), dtype=self.dtype)
        block = 1 << 22
        for start in range(0, len(text), block):
            codes = np.frombuffer(text[start : start + block].encode("utf-32-le"), dtype=np.uint32)
            known = codes < len(table)
            got = np.where(known, table[np.where(known, codes, 0)], -1)
            if (got < 0).any():
                missing = list(dict.fromkeys(chr(c) for c in codes[got < 0][:10_000]))
                shown = "".join(repr(c)[1:-1] if c.isprintable() else repr(c) for c in missing[:20])
                raise CorpusError(f"{what} has {len(missing)} character(s) the model never saw: {shown}")
            ids[start : start + len(codes)] = got
        return ids

    def decode(self, ids) -> str:
        """Text of a sequence of token ids (word level: spacing restored like prose)."""
        pieces = [self.tokens[int(i)] for i in ids]
        if self.level == "char":
            return "".join(pieces)
        return join_words(pieces)


def join_words(words: list[str]) -> str:
    """Detokenise word-level tokens: no space before closing punctuation or after an opening one,
    straight double quotes alternate between opening and closing, newlines carry no spaces."""
    out: list[str] = []
    quote_open = False
    prev = "\n"
    for w in words:
        space = True
        if prev == "\n" or w == "\n":
            space = False
        elif w in _NO_SPACE_BEFORE or prev in _NO_SPACE_AFTER:
            space = False
        elif w == '"':
            space = not quote_open  # an opening quote has a space before it, a closing one not
        elif prev == '"' and quote_open:
            space = False  # right after an opening quote
        if w == '"':
            quote_open = not quote_open
        if space and out:
            out.append(" ")
        out.append(w)
        prev = w
    return "".join(out)


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
        tokens = tuple(sorted(set(text)))
    else:
        counts = Counter(split_words(text, lowercase))
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


def split_train_val(ids: np.ndarray, val_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic split: the last ``val_frac`` of the tokens are validation, never trained on."""
    n_val = int(round(len(ids) * val_frac))
    return ids[: len(ids) - n_val], ids[len(ids) - n_val :]
