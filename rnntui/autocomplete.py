"""How good is the ghost text? Autocomplete accuracy by letters seen (Distill's "Memorization in
RNNs"): over the words of a text, the share the beam finishes correctly after 0, 1, 2, … of their
letters are typed, top-1 (the guess the playground shows) and top-3 (among the beam's three best).

Char level: a word is a run of letter tokens (``generate.word_ends`` marks the rest); after j of its
m letters (j < m) the state is the text's up to there, and ``generate.finish_words`` proposes the
rest. Word level: the word is one token, so after j letters the guesses are the likeliest vocabulary
words that start with them (what the playground shows), j = 0 being the likeliest words of all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnntui.generate import BEAM_WIDTH, Generator, finish_words, word_ends

MAX_LETTERS = 8  # prefix lengths 0..MAX_LETTERS


@dataclass(frozen=True)
class Accuracy:
    """Per number of letters seen j = 0..J: how many words had more than j letters, and how many of
    them the beam got right first (top-1) and among its three best (top-3)."""

    words: np.ndarray  # (J+1,) int
    top1: np.ndarray  # (J+1,) int
    top3: np.ndarray  # (J+1,) int

    @property
    def top1_share(self) -> np.ndarray:
        return self.top1 / np.maximum(self.words, 1)

    @property
    def top3_share(self) -> np.ndarray:
        return self.top3 / np.maximum(self.words, 1)


def accuracy(model, vocab, ids: np.ndarray, max_words: int = 300, max_letters: int = MAX_LETTERS,
             width: int = BEAM_WIDTH) -> Accuracy:  # fmt: skip
    """Autocomplete accuracy over the first ``max_words`` words of ``ids`` (T,), read from a newline's
    memory; a word's first letters are guessed only when something comes before it."""
    ids = np.asarray(ids, np.int64)
    J = max_letters
    words, top1, top3 = np.zeros(J + 1, int), np.zeros(J + 1, int), np.zeros(J + 1, int)
    gen = Generator(model, vocab)
    nl = vocab.id_of("\n")
    if nl is not None:
        gen.feed([nl])
    if vocab.level == "word":
        _word_level(gen, vocab, ids, max_words, J, words, top1, top3)
        return Accuracy(words, top1, top3)
    ends = word_ends(vocab)
    t, seen = 0, 0
    while t < len(ids) and seen < max_words:
        if ends[ids[t]]:
            gen.feed([ids[t]])
            t += 1
            continue
        end = t
        while end < len(ids) and not ends[ids[end]]:
            end += 1
        if end == len(ids):
            break  # a word the text cuts off: its end is unknown
        word = ids[t:end].tolist()
        for j in range(min(len(word), J + 1)):  # j letters typed, len(word) - j still to guess
            ranked = finish_words(model, gen.h, gen.logits, ends, width, n=3)
            words[j] += 1
            top1[j] += ranked[0].ids == word[j:]
            top3[j] += any(w.ids == word[j:] for w in ranked[:3])
            gen.feed([word[j]])
        gen.feed(word[min(len(word), J + 1) :])
        t, seen = end, seen + 1
    return Accuracy(words, top1, top3)


def _word_level(gen, vocab, ids, max_words, J, words, top1, top3) -> None:
    """Word level: after j letters, the vocabulary words starting with them, likeliest first."""
    unk = vocab.unk_id
    letters = np.array([t if t.isalnum() and i != unk else "" for i, t in enumerate(vocab.tokens)])
    is_word = letters != ""
    seen = 0
    for tid in ids:
        tid = int(tid)
        word = str(letters[tid])
        if word and seen < max_words:
            for j in range(min(len(word), J + 1)):
                fits = is_word & np.char.startswith(letters, word[:j])
                ranked = np.argsort(-np.where(fits, gen.logits, -np.inf), kind="stable")[:3]
                words[j] += 1
                top1[j] += int(ranked[0]) == tid
                top3[j] += tid in ranked.tolist()
            seen += 1
        gen.feed([tid])
