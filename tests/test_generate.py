import numpy as np
import pytest
from numerics import assert_close

from rnntui.corpus import build_vocab
from rnntui.generate import Generator, pick, probabilities, sample_text
from rnntui.model import RNN, ModelConfig


@pytest.fixture
def model_and_vocab():
    vocab = build_vocab("abcdefgh \n", "char")
    model = RNN.initialised(ModelConfig(vocab_size=len(vocab), embed=4, hidden=8), np.random.default_rng(3))
    model.params["Why"][...] *= 30  # a peaked, non-uniform softmax makes the tests sharper
    return model, vocab


def test_temperature_zero_is_argmax():
    rng = np.random.default_rng(0)
    for _ in range(20):
        logits = rng.standard_normal(17)
        assert pick(logits, rng, temperature=0.0) == int(np.argmax(logits))
        assert probabilities(logits, 0.0)[np.argmax(logits)] == 1.0


def test_temperature_one_frequencies_match_softmax():
    """From one state, 20,000 draws at T=1 match softmax(logits): chi-square well under the 0.1% cut."""
    rng = np.random.default_rng(42)
    logits = rng.standard_normal(8) * 1.5
    p = np.exp(logits - logits.max())
    p /= p.sum()
    n = 20_000
    counts = np.bincount([pick(logits, rng, 1.0) for _ in range(n)], minlength=8)
    chi2 = ((counts - n * p) ** 2 / (n * p)).sum()
    assert chi2 < 24.3  # chi-square, 7 degrees of freedom, p = 0.001


def test_top_k_never_leaves_the_k_best():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal(50)
    best3 = set(np.argsort(logits)[-3:])
    seen = {pick(logits, rng, temperature=5.0, top_k=3) for _ in range(2000)}
    assert seen <= best3 and len(seen) == 3


def test_temperature_sharpens_and_flattens():
    logits = np.array([2.0, 1.0, 0.0])
    cold, warm = probabilities(logits, 0.5), probabilities(logits, 2.0)
    assert cold[0] > probabilities(logits, 1.0)[0] > warm[0]
    with pytest.raises(ValueError):
        probabilities(logits, -1.0)


def test_sampling_is_seeded_and_starts_with_the_prime(model_and_vocab):
    model, vocab = model_and_vocab
    a = sample_text(model, vocab, length=50, prime="abc", temperature=1.0, seed=5)
    b = sample_text(model, vocab, length=50, prime="abc", temperature=1.0, seed=5)
    c = sample_text(model, vocab, length=50, prime="abc", temperature=1.0, seed=6)
    assert a == b and a != c and a.startswith("abc") and len(a) == 53


def test_stop_string_cuts_the_output(model_and_vocab):
    model, vocab = model_and_vocab
    full = sample_text(model, vocab, length=300, prime="a", temperature=1.5, seed=0)
    stop = full[10:12]
    cut = sample_text(model, vocab, length=300, prime="a", temperature=1.5, seed=0, stop=stop)
    assert cut.endswith(stop) and len(cut) <= len(full) and full.startswith(cut)
    assert cut.find(stop, 1) == len(cut) - len(stop)


def test_generator_state_advances_token_by_token(model_and_vocab):
    model, vocab = model_and_vocab
    gen = Generator(model, vocab)
    gen.prime("abc")
    one_go = gen.logits.copy()
    gen = Generator(model, vocab)
    for ch in "abc":
        gen.feed(vocab.encode(ch))
    assert_close(gen.logits, one_go, 1e-6)


def test_sample_text_defaults_and_a_length_of_zero(model_and_vocab):
    """No prime: the text is only the sampled tokens (the newline it starts from is not shown);
    the default temperature is 1 and no top-k; length 0 gives back the prime; a negative one is refused."""
    model, vocab = model_and_vocab
    plain = sample_text(model, vocab, length=40, seed=3)
    assert len(plain) == 40
    assert plain == sample_text(model, vocab, length=40, prime="", temperature=1.0, top_k=0, seed=3)
    gen = Generator(model, vocab)
    gen.prime("")
    assert plain == vocab.decode(list(gen.sample(40, np.random.default_rng(3), 1.0)))
    assert sample_text(model, vocab, length=0, prime="abc", seed=3) == "abc"
    assert sample_text(model, vocab, length=0, seed=3) == ""
    with pytest.raises(ValueError, match=r"length must be >= 0 \(got -1\)"):
        sample_text(model, vocab, length=-1)


@pytest.mark.parametrize("level", ["char", "word"])
def test_stop_cuts_right_after_its_first_appearance_in_the_sampled_text(level):
    """Against the whole sample cut by str.find: stops of 1 to 4 characters, taken from the sample
    itself so they occur, some spanning several tokens, some more than once within one word."""
    text = "the cat sat on the mat. a banana, an ant and a bat sat at the bar.\n" * 3
    vocab = build_vocab(text, level)
    model = RNN.initialised(ModelConfig(vocab_size=len(vocab), embed=4, hidden=8), np.random.default_rng(5))
    prime = "the cat" if level == "word" else "th"
    checked = 0
    for seed in range(6):
        full = sample_text(model, vocab, length=60, prime=prime, seed=seed)
        assert full.startswith(prime)
        sampled = full[len(prime) :]
        for start, size in [(0, 1), (5, 2), (11, 3), (20, 4), (3, 2)]:
            stop = sampled[start : start + size]
            if len(stop) < size:
                continue
            want = prime + sampled[: sampled.find(stop) + len(stop)]
            got = sample_text(model, vocab, length=60, prime=prime, seed=seed, stop=stop)
            assert got == want, (seed, stop)
            checked += 1
        for stop in ("a", "an", "at"):  # "banana", "bat", "sat": twice in one word, or several tokens
            if stop in sampled:
                want = prime + sampled[: sampled.find(stop) + len(stop)]
                assert sample_text(model, vocab, length=60, prime=prime, seed=seed, stop=stop) == want
        assert sample_text(model, vocab, length=60, prime=prime, seed=seed, stop="zzz") == full
    assert checked >= 25


def test_probabilities_are_computed_in_float64_and_refuse_a_negative_temperature():
    logits = np.random.default_rng(4).standard_normal(300).astype(np.float32) * 4
    for t in (0.3, 1.0, 2.5):
        z = logits.astype(np.float64) / t
        want = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        got = probabilities(logits, t)
        assert got.dtype == np.float64
        assert_close(got, want, 1e-12)  # float64 throughout: float32 would be off by ~1e-7
    with pytest.raises(ValueError, match=r"temperature must be >= 0 \(got -0.5\)"):
        probabilities(logits, -0.5)


class _Top:
    """A generator whose every draw is the largest float below 1."""

    def random(self) -> float:
        return float(np.nextafter(1.0, 0.0))


def test_pick_defaults_to_temperature_one_and_never_draws_past_the_last_token():
    logits = np.random.default_rng(5).standard_normal(12) * 2
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    assert [pick(logits, a) for _ in range(200)] == [pick(logits, b, 1.0, 0) for _ in range(200)]
    rng = np.random.default_rng(0)
    for _ in range(50):  # at the top of [0, 1) the running sum may fall short of the total by rounding
        big = rng.standard_normal(1000) * 3
        assert 0 <= pick(big, _Top()) < 1000


def test_top_k_one_is_the_argmax_and_huge_logits_do_not_overflow():
    logits = np.random.default_rng(6).standard_normal(30)
    p = probabilities(logits, 1.0, top_k=1)
    assert p[np.argmax(logits)] == 1.0 and p.sum() == 1.0
    huge = np.array([800.0, 799.0, 0.0])  # exp(800) overflows float64; the softmax must not
    want = np.exp([0.0, -1.0, -800.0]) / np.exp([0.0, -1.0, -800.0]).sum()
    assert_close(probabilities(huge), want, 1e-12)


def test_generation_never_writes_unk_even_where_the_model_likes_it_best():
    """A word model whose output bias makes <unk> the likeliest token by far: sampling (any
    temperature, top-k, top-p), the playground's continuation and the autocomplete's next words write
    only real words, with <unk>'s share spread over them; scoring keeps it; char level is untouched."""
    from rnntui.generate import Trace, complete, writable

    text = "the cat sat on the mat. a dog ran. zebra quokka\n" * 4
    vocab = build_vocab(text + "rare words here\n", "word", min_count=2)  # the last three: <unk>
    unk = vocab.unk_id
    assert unk is not None
    model = RNN.initialised(ModelConfig(vocab_size=len(vocab), embed=4, hidden=8), np.random.default_rng(1))
    model.params["by"][unk] = 8.0  # e^8: <unk> would take nearly all the mass
    logits = np.zeros(len(vocab), np.float32)
    logits[unk] = 8.0
    assert probabilities(logits)[unk] > 0.9  # the model's own distribution keeps it
    masked = writable(logits, vocab)
    assert masked[unk] == -np.inf and np.array_equal(np.delete(masked, unk), np.delete(logits, unk))
    assert logits[unk] == 8.0  # a copy: the caller's logits are left alone
    uniform_but_unk = np.where(np.arange(len(vocab)) == unk, 0.0, 1 / (len(vocab) - 1))
    assert_close(probabilities(masked), uniform_but_unk, 1e-12)
    for temperature, top_k, top_p in [(1.0, 0, 1.0), (0.0, 0, 1.0), (2.0, 3, 1.0), (0.7, 0, 0.5)]:
        gen = Generator(model, vocab)
        gen.prime("the cat")
        ids = list(gen.sample(200, np.random.default_rng(4), temperature, top_k, top_p))
        assert unk not in ids, (temperature, top_k, top_p)
    out = sample_text(model, vocab, length=100, prime="the", seed=2)
    assert "<unk>" not in out
    trace = Trace(model, vocab)
    trace.set_text("the dog")
    assert "<unk>" not in trace.continuation(50, np.random.default_rng(0))
    gen = Generator(model, vocab)
    gen.prime("the")
    assert "<unk>" not in complete(gen, extra_words=3)
    char = build_vocab("abc", "char")
    plain = np.array([0.0, 3.0, 1.0], np.float32)
    assert writable(plain, char) is plain
