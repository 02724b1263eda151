"""The command line through click's CliRunner: happy paths, and bad input as one clear line."""

import numpy as np
import pytest
from click.testing import CliRunner

from rnntui.cli import main

TINY = ["--hidden", "16", "--embed", "4", "--seq", "8", "--batch", "2", "--eval-every", "2"]


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def trained(runner, tiny_text, tmp_path):
    result = runner.invoke(
        main, ["train", str(tiny_text), "--no-tui", "--steps", "4", "--out", str(tmp_path), *TINY]
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / "tiny" / "latest.npz"
    assert str(path) in result.stdout
    return path


def one_clear_line(result):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("Error")]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("cmd", [[], ["train"], ["sample"], ["eval"]])
def test_help(runner, cmd):
    result = runner.invoke(main, [*cmd, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_train_sample_eval(runner, trained, tiny_text, tmp_path):
    out = runner.invoke(main, ["sample", str(trained), "--length", "30", "--seed", "1", "--prime", "the"])
    assert out.exit_code == 0 and out.stdout.startswith("the") and len(out.stdout.rstrip("\n")) == 33
    again = runner.invoke(main, ["sample", str(trained), "--length", "30", "--seed", "1", "--prime", "the"])
    assert again.stdout == out.stdout
    scored = runner.invoke(main, ["eval", str(trained), str(tiny_text)])
    assert scored.exit_code == 0 and "nats/char" in scored.stdout and "perplexity" in scored.stdout


def test_word_level_trains_samples_readable_text_and_scores(runner, tiny_text, tmp_path):
    args = [
        "train",
        str(tiny_text),
        "--level",
        "word",
        "--no-tui",
        "--steps",
        "30",
        "--out",
        str(tmp_path),
        *TINY,
    ]
    assert runner.invoke(main, args).exit_code == 0
    ckpt = str(tmp_path / "tiny" / "latest.npz")
    out = runner.invoke(main, ["sample", ckpt, "--length", "60", "--seed", "2", "--prime", "the zebra"])
    assert out.exit_code == 0 and out.stdout.startswith("the <unk>")
    assert " ." not in out.stdout and " ," not in out.stdout
    empty_prime = runner.invoke(main, ["sample", ckpt, "--length", "10", "--seed", "2"])
    assert empty_prime.exit_code == 0 and empty_prime.stdout.strip()
    scored = runner.invoke(main, ["eval", ckpt, str(tiny_text)])
    assert "nats/token" in scored.stdout and "bits/char" in scored.stdout


def test_bom_and_crlf_corpus_trains_like_its_clean_twin(runner, tmp_path):
    clean, messy = tmp_path / "clean.txt", tmp_path / "messy.txt"
    text = "the cat sat on the mat.\nthe dog sat on the log.\n" * 40
    clean.write_text(text)
    messy.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    for path in (clean, messy):
        result = runner.invoke(
            main, ["train", str(path), "--no-tui", "--steps", "3", "--out", str(tmp_path), *TINY]
        )
        assert result.exit_code == 0, result.output
    from rnntui import checkpoint

    a, b = (checkpoint.load(tmp_path / name / "latest.npz") for name in ("clean", "messy"))
    assert a.vocab.tokens == b.vocab.tokens and "\r" not in b.vocab.tokens
    assert (a.model.flat == b.model.flat).all()


def test_resume_continues_and_refuses_to_clobber(runner, trained, tiny_text, tmp_path):
    again = runner.invoke(main, ["train", str(tiny_text), "--no-tui", "--steps", "2", "--out", str(tmp_path)])
    assert "already holds a run" in one_clear_line(again)
    resumed = runner.invoke(main, ["train", "--resume", str(trained), "--steps", "6", "--no-tui"])
    assert resumed.exit_code == 0, resumed.output
    from rnntui import checkpoint

    assert checkpoint.load(trained).meta["step"] == 6


def test_several_files_and_a_folder(runner, tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text("the cat sat on the mat.\n" * 30)
    (folder / "b.txt").write_text("the dog sat on the log.\n" * 30)
    common = ["--no-tui", "--steps", "3", "--out", str(tmp_path / "runs"), *TINY]
    by_folder = runner.invoke(main, ["train", str(folder), *common])
    assert by_folder.exit_code == 0, by_folder.output
    assert (
        "2 files" in by_folder.stderr and str(tmp_path / "runs" / "texts" / "latest.npz") in by_folder.stdout
    )
    by_files = runner.invoke(main, ["train", str(folder / "a.txt"), str(folder / "b.txt"), *common])
    assert by_files.exit_code == 0, by_files.output
    from rnntui import checkpoint

    a, b = (checkpoint.load(tmp_path / "runs" / name / "latest.npz") for name in ("texts", "a"))
    assert a.meta["corpus"] == b.meta["corpus"] and np.array_equal(a.model.flat, b.model.flat)
    resumed = runner.invoke(main, ["train", "--resume", str(tmp_path / "runs" / "a" / "latest.npz"),
                                   "--steps", "4", "--no-tui"])  # fmt: skip
    assert resumed.exit_code == 0, resumed.output


@pytest.mark.parametrize(
    "args,needle",
    [
        (["train", "missing.txt"], "no such file"),
        (["train", "{folder}"], "is a folder with no *.txt files below it"),
        (["train", "{tiny}", "{binary}"], "bin.txt: not valid utf-8"),
        (["train", "{tiny}", "--init-from", "nosuchmodel"], "shipped model (republic, republic-lstm"),
        (["train", "{tiny}", "--init-from", "{ckpt}", "--hidden", "64"], "keeps the shape"),
        (["train", "{tiny}", "--init-from", "{ckpt}", "--resume", "{ckpt}"], "give one of them"),
        (["train", "{tiny}", "--hidden", "0"], "not a positive integer"),
        (["train", "{tiny}", "--seq", "-3"], "not a positive integer"),
        (["train", "{tiny}", "--lr", "abc"], "not a positive number"),
        (["train", "{tiny}", "--val-frac", "0.9"], "--val-frac must be in (0, 0.5]"),
        (["train", "{tiny}", "--dropout", "1"], "--dropout must be in [0, 1)"),
        (["train", "{tiny}", "--dropout", "-0.2"], "--dropout must be in [0, 1)"),
        (["train", "{tiny}", "--dropout", "x"], "'x' is not a valid float"),
        (["train", "{tiny}", "--weight-decay", "-1"], "not a non-negative number"),
        (["train", "{tiny}", "--weight-decay", "1000"], "must be below 1"),
        (["train", "{tiny}", "--schedule", "linear"], "Invalid value for '--schedule'"),
        (["train", "{tiny}", "--schedule", "cosine", "--lr-decay", "0.5"], "--lr-decay is for"),
        (["train", "{tiny}", "--warmup", "-1"], "not a non-negative integer"),
        (["train", "{tiny}", "--batch", "5000"], "too few for --batch"),
        (["train", "{tiny}", "--level", "syllable"], "Invalid value for '--level'"),
        (["train", "{tiny}", "--lr", "0"], "not a positive number"),
        (["train", "{blank}"], "empty"),
        (["train", "{single}"], "only 1 distinct char token"),
        (["train", "{tiny}", "--level", "word", "--max-vocab", "1"], "--max-vocab must be at least 2"),
        (["train"], "give a CORPUS"),
        (["train", "{empty}"], "empty"),
        (["train", "{binary}"], "not valid utf-8"),
        (["sample", "missing.npz"], "no such checkpoint"),
        (["sample", "{ckpt}", "--temperature", "-1"], "not a non-negative number"),
        (["sample", "{ckpt}", "--prime", "zebra"], "never saw"),
        (["sample", "{ckpt}", "--top-k", "-1"], "not a non-negative integer"),
        (["sample", "{ckpt}", "--length", "ten"], "not a non-negative integer"),
        (["sample", "{ckpt}", "--prime", "a", "--prime-file", "{tiny}"], "not both"),
        (["sample", "{tiny}"], "not an rnntui checkpoint"),
        (["eval", "{ckpt}", "missing.txt"], "no such file"),
        (["eval", "{ckpt}", "{empty}"], "empty"),
    ],
)
def test_bad_input_gives_one_clear_line(runner, trained, tiny_text, tmp_path, args, needle):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\xfd")
    blank = tmp_path / "blank.txt"
    blank.write_text("  \n\t\n")
    single = tmp_path / "single.txt"
    single.write_text("a" * 5000)
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "notes.md").write_text("not a .txt")
    subs = {"{tiny}": str(tiny_text), "{ckpt}": str(trained), "{empty}": str(empty), "{binary}": str(binary),
            "{blank}": str(blank), "{single}": str(single), "{folder}": str(folder)}  # fmt: skip
    result = runner.invoke(
        main, [subs.get(a, a) for a in args] + (["--out", str(tmp_path / "o")] if args[0] == "train" else [])
    )
    assert needle in one_clear_line(result)


@pytest.mark.parametrize("level", ["char", "word"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_gated_cells_train_resume_sample_and_score(runner, tiny_text, tmp_path, cell, level):
    """--cell reaches the model: the checkpoint holds that cell, resume continues it, and sample
    and eval read it (eval's loss equals the library's on the same text)."""
    import math

    from rnntui import checkpoint
    from rnntui.corpus import read_text
    from rnntui.train import mean_loss

    args = ["train", str(tiny_text), "--no-tui", "--out", str(tmp_path), "--cell", cell, "--level", level]
    result = runner.invoke(main, [*args, "--steps", "3", "--layers", "2", *TINY])
    assert result.exit_code == 0, result.output
    path = tmp_path / "tiny" / "latest.npz"
    ckpt = checkpoint.load(path)
    assert ckpt.model.cfg.cell == cell and ckpt.model.cfg.layers == 2 and ckpt.meta["step"] == 3
    resumed = runner.invoke(main, ["train", "--resume", str(path), "--no-tui", "--steps", "5"])
    assert resumed.exit_code == 0, resumed.output
    assert checkpoint.load(path).meta["step"] == 5
    out = runner.invoke(main, ["sample", str(path), "--length", "12", "--seed", "2"])
    assert out.exit_code == 0 and out.stdout.strip()
    scored = runner.invoke(main, ["eval", str(path), str(tiny_text)])
    assert scored.exit_code == 0, scored.output
    ckpt = checkpoint.load(path)
    ids = ckpt.vocab.encode(read_text(tiny_text), what="the text")
    want = mean_loss(ckpt.model, ids, 1, 64)
    shown = float(scored.stdout.split("loss")[1].split()[0])
    assert math.isclose(shown, want, abs_tol=6e-5), (shown, want)


@pytest.mark.parametrize("lr", [None, "0.5"])  # 0.5: the validation loss rises once, so one row is no best
def test_no_tui_training_prints_a_header_and_one_row_per_evaluation_from_the_run(
    runner, tiny_text, tmp_path, monkeypatch, lr
):
    """Each row recomputed from the saved run: the validation loss at that step, the mean training
    loss since the last evaluation, both in bits and as perplexities, and * on each new best."""
    import math
    import re

    from rnntui import checkpoint

    monkeypatch.setenv("COLUMNS", "400")  # rich wraps its lines at the terminal's width
    steps = 12 if lr else 6
    args = ["train", str(tiny_text), "--no-tui", "--steps", str(steps), "--out", str(tmp_path), *TINY]
    result = runner.invoke(main, args + (["--lr", lr] if lr else []))
    assert result.exit_code == 0, result.output
    latest = tmp_path / "tiny" / "latest.npz"
    assert result.stdout == f"{latest}\n"
    ckpt = checkpoint.load(latest)
    v, text = len(ckpt.vocab), tiny_text.read_text(encoding="utf-8")
    lines = result.stderr.splitlines()
    header = " ".join(lines[:2])
    counts = re.search(r"([\d,]+) train / ([\d,]+) val tokens", header)
    train, val = (int(c.replace(",", "")) for c in counts.groups())
    assert train + val == len(text) and val == pytest.approx(
        len(text) * ckpt.meta["train"]["val_frac"], abs=1
    )
    assert f"char level · V={v} · {ckpt.model.flat.size:,} parameters" in header
    assert f"uniform guess {math.log(v):.2f} nats" in header
    assert f"checkpoints → {latest.parent}/latest.npz, best.npz" in header
    assert "  step │ nats train/val │ bits        │ perplexity    │ |grad| clip │ tok/s" in lines
    bar = [line for line in lines if line.startswith("step ")]  # the progress bar, left on screen
    shown = re.match(rf"^step +{steps} .* loss \d\.\d{{3}} (\d+)k tok/s ", bar[0]) if len(bar) == 1 else None
    assert shown and 0 < int(shown.group(1)) < 100_000, bar
    rates = [int(r) for r in re.findall(r"(\d+)k(?: \*)?$", result.stderr, re.M)]
    assert len(rates) == steps // 2 and all(0 < r < 100_000 for r in rates)  # thousands of tokens a second
    row = re.compile(
        r"^ *(\d+) │ +([\d.]+) +([\d.]+) │ ([\d.]+) ([\d.]+) │ +([\d.]+) +([\d.]+) │ .* │ +\d+k( \*)?$"
    )
    rows = [m.groups() for m in map(row.match, lines) if m]
    assert [int(r[0]) for r in rows] == [int(s) for s, _ in ckpt.val_history] == list(range(2, steps + 1, 2))
    best, since = math.inf, 0
    for (step, tr, va, btr, bva, ptr, pva, star), (_, want_va) in zip(rows, ckpt.val_history, strict=True):
        want_tr = float(np.mean(ckpt.train_history[since : int(step)]))
        since = int(step)
        assert float(va) == pytest.approx(want_va, abs=5e-4) and float(tr) == pytest.approx(want_tr, abs=5e-4)
        assert float(bva) == pytest.approx(want_va / math.log(2), abs=5e-4)
        assert float(btr) == pytest.approx(want_tr / math.log(2), abs=5e-4)
        assert float(pva) == pytest.approx(math.exp(want_va), abs=5e-3)
        assert float(ptr) == pytest.approx(math.exp(want_tr), abs=5e-3)
        assert (star is not None) == (want_va < best)
        best = min(best, want_va)
    assert all(r[-1] for r in rows) == (lr is None)


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--hidden", "0"], "'--hidden': '0' is not a positive integer"),
        (["train", "--hidden", "2.5"], "'--hidden': '2.5' is not a positive integer"),
        (["train", "--lr", "0"], "'--lr': '0' is not a positive number"),
        (["train", "--lr", "abc"], "'--lr': 'abc' is not a positive number"),
        (["sample", "CKPT", "--length", "-1"], "'--length': '-1' is not a non-negative integer"),
        (
            ["sample", "CKPT", "--temperature", "-0.5"],
            "'--temperature' / '-t': '-0.5' is not a non-negative number",
        ),
    ],
)
def test_a_bad_number_is_named_with_its_option_and_kind(runner, trained, tiny_text, args, message):
    args = [str(trained) if a == "CKPT" else a for a in args]
    if args[0] == "train":
        args.append(str(tiny_text))
    result = runner.invoke(main, args)
    assert result.exit_code == 2 and result.output.splitlines()[-1] == f"Error: Invalid value for {message}"


def test_sample_takes_zero_where_zero_makes_sense(runner, trained):
    result = runner.invoke(
        main, ["sample", str(trained), "--length", "0", "--temperature", "0", "--prime", "the"]
    )
    assert result.exit_code == 0 and result.stdout == "the\n"


def test_failures_become_one_line_for_a_person():
    from rnntui.cli import _fail

    assert _fail(MemoryError()).message == "ran out of memory; lower --hidden, --layers, --batch or --seq"
    assert _fail(FileNotFoundError(2, "No such file or directory", "/x/y")).message == (
        "/x/y: No such file or directory"
    )
    assert _fail(OSError(28, "No space left on device")).message == "error: No space left on device"
    assert _fail(ValueError("  first\nsecond")).message == "first"
    assert _fail(KeyError()).message == "KeyError()"


@pytest.mark.parametrize("new", [0, 1, 20, 21])
def test_fine_tune_summary_says_what_was_kept_and_lists_up_to_20_new_tokens(new):
    from types import SimpleNamespace

    from rnntui.cli import fine_tune_summary
    from rnntui.corpus import Vocab

    added = [f"w{i}" for i in range(new)]
    trainer = SimpleNamespace(
        init_from={"path": "runs/a/best.npz", "step": 300, "base_vocab": 5},
        vocab=Vocab(level="word", tokens=("a", "b", "c", "d", "\n", *added)),
        cfg=SimpleNamespace(optimizer="adam"),
    )
    first, second = fine_tune_summary(trainer)
    assert first == (
        "fine-tuning from runs/a/best.npz (its step 300): all its weights, a fresh adam optimiser state, "
        "counting steps from 0"
    )
    if not new:
        assert second == "vocabulary: no new tokens: the text uses only the model's 5"
        return
    shown = " ".join(added[:20]) + (" …" if new > 20 else "")
    assert second == (
        f"vocabulary: {new} new token(s) added after the model's 5 (V = {5 + new}): {shown}; their rows "
        "start as in a fresh model, the old tokens keep their ids and rows"
    )


def test_eval_reads_the_file_and_its_ngram_baseline_in_the_given_encoding(
    runner, trained, tiny_text, tmp_path
):
    other = tmp_path / "utf16.txt"
    other.write_text(tiny_text.read_text(encoding="utf-8"), encoding="utf-16")
    result = runner.invoke(main, ["eval", str(trained), str(other), "--encoding", "utf-16", "--ngram", "2"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].startswith("n-gram baseline (") and lines[1].endswith("), on the same predictions:")
    assert lines[2].startswith("  order  1: ") and lines[3].startswith("  order  2: ")


def test_a_diverged_run_without_the_dashboard_exits_1_and_prints_no_checkpoint(runner, tiny_text, tmp_path):
    args = ["train", str(tiny_text), "--no-tui", "--steps", "500", "--optimizer", "sgd", "--lr", "1e30",
            "--clip", "0", "--out", str(tmp_path), *TINY]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith("Error: loss became") and "lower --lr" in result.stderr
