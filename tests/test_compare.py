"""Two models on one text: ``rnntui compare`` and ``rnntui play A --compare B``."""

import math
import re

import numpy as np
import pytest
from click.testing import CliRunner

from rnntui import checkpoint
from rnntui import inspect as ins
from rnntui.cli import main
from rnntui.corpus import read_text
from rnntui.train import mean_loss

TINY = ["--hidden", "8", "--embed", "4", "--seq", "8", "--batch", "2", "--eval-every", "2"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    text = out / "tiny.txt"
    text.write_text("the cat sat on the mat. the dog sat on the log.\n" * 40, encoding="utf-8")
    other = out / "other.txt"
    other.write_text("XYZ xyz 123 " * 100, encoding="utf-8")
    runner = CliRunner()
    paths = {}
    for name, cell, corpus in (("rnn", "rnn", text), ("lstm", "lstm", text), ("alien", "gru", other)):
        args = ["train", str(corpus), "--no-tui", "--steps", "6", "--out", str(out), "--name", name,
                "--cell", cell, *TINY]  # fmt: skip
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        paths[name] = out / name / "latest.npz"
    return paths, text


def test_token_bits_average_to_the_eval_loss(runs):
    paths, text = runs
    for name in ("rnn", "lstm"):
        ckpt = checkpoint.load(paths[name])
        ids = ckpt.vocab.encode(read_text(text), what="text")[:300]
        bits = ins.token_bits(ckpt.model.params, ids)
        assert bits.shape == (299,)
        assert bits.mean() * math.log(2) == pytest.approx(mean_loss(ckpt.model, ids, 1, 64), rel=1e-5)


def test_compare_reports_both_losses_the_lens_and_both_memories(runs):
    paths, text = runs
    result = CliRunner().invoke(
        main, ["compare", str(paths["rnn"]), str(paths["lstm"]), "--text", str(text), "--max-tokens", "400",
               "--no-color", "--show", "80"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    a, b = checkpoint.load(paths["rnn"]), checkpoint.load(paths["lstm"])
    ids = a.vocab.encode(read_text(text), what="text")[:400]
    shown = [float(x) for x in re.findall(r"([0-9.]+) nats/char", result.output)]
    assert shown == pytest.approx([mean_loss(m.model, ids, 1, 64) for m in (a, b)], abs=1e-4)
    assert "(rnn, H=8" in result.output and "(lstm, H=8" in result.output
    assert result.output.count("half-life") == 2
    cmp = ins.compare_models(a.model.params, b.model.params, ids)
    assert f"B is less surprised on {(cmp.diff > 0).mean():.0%} of tokens" in result.output
    assert cmp.memory_a[0] == pytest.approx(1.0) and cmp.memory_b[0] == pytest.approx(1.0)
    marked = re.findall(r"\[([+-]\d+)\]", result.output.split("lens (")[1])
    big = np.round(cmp.diff[:80][np.abs(cmp.diff[:80]) >= 1.0]).astype(int)
    assert [int(m) for m in marked] == list(big)


def test_compare_refuses_different_vocabularies_in_one_line(runs):
    paths, text = runs
    for args in (["compare", str(paths["rnn"]), str(paths["alien"])], ["play", str(paths["rnn"]), "--compare",
                 str(paths["alien"])]):  # fmt: skip
        result = CliRunner().invoke(main, args)
        assert result.exit_code != 0 and "Traceback" not in result.output
        assert "different vocabularies" in result.output
