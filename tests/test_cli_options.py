"""Every CLI option reaches the code it names: each one changes the output exactly as calling the
library with that argument does (table-driven), and the numbers ``eval`` prints are recomputed here
from the checkpoint's arrays alone."""

import json
import math
import re

import numpy as np
import pytest
from click.testing import CliRunner

from rnntui import checkpoint
from rnntui.cli import main
from rnntui.corpus import Vocab
from rnntui.generate import sample_text
from rnntui.train import TrainConfig, Trainer

# mixed case and word frequencies from 1 to 80, so the word-level options each change the vocabulary
TEXT = ("The cat sat on the mat. The dog sat on a log!\n" * 40 + "A Zebra ran, the Cat hid.\n" * 3
        + "the owl flew once\n")  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def char_ckpt(corpus, tmp_path_factory):
    """A 2-layer char model, trained a little (its samples are no longer uniform)."""
    run = tmp_path_factory.mktemp("char")
    cfg = TrainConfig(hidden=24, embed=8, layers=2, seq=16, batch=4, steps=60, eval_every=30, lr=5e-3)
    Trainer.start(corpus, cfg, run).run()
    return run / "latest.npz"


@pytest.fixture(scope="module")
def word_ckpt(corpus, tmp_path_factory):
    run = tmp_path_factory.mktemp("word")
    cfg = TrainConfig(level="word", hidden=16, embed=8, seq=8, batch=2, steps=20, eval_every=10)
    Trainer.start(corpus, cfg, run).run()
    return run / "latest.npz"


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


# -- sample -------------------------------------------------------------------------------------------

DEFAULT_SAMPLE = dict(length=500, prime="", temperature=0.8, top_k=0, stop=None)
SAMPLE_ROWS = [  # (options, the library arguments they stand for); every row adds --seed 3
    (["--length", "40"], dict(length=40)),
    (["--temperature", "1.7"], dict(temperature=1.7)),
    (["-t", "0"], dict(temperature=0.0)),
    (["--top-k", "2"], dict(top_k=2)),
    (["--prime", "The dog"], dict(prime="The dog")),
    (["--stop", "."], dict(stop=".")),
    (["--seed", "4"], dict(seed=4)),
]


@pytest.mark.parametrize(
    "options,kwargs", SAMPLE_ROWS, ids=lambda r: " ".join(r) if isinstance(r, list) else ""
)
def test_sample_options(char_ckpt, options, kwargs):
    ckpt = checkpoint.load(char_ckpt)
    args = {**DEFAULT_SAMPLE, "seed": 3, **kwargs}
    got = cli("sample", char_ckpt, "--seed", "3", *options)
    assert got == sample_text(ckpt.model, ckpt.vocab, **args) + "\n"
    assert got != sample_text(ckpt.model, ckpt.vocab, **{**DEFAULT_SAMPLE, "seed": 3}) + "\n"


def test_sample_prime_file_is_the_prime(char_ckpt, tmp_path):
    ckpt = checkpoint.load(char_ckpt)
    (tmp_path / "p.txt").write_text("The cat", encoding="utf-8")
    got = cli("sample", char_ckpt, "--seed", "5", "--length", "30", "--prime-file", tmp_path / "p.txt")
    assert (
        got == sample_text(ckpt.model, ckpt.vocab, length=30, prime="The cat", temperature=0.8, seed=5) + "\n"
    )
    assert got.startswith("The cat")


# -- eval: every printed number from the checkpoint's arrays --------------------------------------------


def reference_mean_loss(npz_path, ids: np.ndarray) -> float:
    """Mean next-token loss (nats) of ids read as one sequence from a zero memory, in float64 from the
    .npz arrays alone (the textbook model, no rnntui code)."""
    with np.load(npz_path, allow_pickle=False) as f:
        p = {k.removeprefix("param/"): f[k].astype(np.float64) for k in f.files if k.startswith("param/")}
        meta = json.loads(bytes(f["meta"]).decode())
    L = meta["model"]["layers"]
    h = [np.zeros(meta["model"]["hidden"]) for _ in range(L)]
    total = 0.0
    for t in range(len(ids) - 1):
        x = p["embed"][ids[t]]
        for layer in range(L):
            h[layer] = np.tanh(x @ p[f"Wxh{layer}"] + h[layer] @ p[f"Whh{layer}"] + p[f"bh{layer}"])
            x = h[layer]
        z = x @ p["Why"] + p["by"]
        total += np.log(np.exp(z - z.max()).sum()) + z.max() - z[ids[t + 1]]
    return total / (len(ids) - 1)


def printed_numbers(line: str) -> dict[str, float]:
    found = {
        "predictions": r"([\d,]+) predictions",
        "loss": r"loss ([\d.]+) nats/",
        "bits": r"([\d.]+) bits/(?:char|token) ",
        "perplexity": r"perplexity ([\d.]+)",
        "bits_per_char": r"([\d.]+) bits/char$",
    }
    out = {}
    for key, pattern in found.items():
        m = re.search(pattern, line.strip())
        if m:
            out[key] = float(m.group(1).replace(",", ""))
    return out


def test_eval_prints_loss_bits_and_perplexity_of_the_checkpoint(char_ckpt, tmp_path):
    text = "The owl sat on the cat. A dog ran!\n"
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    line = cli("eval", char_ckpt, tmp_path / "t.txt")
    tokens = json.loads(bytes(np.load(char_ckpt, allow_pickle=False)["meta"]).decode())["vocab"]["tokens"]
    ids = np.array([tokens.index(c) for c in text])  # char level: token i is character tokens[i]
    nats = reference_mean_loss(char_ckpt, ids)
    got = printed_numbers(line)
    assert "nats/char" in line and "bits/char" in line
    assert got["predictions"] == len(text) - 1
    assert got["loss"] == pytest.approx(nats, abs=5e-5 + 1e-5 * nats)  # printed to 4 decimals
    assert got["bits"] == pytest.approx(nats / math.log(2), abs=5e-5 + 1e-5 * nats)
    assert got["perplexity"] == pytest.approx(math.exp(nats), abs=5e-3 + 1e-5 * math.exp(nats))


def test_eval_word_level_also_prints_bits_per_character(word_ckpt, tmp_path):
    text = "The cat sat on the log. The owl ran!\n"
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    line = cli("eval", word_ckpt, tmp_path / "t.txt")
    meta = json.loads(bytes(np.load(word_ckpt, allow_pickle=False)["meta"]).decode())
    vocab = Vocab(tokens=meta["vocab"]["tokens"], level="word", lowercase=meta["vocab"]["lowercase"])
    ids = vocab.encode(text)  # the tokenising is corpus.py's (tested there); the numbers are checked here
    nats = reference_mean_loss(word_ckpt, ids)
    got = printed_numbers(line)
    assert "nats/token" in line
    assert got["predictions"] == len(ids) - 1
    assert got["loss"] == pytest.approx(nats, abs=5e-5 + 1e-5 * nats)
    assert got["bits"] == pytest.approx(nats / math.log(2), abs=5e-5 + 1e-5 * nats)
    assert got["perplexity"] == pytest.approx(math.exp(nats), abs=5e-3 + 1e-5 * math.exp(nats))
    bpc = nats / math.log(2) * (len(ids) - 1) / len(text)
    assert got["bits_per_char"] == pytest.approx(bpc, abs=5e-5 + 1e-5 * bpc)


# -- train --------------------------------------------------------------------------------------------

TRAIN_BASE = [
    "--hidden",
    "12",
    "--embed",
    "4",
    "--seq",
    "8",
    "--batch",
    "2",
    "--steps",
    "6",
    "--eval-every",
    "3",
]
LIB_BASE = dict(hidden=12, embed=4, seq=8, batch=2, steps=6, eval_every=3, save_every=500)
TRAIN_ROWS = [  # (options, the TrainConfig fields they stand for)
    (["--level", "word"], dict(level="word")),
    (["--level", "word", "--lowercase"], dict(level="word", lowercase=True)),
    (["--level", "word", "--min-count", "4"], dict(level="word", min_count=4)),
    (["--level", "word", "--max-vocab", "6"], dict(level="word", max_vocab=6)),
    (["--val-frac", "0.2"], dict(val_frac=0.2)),
    (["--embed", "6"], dict(embed=6)),
    (["--hidden", "10"], dict(hidden=10)),
    (["--layers", "2"], dict(layers=2)),
    (["--seq", "5"], dict(seq=5)),
    (["--batch", "3"], dict(batch=3)),
    (["--optimizer", "adagrad"], dict(optimizer="adagrad")),
    (["--optimizer", "sgd"], dict(optimizer="sgd")),
    (["--lr", "0.01"], dict(lr=0.01)),
    (["--lr", "0.01", "--lr-decay", "0.5", "--decay-every", "2"], dict(lr=0.01, lr_decay=0.5, decay_every=2)),
    (["--clip", "0.1"], dict(clip=0.1)),
    (["--steps", "4"], dict(steps=4)),
    (["--eval-every", "2"], dict(eval_every=2)),
    (["--seed", "9"], dict(seed=9)),
]


def outcome(path):
    """What a training run leaves that a person can see: weights, vocabulary, losses, step."""
    ckpt = checkpoint.load(path)
    return (ckpt.model.flat, ckpt.vocab.tokens, ckpt.train_history, ckpt.val_history, ckpt.meta["step"])


def same(a, b) -> bool:
    return all(
        np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y for x, y in zip(a, b, strict=True)
    )


@pytest.fixture(scope="module")
def default_run(corpus, tmp_path_factory):
    run = tmp_path_factory.mktemp("default")
    Trainer.start(corpus, TrainConfig(**LIB_BASE), run).run()
    return outcome(run / "latest.npz")


@pytest.mark.parametrize(
    "options,fields", TRAIN_ROWS, ids=lambda r: " ".join(r) if isinstance(r, list) else ""
)
def test_train_options(corpus, tmp_path, default_run, options, fields):
    cli("train", corpus, "--no-tui", "--out", tmp_path, "--name", "cli", *TRAIN_BASE, *options)
    Trainer.start(corpus, TrainConfig(**{**LIB_BASE, **fields}), tmp_path / "lib").run()
    got = outcome(tmp_path / "cli" / "latest.npz")
    assert same(got, outcome(tmp_path / "lib" / "latest.npz"))
    assert not same(got, default_run)
    saved = checkpoint.load(tmp_path / "cli" / "latest.npz").meta["train"]
    assert {k: saved[k] for k in fields} == fields


def test_train_save_every_and_minutes_reach_the_config(corpus, tmp_path):
    cli("train", corpus, "--no-tui", "--out", tmp_path, "--name", "a", *TRAIN_BASE, "--save-every", "2")
    saved = checkpoint.load(tmp_path / "a" / "latest.npz").meta["train"]
    assert saved["save_every"] == 2 and saved["minutes"] is None
    cli("train", corpus, "--no-tui", "--out", tmp_path, "--name", "b", *TRAIN_BASE[:-4], "--minutes", "0.002")
    saved = checkpoint.load(tmp_path / "b" / "latest.npz").meta
    assert saved["train"]["minutes"] == 0.002 and saved["train"]["steps"] is None


def test_train_resume_with_steps_is_the_library_resume(corpus, tmp_path):
    cli("train", corpus, "--no-tui", "--out", tmp_path, "--name", "cli", *TRAIN_BASE)
    Trainer.start(corpus, TrainConfig(**LIB_BASE), tmp_path / "lib").run()
    cli("train", "--resume", tmp_path / "cli" / "latest.npz", "--no-tui", "--steps", "9", "--eval-every", "2")
    Trainer.resume(tmp_path / "lib" / "latest.npz", steps=9, eval_every=2).run()
    got = outcome(tmp_path / "cli" / "latest.npz")
    assert got[-1] == 9 and same(got, outcome(tmp_path / "lib" / "latest.npz"))
