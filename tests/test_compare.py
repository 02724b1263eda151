"""Two models on one text: ``rnntui compare`` and ``rnntui play A --compare B``."""

import math
import re

import click
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


def test_compare_models_averages_eight_windows_of_51_tokens_each_normalised():
    """K = 30 and 8 windows by default: the windows end at evenly spread places (51, 58, …, 100 for
    100 tokens), each K + 1 + 20 tokens long, each curve over its own peak, then averaged."""
    from rnntui.model import RNN, ModelConfig

    rng = np.random.default_rng(0)
    a = RNN.initialised(ModelConfig(vocab_size=6, embed=3, hidden=5), rng).params
    b = RNN.initialised(ModelConfig(vocab_size=6, embed=3, hidden=4, cell="gru"), rng).params
    ids = rng.integers(0, 6, 100)
    cmp = ins.compare_models(a, b, ids)
    assert cmp.windows == 8
    for params, curve, hl, fit in ((a, cmp.memory_a, cmp.half_life_a, cmp.fitted_a),
                                   (b, cmp.memory_b, cmp.half_life_b, cmp.fitted_b)):  # fmt: skip
        want = np.zeros(31)
        for end in (51, 58, 65, 72, 79, 86, 93, 100):
            norms = ins.fading_memory(params, ids[end - 51 : end], K=30).norms
            want += norms / norms.max() / 8
        np.testing.assert_allclose(curve, want, rtol=1e-12)
        assert hl == ins.half_life(want) and fit == pytest.approx(ins.fitted_half_life(want))
    np.testing.assert_allclose(cmp.diff, ins.token_bits(a, ids) - ins.token_bits(b, ids), rtol=1e-12)
    short = ins.compare_models(a, b, ids[:2])  # one window, as long as the text
    assert short.windows == 1 and len(short.memory_a) == 2 and short.memory_a.max() == 1.0
    with pytest.raises(ValueError, match="^the text needs at least two tokens$"):
        ins.compare_models(a, b, ids[:1])
    other = RNN.initialised(ModelConfig(vocab_size=7, embed=3, hidden=5), rng).params
    with pytest.raises(ValueError, match="^the models have different vocabularies$"):
        ins.compare_models(a, other, ids)


def test_compare_prints_the_memory_table_with_bars_that_line_up(runs):
    paths, text = runs
    args = ["compare", str(paths["rnn"]), str(paths["lstm"]), "--text", str(text), "--show", "0"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = result.output.split("    k  A                      B\n")[1].splitlines()
    assert [int(row.split()[0]) for row in table] == [*range(11), 15, 20, 25, 30]
    assert len({len(row) for row in table}) == 1  # every bar padded to 16 cells
    assert table[0] == "    0  ████████████████ 1.000  ████████████████ 1.000"


@pytest.mark.parametrize("level", ["char", "word"])
def test_the_lens_marks_a_bit_or_more_or_colours_every_token(level):
    from rnntui.cli import _compare_lens

    tokens, diff = ["a", "b", "c", "d", "e", "f"], np.array([0.99, 1.0, -1.4, 8.0, -2.0, -4.0])
    gap = "" if level == "char" else " "
    plain = _compare_lens(tokens, diff, False, level)
    assert plain == gap.join(["a", "b[+1]", "c[-1]", "d[+8]", "e[-2]", "f[-4]"]) + gap
    coloured = _compare_lens(tokens, diff, True, level)
    # 4 bits or more: full orange (B less surprised) or blue (A); less: blended toward dark grey
    want = [(82, 49, 26), (83, 49, 26), (38, 63, 104), (249, 115, 22), (43, 79, 137), (59, 130, 246)]
    assert coloured == "".join(
        click.style(t + gap, bg=rgb, fg="white") for t, rgb in zip(tokens, want, strict=True)
    )
    assert _compare_lens(["z"], np.array([0.0]), True, level) == click.style(
        "z" + gap, bg=(28, 28, 28), fg="white"
    )
    with pytest.raises(ValueError):
        _compare_lens(tokens, diff[:5], False, level)
