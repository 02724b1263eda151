"""What counting alone gets you: an interpolated Witten–Bell n-gram model of the training split,
the baseline an RNN has to beat (Karpathy, Johnson & Fei-Fei 2015 compare the two).

For a context h of n − 1 tokens with c(h) continuations in the training text, of T(h) distinct kinds,

    P_n(w | h) = (c(h w) + T(h) · P_(n−1)(w | h'))  /  (c(h) + T(h))       (h' = h without its first token)

and P_n = P_(n−1) when h was never followed by anything; P_0(w) = 1 / V. Every order's distribution
sums to 1 over the vocabulary (the tests check it for every context of a text).

Counts live in NumPy arrays, one set per order n = 1..N. An n-gram is numbered by its prefix's number
(an (n−1)-gram's) and its last token: key = prefix · V + token, so ``keys[n]`` (G_n,) is sorted and an
n-gram's number is its index there (found with ``np.searchsorted``); ``counts[n]`` (G_n,) how often it
occurs; ``ctx_total[n]`` and ``ctx_types[n]`` (G_(n−1),) c(h) and T(h) of each (n−1)-gram as a
context. Building is one ``np.unique`` per order: a second or two for the Republic at N = 8.

Dimensions: N the highest order, V vocabulary, T tokens of a text being scored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnntui import memory
from rnntui.safeio import parse_json, read_bounded

FORMAT = "rnntui-ngram"
VERSION = 1
DEFAULT_ORDER = {"char": 8, "word": 4}


@dataclass(frozen=True)
class NGram:
    """Witten–Bell counts of orders 1..N (index 0 of each list is unused: order 0 is uniform)."""

    V: int
    keys: list[np.ndarray]  # [n] (G_n,) int64, sorted: prefix number · V + last token
    counts: list[np.ndarray]  # [n] (G_n,) int64
    ctx_total: list[np.ndarray]  # [n] (G_(n−1),) int64 c(h): continuations of each context
    ctx_types: list[np.ndarray]  # [n] (G_(n−1),) int64 T(h): distinct continuations

    @property
    def order(self) -> int:
        return len(self.keys) - 1


def build(ids: np.ndarray, V: int, order: int) -> NGram:
    """Count every n-gram of ``ids`` (N,) (tokens 0..V-1) for n = 1..``order``."""
    if order < 1:
        raise ValueError(f"order must be >= 1 (got {order})")
    ids = np.asarray(ids, np.int64)
    keys, counts = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    prev = np.zeros(len(ids), np.int64)  # (N,) number of the (n−1)-gram starting at each position
    for n in range(1, order + 1):
        m = max(0, len(ids) - n + 1)  # n-grams in the text
        if len(ids) * V >= 2**62:  # prefix numbers are < N, so keys stay below N · V
            raise ValueError(f"{len(ids):,} tokens of a vocabulary of {V:,} are too many to number in int64")
        key, number = np.unique(prev[:m] * V + ids[n - 1 : n - 1 + m], return_inverse=True)
        keys.append(key.astype(np.int64))
        counts.append(np.bincount(number.reshape(-1), minlength=len(key)).astype(np.int64))
        prev = number.reshape(-1).astype(np.int64)
    return from_counts(V, keys, counts)


def from_counts(V: int, keys: list[np.ndarray], counts: list[np.ndarray]) -> NGram:
    """The model of these n-gram keys and counts (each context's c(h) and T(h) derived from them)."""
    totals, types = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    groups = 1  # G_0: the empty context
    for key, count in zip(keys[1:], counts[1:], strict=True):
        prefix = key // V
        totals.append(np.bincount(prefix, weights=count, minlength=groups).astype(np.int64))
        types.append(np.bincount(prefix, minlength=groups).astype(np.int64))
        groups = len(key)
    return NGram(V, keys, counts, totals, types)


def _lookup(keys: np.ndarray, V: int, prefix: np.ndarray, token: np.ndarray) -> np.ndarray:
    """Numbers of the n-grams (prefix, token), each (T,); -1 where the prefix is -1 or the n-gram
    was never seen."""
    out = np.full(len(prefix), -1, np.int64)
    ok = prefix >= 0
    if len(keys) == 0 or not ok.any():
        return out
    want = prefix[ok] * V + token[ok]
    at = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    out[ok] = np.where(keys[at] == want, at, -1)
    return out


def contexts(model: NGram, ids: np.ndarray) -> list[np.ndarray]:
    """[j] (T,) the number of the j-gram ids[i − j : i] just before each position i, -1 when it was
    never seen or would start before the text; j = 0..N−1 (j = 0: the empty context, 0)."""
    ids = np.asarray(ids, np.int64)
    T = len(ids)
    before = np.zeros(T, np.int64)
    before[1:] = ids[:-1]  # the token at i − 1
    ctx = [np.zeros(T, np.int64)]
    for j in range(1, model.order):
        prev = np.full(T, -1, np.int64)
        prev[1:] = ctx[j - 1][:-1]  # the (j−1)-gram ending at i − 2 is the prefix of the one at i − 1
        ctx.append(_lookup(model.keys[j], model.V, prev, before))
    return ctx


def _step(model: NGram, n: int, h: np.ndarray, w: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """P_n(w | h) for contexts numbered ``h`` (-1: unseen) and tokens ``w``, each (T,), given
    P_(n−1)(w | h') = ``lower`` (T,)."""
    g = _lookup(model.keys[n], model.V, h, w)
    c_hw = np.where(g >= 0, model.counts[n][np.maximum(g, 0)], 0)
    seen = h >= 0
    total = np.where(seen, model.ctx_total[n][np.maximum(h, 0)], 0)
    types = np.where(seen, model.ctx_types[n][np.maximum(h, 0)], 0)
    mixed = (c_hw + types * lower) / np.maximum(total + types, 1)
    return np.where(total > 0, mixed, lower)


def token_probs(model: NGram, ids: np.ndarray) -> np.ndarray:
    """(N + 1, T) P_n(ids[i] | the n − 1 tokens before it) for every order n = 0..N (0: uniform); a
    position with fewer tokens before it than n − 1 falls back to the longest context it has."""
    ids = np.asarray(ids, np.int64)
    ctx = contexts(model, ids)
    P = np.empty((model.order + 1, len(ids)))
    P[0] = 1.0 / model.V
    for n in range(1, model.order + 1):
        P[n] = _step(model, n, ctx[n - 1], ids, P[n - 1])
    return P


def next_distribution(model: NGram, history: np.ndarray) -> np.ndarray:
    """(N + 1, V) P_n(w | the last n − 1 tokens of ``history``) for every token w and order n."""
    history = np.asarray(history, np.int64)
    V = model.V
    ctx = contexts(model, np.append(history, 0))  # the contexts of the position after the history
    P = np.empty((model.order + 1, V))
    P[0] = 1.0 / V
    w = np.arange(V, dtype=np.int64)
    for n in range(1, model.order + 1):
        P[n] = _step(model, n, np.full(V, ctx[n - 1][-1]), w, P[n - 1])
    return P


def losses(model: NGram, ids: np.ndarray, start: int = 0) -> np.ndarray:
    """(N + 1,) mean −ln P_n over the predictions of ids[start:] (the tokens before ``start`` are
    context only), for orders n = 0..N, in nats per token."""
    skip = max(0, start - (model.order - 1))  # tokens too far back to be any prediction's context
    P = token_probs(model, np.asarray(ids)[skip:])[:, start - skip :]
    if P.shape[1] == 0:
        raise ValueError("no tokens to score")
    return -np.log(P).mean(axis=1)


def stream_losses(model: NGram, blocks) -> tuple[np.ndarray, int]:
    """((N + 1,) mean −ln P_n, predictions) over a text given as blocks of ids (an iterator of (B,)
    arrays, as ``Vocab.encode_blocks`` yields), scoring every token but the first, as ``rnntui eval``
    scores the RNN; a block at a time (each carries the N − 1 tokens before it as context)."""
    sums = np.zeros(model.order + 1)
    count = 0
    tail = np.zeros(0, np.int64)
    first = True
    for block in blocks:
        ids = np.concatenate([tail, np.asarray(block, np.int64)])
        start = len(tail) + (1 if first else 0)
        if len(ids) > start:
            P = token_probs(model, ids)[:, start:]
            sums += -np.log(P).sum(axis=1)
            count += P.shape[1]
            first = False
        tail = ids[max(0, len(ids) - (model.order - 1)) :] if model.order > 1 else ids[:0]
    return sums / max(count, 1), count


def baseline_of(ckpt, order: int | None = None) -> tuple[NGram, str]:
    """The n-gram model of ``ckpt``'s training split (cached beside its token cache) and a line about
    it; raises ``trainingtext.CorpusMissingError`` when the corpus is gone or changed."""
    from rnntui.trainingtext import locate

    found = locate(ckpt)
    order = DEFAULT_ORDER[ckpt.vocab.level] if order is None else order
    model = load_or_build(np.asarray(found.train), len(ckpt.vocab), order, found.sha256, found.cache)
    return model, f"interpolated Witten–Bell, orders 1–{order}, counted on {found.describe()}"


def bits(model: NGram, ids: np.ndarray) -> np.ndarray:
    """(T,) the highest order's surprise at each token of ``ids``, in bits."""
    return -np.log2(token_probs(model, ids)[-1])


# -- the cache beside the token cache -------------------------------------------------------------


def cache_path(token_cache: Path, n: int, order: int) -> Path:
    return token_cache.with_name(f"{token_cache.stem}.ngram{order}-{n}.npz")


def build_need(n: int, order: int) -> memory.Need:
    """What ``build`` holds at its peak for N tokens: per order the keys, np.unique's sort and inverse
    and the counts (about 40 bytes a token), and every order's keys and counts kept (16 per n-gram)."""
    return memory.Need({"n-gram counts": 40 * n + 16 * n * order})


def load_or_build(ids: np.ndarray, V: int, order: int, sha256: str, token_cache: Path | None) -> NGram:
    """The model of ``ids`` (N,): read from beside ``token_cache`` when a valid one is there (of text
    with this ``sha256``, N tokens, this order and V), else counted and written there atomically."""
    from rnntui.copies import _atomic_write

    path = None if token_cache is None else cache_path(token_cache, len(ids), order)
    if path is not None and (model := _read(path, len(ids), V, order, sha256)) is not None:
        return model
    memory.require(build_need(len(ids), order), f"counting the n-grams of {len(ids):,} tokens",
                   "lower the order")  # fmt: skip
    model = build(ids, V, order)
    if path is not None:
        arrays = {f"keys{n}": model.keys[n] for n in range(1, order + 1)}
        arrays |= {f"counts{n}": model.counts[n] for n in range(1, order + 1)}
        try:
            stat = _atomic_write(path, lambda f: np.savez(f, **arrays))
            meta = {"format": FORMAT, "version": VERSION, "sha256": sha256, "n": len(ids), "V": V,
                    "order": order, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}  # fmt: skip
            _atomic_write(path.with_suffix(".json"), lambda f: f.write(json.dumps(meta).encode()))
        except OSError:
            pass  # counted again next time
    return model


def _read(path: Path, n: int, V: int, order: int, sha256: str) -> NGram | None:
    """A cached model if its record and arrays hold together: every key sorted, its prefix a number of
    the order below and its token in the vocabulary, every count positive."""
    try:
        meta = parse_json(read_bounded(path.with_suffix(".json"), 1 << 12))
        want = (FORMAT, VERSION, sha256, n, V, order)
        if tuple(meta.get(k) for k in ("format", "version", "sha256", "n", "V", "order")) != want:
            return None
        stat = path.stat()
        if (stat.st_size, stat.st_mtime_ns) != (meta.get("size"), meta.get("mtime_ns")):
            return None
        keys, counts = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        with np.load(path, allow_pickle=False) as npz:
            groups = 1
            for k in range(1, order + 1):
                key, count = npz[f"keys{k}"], npz[f"counts{k}"]
                if (
                    key.dtype != np.int64
                    or count.dtype != np.int64
                    or key.shape != count.shape
                    or key.ndim != 1
                ):
                    return None
                if len(key) and (key[0] < 0 or np.any(np.diff(key) <= 0) or key[-1] // V >= groups
                                 or count.min() < 1):  # fmt: skip
                    return None
                keys.append(key)
                counts.append(count)
                groups = len(key)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return from_counts(V, keys, counts)


def describe_losses(model_loss: float, table: np.ndarray, unit: str) -> list[str]:
    """Plain text: each order's loss (nats per ``unit``) against the model's, then a summary line."""
    lines = []
    for n in range(1, len(table)):
        who = "the model is better" if model_loss < table[n] else "counting is better"
        lines.append(f"  order {n:>2}: {table[n]:.4f} nats/{unit}  {table[n] / math.log(2):.4f} bits/{unit}  "
                     f"{who} by {abs(table[n] - model_loss) / math.log(2):.3f} bits")  # fmt: skip
    beaten = [n for n in range(1, len(table)) if model_loss < table[n]]
    winners = [n for n in range(1, len(table)) if model_loss >= table[n]]
    best = int(np.argmin(table[1:])) + 1
    summary = f"  best order {best} ({table[best] / math.log(2):.4f} bits/{unit}); "
    if not winners:
        summary += f"the model beats every order up to {len(table) - 1}"
    else:
        summary += f"the model beats orders {_ranges(beaten) or 'none'}; orders {_ranges(winners)} beat it"
    return [*lines, summary]


def _ranges(ns: list[int]) -> str:
    """[1, 2, 3, 6] -> "1–3, 6"."""
    out, start = [], None
    for i, n in enumerate(ns):
        if start is None:
            start = n
        if i + 1 == len(ns) or ns[i + 1] != n + 1:
            out.append(f"{start}" if start == n else f"{start}–{n}")
            start = None
    return ", ".join(out)
