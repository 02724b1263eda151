"""Sampling from the model: temperature, top-k, nucleus (top-p), priming, stop strings.

The model turns its memory into logits (one score per token); dividing them by a temperature
before the softmax sharpens (T < 1) or flattens (T > 1) the distribution; T = 0 means always take
the most likely token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from rnntui.corpus import _NO_SPACE_BEFORE as NO_SPACE_BEFORE
from rnntui.corpus import _WORD_RE as WORD_RE
from rnntui.corpus import UNK, Vocab, WordJoiner, join_words
from rnntui.memory import Need
from rnntui.model import RNN


def probabilities(
    logits: np.ndarray, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0
) -> np.ndarray:
    """softmax(logits / temperature) over (V,), restricted to the ``top_k`` best when top_k > 0, then
    to the nucleus of mass ``top_p`` when top_p < 1 (renormalised).

    temperature 0 puts all mass on the argmax. Computed in float64.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (got {temperature})")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] (got {top_p})")
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
    p = z / z.sum()
    if top_p < 1.0:
        p = np.where(nucleus(p, top_p), p, 0.0)
        p /= p.sum()
    return p


def nucleus(probs: np.ndarray, top_p: float) -> np.ndarray:
    """(V,) bool: the nucleus of ``probs`` (V,) (Holtzman et al. 2020), the smallest set of the likeliest
    tokens whose mass is at least ``top_p`` (of the total); ties go to the lower id. top_p >= 1: all."""
    keep = np.ones(len(probs), bool)
    if top_p >= 1.0:
        return keep
    order = np.argsort(-probs, kind="stable")
    mass = np.cumsum(probs[order])
    n = min(len(probs), int(np.searchsorted(mass, top_p * mass[-1], side="left")) + 1)
    keep[order[n:]] = False
    return keep


def pick(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0, top_k: int = 0,
         top_p: float = 1.0) -> int:  # fmt: skip
    """Draw one token id from the tempered (and top-k, top-p restricted) softmax of ``logits`` (V,)."""
    if temperature == 0:
        return int(np.argmax(logits))
    p = probabilities(logits, temperature, top_k, top_p)
    return int(min(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right"), len(p) - 1))


def writable(logits: np.ndarray, vocab: Vocab) -> np.ndarray:
    """``logits`` (V,) for writing text: with ``<unk>`` (a word level's stand-in for every rare word)
    at -inf, so what is generated is words, and its probability is shared among them by the softmax.
    Scores (eval, the lenses) keep it: there it is what the model predicts. A copy when changed."""
    unk = vocab.unk_id
    if unk is None or len(logits) < 2:
        return logits
    out = np.array(logits, copy=True)
    out[unk] = -np.inf
    return out


class Generator:
    """A model plus its running memory, fed one token at a time."""

    def __init__(self, model: RNN, vocab: Vocab) -> None:
        self.model = model
        self.vocab = vocab
        self.h = model.zero_state()  # (L, S*H): h, and for the LSTM c after it
        self.logits = np.zeros(model.cfg.vocab_size, model.dtype)  # (V,) before any input: uniform
        # (L, G*H) the gates of the last token read (gated cells; kept only when asked for)
        self.gates = np.zeros((model.cfg.layers, model.gate_width), model.dtype) if model.gate_width else None

    def feed(self, ids, gates: bool = False) -> None:
        """Advance the memory through token ids; afterwards ``logits`` predict the next one.
        ``gates``: also leave the last token's gate activations in ``self.gates``."""
        for i in ids:
            self.model.step(int(i), self.h, self.logits, self.gates if gates else None)

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
        self, n: int, rng: np.random.Generator, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0
    ) -> Iterator[int]:
        """Yield ``n`` sampled token ids, feeding each back in. Never ``<unk>`` (``writable``)."""
        for _ in range(n):
            tid = pick(writable(self.logits, self.vocab), rng, temperature, top_k, top_p)
            self.model.step(tid, self.h, self.logits)
            yield tid


def sample_need(vocab: Vocab, length: int) -> Need:
    """The memory ``sample_text`` takes for ``length`` tokens: each id in a list (a pointer and an
    int object), its string in the decoded pieces, and the text (up to 4 bytes a character, twice
    while it is joined), at this vocabulary's mean token length plus a space."""
    chars = sum(map(len, vocab.tokens)) / len(vocab) + (vocab.level == "word")
    return Need({"sampled text": int(length * (48 + 8 * chars))})


def sample_text(model: RNN, vocab: Vocab, *, length: int, prime: str = "", temperature: float = 1.0,
                top_k: int = 0, top_p: float = 1.0, seed: int | None = None,
                stop: str | None = None) -> str:  # fmt: skip
    """The prime followed by ``length`` sampled tokens, cut after ``stop`` if it appears."""
    if length < 0:
        raise ValueError(f"length must be >= 0 (got {length})")
    gen = Generator(model, vocab)
    primed = gen.prime(prime)
    rng = np.random.default_rng(seed)
    joiner = WordJoiner() if vocab.level == "word" else None

    def piece(tid: int) -> str:
        return joiner.add(vocab.tokens[tid]) if joiner is not None else vocab.tokens[tid]

    parts = [piece(t) for t in primed] if prime else []
    total = sum(map(len, parts))
    tail = ""  # the last len(stop) - 1 characters generated: where a stop string may begin
    for tid in gen.sample(length, rng, temperature, top_k, top_p):
        new = piece(tid)
        parts.append(new)
        if stop:  # only the newest piece and the tail before it: time linear in the length
            window = tail + new
            at = window.find(stop)
            if at >= 0:
                return "".join(parts)[: total - len(tail) + at + len(stop)]
            tail = window[-(len(stop) - 1) :] if len(stop) > 1 else ""
        total += len(new)
    return "".join(parts)


# -- the playground's core: autocomplete and a traced text --------------------------------------


BEAM_WIDTH = 4  # hypotheses the autocomplete's beam keeps
MAX_WORD = 20  # the longest word the beam proposes (characters)


def word_ends(vocab: Vocab) -> np.ndarray:
    """(V,) bool: the tokens that end a word (a space, punctuation, a newline: anything but a letter
    or digit)."""
    return np.array([not t.isalnum() for t in vocab.tokens])


@dataclass
class Word:
    """A way to finish the word being typed."""

    ids: list[int]  # its remaining letters (token ids), maybe none
    score: float  # log P(these letters, then a word end | the memory before them), nats
    h: np.ndarray  # (L, S*H) the state after the letters
    logits: np.ndarray  # (V,) what the model expects next (a word end)


def finish_word(model: RNN, h: np.ndarray, logits: np.ndarray, ends: np.ndarray, width: int = BEAM_WIDTH,
                max_len: int = MAX_WORD) -> Word:  # fmt: skip
    """The likeliest end of the word being typed, by a beam search over its letters.

    A word's score is its total log-probability: each letter's, plus that of the word ending there
    (the summed probability of every token in ``ends``). That is log P(word), so words of different
    lengths compete fairly, "the" against "thereby", without any length normalisation (which would
    favour long words); and as a score only falls when letters are added, a hypothesis already
    below the best finished word can be dropped without changing the answer.

    Each step the beam keeps the ``width`` likeliest letter extensions of its hypotheses; every
    hypothesis may also end where it stands, which costs no slot (a finished word needs no further
    steps), so the best of all those endings is the answer. Width 1 follows the likeliest letter
    each time and stops where the word is likeliest: never worse than the character-by-character
    greedy word (the likeliest token each time, until a non-letter is likeliest), which lies on the
    same path. A wider beam starts from the width-1 answer and searches for a better one.
    ``h`` (L, S*H) and ``logits`` (V,), the state after the text typed so far, are not changed.
    Words stop at ``max_len`` letters.
    """
    return finish_words(model, h, logits, ends, width, max_len, 1)[0]


def finish_words(model: RNN, h: np.ndarray, logits: np.ndarray, ends: np.ndarray, width: int = BEAM_WIDTH,
                 max_len: int = MAX_WORD, n: int = 1) -> list[Word]:  # fmt: skip
    """The ``n`` likeliest ends of the word being typed that the beam finds (``finish_word`` is
    n = 1), best first, each a different word: the beam keeps the n best endings it meets and drops a
    hypothesis once it falls below the n-th of them."""
    if ends.all() or not ends.any():  # nothing continues a word, or nothing ends one
        return [Word([], 0.0, h.copy(), logits.copy())]
    found = _beam(model, h, logits, ends, 1, max_len, [], n)
    if width > 1:
        found = _beam(model, h, logits, ends, width, max_len, found, n)
    return found


def _beam(model, h, logits, ends, width, max_len, found: list[Word], n: int) -> list[Word]:
    """One beam search of ``width``; returns the ``n`` best words among those it finished and those
    ``found`` before (best first; a tie keeps the one found first).

    K = live hypotheses (at most ``width``), W = letters (the tokens that continue a word).
    """
    letters = np.flatnonzero(~ends)  # (W,)
    hs = np.ascontiguousarray(h[:, None, :])  # (L, K, S*H) the live hypotheses' states; K = 1
    z = logits[None, :]  # (K, V) their next-token logits
    scores = np.zeros(1)  # (K,) log P(letters so far)
    words: list[list[int]] = [[]]
    found = list(found)
    for length in range(max_len + 1):
        # 1) log-softmax of each hypothesis' next token, in float64: (K, V)
        z64 = z.astype(np.float64)
        e = np.exp(z64 - z64.max(1, keepdims=True))
        log_total = np.log(e.sum(1))  # (K,)
        # 2) each hypothesis ends here: the best of those endings may be among the answers
        end = scores + np.log(e[:, ends].sum(1)) - log_total  # (K,)
        for i in np.argsort(-end, kind="stable"):
            bar = found[n - 1].score if len(found) >= n else -np.inf
            if end[i] <= bar:
                break
            # the same word again (the wide pass meets the narrow pass's answer): the better scored
            if any(w.ids == words[i] and w.score >= end[i] for w in found):
                continue
            found = [w for w in found if w.ids != words[i]]
            found.append(Word(words[i], float(end[i]), hs[:, i].copy(), z[i].copy()))
            found.sort(key=lambda w: -w.score)  # stable: of equal scores the earlier stays first
            del found[n:]
        if length == max_len:
            break
        # 3) or goes on by a letter: the `width` likeliest of the K * W, if they can still beat the n-th
        bar = found[n - 1].score if len(found) >= n else -np.inf
        ext = (scores - log_total)[:, None] + np.log(e[:, letters])  # (K, W)
        flat = ext.ravel()
        top = np.argpartition(-flat, width - 1)[:width] if flat.size > width else np.arange(flat.size)
        top = top[flat[top] > bar]  # adding letters only lowers a score
        if not len(top):
            break
        rows, cols = np.divmod(top, len(letters))
        tokens = letters[cols]
        scores = flat[top]
        words = [words[r] + [int(t)] for r, t in zip(rows, tokens, strict=True)]
        hs = hs[:, rows]  # (L, K, S*H) a copy: each survivor starts from its parent's state
        z = model.step_batch(tokens, hs)  # all K advanced in one (K, S*H) step
    return found


def complete(gen: Generator, max_chars: int = 40, extra_words: int = 2, partial: str = "",
             space: bool = True, width: int = BEAM_WIDTH) -> str:  # fmt: skip
    """What the model expects after what ``gen`` has read: the end of the current word and
    ``extra_words`` words beyond, stopping before a newline or after ``max_chars`` characters.

    Char level: the current word is finished by a beam search of ``width`` (``finish_word``: the
    likeliest whole word, not the likeliest next letter); then the likeliest word-ending token, and
    the words after it greedily, one likeliest token at a time. Width 1 is greedy throughout.
    Word level reads whole words, so the word being typed (``partial``) is finished with the
    likeliest vocabulary word that starts with it: one token, so that is already the exact best and
    a beam adds nothing; ``space`` says whether a space must come before a new word. The extra
    words are greedy. Works on a copy of the memory: ``gen`` is left exactly as it was.
    """
    model, vocab = gen.model, gen.vocab
    h, logits = gen.h.copy(), gen.logits.copy()
    if vocab.level == "word":
        words: list[str] = []
        while len(words) <= extra_words:
            if partial and not words:
                fits = [i for i, t in enumerate(vocab.tokens) if t.startswith(partial) and t != UNK]
                if not fits:
                    return ""
                tid = max(fits, key=lambda i: logits[i])
            else:
                tid = int(np.argmax(writable(logits, vocab)))
            token = vocab.tokens[tid]
            if token == "\n":
                break
            words.append(token)
            model.step(tid, h, logits)
        text = join_words(words)
        if partial:
            text = text[len(partial) :]
        elif text and space and text[0] not in NO_SPACE_BEFORE:
            text = " " + text
        return text[:max_chars]
    # 1) the current word, by the beam, and the likeliest token that ends it
    ends = word_ends(vocab)
    word = finish_word(model, h, logits, ends, width, min(max_chars, MAX_WORD))
    out = [vocab.tokens[i] for i in word.ids]
    h, logits = word.h, word.logits
    forced = int(np.argmax(np.where(ends, logits, -np.inf))) if ends.any() else None
    # 2) then greedily
    spaces = 0  # word boundaries passed, counting only spaces after something was written
    while len(out) < max_chars:
        tid = forced if forced is not None else int(np.argmax(logits))
        forced = None
        char = vocab.tokens[tid]
        if char == "\n":
            break
        if char.isspace() and any(not c.isspace() for c in out):
            spaces += 1
            if spaces > extra_words:
                break
        out.append(char)
        model.step(tid, h, logits)
    return "".join(out)


def next_word(suggestion: str) -> str:
    """The first word of a suggestion with the spaces before it: what the Tab key accepts."""
    match = re.match(r"\s*\S+", suggestion)
    return match.group(0) if match else suggestion


def surprise_bits(logits: np.ndarray, token: int) -> float:
    """-log2 p(token): how many bits of surprise the model had in store for ``token``."""
    z = np.asarray(logits, np.float64)
    m = z.max()
    log_z = m + np.log(np.exp(z - m).sum())
    return float((log_z - z[token]) / np.log(2))


class Trace:
    """A text read by the model one token at a time, remembering what it felt at each token: its
    memory just after reading it (L, H) and its surprise (bits) just before.

    ``set_text`` re-reads only what changed at the end, so each keystroke costs one model step.
    ``spans[i]`` is where token ``i`` sits in the text (characters the vocabulary lacks are skipped;
    at word level the word being typed is not read until it is finished).
    The model starts from a newline, as at the start of a paragraph, when the vocabulary has one.
    """

    def __init__(self, model: RNN, vocab: Vocab) -> None:
        self.gen = Generator(model, vocab)
        nl = vocab.id_of("\n")
        if nl is not None:
            self.gen.feed([nl])
        self._h0, self._logits0 = self.gen.h.copy(), self.gen.logits.copy()
        self.text = ""
        self.partial = ""  # word level: the word being typed, not read yet
        self.ids: list[int] = []
        self.spans: list[tuple[int, int]] = []
        self.bits: list[float] = []
        self._states: list[np.ndarray] = []  # (L, S*H) after each token
        self._gates: list[np.ndarray] = []  # (L, G, H) the gates while reading each token (gated cells)

    def __len__(self) -> int:
        return len(self.ids)

    def tokenize(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids of ``text`` and their (start, end) character spans."""
        vocab = self.gen.vocab
        if vocab.level == "char":
            pairs = [(vocab.id_of(c), (i, i + 1)) for i, c in enumerate(text)]
        else:
            source = text.lower() if vocab.lowercase else text
            unk = vocab.unk_id
            pairs = []
            for m in WORD_RE.finditer(source):
                if m.end() == len(source) and m.group(0)[-1:].isalnum():
                    break  # a word still being typed
                tid = vocab.id_of(m.group(0))
                pairs.append((tid if tid is not None else unk, m.span()))
        pairs = [(tid, span) for tid, span in pairs if tid is not None]
        return [int(t) for t, _ in pairs], [s for _, s in pairs]

    def set_text(self, text: str) -> int:
        """Make the trace read ``text``; returns how many tokens were (re)read."""
        if text == self.text:
            return 0
        ids, spans = self.tokenize(text)
        keep = 0
        for a, b, sa, sb in zip(self.ids, ids, self.spans, spans, strict=False):
            if a != b or sa != sb:
                break
            keep += 1
        self._truncate(keep)
        gen = self.gen
        for tid, span in zip(ids[keep:], spans[keep:], strict=True):
            self.bits.append(surprise_bits(gen.logits, tid))
            gen.feed([tid], gates=gen.gates is not None)
            self.ids.append(tid)
            self.spans.append(span)
            self._states.append(gen.h.copy())
            if gen.gates is not None:
                self._gates.append(gen.model.cell.gate_values(gen.gates))
        self.text = text
        self.partial = ""
        if self.gen.vocab.level == "word":
            end = spans[-1][1] if spans else 0
            tail = text[end:]
            self.partial = "" if not tail or tail[-1].isspace() else tail.split()[-1]
            if self.gen.vocab.lowercase:
                self.partial = self.partial.lower()
        return len(ids) - keep

    def suggestion(self, max_chars: int = 40, extra_words: int = 2, width: int = BEAM_WIDTH) -> str:
        """The ghost text after the text read so far (see ``complete``)."""
        space = bool(self.text) and not self.text[-1].isspace()
        return complete(self.gen, max_chars, extra_words, partial=self.partial, space=space, width=width)

    def _truncate(self, n: int) -> None:
        if n == len(self.ids):
            return
        gen = self.gen
        if n == 0:
            gen.h[:], gen.logits[:] = self._h0, self._logits0
        else:  # the memory after token n-1 is stored; its logits come from re-reading that token
            gen.h[:] = self._states[n - 2] if n >= 2 else self._h0
            gen.feed([self.ids[n - 1]])
        del self.ids[n:], self.spans[n:], self.bits[n:], self._states[n:], self._gates[n:]

    def activations(self, layer: int = 0, last: int | None = None, cell_state: bool = False) -> np.ndarray:
        """The memory h of ``layer`` after each of the ``last`` tokens (all by default): (N, H).
        ``cell_state``: the LSTM's cell state c instead."""
        states = self._states if last is None else self._states[max(0, len(self._states) - last) :]
        H = self.gen.model.cfg.hidden
        if not states:
            return np.zeros((0, H), self.gen.h.dtype)
        part = slice(H, 2 * H) if cell_state else slice(0, H)
        return np.stack([s[layer, part] for s in states])

    def gate_activations(self, layer: int = 0, last: int | None = None) -> np.ndarray:
        """The gates of ``layer`` while reading each of the ``last`` tokens: (N, G, H), G = the
        cell's GATES (none for the vanilla cell), each 0..1."""
        gates = self._gates if last is None else self._gates[max(0, len(self._gates) - last) :]
        model = self.gen.model
        if not gates:
            n = 0 if model.cell.GATES else min(len(self), len(self) if last is None else last)
            return np.zeros((n, len(model.cell.GATES), model.cfg.hidden), self.gen.h.dtype)
        return np.stack([g[layer] for g in gates])

    def continuation(
        self, n: int, rng: np.random.Generator, temperature: float = 1.0, top_p: float = 1.0
    ) -> str:
        """``n`` tokens sampled after the text at ``temperature`` (from the nucleus of mass ``top_p``),
        decoded (the trace is unchanged)."""
        gen = Generator(self.gen.model, self.gen.vocab)
        gen.h[:], gen.logits[:] = self.gen.h, self.gen.logits
        ids = list(gen.sample(n, rng, temperature, top_p=top_p))
        text = self.gen.vocab.decode(ids)
        if self.gen.vocab.level == "word" and text and self.text and not self.text[-1].isspace():
            text = " " + text
        return text


def salient_units(acts: np.ndarray, n: int, keep: int | None = None) -> np.ndarray:
    """The ``n`` hidden units that vary most over ``acts`` (N, H), in index order, always
    including unit ``keep``; all units when they fit; the first ``n`` when there is no text yet."""
    H = acts.shape[1]
    if n >= H:
        return np.arange(H)
    n = max(n, 1)
    score = acts.var(axis=0) if len(acts) > 1 else np.abs(acts).sum(axis=0)
    order = np.argsort(-score, kind="stable")
    chosen = list(order[:n])
    if keep is not None and keep not in chosen:
        chosen[-1] = keep
    return np.sort(np.asarray(chosen, dtype=np.int64))
