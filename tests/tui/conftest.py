"""Fixtures for the TUI tests: a tiny deterministic model (seeded initialisation, no training, so
the pictures do not move when the kernels are tuned) and a TUI free of timing noise."""

import asyncio
import inspect
from pathlib import Path

import numpy as np
import pytest

from rnntui import checkpoint
from rnntui.checkpoint import Checkpoint
from rnntui.corpus import build_vocab
from rnntui.model import RNN, ModelConfig

TEXT = "The just man is happy, said Socrates; and the unjust man is miserable.\nWhat is justice?\n"


def tiny_model(hidden: int = 24, layers: int = 1, seed: int = 7, level: str = "char", cell: str = "rnn"):
    vocab = build_vocab(TEXT * 3, level)
    cfg = ModelConfig(vocab_size=len(vocab), embed=8, hidden=hidden, layers=layers, cell=cell)
    model = RNN.initialised(cfg, np.random.default_rng(seed))
    model.params["Why"][...] *= 40  # sharper predictions than a fresh init, so the panels show contrast
    return model, vocab


def ckpt_for(tmp_path: Path, level: str, corpus: bool = True) -> Checkpoint:
    """The tiny model (GRU at word level) with its training text TEXT * 12 on disk (unless not
    ``corpus``), 10% held out: what the copies, counting and match lenses read."""
    path = tmp_path / "tiny.txt"
    if corpus:
        path.write_text(TEXT * 12, encoding="utf-8")
    model, vocab = tiny_model(level=level, cell="gru" if level == "word" else "rnn")
    return Checkpoint(model=model, vocab=vocab, meta={"step": 1, "corpus": {"path": str(path)},
                                                      "train": {"val_frac": 0.1}})  # fmt: skip


@pytest.fixture
def tiny_ckpt(tmp_path: Path) -> Path:
    model, vocab = tiny_model()
    return checkpoint.save(Checkpoint(model=model, vocab=vocab, meta={"step": 0}), tmp_path / "tiny.npz")


@pytest.fixture(params=["gru", "lstm"])
def tiny_gated_ckpt(request, tmp_path: Path) -> Path:
    """A tiny GRU or LSTM, two layers."""
    model, vocab = tiny_model(layers=2, cell=request.param)
    return checkpoint.save(Checkpoint(model=model, vocab=vocab, meta={"step": 0}), tmp_path / "gated.npz")


@pytest.fixture
def tiny_ckpt_2layer(tmp_path: Path) -> Path:
    model, vocab = tiny_model(layers=2)
    return checkpoint.save(Checkpoint(model=model, vocab=vocab, meta={"step": 0}), tmp_path / "tiny2.npz")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run ``async def`` tests (Textual's pilot) in a fresh event loop, without a plugin."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None


# -- an independent autocomplete, slow and obvious: the oracle for generate.complete ------------------


def log_softmax(logits) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    return z - z.max() - np.log(np.exp(z - z.max()).sum())


def is_letter(token: str) -> bool:
    return token.isalnum()


def reference_word(model, vocab, h, logits, width: int, max_len: int = 20) -> tuple[list[int], float]:
    """The end of a word by beam search, one hypothesis at a time with ``RNN.step``, without pruning.

    The beam holds ``width`` unfinished hypotheses. Each step every one of them is ended (a word,
    scored by its letters' log-probabilities plus that of the summed non-letters), and the ``width``
    likeliest one-letter extensions of them form the next beam, up to ``max_len`` letters. Returns
    the likeliest word ended (ids, score), or the width-1 one when that is better, as
    ``generate.finish_word`` promises.
    """
    letters = [i for i, t in enumerate(vocab.tokens) if is_letter(t)]
    ends = [i for i, t in enumerate(vocab.tokens) if not is_letter(t)]
    words = []  # (score, ids)
    beam = [(0.0, [], h.copy(), np.array(logits))]  # (score, ids, h, logits)
    for length in range(max_len + 1):
        extended = []
        for score, ids, hh, lg in beam:
            lp = log_softmax(lg)
            words.append((score + np.log(np.exp(lp[ends]).sum()), ids))
            if length < max_len:
                extended += [(score + lp[t], ids + [t], hh) for t in letters]
        extended.sort(key=lambda c: -c[0])
        beam = []
        for score, ids, hh in extended[:width]:
            hh = hh.copy()
            beam.append((score, ids, hh, model.step(ids[-1], hh).copy()))
    score, ids = max(words, key=lambda w: w[0])
    if width > 1:
        ids1, score1 = reference_word(model, vocab, h, logits, 1, max_len)
        if score1 > score:
            return ids1, score1
    return ids, score


def reference_suggestion(model, vocab, text: str, width: int = 4, max_chars: int = 40,
                         extra_words: int = 2) -> str:  # fmt: skip
    """What the playground should propose after ``text`` (read after a newline, as the Trace does):
    the best end of the word, then the likeliest non-letter, then greedy characters up to the end of
    ``extra_words`` more words, a newline, or ``max_chars``."""
    h = model.zero_state()
    logits = np.zeros(model.cfg.vocab_size, model.dtype)
    for tid in vocab.encode("\n" + text):
        logits = model.step(int(tid), h).copy()
    ids, _ = reference_word(model, vocab, h, logits, width, min(max_chars, 20))
    for tid in ids:
        logits = model.step(tid, h).copy()
    out = [vocab.tokens[i] for i in ids]
    tid = max((i for i, t in enumerate(vocab.tokens) if not is_letter(t)), key=lambda i: logits[i])
    while len(out) < max_chars:
        char = vocab.tokens[tid]
        written = "".join(out)
        if char == "\n":
            break
        if char.isspace() and written.strip():  # a space after words: the spaces between them so far
            if sum(c.isspace() for c in written.lstrip()) + 1 > extra_words:
                break
        out.append(char)
        logits = model.step(tid, h).copy()
        tid = int(np.argmax(logits))
    return "".join(out)


def chain_model(vocab, successor: dict[str, str], second: dict[str, str] | None = None, cell: str = "rnn"):
    """A model that is a designed bigram table: after reading token ``a`` it predicts
    ``successor[a]`` with a logit 20 above the rest, and ``second[a]`` (if given) 5 above the rest.

    Embedding one-hot, Wxh = 3 I, Whh = 0, so h = tanh(3 onehot(a)) depends only on the token just
    read; Why maps it to the chosen logits. float64, so nothing is near a tie."""
    V = len(vocab)
    model = RNN(ModelConfig(vocab_size=V, embed=V, hidden=V, cell=cell), dtype=np.float64)
    p = model.params
    for name in p:
        p[name][...] = 0.0
    p["embed"][...] = np.eye(V)
    p["Wxh0"][...] = 3 * np.eye(V)
    for table, size in ((successor, 20.0), (second or {}, 5.0)):
        for a, b in table.items():
            p["Why"][vocab.id_of(a), vocab.id_of(b)] = size / np.tanh(3.0)
    return model
