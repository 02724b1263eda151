"""The n-gram baseline: interpolated Witten–Bell against a slow dictionary-count reference, every
context's distribution summing to 1, and the cache."""

import json
from collections import Counter, defaultdict

import numpy as np
import pytest

from rnntui import ngram


class SlowWittenBell:
    """The same model from Python dictionaries of counts: the obvious way, for comparison."""

    def __init__(self, ids, V, order):
        self.V, self.order = V, order
        self.c = Counter()  # n-gram tuple -> count
        self.follow = defaultdict(Counter)  # context tuple -> Counter of next tokens
        for n in range(1, order + 1):
            for i in range(len(ids) - n + 1):
                gram = tuple(ids[i : i + n])
                self.c[gram] += 1
                self.follow[gram[:-1]][gram[-1]] += 1

    def p(self, history, w, n):
        if n == 0:
            return 1.0 / self.V
        h = tuple(history[len(history) - (n - 1) :]) if n > 1 else ()
        if len(h) < n - 1:  # not enough history: the longest context there is
            return self.p(history, w, n - 1)
        nxt = self.follow.get(h)
        lower = self.p(history, w, n - 1)
        if not nxt:
            return lower
        total, types = sum(nxt.values()), len(nxt)
        return (nxt.get(w, 0) + types * lower) / (total + types)


@pytest.mark.parametrize("V,order,seed", [(3, 4, 0), (5, 3, 1), (8, 6, 2), (2, 8, 3)])
def test_probabilities_equal_the_dictionary_count_reference(V, order, seed):
    rng = np.random.default_rng(seed)
    train = rng.integers(0, V, 300)
    train[100:130] = train[10:40]  # repeats, so long contexts are seen more than once
    model = ngram.build(train, V, order)
    slow = SlowWittenBell(train.tolist(), V, order)
    text = np.concatenate([train[50:70], rng.integers(0, V, 30)])  # seen and unseen contexts
    P = ngram.token_probs(model, text)
    for i in range(len(text)):
        for n in range(order + 1):
            assert P[n, i] == pytest.approx(slow.p(text[:i].tolist(), int(text[i]), n), rel=1e-12)


@pytest.mark.parametrize("V,order", [(3, 5), (6, 8)])
def test_every_contexts_distribution_sums_to_one(V, order):
    rng = np.random.default_rng(V)
    train = rng.integers(0, V, 200)
    model = ngram.build(train, V, order)
    slow = SlowWittenBell(train.tolist(), V, order)
    # every context the text has (each position's history), a few it never had, and the empty one
    histories = [train[:i] for i in range(0, 200, 7)] + [rng.integers(0, V, 9) for _ in range(5)]
    for history in histories:
        P = ngram.next_distribution(model, history)
        np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
        for w in range(V):
            assert P[order, w] == pytest.approx(slow.p(history.tolist(), w, order), rel=1e-12)


def test_losses_score_only_the_tokens_after_start_with_the_context_before():
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 4, 400)
    model = ngram.build(ids[:300], 4, 5)
    full = -np.log(ngram.token_probs(model, ids)[:, 300:]).mean(axis=1)
    np.testing.assert_allclose(ngram.losses(model, ids, 300), full, rtol=1e-12)
    assert ngram.losses(model, ids, 300)[0] == pytest.approx(np.log(4))


def test_the_cache_is_reused_and_a_tampered_one_rebuilt(tmp_path):
    ids = np.random.default_rng(2).integers(0, 7, 500)
    token_cache = tmp_path / "c.char-x.npy"
    model = ngram.load_or_build(ids, 7, 4, "abc", token_cache)
    path = ngram.cache_path(token_cache, 500, 4)
    assert path.is_file() and json.loads(path.with_suffix(".json").read_text())["order"] == 4
    again = ngram._read(path, 500, 7, 4, "abc")
    assert again is not None and all((a == b).all() for a, b in zip(again.keys, model.keys, strict=True))
    assert ngram._read(path, 500, 7, 4, "other") is None
    arrays = {f"keys{n}": model.keys[n] for n in range(1, 5)} | {
        f"counts{n}": model.counts[n] for n in range(1, 5)
    }
    arrays["keys2"] = arrays["keys2"][::-1].copy()  # not sorted: lookups would be wrong
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["size"], meta["mtime_ns"] = path.stat().st_size, path.stat().st_mtime_ns
    path.with_suffix(".json").write_text(json.dumps(meta))
    assert ngram._read(path, 500, 7, 4, "abc") is None
    rebuilt = ngram.load_or_build(ids, 7, 4, "abc", token_cache)
    np.testing.assert_array_equal(rebuilt.keys[2], model.keys[2])


def test_stream_losses_over_blocks_equal_one_pass():
    rng = np.random.default_rng(8)
    ids = rng.integers(0, 5, 500)
    model = ngram.build(ids[:350], 5, 6)
    blocks = [ids[:100], ids[100:101], ids[101:330], ids[330:]]
    table, count = ngram.stream_losses(model, iter(blocks))
    assert count == 499
    np.testing.assert_allclose(table, -np.log(ngram.token_probs(model, ids)[:, 1:]).mean(axis=1), rtol=1e-12)


def test_eval_prints_the_baseline_order_by_order_against_a_slow_count(tmp_path):
    from click.testing import CliRunner

    from rnntui import checkpoint
    from rnntui.checkpoint import Checkpoint
    from rnntui.cli import main
    from rnntui.corpus import build_vocab, split_train_val
    from rnntui.model import RNN, ModelConfig

    text = "the cat sat on the mat. the dog sat on the log. " * 30
    corpus = tmp_path / "c.txt"
    corpus.write_text(text, encoding="utf-8")
    vocab = build_vocab(text, "char")
    model = RNN.initialised(ModelConfig(vocab_size=len(vocab), embed=4, hidden=8), np.random.default_rng(0))
    meta = {"step": 1, "corpus": {"path": str(corpus)}, "train": {"val_frac": 0.1}}
    ckpt = checkpoint.save(Checkpoint(model=model, vocab=vocab, meta=meta), tmp_path / "m.npz")
    scored = tmp_path / "s.txt"
    scored.write_text("the dog sat on a mat", encoding="utf-8")
    result = CliRunner().invoke(main, ["eval", str(ckpt), str(scored), "--ngram", "3"])
    assert result.exit_code == 0, result.output
    train = split_train_val(vocab.encode(text), 0.1)[0].tolist()
    slow = SlowWittenBell(train, len(vocab), 3)
    q = vocab.encode("the dog sat on a mat").tolist()
    for n in (1, 2, 3):
        want = -np.mean([np.log(slow.p(q[:i], q[i], n)) for i in range(1, len(q))])
        assert f"order  {n}: {want:.4f} nats/char" in result.output
    assert "orders 1–3" in result.output and "best order" in result.output
    corpus.unlink()
    result = CliRunner().invoke(main, ["eval", str(ckpt), str(scored)])
    assert result.exit_code == 0 and "n-gram baseline: none (the training corpus is not on this machine" in (
        result.output
    )
