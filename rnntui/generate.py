"""Sampling from the model: temperature, top-k, priming, stop strings.

The model turns its memory into logits (one score per token); dividing them by a temperature
before the softmax sharpens (T < 1) or flattens (T > 1) the distribution; T = 0 means always take
the most likely token.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from rnntui.corpus import Vocab
from rnntui.model import RNN


def probabilities(logits: np.ndarray, temperature: float = 1.0, top_k: int = 0) -> np.ndarray:
    """softmax(logits / temperature) over (V,), restricted to the ``top_k`` best when top_k > 0.

    temperature 0 puts all mass on the argmax. Computed in float64.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (got {temperature})")
    z = np.asarray(logits, np.float64)
    if temperature == 0:
        p = np.zeros_like(z)
        p[int(np.argmax(z))] = 1.0
        return p
    z = z / temperature
    if 0 < top_k < len(z):
        cut = np.partition(z, len(z) - top_k)[len(z) - top_k]
        z = np.where(z >= cut, z, -np.inf)
    z = np.exp(z - z.max())
    return z / z.sum()


def pick(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0, top_k: int = 0) -> int:
    """Draw one token id from the tempered (and top-k restricted) softmax of ``logits`` (V,)."""
    if temperature == 0:
        return int(np.argmax(logits))
    p = probabilities(logits, temperature, top_k)
    return int(min(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right"), len(p) - 1))


class Generator:
    """A model plus its running memory, fed one token at a time."""

    def __init__(self, model: RNN, vocab: Vocab) -> None:
        self.model = model
        self.vocab = vocab
        self.h = np.zeros((model.cfg.layers, model.cfg.hidden), model.dtype)  # (L, H)
        self.logits = np.zeros(model.cfg.vocab_size, model.dtype)  # (V,) before any input: uniform

    def reset(self) -> None:
        self.h[:] = 0.0
        self.logits[:] = 0.0

    def feed(self, ids) -> None:
        """Advance the memory through token ids; afterwards ``logits`` predict the next one."""
        for i in ids:
            self.model.step(int(i), self.h, self.logits)

    def prime(self, text: str) -> list[int]:
        """Feed ``text`` (refusing characters the model never saw). An empty prime starts from a
        newline when the vocabulary has one, so generation begins like a new paragraph."""
        if text:
            ids = self.vocab.encode(text, what="the prime text")
        else:
            nl = self.vocab.id_of("\n")
            ids = np.array([nl if nl is not None else 0])
        self.feed(ids)
        return [int(i) for i in ids]

    def sample(
        self, n: int, rng: np.random.Generator, temperature: float = 1.0, top_k: int = 0
    ) -> Iterator[int]:
        """Yield ``n`` sampled token ids, feeding each back in."""
        for _ in range(n):
            tid = pick(self.logits, rng, temperature, top_k)
            self.model.step(tid, self.h, self.logits)
            yield tid


def sample_text(model: RNN, vocab: Vocab, *, length: int, prime: str = "", temperature: float = 1.0,
                top_k: int = 0, seed: int | None = None, stop: str | None = None) -> str:  # fmt: skip
    """The prime followed by ``length`` sampled tokens, cut after ``stop`` if it appears."""
    if length < 0:
        raise ValueError(f"length must be >= 0 (got {length})")
    gen = Generator(model, vocab)
    primed = gen.prime(prime)
    rng = np.random.default_rng(seed)
    out = list(primed) if prime else []
    prefix = len(vocab.decode(out))
    for tid in gen.sample(length, rng, temperature, top_k):
        out.append(tid)
        if stop and (vocab.level == "char" and vocab.tokens[tid] == stop[-1] or vocab.level == "word"):
            text = vocab.decode(out)
            cut = text.find(stop, prefix)
            if cut >= 0:
                return text[: cut + len(stop)]
    return vocab.decode(out)
