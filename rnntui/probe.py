"""The word probe: do related words end up near each other in a word model's vectors?

Given pairs of words a reader would call related (``data/republic_word_pairs.txt``: he/she,
said/replied, soul/body, ...), a pair counts as found when either word is among the other's k
nearest neighbours by cosine (``inspect.neighbours``, the word itself excluded) in the chosen
vectors (``inspect.token_vectors``: input = embedding rows, projected = embed Wxh0, output = the
columns of Why). A pair with a word missing from the vocabulary (or mapped to <unk>) is a miss and is
reported as such: the probe measures the model, not the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnntui.corpus import Vocab
from rnntui.inspect import token_vectors
from rnntui.safeio import read_bounded

PAIRS_FILE = Path(__file__).parent / "data" / "republic_word_pairs.txt"
PAIRS_LIMIT = 1 << 20  # a pairs file is a list a person wrote: at most 1 MiB


def load_pairs(path: str | Path = PAIRS_FILE) -> list[tuple[str, str]]:
    """The pairs of a pairs file: two words a line, '#' starts a comment. ValueError (one line,
    naming the line) for a line that is not two words, or a file with no pairs."""
    text = read_bounded(Path(path), PAIRS_LIMIT).decode("utf-8", errors="strict")
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) != 2:
            raise ValueError(f"{path}:{number}: expected two words, got {line.strip()!r}")
        pairs.append((words[0], words[1]))
    if not pairs:
        raise ValueError(f"{path}: holds no word pairs")
    return pairs


@dataclass(frozen=True)
class PairResult:
    a: str
    b: str
    rank_ab: int | None  # b's rank among a's neighbours (1 = nearest), None if either is missing
    rank_ba: int | None  # a's rank among b's neighbours
    found: bool  # either rank <= k


@dataclass(frozen=True)
class ProbeResult:
    which: str  # the vectors: input | projected | output
    k: int
    pairs: list[PairResult]

    @property
    def found(self) -> int:
        return sum(p.found for p in self.pairs)

    @property
    def missing(self) -> list[PairResult]:
        return [p for p in self.pairs if p.rank_ab is None]

    @property
    def share(self) -> float:
        return self.found / len(self.pairs)


def _rank(vectors: np.ndarray, query: int, target: int) -> int:
    """target's rank (1 = nearest) among query's neighbours by cosine, query itself left out."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sims = unit @ unit[query]
    sims[query] = -np.inf
    return int((sims > sims[target]).sum()) + 1


def word_probe(params: dict, vocab: Vocab, pairs: list[tuple[str, str]], k: int = 10,
               which: str = "input") -> ProbeResult:  # fmt: skip
    """For each pair, each word's rank among the other's neighbours in ``which`` vectors (V, D),
    and whether either is within the k nearest. Words are lowercased for a lowercased vocabulary."""
    if vocab.level != "word":
        raise ValueError("the word probe needs a word-level model (this one is char level)")
    vectors = np.asarray(token_vectors(params, which), np.float64)
    ids = {t: i for i, t in enumerate(vocab.tokens)}
    unk = vocab.unk_id
    results = []
    for a, b in pairs:
        ia, ib = (ids.get(w.lower() if vocab.lowercase else w) for w in (a, b))
        if ia is None or ib is None or unk in (ia, ib) or ia == ib:
            results.append(PairResult(a, b, None, None, False))
            continue
        ab, ba = _rank(vectors, ia, ib), _rank(vectors, ib, ia)
        results.append(PairResult(a, b, ab, ba, min(ab, ba) <= k))
    return ProbeResult(which, k, results)
