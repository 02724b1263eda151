"""Copies from the training text: the suffix array, the longest match at every position, the copied
spans and the novel share, each against a brute-force search on random texts."""

import json

import numpy as np
import pytest

from rnntui import copies


def brute_sa(ids):
    return sorted(range(len(ids)), key=lambda i: list(ids[i:]))


def occurs(text: list, piece: list) -> bool:
    n = len(piece)
    return any(text[j : j + n] == piece for j in range(len(text) - n + 1))


def brute_longest(text: list, query: list, i: int) -> int:
    best = 0
    while i + best < len(query) and occurs(text, query[i : i + best + 1]):
        best += 1
    return best


@pytest.mark.parametrize("V,n", [(2, 0), (2, 1), (2, 2), (2, 200), (3, 257), (70, 300), (5000, 150), (1, 40)])
def test_suffix_array_sorts_every_suffix(V, n):
    rng = np.random.default_rng(n + V)
    ids = rng.integers(0, V, n).astype(np.uint16)
    assert copies.suffix_array(ids, V).tolist() == brute_sa(ids.tolist())


def test_suffix_array_of_a_text_that_repeats_needs_many_rounds():
    ids = np.array([0, 1, 2] * 70 + [1] * 50, np.uint16)  # repeats far longer than one packed key
    assert copies.suffix_array(ids, 3).tolist() == brute_sa(ids.tolist())


@pytest.mark.parametrize("V", [2, 4, 30])
def test_longest_match_at_every_position_is_that_of_brute_force(V):
    rng = np.random.default_rng(V)
    text = rng.integers(0, V, 300).astype(np.uint16)
    # a query that copies two stretches of the text, with random tokens and an unknown token between
    query = np.concatenate([rng.integers(0, V, 7), text[40:75], [-1], rng.integers(0, V, 5), text[200:230]])
    sa = copies.suffix_array(text, V)
    lengths, where = copies.matching_lengths(text, sa, query)
    t, q = text.tolist(), query.tolist()
    assert lengths.tolist() == [brute_longest(t, q, i) for i in range(len(q))]
    for i, (ell, w) in enumerate(zip(lengths, where, strict=True)):
        assert (w == -1) == (ell == 0)
        assert t[w : w + ell] == q[i : i + ell]
    assert lengths[7] >= 35 and lengths[len(q) - 30] == 30


def test_copied_spans_are_the_maximal_matches_of_at_least_k():
    rng = np.random.default_rng(5)
    text = rng.integers(0, 6, 400).astype(np.uint16)
    query = np.concatenate([text[10:40], rng.integers(0, 6, 10), text[300:312], text[100:103]])
    sa = copies.suffix_array(text, 6)
    report = copies.check(text, sa, query, 12)
    t, q = text.tolist(), query.tolist()
    # brute force: every [i, j) of length >= 12 that occurs, and is inside no longer occurring one
    found = [(i, j) for i in range(len(q)) for j in range(i + 12, len(q) + 1) if occurs(t, q[i:j])]
    maximal = [(i, j) for i, j in found if not any(a <= i and j <= b and (a, b) != (i, j) for a, b in found)]
    assert [(s.start, s.start + s.length) for s in report.spans] == maximal
    for s in report.spans:
        assert t[s.source : s.source + s.length] == q[s.start : s.start + s.length]
    covered = np.zeros(len(q), bool)
    for i, j in maximal:
        covered[i:j] = True
    assert report.mask.tolist() == covered.tolist()
    assert report.spans[0].start == 0 and report.spans[0].length >= 30


def test_novel_share_counts_the_substrings_found_nowhere():
    rng = np.random.default_rng(9)
    text = rng.integers(0, 4, 200).astype(np.uint16)
    query = np.concatenate([text[:20], rng.integers(0, 4, 30)])
    lengths, _ = copies.matching_lengths(text, copies.suffix_array(text, 4), query)
    t, q = text.tolist(), query.tolist()
    for n, windows, share in copies.novel_share(lengths):
        novel = [not occurs(t, q[i : i + n]) for i in range(len(q) - n + 1)]
        assert windows == len(novel) and share == pytest.approx(np.mean(novel))


def test_the_cache_is_written_reused_and_refused_when_it_is_off(tmp_path):
    ids = np.random.default_rng(1).integers(0, 9, 500).astype(np.uint16)
    token_cache = tmp_path / "corpus.char-abc.npy"
    sa = copies.load_or_build(ids, 9, "f00d", token_cache)
    path = copies.cache_path(token_cache, len(ids))
    assert path.is_file() and json.loads(path.with_suffix(".json").read_text())["sha256"] == "f00d"
    again = copies.load_or_build(ids, 9, "f00d", token_cache)
    assert isinstance(again, np.memmap) and (again == sa).all()  # read back, not rebuilt
    assert copies._read(path, len(ids), "beef") is None  # another text
    bad = np.array(sa)
    bad[3] = len(ids) + 7  # an entry past the text would read out of bounds in the jitted search
    copies._write(path, bad, "f00d")
    assert copies._read(path, len(ids), "f00d") is None
    assert (copies.load_or_build(ids, 9, "f00d", token_cache) == sa).all()
    path.with_suffix(".json").write_text("[" * 100_000)  # hostile record: refused, rebuilt
    assert (copies.load_or_build(ids, 9, "f00d", token_cache) == sa).all()
