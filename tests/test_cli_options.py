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
    line = cli("eval", word_ckpt, tmp_path / "t.txt").splitlines()[0]  # (the n-gram baseline follows)
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
    (
        ["--lr", "0.01", "--schedule", "step", "--lr-decay", "0.5", "--decay-every", "2"],
        dict(lr=0.01, schedule="step", lr_decay=0.5, decay_every=2),
    ),
    (["--clip", "0.1"], dict(clip=0.1)),
    (["--dropout", "0.5"], dict(dropout=0.5)),
    (["--layers", "2", "--dropout", "0.2"], dict(layers=2, dropout=0.2)),
    (["--weight-decay", "0.5"], dict(weight_decay=0.5)),
    (["--schedule", "constant"], dict(schedule="constant")),  # the cosine is the default
    (["--lr-decay", "0.5", "--decay-every", "2"], dict(schedule="step", lr_decay=0.5, decay_every=2)),
    (["--warmup", "3"], dict(warmup=3)),
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


# -- inspect: each option's printed numbers are the library's with that argument ------------------------


RANKED = r"\s+\d+  \S"  # a ranked answer line: "   1  e                +0.934"


def ranked(vocab, ids, cosines) -> list:
    """The ranked lines neighbours and analogy print, and how many there must be."""
    from rnntui.inspect import display_token

    rows = [
        f"{r:>4}  {display_token(vocab.tokens[i]):<16} {c:+.3f}"
        for r, (i, c) in enumerate(zip(ids, cosines, strict=True), 1)
    ]
    return [*rows, (RANKED, len(rows))]


def expect_neighbours(ckpt, word="e", n=10, which="input"):
    from rnntui.inspect import neighbours, token_id, token_vectors

    ids, cos = neighbours(token_vectors(ckpt.model.params, which), token_id(ckpt.vocab, word), n)
    return ranked(ckpt.vocab, ids, cos)


def expect_analogy(ckpt, n=5, which="input"):
    from rnntui.inspect import analogy, display_token, token_id, token_vectors

    ids = [token_id(ckpt.vocab, w) for w in "tac"]
    names = [display_token(ckpt.vocab.tokens[i]) for i in ids]
    vectors = token_vectors(ckpt.model.params, which)
    result = analogy(vectors, *ids, n=n, rng=np.random.default_rng(0), names=names)
    return [*ranked(ckpt.vocab, result.ids, result.cosines), result.verdict]


def source_ids(ckpt, text_file, max_tokens):
    from rnntui.corpus import read_text
    from rnntui.inspect import training_corpus_ids

    ids = training_corpus_ids(ckpt)[1] if text_file is None else ckpt.vocab.encode(read_text(text_file))
    return ids[:max_tokens]


def expect_unit(ckpt, unit=3, layer=None, text_file=None, n=5, max_tokens=60_000):
    from rnntui.inspect import hidden_trace, preactivations, top_contexts

    ids = source_ids(ckpt, text_file, max_tokens)
    layer = ckpt.model.cfg.layers - 1 if layer is None else layer
    hs = hidden_trace(ckpt.model.params, ids)
    drive = preactivations(ckpt.model.params, ids, hs)[:, layer, unit]
    top, bottom = top_contexts(drive, n, gap=30)
    lines = [f"  h {hs[t, layer, unit]:+.3f}  a {drive[t]:+6.1f}  " for t in (*top, *bottom)]
    return [f"unit {unit} of layer {layer} on ", f"({len(ids):,} tokens)", *lines, (r"  h [+-]", len(lines))]


def expect_memory(ckpt, text="The cat sat on the mat", k=40, spectral=False):
    from rnntui.inspect import fading_memory

    norm = "spectral" if spectral else "fro"
    fm = fading_memory(ckpt.model.params, ckpt.vocab.encode(text), K=k, norm=norm)
    curve_line = r"\s*\d+ .* \d\.\d{3}e[+-]\d\d "
    return [*(f" {v:10.3e} " for v in fm.norms), (curve_line, len(fm.norms))]


def expect_pca(ckpt, n=40, width=100, height=30, which="input"):
    from rnntui.inspect import pca, token_vectors, training_corpus_ids

    counts = np.bincount(training_corpus_ids(ckpt)[0], minlength=len(ckpt.vocab))
    order = [int(i) for i in np.argsort(-counts, kind="stable")][:n]
    _, _, explained = pca(np.asarray(token_vectors(ckpt.model.params, which)[order], np.float64), 2)
    head = f"PCA of the {which} vectors of the {len(order)} most frequent tokens"
    frame = ["┌" + "─" * width + "┐", "└" + "─" * width + "┘", ("│", height)]
    return [head, f"explain {explained[0]:.0%} and {explained[1]:.0%}", *frame]


def expect_health(ckpt, text_file=None, max_tokens=60_000, bins=20):
    from rnntui.inspect import activation_histogram, hidden_trace

    hs = hidden_trace(ckpt.model.params, source_ids(ckpt, text_file, max_tokens))
    counts, edges, sat = activation_histogram(hs, bins)
    rows = [
        f"  {edges[b]:+.1f}..{edges[b + 1]:+.1f} {c / row.sum():6.1%} "
        for row in counts
        for b, c in enumerate(row)
    ]
    return [*(f"{sat[layer]:.1%} with |h|" for layer in range(len(counts))), *rows]


def expect_softmax(ckpt, text="The cat", temperature=1.0, n=10):
    from rnntui.inspect import hidden_trace, softmax_geometry

    h = hidden_trace(ckpt.model.params, ckpt.vocab.encode(text))[-1, -1]
    g = softmax_geometry(ckpt.model.params, h, temperature, n)
    rows = [f" {g.probs[j]:8.1%} {g.probs_at_1[j]:8.1%}" for j in range(len(g.ids))]
    entropy = f"entropy: {g.entropy:.2f} bits at temperature {temperature:g}"
    return [*rows, entropy, (r".*%\s+[\d.]+%$", len(rows))]


def expect_sentences(ckpt, lines, layer=None):
    from rnntui.inspect import sentence_map, sentence_vectors

    vecs = sentence_vectors(ckpt.model.params, [ckpt.vocab.encode(s) for s in lines])
    vecs = vecs[:, layer] if layer is not None else vecs.reshape(len(lines), -1)
    cos, _, explained = sentence_map(vecs)
    return ["".join(f"{c:6.2f}" for c in row) for row in cos] + [f"explain {explained[0]:.0%}"]


SENTENCES = ["The cat sat on the mat.", "The dog sat on a log!", "A Zebra ran, the Cat hid."]
INSPECT_ROWS = [  # (command and options, the expected-output function and its arguments)
    (["neighbours", "e", "-n", "3"], expect_neighbours, dict(n=3)),
    (["neighbours", "e", "--vectors", "output"], expect_neighbours, dict(which="output")),
    (["neighbours", "e", "--vectors", "projected"], expect_neighbours, dict(which="projected")),
    (["analogy", "t", "a", "c", "-n", "2"], expect_analogy, dict(n=2)),
    (["analogy", "t", "a", "c", "--vectors", "output"], expect_analogy, dict(which="output")),
    (["unit", "3", "--layer", "0"], expect_unit, dict(layer=0)),
    (["unit", "3", "-n", "2"], expect_unit, dict(n=2)),
    (["unit", "3", "--max-tokens", "40"], expect_unit, dict(max_tokens=40)),
    (["unit", "5"], expect_unit, dict(unit=5)),
    (["unit", "3", "--text", "TEXTFILE"], expect_unit, dict(text_file="TEXTFILE")),
    (["memory", "The cat sat on the mat", "-k", "5"], expect_memory, dict(k=5)),
    (["memory", "The cat sat on the mat", "--spectral"], expect_memory, dict(spectral=True)),
    (["pca", "-n", "6"], expect_pca, dict(n=6)),
    (["pca", "--width", "30"], expect_pca, dict(width=30)),
    (["pca", "--height", "8"], expect_pca, dict(height=8)),
    (["pca", "--vectors", "output"], expect_pca, dict(which="output")),
    (["health", "--bins", "4"], expect_health, dict(bins=4)),
    (["health", "--text", "TEXTFILE"], expect_health, dict(text_file="TEXTFILE")),
    (["health", "--max-tokens", "30"], expect_health, dict(max_tokens=30)),
    (["softmax", "The cat", "-t", "0.5"], expect_softmax, dict(temperature=0.5)),
    (["softmax", "The cat", "-n", "3"], expect_softmax, dict(n=3)),
    (["sentences", "LINESFILE", "--layer", "0"], expect_sentences, dict(layer=0)),
]
DEFAULT_ARGS = {  # each command with its required arguments only
    "neighbours": ["e"], "analogy": ["t", "a", "c"], "unit": ["3"], "memory": ["The cat sat on the mat"],
    "pca": [], "health": [], "softmax": ["The cat"], "sentences": ["LINESFILE"],
}  # fmt: skip


def appears(expected, output: str) -> bool:
    """Every expected piece is in the output: a string, or (line pattern, number of lines it matches)."""
    for piece in expected:
        if isinstance(piece, tuple):
            pattern, count = piece
            if sum(bool(re.match(pattern, ln)) for ln in output.splitlines()) != count:
                return False
        elif piece not in output:
            return False
    return True


@pytest.mark.parametrize(
    "options,expect,kwargs", INSPECT_ROWS, ids=lambda r: " ".join(r) if isinstance(r, list) else ""
)
def test_inspect_options(char_ckpt, tmp_path, options, expect, kwargs):
    files = {"TEXTFILE": tmp_path / "t.txt", "LINESFILE": tmp_path / "lines.txt"}
    files["TEXTFILE"].write_text("The owl flew on the mat. A cat hid!\n" * 3, encoding="utf-8")
    files["LINESFILE"].write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    ckpt = checkpoint.load(char_ckpt)
    command, args = options[0], [str(files.get(a, a)) for a in options[1:]]
    kwargs = {k: files.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}
    extra = {"sentences": dict(lines=SENTENCES)}.get(command, {})
    got = cli("inspect", command, char_ckpt, *args)
    assert appears(expect(ckpt, **extra, **kwargs), got), got
    default = cli("inspect", command, char_ckpt, *[str(files.get(a, a)) for a in DEFAULT_ARGS[command]])
    assert appears(expect(ckpt, **extra), default), default  # the expectation tells the two apart
    assert not appears(expect(ckpt, **extra, **kwargs), default)
