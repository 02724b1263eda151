"""The playground's core (rnntui.generate): autocomplete, the traced text, surprise."""

import itertools
import math

import numpy as np
import pytest

from rnntui import checkpoint
from rnntui.cli import SHIPPED_MODEL
from rnntui.corpus import Vocab, build_vocab
from rnntui.generate import (
    Generator,
    Trace,
    complete,
    finish_word,
    next_word,
    probabilities,
    salient_units,
    surprise_bits,
    word_ends,
)
from rnntui.model import RNN, ModelConfig

from .conftest import chain_model, log_softmax, reference_suggestion, reference_word, tiny_model


def test_complete_is_the_beam_word_then_greedy_and_leaves_the_state_alone():
    model, vocab = tiny_model()
    gen = Generator(model, vocab)
    gen.feed(vocab.encode("\nThe just m"))
    h, logits = gen.h.copy(), gen.logits.copy()
    for width in (4, 1):
        text = complete(gen, max_chars=30, extra_words=2, width=width)
        assert np.array_equal(gen.h, h) and np.array_equal(gen.logits, logits)
        assert text == reference_suggestion(model, vocab, "The just m", width, max_chars=30)
        assert 0 < len(text) <= 30 and "\n" not in text
        assert sum(1 for w in text.split(" ") if w) <= 3


def test_complete_stops_after_the_asked_number_of_words():
    """On the shipped (trained) model, which writes real words and spaces."""
    ckpt = checkpoint.load(SHIPPED_MODEL)
    for prefix in ("The ", "And what is justi"):
        gen = Generator(ckpt.model, ckpt.vocab)
        gen.feed(ckpt.vocab.encode("\n" + prefix))
        long = complete(gen, max_chars=200, extra_words=8)
        assert len(long.split()) == 9
        for extra in (0, 1, 2):
            text = complete(gen, max_chars=200, extra_words=extra)
            assert long.startswith(text)  # the same word, then the same greedy path
            assert long[len(text)] == " "  # the space that would start word extra+2
            assert len(text.split()) == extra + 1


# -- the beam that finishes a word ------------------------------------------------------------------


def score_tol(logits) -> float:
    """How far two computations of one word's score may differ: it adds up to 6 log-probabilities
    (max_len 5, then the end), each carrying float32 rounding of logits as large as these ones, in an
    order that depends on threads and BLAS; 1e-6 of the logits' size per term."""
    return 6e-6 * float(np.abs(logits).max())


def word_model():
    """Five letters and three word ends, with peaked letters and rare ends: a random model whose
    likeliest words are 0 to 5 letters long and which greedy often misses (seed chosen so)."""
    vocab = build_vocab("abcde ,\n", "char")
    model = RNN.initialised(ModelConfig(vocab_size=len(vocab), embed=4, hidden=8), np.random.default_rng(2))
    model.params["Why"][...] *= 30
    model.params["by"][word_ends(vocab)] -= 5
    return model, vocab


def states_after(model, vocab, primes):
    for prime in primes:
        gen = Generator(model, vocab)
        gen.feed(vocab.encode("\n" + prime))
        yield prime, gen.h.copy(), gen.logits.copy()


def exhaustive_best(model, vocab, h, logits, max_len):
    """Every word of up to ``max_len`` letters, scored by log P(letters, then an end): the best."""
    letters = [i for i, t in enumerate(vocab.tokens) if t.isalnum()]
    ends = [i for i, t in enumerate(vocab.tokens) if not t.isalnum()]
    best = (-np.inf, [])

    def visit(ids, score, h, logits):
        nonlocal best
        lp = log_softmax(logits)
        best = max(best, (score + np.log(np.exp(lp[ends]).sum()), ids))
        if len(ids) < max_len:
            for t in letters:
                h2 = h.copy()
                visit(ids + [t], score + lp[t], h2, model.step(t, h2).copy())

    visit([], 0.0, h, logits)
    return best


def word_score(model, vocab, h, logits, ids):
    """log P(the letters ids, then a word end), one step at a time."""
    h, score = h.copy(), 0.0
    for t in ids:
        score += log_softmax(logits)[t]
        logits = model.step(t, h).copy()
    lp = log_softmax(logits)
    return score + np.log(sum(np.exp(lp[i]) for i, t in enumerate(vocab.tokens) if not t.isalnum()))


PRIMES = ["".join(p) for p in itertools.product("abcde ,", repeat=2)][::2]  # 25 contexts


def test_beam_finds_the_exhaustive_best_word_where_greedy_does_not():
    model, vocab = word_model()
    ends = word_ends(vocab)
    greedy_missed = 0
    for prime, h, logits in states_after(model, vocab, PRIMES):
        score, ids = exhaustive_best(model, vocab, h, logits, 5)
        beam = finish_word(model, h, logits, ends, 4, max_len=5)
        assert beam.ids == ids and beam.score == pytest.approx(score, abs=score_tol(logits)), prime
        # a beam wide enough to hold every hypothesis is the exhaustive search itself
        assert finish_word(model, h, logits, ends, 5**5, max_len=5).ids == ids
        greedy_missed += finish_word(model, h, logits, ends, 1, max_len=5).ids != ids
    assert greedy_missed >= 3  # the contexts are ones where the beam matters


def test_beam_matches_a_slow_beam_and_never_loses_to_greedy():
    """The batched, pruned beam against the one-hypothesis-at-a-time beam of the tests, at widths
    1 to 4; its word is at least as likely as the character-by-character greedy one (likeliest
    token each time, until a non-letter is likeliest)."""
    model, vocab = word_model()
    ends = word_ends(vocab)
    for prime, h, logits in states_after(model, vocab, PRIMES):
        for width in (1, 2, 3, 4):
            word = finish_word(model, h, logits, ends, width, max_len=5)
            ids, score = reference_word(model, vocab, h, logits, width, max_len=5)
            tol = score_tol(logits)
            assert word.ids == ids and word.score == pytest.approx(score, abs=tol), (prime, width)
            assert word.score == pytest.approx(word_score(model, vocab, h, logits, ids), abs=tol)
        hh, lg, greedy = h.copy(), logits.copy(), []
        while len(greedy) < 5 and vocab.tokens[int(np.argmax(lg))].isalnum():
            greedy.append(int(np.argmax(lg)))
            lg = model.step(greedy[-1], hh).copy()
        assert word.score >= word_score(model, vocab, h, logits, greedy) - score_tol(logits)


def test_beam_width_one_is_the_greedy_letter_path():
    """Width 1: the likeliest letter each step, ending where the word so far is likeliest."""
    model, vocab = word_model()
    ends = word_ends(vocab)
    letters = np.flatnonzero(~ends)
    for prime, h, logits in states_after(model, vocab, PRIMES):
        hh, lg, path, best = h.copy(), logits.copy(), [], None
        for _ in range(6):
            score = word_score(model, vocab, h, logits, path)
            if best is None or score > best[0]:
                best = (score, list(path))
            if len(path) == 5:
                break
            path.append(int(letters[np.argmax(lg[letters])]))
            lg = model.step(path[-1], hh).copy()
        assert finish_word(model, h, logits, ends, 1, max_len=5).ids == best[1], prime


def test_finish_word_leaves_its_inputs_alone_and_ends_with_the_words_memory():
    model, vocab = word_model()
    _, h, logits = next(states_after(model, vocab, ["ab"]))
    h0, logits0 = h.copy(), logits.copy()
    word = finish_word(model, h, logits, word_ends(vocab), 4, max_len=5)
    assert np.array_equal(h, h0) and np.array_equal(logits, logits0)
    for t in word.ids:
        logits = model.step(t, h0).copy()
    np.testing.assert_allclose(word.h, h0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(word.logits, logits, rtol=1e-5, atol=1e-5)


def test_next_word_takes_leading_spaces_and_one_word():
    assert next_word("an is just") == "an"
    assert next_word(" is just") == " is"
    assert next_word("") == ""
    assert next_word(", said he") == ","


def test_surprise_bits_matches_the_softmax():
    logits = np.array([2.0, 0.5, -1.0, 0.0])
    p = probabilities(logits)
    for t in range(4):
        assert surprise_bits(logits, t) == pytest.approx(-math.log2(p[t]))


def test_trace_reads_incrementally_and_matches_a_fresh_read():
    model, vocab = tiny_model()
    trace = Trace(model, vocab)
    text = "The just man is happy"
    for i in range(1, len(text) + 1):
        assert trace.set_text(text[:i]) == 1  # one new token per keystroke
    fresh = Trace(model, vocab)
    fresh.set_text(text)
    np.testing.assert_array_equal(trace.activations(), fresh.activations())
    assert trace.bits == fresh.bits
    assert len(trace) == len(text) and trace.spans[4] == (4, 5)
    # backspace twice then a different letter: only one token re-read, same as reading afresh
    assert trace.set_text(text[:-2] + "e") == 1
    fresh2 = Trace(model, vocab)
    fresh2.set_text(text[:-2] + "e")
    np.testing.assert_array_equal(trace.activations(), fresh2.activations())
    np.testing.assert_array_equal(trace.gen.logits, fresh2.gen.logits)
    np.testing.assert_array_equal(trace.gen.h, fresh2.gen.h)
    trace.set_text("")
    np.testing.assert_array_equal(trace.gen.h, Trace(model, vocab).gen.h)


def test_trace_surprise_is_the_bits_the_model_gave_each_token():
    model, vocab = tiny_model()
    trace = Trace(model, vocab)
    trace.set_text("just")
    gen = Generator(model, vocab)
    gen.feed(vocab.encode("\n"))
    for tid, bits in zip(vocab.encode("just"), trace.bits, strict=True):
        assert bits == pytest.approx(-math.log2(probabilities(gen.logits)[tid]), rel=1e-5)
        gen.feed([tid])


def test_trace_skips_characters_the_model_never_saw():
    model, vocab = tiny_model()
    trace = Trace(model, vocab)
    trace.set_text("ju§st")
    assert [vocab.tokens[i] for i in trace.ids] == list("just")
    assert trace.spans[-1] == (4, 5)


def test_trace_word_level_waits_for_the_end_of_a_word():
    model, vocab = tiny_model(level="word")
    trace = Trace(model, vocab)
    trace.set_text("The just ma")
    assert [vocab.tokens[i] for i in trace.ids] == ["The", "just"]
    assert trace.partial == "ma"
    ghost = trace.suggestion()
    assert ("ma" + ghost).split()[0] in vocab.tokens  # the typed word is finished with a real word
    fits = [i for i, t in enumerate(vocab.tokens) if t.startswith("ma")]
    assert "ma" + ghost.split(" ")[0] == vocab.tokens[max(fits, key=lambda i: trace.gen.logits[i])]
    trace.set_text("The just man ")
    assert [vocab.tokens[i] for i in trace.ids] == ["The", "just", "man"] and trace.partial == ""
    ghost = trace.suggestion()
    assert ghost and not ghost.startswith(" ")  # after a space, the next word starts right away
    trace.set_text("The just man")
    assert trace.partial == "man"


def test_trace_layers_and_continuation_leave_trace_alone():
    model, vocab = tiny_model(layers=2)
    trace = Trace(model, vocab)
    trace.set_text("The man")
    assert trace.activations(1).shape == (7, model.cfg.hidden)
    assert trace.activations(0, last=3).shape == (3, model.cfg.hidden)
    h = trace.gen.h.copy()
    a = trace.continuation(20, np.random.default_rng(1), 0.8)
    b = trace.continuation(20, np.random.default_rng(1), 0.8)
    assert a == b and len(a) == 20
    np.testing.assert_array_equal(trace.gen.h, h)


# -- word-level autocomplete, the trace's views and the continuation, on a designed bigram model ------

WORDS = Vocab("word", ("\n", "the", "mad", "man", "mat", ",", "and", "sat"))
CHAIN = {"\n": "the", "the": "man", "man": ",", ",": "and", "and": "sat", "sat": "\n", "mat": "and"}


def chain_generator(*read: str) -> Generator:
    gen = Generator(chain_model(WORDS, CHAIN, {"the": "mat"}), WORDS)
    gen.feed([WORDS.id_of(w) for w in read])
    return gen


def test_word_level_complete_follows_the_likeliest_words_and_stops_at_a_newline():
    gen = chain_generator("\n", "the")
    h, logits = gen.h.copy(), gen.logits.copy()
    assert complete(gen, extra_words=0) == " man"
    assert complete(gen, extra_words=2) == " man, and"  # "," is a word: no space before it
    assert complete(gen, extra_words=9) == " man, and sat"  # then the model writes a newline
    assert complete(gen, extra_words=2, space=False) == "man, and"
    assert complete(gen, extra_words=2, max_chars=6) == " man, "
    assert np.array_equal(gen.h, h) and np.array_equal(gen.logits, logits)
    # after "man" the likeliest word is ",", which takes no space before it
    assert complete(chain_generator("\n", "the", "man"), extra_words=1) == ", and"


def test_word_level_complete_finishes_the_typed_word_with_its_likeliest_vocabulary_word():
    gen = chain_generator("\n", "the")
    # "mad", "man" and "mat" start with "ma"; after "the" the model puts "man" first, "mat" second
    assert complete(gen, partial="ma", extra_words=1) == "n,"
    assert complete(gen, partial="mat", extra_words=1) == " and"  # the typed word is whole already
    assert complete(gen, partial="zz") == ""  # no word of the vocabulary starts so


def test_trace_suggestion_passes_its_length_words_and_spacing_on():
    trace = Trace(chain_model(WORDS, CHAIN, {"the": "mat"}), WORDS)
    trace.set_text("the ")
    assert trace.suggestion(extra_words=0) == "man"  # after a space: no space of its own
    assert trace.suggestion(extra_words=3) == "man, and sat"
    assert trace.suggestion(max_chars=5, extra_words=3) == "man, "
    trace.set_text("the man,")
    assert trace.suggestion(extra_words=1) == " and sat"  # right after the comma: a space first
    trace.set_text("the ma")
    assert trace.partial == "ma" and trace.suggestion(extra_words=1) == "n,"


def test_trace_suggestion_passes_the_beam_width_on():
    model, vocab = word_model()
    differ = 0
    for prime in PRIMES:
        trace = Trace(model, vocab)
        trace.set_text(prime)
        for width in (1, 4):
            assert trace.suggestion(max_chars=8, width=width) == reference_suggestion(
                model, vocab, prime, width, max_chars=8
            ), (prime, width)
        differ += trace.suggestion(max_chars=8, width=1) != trace.suggestion(max_chars=8, width=4)
    assert differ >= 1  # some context where the width changes the suggestion


def test_trace_continuation_samples_at_its_temperature_and_spaces_words():
    model, vocab = tiny_model()
    trace = Trace(model, vocab)
    trace.set_text("The just")
    gen = Generator(model, vocab)
    gen.feed(vocab.encode("\nThe just"))
    greedy = [int(np.argmax(gen.logits))]
    for _ in range(11):
        gen.feed(greedy[-1:])
        greedy.append(int(np.argmax(gen.logits)))
    assert trace.continuation(12, np.random.default_rng(0), temperature=0) == vocab.decode(greedy)
    hot = {trace.continuation(12, np.random.default_rng(s), temperature=3.0) for s in range(4)}
    assert len(hot) > 1  # a high temperature samples, it does not take the likeliest
    words = Trace(chain_model(WORDS, CHAIN), WORDS)
    words.set_text("the man,")
    assert words.continuation(2, np.random.default_rng(0), 0) == " and sat"
    words.set_text("the man, ")
    assert words.continuation(2, np.random.default_rng(0), 0) == "and sat"


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_trace_views_of_the_last_tokens_and_of_an_empty_text(cell):
    model, vocab = tiny_model(cell=cell)
    H, G = model.cfg.hidden, len(model.cell.GATES)
    trace = Trace(model, vocab)
    assert trace.activations().shape == (0, H) and trace.activations().dtype == model.dtype
    assert trace.gate_activations().shape == (0, G, H) and trace.gate_activations().dtype == model.dtype
    trace.set_text("The man")
    everything = trace.activations()
    assert len(everything) == 7
    np.testing.assert_array_equal(trace.activations(last=3), everything[-3:])
    np.testing.assert_array_equal(trace.activations(last=100), everything)
    states = np.stack(trace._states)  # (N, L, S*H)
    np.testing.assert_array_equal(everything, states[:, 0, :H])
    gates = trace.gate_activations()
    assert gates.shape == (7, G, H)
    np.testing.assert_array_equal(trace.gate_activations(last=2), gates[-2:])
    np.testing.assert_array_equal(trace.gate_activations(last=100), gates)
    if cell == "lstm":
        np.testing.assert_array_equal(trace.activations(cell_state=True), states[:, 0, H:])
        assert not np.array_equal(trace.activations(cell_state=True), everything)
    else:
        assert trace.gate_activations(last=2).shape == (2, 0, H)


def test_salient_units_are_the_most_varying_in_index_order_and_keep_the_chosen_one():
    acts = np.zeros((5, 6))
    acts[:, 4] = [0, 1, 0, 1, 0]  # variance 0.24
    acts[:, 1] = [0, 3, 0, 3, 0]  # the most varying
    acts[:, 2] = [0, 0.5, 0, 0.5, 0]
    acts[:, 0] = 7.0  # large but constant
    assert salient_units(acts, 2).tolist() == [1, 4]
    assert salient_units(acts, 3).tolist() == [1, 2, 4]
    assert salient_units(acts, 2, keep=0).tolist() == [0, 1]  # the chosen unit takes the last place
    assert salient_units(acts, 2, keep=4).tolist() == [1, 4]
    assert salient_units(acts, 3, keep=5).tolist() == [1, 4, 5]  # the least varying of the three gives way
    assert salient_units(acts, 0).tolist() == [1]  # never fewer than one
    assert salient_units(acts, 6).tolist() == list(range(6)) == salient_units(acts, 9).tolist()
    # one token read: no variance yet, so the largest magnitudes; two tokens: their variance
    assert salient_units(np.array([[0.0, 0, 0.1, 0, 5, -6]]), 2).tolist() == [4, 5]
    assert salient_units(np.array([[7.0, 0, 0, 0, 0, 2], [7.0, 1, 0, 0, 0, 2]]), 1).tolist() == [1]
    assert salient_units(np.zeros((0, 6)), 3).tolist() == [0, 1, 2]  # no text yet: the first ones


def test_char_level_complete_stops_at_a_newline_and_within_its_length():
    vocab = build_vocab("abcdefgh ,\n", "char")
    chain = {"\n": "a", "a": "b", "b": "c", "c": " ", " ": "d", "d": "e", "e": "\n"}
    gen = Generator(chain_model(vocab, chain), vocab)
    gen.feed(vocab.encode("\n"))
    assert complete(gen, max_chars=40, extra_words=5) == "abc de"  # the newline ends it
    long = {"\n": "a", **{a: b for a, b in zip("abcdefg", "bcdefgh", strict=True)}, "h": " ", " ": "a"}
    gen = Generator(chain_model(vocab, long), vocab)
    gen.feed(vocab.encode("\n"))
    assert complete(gen, max_chars=40, extra_words=0) == "abcdefgh"
    for n in (1, 4, 7):  # a word longer than the ghost text may be is not proposed whole
        assert len(complete(gen, max_chars=n, extra_words=0)) <= n


def test_char_level_complete_without_any_word_end_is_greedy():
    vocab = build_vocab("abc", "char")  # letters only: nothing ends a word
    gen = Generator(chain_model(vocab, {"a": "b", "b": "c", "c": "a"}), vocab)
    gen.feed(vocab.encode("a"))
    assert complete(gen, max_chars=5) == "bcabc"


def test_the_defaults_are_the_word_and_two_more_in_at_most_40_characters():
    trace = Trace(chain_model(WORDS, CHAIN), WORDS)
    trace.set_text("the ")
    assert trace.suggestion() == "man, and" == complete(trace.gen, space=False)
    long = Vocab("word", ("\n", "internationalisation"))
    trace = Trace(
        chain_model(long, {"\n": "internationalisation", "internationalisation": "internationalisation"}),
        long,
    )
    trace.set_text("internationalisation ")
    assert trace.suggestion() == ("internationalisation " * 2)[:40] == complete(trace.gen, space=False)
    model, vocab = tiny_model()
    trace = Trace(model, vocab)
    trace.set_text("The just")
    a = trace.continuation(30, np.random.default_rng(2))
    assert a == trace.continuation(30, np.random.default_rng(2), temperature=1.0)
