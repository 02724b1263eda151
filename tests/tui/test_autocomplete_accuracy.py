"""Autocomplete accuracy by letters seen: the beam's three best words against an exhaustive search,
and the accuracy table against a slow loop that reads every prefix afresh."""

import numpy as np
import pytest

from rnntui import autocomplete
from rnntui.generate import Generator, finish_words, word_ends

from .conftest import log_softmax, tiny_model
from .test_generate_core import PRIMES, states_after, word_model


def exhaustive_top(model, vocab, h, logits, max_len, n):
    """Every word of up to ``max_len`` letters scored by log P(letters, then an end): the n best."""
    letters = [i for i, t in enumerate(vocab.tokens) if t.isalnum()]
    ends = [i for i, t in enumerate(vocab.tokens) if not t.isalnum()]
    scored = []

    def visit(ids, score, h, logits):
        lp = log_softmax(logits)
        scored.append((score + np.log(np.exp(lp[ends]).sum()), ids))
        if len(ids) < max_len:
            for t in letters:
                h2 = h.copy()
                visit(ids + [t], score + lp[t], h2, model.step(t, h2).copy())

    visit([], 0.0, h, logits)
    return [ids for _, ids in sorted(scored, key=lambda s: -s[0])[:n]]


def test_a_beam_wide_enough_gives_the_exhaustive_three_best_words():
    model, vocab = word_model()
    ends = word_ends(vocab)
    for prime, h, logits in states_after(model, vocab, PRIMES[:10]):
        ranked = finish_words(model, h, logits, ends, 5**4, max_len=4, n=3)
        assert [w.ids for w in ranked] == exhaustive_top(model, vocab, h, logits, 4, 3), prime
        assert (
            len({tuple(w.ids) for w in ranked}) == 3 and ranked[0].score >= ranked[1].score >= ranked[2].score
        )
        # and the best of them is finish_word's answer at the playground's width
        assert finish_words(model, h, logits, ends, 4, max_len=4, n=3)[0].ids == finish_words(
            model, h, logits, ends, 4, max_len=4, n=1)[0].ids  # fmt: skip


def slow_accuracy(model, vocab, ids, max_words, J):
    """For every word and prefix: a fresh Generator fed the text up to there, then the beam."""
    ends = word_ends(vocab)
    words, top1, top3 = np.zeros(J + 1, int), np.zeros(J + 1, int), np.zeros(J + 1, int)
    ids = list(ids)
    t = seen = 0
    while t < len(ids) and seen < max_words:
        if ends[ids[t]]:
            t += 1
            continue
        end = t
        while end < len(ids) and not ends[ids[end]]:
            end += 1
        if end == len(ids):
            break
        for j in range(min(end - t, J + 1)):
            gen = Generator(model, vocab)
            gen.feed([vocab.id_of("\n")] + ids[: t + j])
            ranked = [w.ids for w in finish_words(model, gen.h, gen.logits, ends, 4, n=3)]
            words[j] += 1
            top1[j] += ranked[0] == ids[t + j : end]
            top3[j] += ids[t + j : end] in ranked
        t, seen = end, seen + 1
    return words, top1, top3


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_char_accuracy_equals_the_slow_loop(cell):
    model, vocab = tiny_model(cell=cell)
    text = "The just man is happy, said Socrates; and the unjust man is miserable.\nWhat is justice?"
    ids = vocab.encode(text)
    acc = autocomplete.accuracy(model, vocab, ids, max_words=8, max_letters=4)
    words, top1, top3 = slow_accuracy(model, vocab, ids, 8, 4)
    np.testing.assert_array_equal(acc.words, words)
    np.testing.assert_array_equal(acc.top1, top1)
    np.testing.assert_array_equal(acc.top3, top3)
    assert acc.words[0] == 8 and (acc.top1 <= acc.top3).all() and (acc.top3 <= acc.words).all()


def test_word_level_guesses_are_the_likeliest_words_with_those_letters():
    model, vocab = tiny_model(level="word", cell="gru")
    ids = vocab.encode("The just man is happy , said Socrates")
    acc = autocomplete.accuracy(model, vocab, ids, max_letters=3)
    gen = Generator(model, vocab)
    gen.feed([vocab.id_of("\n")])
    want_words, want1 = np.zeros(4, int), np.zeros(4, int)
    for tid in ids:
        word = vocab.tokens[tid]
        if word.isalnum():
            for j in range(min(len(word), 4)):
                fits = [i for i, w in enumerate(vocab.tokens) if w.isalnum() and w.startswith(word[:j])]
                want_words[j] += 1
                want1[j] += max(fits, key=lambda i: (gen.logits[i], -i)) == tid
        gen.feed([tid])
    np.testing.assert_array_equal(acc.words, want_words)
    np.testing.assert_array_equal(acc.top1, want1)


def test_inspect_autocomplete_prints_both_models_curves(tmp_path):
    from click.testing import CliRunner

    from rnntui import checkpoint
    from rnntui.cli import main

    model, vocab = tiny_model()
    a = checkpoint.save(checkpoint.Checkpoint(model=model, vocab=vocab, meta={"step": 0}), tmp_path / "a.npz")
    other, _ = tiny_model(cell="gru", seed=3)
    b = checkpoint.save(checkpoint.Checkpoint(model=other, vocab=vocab, meta={"step": 0}), tmp_path / "b.npz")
    text = tmp_path / "t.txt"
    text.write_text(
        "The just man is happy, said Socrates; and the unjust man is miserable.\n", encoding="utf-8"
    )
    result = CliRunner().invoke(
        main, ["inspect", "autocomplete", str(a), "--text", str(text), "--compare", str(b)]
    )
    assert result.exit_code == 0, result.output
    ids = vocab.encode(text.read_text())
    want = [autocomplete.accuracy(m, vocab, ids) for m in (model, other)]
    row = result.output.splitlines()[3].split()  # one letter seen
    assert int(row[0]) == 1 and int(row[1]) == want[0].words[1]
    assert [float(x.rstrip("%")) for x in row[2:6]] == pytest.approx(
        [100 * want[0].top1_share[1], 100 * want[0].top3_share[1], 100 * want[1].top1_share[1],
         100 * want[1].top3_share[1]], abs=0.06)  # fmt: skip
