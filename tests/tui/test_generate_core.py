"""The playground's core (rnntui.generate): autocomplete, the traced text, surprise."""

import math

import numpy as np
import pytest

from rnntui.generate import Generator, Trace, complete, next_word, probabilities, surprise_bits

from .conftest import tiny_model


def greedy(model, vocab, h, logits, n):
    h, logits = h.copy(), logits.copy()
    out = []
    for _ in range(n):
        tid = int(np.argmax(logits))
        out.append(vocab.tokens[tid])
        model.step(tid, h, logits)
    return "".join(out)


def test_complete_is_the_greedy_continuation_and_leaves_the_state_alone():
    model, vocab = tiny_model()
    gen = Generator(model, vocab)
    gen.feed(vocab.encode("The just m"))
    h, logits = gen.h.copy(), gen.logits.copy()
    text = complete(gen, max_chars=30, extra_words=2)
    assert np.array_equal(gen.h, h) and np.array_equal(gen.logits, logits)
    assert text == greedy(model, vocab, h, logits, len(text))[: len(text)]
    assert 0 < len(text) <= 30 and "\n" not in text
    assert sum(1 for w in text.split(" ") if w) <= 3


def test_complete_stops_after_the_asked_number_of_words():
    model, vocab = tiny_model()
    gen = Generator(model, vocab)
    gen.feed(vocab.encode("The "))
    long = greedy(model, vocab, gen.h, gen.logits, 201)
    for extra in (0, 1, 2):
        text = complete(gen, max_chars=200, extra_words=extra)
        assert long.startswith(text)
        if "\n" not in long[: len(text) + 1]:
            # the next greedy character is the space that would start word extra+2, or the cap
            assert long[len(text)] == " " or len(text) == 200
            assert len(text.strip().split()) <= extra + 1


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
