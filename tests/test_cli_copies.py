"""``rnntui inspect copies`` and ``rnntui sample --mark-copies``: copied spans found in the training
split, where they are, and a clear line when the corpus is gone or changed."""

import hashlib
import re
import sys

import click
import numpy as np
import pytest
from click.testing import CliRunner

from rnntui import checkpoint
from rnntui.checkpoint import Checkpoint
from rnntui.cli import main
from rnntui.corpus import build_vocab
from rnntui.model import RNN, ModelConfig

LINES = [f"line {i}: the {w} of the city is one thing, said he.\n" for i, w in enumerate(
    ["soul", "state", "guardian", "justice", "music", "gymnastic", "body", "sun"])]  # fmt: skip
CORPUS = "".join(LINES) * 3 + "the end of the text, which is only in validation.\n"


def make(tmp_path, level="char", sha=True):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    vocab = build_vocab(CORPUS + "XYZ", level)
    model = RNN.initialised(ModelConfig(vocab_size=len(vocab), embed=4, hidden=8), np.random.default_rng(0))
    info = {"path": str(corpus)}
    if sha:
        info["sha256"] = hashlib.sha256(CORPUS.encode()).hexdigest()
    meta = {"step": 1, "corpus": info, "train": {"val_frac": 0.05}}
    return checkpoint.save(Checkpoint(model=model, vocab=vocab, meta=meta), tmp_path / "m.npz"), corpus


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_inspect_copies_lists_each_copied_span_with_its_line(tmp_path):
    ckpt, _ = make(tmp_path)
    text = tmp_path / "sample.txt"
    copied = LINES[3][:30]  # 30 characters of line 4
    text.write_text(f"XYZ {copied} ZYX", encoding="utf-8")
    result = run("inspect", "copies", ckpt, text)
    assert result.exit_code == 0, result.output
    assert "1 span of 20+ characters" in result.output
    where = r"\(training text line (\d+), token ([\d,]+)\)"
    found = re.search(f"30 characters at      4: {re.escape(repr(copied))}  {where}", result.output)
    assert found and int(found[1]) in (4, 12, 20)  # the line copied, in one of its three repeats
    start = int(found[2].replace(",", ""))
    assert CORPUS[start : start + 30] == copied
    rows = [line.split() for line in result.output.splitlines() if line.startswith("    ") and "%" in line]
    novel = {int(n): float(share.rstrip("%")) for n, _, share in rows}
    assert novel[1] == pytest.approx(100 * 6 / 38, abs=0.05)  # X, Y, Z and Z, Y, X are not in the corpus
    assert novel[25] == pytest.approx(100 * (14 - 6) / 14, abs=0.05)  # 6 windows lie inside the copy


def test_text_only_in_the_validation_split_is_not_a_copy(tmp_path):
    ckpt, _ = make(tmp_path)
    text = tmp_path / "sample.txt"
    text.write_text("the end of the text, which is only in validation", encoding="utf-8")
    result = run("inspect", "copies", ckpt, text, "--min-span", 30)
    assert result.exit_code == 0, result.output
    assert "no span of 30+ characters copied" in result.output


def test_word_level_copies_are_five_words_or_more(tmp_path):
    ckpt, _ = make(tmp_path, level="word")
    text = tmp_path / "sample.txt"
    text.write_text("XYZ the guardian of the city is ZYX the soul of", encoding="utf-8")
    result = run("inspect", "copies", ckpt, text)
    assert result.exit_code == 0, result.output
    assert "1 span of 5+ words" in result.output and "6 words at      4: 'the guardian of the city is'" in (
        result.output
    )


def test_a_corpus_gone_or_changed_is_said_so(tmp_path):
    ckpt, corpus = make(tmp_path)
    text = tmp_path / "sample.txt"
    text.write_text("anything", encoding="utf-8")
    corpus.write_text(CORPUS.replace("soul", "mind"), encoding="utf-8")
    result = run("inspect", "copies", ckpt, text)
    assert result.exit_code == 1 and "has changed since training" in result.output
    assert "Traceback" not in result.output
    corpus.unlink()
    result = run("inspect", "copies", ckpt, text)
    assert result.exit_code == 1 and "training corpus is not on this machine" in result.output
    assert f"{corpus} is not there" in result.output
    result = run("sample", ckpt, "--length", 5, "--mark-copies")
    assert result.exit_code == 1 and "cannot mark copies: the training corpus is not on this machine" in (
        result.output
    )


def test_sample_marks_the_copies_between_brackets_when_not_a_terminal(tmp_path):
    ckpt, _ = make(tmp_path)
    prime = LINES[1][:25]
    result = CliRunner().invoke(
        main, ["sample", str(ckpt), "--length", "0", "--prime", "XY" + prime, "--mark-copies"]
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"XY⟦{prime}⟧\n"
    assert "1 span of 20+ characters copied" in result.stderr and "novel share" in result.stderr


def test_copies_at_both_ends_are_marked_and_a_terminal_gets_reverse_video(tmp_path, monkeypatch, capsys):
    """Two copied spans, one opening the text and one closing it: each marked, nothing else; on a
    terminal the marks are reverse video instead of brackets."""
    from rnntui.cli import _echo_marked

    ckpt = checkpoint.load(make(tmp_path)[0])
    first, last = LINES[1][:25], LINES[2][5:30]
    text = first + "XYZ" + last
    _echo_marked(ckpt, text)
    assert capsys.readouterr().out == f"⟦{first}⟧XYZ⟦{last}⟧\n"
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    _echo_marked(ckpt, text)
    reverse = click.style(first, reverse=True), click.style(last, reverse=True)
    assert capsys.readouterr().out == f"{reverse[0]}XYZ{reverse[1]}\n" and "\x1b[7m" in reverse[0]


def test_a_sample_whose_copies_cannot_be_marked_is_still_printed(tmp_path):
    ckpt, corpus = make(tmp_path)
    corpus.unlink()
    args = ["sample", str(ckpt), "--length", "0", "--prime", "XYZ", "--mark-copies"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and result.stdout == "XYZ\n"
    assert result.stderr.startswith("Error: cannot mark copies: the training corpus is not on this machine")
