"""The word probe (rnntui.probe, ``rnntui inspect probe``): the committed pairs, the ranks against a
brute-force sort, misses for words the vocabulary lacks, and the command's report."""

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnntui import checkpoint
from rnntui.checkpoint import Checkpoint
from rnntui.cli import SHIPPED_MODEL, main
from rnntui.corpus import Vocab
from rnntui.model import RNN, ModelConfig
from rnntui.probe import PAIRS_FILE, load_pairs, word_probe

REPUBLIC = Path(__file__).resolve().parents[1] / "corpora" / "republic.txt"


def test_the_committed_pairs_are_at_least_20_and_all_in_the_republic():
    pairs = load_pairs()
    assert len(pairs) >= 20 and len(set(pairs)) == len(pairs)
    counts: dict[str, int] = {}
    for word in re.findall(r"[a-z]+", REPUBLIC.read_text(encoding="utf-8").lower()):
        counts[word] = counts.get(word, 0) + 1
    rare = [pair for pair in pairs if min(counts.get(w, 0) for w in pair) < 15]
    assert not rare


def word_model(seed: int = 0):
    tokens = ("<unk>", "\n", ".", "he", "she", "soul", "body", "war", "peace", "the", "a", "of", "and")
    vocab = Vocab("word", tokens, lowercase=True)
    cfg = ModelConfig(vocab_size=len(tokens), embed=6, hidden=5)
    return RNN.initialised(cfg, np.random.default_rng(seed)), vocab


def brute_rank(vectors: np.ndarray, q: int, t: int) -> int:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ unit[q]
    order = [i for i in np.argsort(-sims, kind="stable") if i != q]
    return order.index(t) + 1


@pytest.mark.parametrize("which", ["input", "projected", "output"])
def test_ranks_are_those_of_a_brute_force_sort_and_k_decides_found(which):
    model, vocab = word_model()
    pairs = [("he", "she"), ("Soul", "body"), ("war", "peace")]
    from rnntui.inspect import token_vectors

    vectors = np.asarray(token_vectors(model.params, which), np.float64)
    for k in (1, 3, 12):
        result = word_probe(model.params, vocab, pairs, k=k, which=which)
        for p, (a, b) in zip(result.pairs, pairs, strict=True):
            ia, ib = vocab.tokens.index(a.lower()), vocab.tokens.index(b)
            assert (p.rank_ab, p.rank_ba) == (brute_rank(vectors, ia, ib), brute_rank(vectors, ib, ia))
            assert p.found == (min(p.rank_ab, p.rank_ba) <= k)
    assert word_probe(model.params, vocab, pairs, k=12, which=which).found == 3  # every other token is near


def test_planted_neighbours_are_found_and_missing_words_are_misses():
    model, vocab = word_model()
    E = model.params["embed"]
    E[vocab.tokens.index("she")] = E[vocab.tokens.index("he")] + 1e-3  # she sits on top of he
    result = word_probe(model.params, vocab, [("he", "she"), ("he", "zebra"), ("justice", "injustice")], k=1)
    assert result.pairs[0].rank_ab == result.pairs[0].rank_ba == 1 and result.pairs[0].found
    assert [p.rank_ab for p in result.missing] == [None, None] and result.found == 1
    assert result.share == pytest.approx(1 / 3)


def test_the_probe_refuses_a_char_model_and_a_bad_pairs_file(tmp_path):
    model, _ = word_model()
    with pytest.raises(ValueError, match="needs a word-level model"):
        word_probe(model.params, Vocab("char", tuple("abcdefghijklm")), [("a", "b")])
    bad = tmp_path / "pairs.txt"
    bad.write_text("# fine\nhe she\nthree words here\n")
    with pytest.raises(ValueError, match=r"pairs.txt:3: expected two words, got 'three words here'"):
        load_pairs(bad)
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ValueError, match="holds no word pairs"):
        load_pairs(tmp_path / "empty.txt")


def test_inspect_probe_reports_each_pair_and_a_count_per_kind_of_vectors(tmp_path):
    model, vocab = word_model()
    E = model.params["embed"]
    E[vocab.tokens.index("body")] = E[vocab.tokens.index("soul")] * 2  # the same direction
    path = checkpoint.save(Checkpoint(model=model, vocab=vocab, meta={"step": 0}), tmp_path / "w.npz")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("soul body\nhe she\njustice injustice\n")
    result = CliRunner().invoke(main, ["inspect", "probe", str(path), "--pairs", str(pairs), "-k", "1"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].startswith("soul / body") and lines[1].split()[3:6] == ["1", "1", "found"]
    assert "not in the vocabulary" in lines[3]
    want = word_probe(model.params, vocab, load_pairs(pairs), k=1, which="output")
    assert f"output vectors: {want.found}/3 pairs" in result.output
    assert "input vectors: 1/3 pairs (33%) have the partner among the 1 nearest; 1 with a word not in" in (
        result.output
    )
    out = CliRunner().invoke(
        main, ["inspect", "probe", str(path), "--pairs", str(pairs), "--vectors", "output"]
    )
    assert out.output.splitlines()[0].endswith("(output vectors)")
    rank = next(p for p in want.pairs if p.a == "he").rank_ab
    assert out.output.splitlines()[2].split()[3] == str(rank)  # he / she: the rank in the output vectors
    char = CliRunner().invoke(main, ["inspect", "probe", str(SHIPPED_MODEL)])
    assert char.exit_code != 0 and "needs a word-level model" in char.output
    assert PAIRS_FILE.exists()
