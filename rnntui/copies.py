"""Is it copying? Every span of a text that occurs verbatim in the training text, found with a
suffix array.

The question char-rnn users ask most (textgenrnn#32, #248; torch-rnn's ``novel_substrings.py``):
which parts of a sample did the model make up, and which did it learn by heart? The answer here
is exact and fast:

1) ``suffix_array(ids)``: the start positions of all suffixes of the training text's token ids, in
   lexicographic order (NumPy prefix doubling: sort by the first p tokens packed in one uint64,
   then by rank pairs of length 2p, 4p, ... until every rank is unique; O(N log N) per round and
   about log2(longest repeat / p) rounds). Built once per corpus and cached beside its token cache.
2) ``matching_lengths(text, sa, query)``: for every position i of a query (M tokens), the longest
   ℓ_i such that query[i : i + ℓ_i] occurs in the text, and one place where it does (a binary search
   of the suffix array: O(M · log N · ℓ)), jitted. A 1,000-token sample takes milliseconds.
3) ``copied_spans``: the maximal matches of at least K tokens (default 20 characters or 5 words);
   ``novel_share``: for each length n, the share of the query's n-token substrings that occur
   nowhere in the training text (torch-rnn's curve).

Dimensions: N tokens in the training text, M in the query.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from rnntui import memory
from rnntui.safeio import parse_json, read_bounded

FORMAT = "rnntui-suffix-array"
VERSION = 1
MIN_CHARS, MIN_WORDS = 20, 5  # the shortest copy worth marking, by level
NOVEL_LENGTHS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50)  # n of the novel-share table


def min_span(level: str) -> int:
    """K: the shortest verbatim span marked as a copy (20 characters, or 5 words)."""
    return MIN_CHARS if level == "char" else MIN_WORDS


# -- 1) the suffix array ------------------------------------------------------------------------------


def suffix_array(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """(N,) int32 (int64 past 2**31 tokens): the start of every suffix of ``ids`` (N,) (tokens in
    0..vocab_size-1), in lexicographic order; a suffix that is a prefix of another sorts first.

    Prefix doubling. Round 0 packs the first p tokens of each suffix into one uint64 key (token + 1,
    so 0 means "past the end"), with p = 64 // bits(vocab_size); each later round sorts by the pair
    (rank of the first k tokens, rank of the next k), packed as rank << 32 | next, and doubles k.
    """
    ids = np.asarray(ids)
    n = len(ids)
    index = np.int32 if n < 2**31 else np.int64
    if n == 0:
        return np.zeros(0, index)
    if n >= 2**32 - 1:
        raise ValueError(f"a suffix array of {n:,} tokens is more than this implementation packs")
    bits = int(vocab_size).bit_length()  # token + 1 <= vocab_size fits in ``bits`` bits
    p = max(1, 64 // bits)
    key = np.zeros(n, np.uint64)
    shift = np.uint64(bits)
    for j in range(p):
        key <<= shift
        if j < n:
            key[: n - j] |= ids[j:].astype(np.uint64) + np.uint64(1)
    order = np.argsort(key).astype(index)
    rank = _ranks(key[order], order)
    k = p
    while rank.max() < n and k < n:  # ranks 1..n: all unique when the largest is n
        nxt = np.zeros(n, np.uint64)
        nxt[: n - k] = rank[k:]
        key = (rank.astype(np.uint64) << np.uint64(32)) | nxt
        order = np.argsort(key).astype(index)
        rank = _ranks(key[order], order)
        k *= 2
    return order


def _ranks(sorted_keys: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(N,) uint32 dense ranks 1.. of each position, equal keys sharing a rank."""
    new = np.empty(len(sorted_keys), np.uint32)
    new[0] = 1
    np.cumsum(sorted_keys[1:] != sorted_keys[:-1], out=new[1:], dtype=np.uint32)
    new[1:] += 1
    rank = np.empty(len(order), np.uint32)
    rank[order] = new
    return rank


# -- 2) the longest match at every position ---------------------------------------------------------


@njit(cache=True, nogil=True)
def _lcp(text, start, query, i):  # pragma: no cover - jitted (tested through matching_lengths)
    """Length of the common prefix of text[start:] and query[i:], and whether the query is smaller
    there (-1), larger (1) or a prefix of the text's suffix (0)."""
    n, m = len(text), len(query)
    j = 0
    while start + j < n and i + j < m:
        a, b = np.int64(query[i + j]), np.int64(text[start + j])
        if a != b:
            return j, (-1 if a < b else 1)
        j += 1
    if i + j == m:
        return j, 0  # the query ran out: a prefix of this suffix
    return j, 1  # the suffix ran out: it is a prefix of the query, so smaller


@njit(cache=True, nogil=True)
def _matching(text, sa, query, lengths, where):  # pragma: no cover - jitted
    n = len(sa)
    for i in range(len(query)):
        lo, hi = 0, n  # the first suffix not smaller than query[i:]
        while lo < hi:
            mid = (lo + hi) // 2
            _, c = _lcp(text, sa[mid], query, i)
            if c > 0:
                lo = mid + 1
            else:
                hi = mid
        best, at = 0, -1
        for s in (lo - 1, lo):  # the longest match is beside where the query would sort
            if 0 <= s < n:
                length, _ = _lcp(text, sa[s], query, i)
                if length > best:
                    best, at = length, sa[s]
        lengths[i] = best
        where[i] = at


def matching_lengths(text: np.ndarray, sa: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every position i of ``query`` (M,): (ℓ (M,) int64, where (M,) int64), the longest ℓ_i
    with query[i : i + ℓ_i] == text[w : w + ℓ_i] for w = where[i] (-1 when ℓ_i = 0).

    ``text`` (N,) token ids, ``sa`` its suffix array. Query ids outside the vocabulary (say -1 for
    a token the vocabulary lacks) match nothing."""
    text = np.asarray(text)
    query = np.asarray(query, np.int64)
    lengths = np.zeros(len(query), np.int64)
    where = np.full(len(query), -1, np.int64)
    if len(text) and len(query):
        _matching(text, np.asarray(sa), query, lengths, where)
    return lengths, where


# -- 3) copies and the novel share ----------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """query[start : start + length] == text[source : source + length], and it is maximal: the match
    at ``start`` is not inside the one before it."""

    start: int
    length: int
    source: int


def copied_spans(lengths: np.ndarray, where: np.ndarray, k: int) -> list[Span]:
    """The maximal verbatim matches of at least ``k`` tokens, in order of their start."""
    spans = []
    for i in np.flatnonzero(lengths >= k):
        if i > 0 and lengths[i - 1] > lengths[i]:  # [i, i + ℓ_i) lies inside [i - 1, i - 1 + ℓ_(i-1))
            continue
        spans.append(Span(int(i), int(lengths[i]), int(where[i])))
    return spans


def copied_mask(lengths: np.ndarray, k: int) -> np.ndarray:
    """(M,) bool: the tokens inside some verbatim match of at least ``k`` tokens."""
    m = len(lengths)
    cover = np.zeros(m + 1, np.int64)
    starts = np.flatnonzero(lengths >= k)
    np.add.at(cover, starts, 1)
    np.add.at(cover, np.minimum(starts + lengths[starts], m), -1)
    return np.cumsum(cover[:m]) > 0


def novel_share(lengths: np.ndarray, ns=NOVEL_LENGTHS) -> list[tuple[int, int, float]]:
    """(n, how many n-token substrings the query has, the share of them found nowhere in the text),
    for each n no longer than the query: query[i : i + n] occurs iff ℓ_i >= n."""
    m = len(lengths)
    rows = []
    for n in ns:
        if n > m:
            break
        windows = lengths[: m - n + 1]
        rows.append((n, len(windows), float(np.mean(windows < n))))
    return rows


@dataclass(frozen=True)
class CopyReport:
    """What ``check`` found in a query of M tokens."""

    lengths: np.ndarray  # (M,) ℓ_i, the longest match at each position
    where: np.ndarray  # (M,) where in the training text it is
    k: int
    spans: list[Span]
    mask: np.ndarray  # (M,) bool, inside a copy of >= k tokens
    novel: list[tuple[int, int, float]]

    @property
    def copied_share(self) -> float:
        return float(self.mask.mean()) if len(self.mask) else 0.0


def check(text: np.ndarray, sa: np.ndarray, query: np.ndarray, k: int) -> CopyReport:
    """The copies of at least ``k`` tokens in ``query`` (M,) from ``text`` (N,) with suffix array ``sa``."""
    lengths, where = matching_lengths(text, sa, query)
    return CopyReport(lengths, where, k, copied_spans(lengths, where, k), copied_mask(lengths, k),
                      novel_share(lengths))  # fmt: skip


def line_of(text: np.ndarray, newline: int | None, position: int) -> int:
    """The 1-based line of token ``position`` in ``text`` (1 when the vocabulary has no newline)."""
    if newline is None:
        return 1
    return 1 + int(np.count_nonzero(np.asarray(text[:position]) == newline))


# -- the cache beside the token cache -------------------------------------------------------------


def cache_path(token_cache: Path, n: int) -> Path:
    """Where the suffix array of the first ``n`` tokens of the ids in ``token_cache`` is kept."""
    return token_cache.with_name(f"{token_cache.stem}.sa-{n}.npy")


def build_need(n: int) -> memory.Need:
    """The memory ``suffix_array`` takes at its peak for N tokens: the uint64 keys and their sorted
    copy, argsort's int64 order, the int32 result, the uint32 ranks (old and new) and the next keys."""
    return memory.Need({"suffix array build": 48 * n})


def load_or_build(ids: np.ndarray, vocab_size: int, sha256: str, token_cache: Path | None) -> np.ndarray:
    """The suffix array of ``ids`` (N,): read from beside ``token_cache`` when a valid one is there
    (made from text of this ``sha256``, of N tokens, every entry in 0..N-1), else built and written
    there atomically (written nowhere when the folder refuses it, or without a token cache)."""
    n = len(ids)
    path = None if token_cache is None else cache_path(token_cache, n)
    if path is not None and (sa := _read(path, n, sha256)) is not None:
        return sa
    memory.require(build_need(n), f"the suffix array of {n:,} training tokens", "free some memory")
    sa = suffix_array(ids, vocab_size)
    if path is not None:
        try:
            _write(path, sa, sha256)
        except OSError:
            pass  # a read-only folder or a full disk: built again next time
    return sa


def _read(path: Path, n: int, sha256: str) -> np.ndarray | None:
    try:
        meta = parse_json(read_bounded(path.with_suffix(".json"), 1 << 12))
        if (meta.get("format"), meta.get("version"), meta.get("sha256"), meta.get("n")) != (
            FORMAT, VERSION, sha256, n):  # fmt: skip
            return None
        stat = path.stat()
        if (stat.st_size, stat.st_mtime_ns) != (meta.get("size"), meta.get("mtime_ns")):
            return None
        sa = np.load(path, mmap_mode="r", allow_pickle=False)
        if sa.ndim != 1 or len(sa) != n or sa.dtype not in (np.int32, np.int64):
            return None
        for start in range(0, n, 1 << 22):  # every entry must index the text: it is used unchecked
            chunk = np.asarray(sa[start : start + (1 << 22)])
            if chunk.min() < 0 or chunk.max() >= n:
                return None
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    return sa


def _write(path: Path, sa: np.ndarray, sha256: str) -> None:
    """The array, then its record (size and mtime of the array as written), each atomically."""
    stat = _atomic_write(path, lambda f: np.save(f, sa, allow_pickle=False))
    meta = {"format": FORMAT, "version": VERSION, "sha256": sha256, "n": len(sa), "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns}  # fmt: skip
    _atomic_write(path.with_suffix(".json"), lambda f: f.write(json.dumps(meta).encode()))


def _atomic_write(path: Path, fill) -> os.stat_result:
    """Write through ``fill(file)`` into a temporary file beside ``path``, fsync, rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
            stat = os.fstat(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return stat


# -- a checkpoint's training text, and any text checked against it -------------------------------


@dataclass(frozen=True)
class Reference:
    """The training split of a checkpoint's corpus (what its model read), with its suffix array."""

    text: np.ndarray  # (N,) token ids
    sa: np.ndarray  # (N,) its suffix array
    vocab: object  # corpus.Vocab
    about: str  # which files, how many tokens
    k: int  # the shortest span marked as a copy

    @property
    def newline(self) -> int | None:
        return self.vocab.id_of("\n")


def reference_of(ckpt, k: int | None = None) -> Reference:
    """The training split of ``ckpt``'s corpus and its (cached) suffix array; raises
    ``trainingtext.CorpusMissingError`` (one line) when the corpus is gone or changed."""
    from rnntui.trainingtext import locate

    found = locate(ckpt)
    return make_reference(found.train, ckpt.vocab, found.sha256, found.cache, found.describe(), k)


def make_reference(train: np.ndarray, vocab, sha256: str, token_cache: Path | None, about: str,
                   k: int | None = None) -> Reference:  # fmt: skip
    """The reference for training ids ``train`` (N,) of a corpus whose text has ``sha256``, its suffix
    array read from (or written to) beside ``token_cache``."""
    train = np.asarray(train)
    sa = load_or_build(train, len(vocab), sha256, token_cache)
    return Reference(train, sa, vocab, about, min_span(vocab.level) if k is None else k)


def text_tokens(vocab, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """(ids (M,) int64, their (start, end) character spans) of ``text`` at ``vocab``'s level; a token
    the vocabulary lacks, and <unk> (which stands for many words), get -1: they match nothing."""
    from rnntui.corpus import _WORD_RE as WORD_RE

    if vocab.level == "char":
        spans = [(i, i + 1) for i in range(len(text))]
        pieces = list(text)
    else:
        source = text.lower() if vocab.lowercase else text
        matches = list(WORD_RE.finditer(source))
        spans, pieces = [m.span() for m in matches], [m.group(0) for m in matches]
    unk = vocab.unk_id
    ids = [vocab.id_of(p) for p in pieces]
    return np.array([-1 if i is None or i == unk else i for i in ids], np.int64), spans


@dataclass(frozen=True)
class TextCopies:
    """A text checked against a reference: the token report and where the copies are in the text."""

    report: CopyReport
    spans: list[tuple[int, int]]  # (M,) each token's characters
    chars: list[tuple[int, int]]  # (start, end) characters of each copied span, as report.spans

    @property
    def copied_chars(self) -> int:
        """Characters inside some copy (overlapping copies counted once)."""
        inside = np.zeros(max((e for _, e in self.chars), default=0), bool)
        for s, e in self.chars:
            inside[s:e] = True
        return int(inside.sum())


def check_text(ref: Reference, text: str) -> TextCopies:
    """Every span of ``text`` of at least ``ref.k`` tokens that occurs verbatim in the training text."""
    ids, spans = text_tokens(ref.vocab, text)
    report = check(ref.text, ref.sa, ids, ref.k)
    chars = [(spans[s.start][0], spans[s.start + s.length - 1][1]) for s in report.spans]
    return TextCopies(report, spans, chars)


def summary(found: TextCopies, text: str, unit: str) -> str:
    """One short line: how many copies, the longest, the share of the text inside them."""
    spans, k = found.report.spans, found.report.k
    if not spans:
        return f"no span of {k}+ {unit} copied from the training text"
    longest = max(s.length for s in spans)
    share = found.copied_chars / max(1, len(text))
    many = "span" if len(spans) == 1 else "spans"
    return f"{len(spans)} {many} of {k}+ {unit} copied (longest {longest}); {share:.0%} of the text"


def report_lines(ref: Reference, found: TextCopies, text: str, context: int = 0) -> list[str]:
    """Plain text: every copied span with where it occurs in the training text (line, token offset),
    then the novel share by span length."""
    unit = "characters" if ref.vocab.level == "char" else "words"
    lines = [f"checked against {ref.about}; copies are spans of {ref.k}+ {unit}", summary(found, text, unit)]
    for s, (a, b) in zip(found.report.spans, found.chars, strict=True):
        line = line_of(ref.text, ref.newline, s.source)
        lines.append(f"  {s.length:>4} {unit} at {a:>6}: {text[a:b]!r}  (training text line {line:,}, "
                     f"token {s.source:,})")  # fmt: skip
    lines.append(f"novel share by span length (share of the text's n-{unit[:-1]} spans found nowhere in "
                 "the training text):")  # fmt: skip
    lines.append(f"  {'n':>4} {'spans':>7} {'novel':>6}")
    for n, windows, share in found.report.novel:
        lines.append(f"  {n:>4} {windows:>7,} {share:6.1%}")
    return lines
