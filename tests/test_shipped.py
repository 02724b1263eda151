"""Weights-only checkpoints (``rnntui export``), the shipped models (``rnntui models``, ``play
--model``) and the size of the package data."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnntui import checkpoint, shipped
from rnntui.checkpoint import CheckpointError
from rnntui.cli import main
from rnntui.generate import sample_text
from rnntui.train import TrainConfig, Trainer

DATA = shipped.SHIPPED


def export(src: Path, dst: Path) -> None:
    checkpoint.save(shipped.weights_only(checkpoint.load(src)), dst)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small run (Adam, so its optimiser state is twice the weights)."""
    root = tmp_path_factory.mktemp("run")
    text = root / "text.txt"
    text.write_text("the cat sat on the mat. the dog sat on the log.\n" * 40, encoding="utf-8")
    Trainer.start(
        text, TrainConfig(hidden=32, embed=8, seq=8, batch=4, steps=12, eval_every=6), root / "r"
    ).run()
    return root / "r" / "latest.npz", text


def test_export_writes_weights_only_that_use_like_the_original(trained, tmp_path):
    src, text = trained
    result = invoke("export", src, tmp_path / "w.npz")
    assert result.exit_code == 0, result.output
    assert "weights only" in result.output
    full, light = checkpoint.load(src), checkpoint.load(tmp_path / "w.npz")
    assert light.opt_state == {} and light.carry is None and light.meta["weights_only"] is True
    assert "rng" not in light.meta and "data" not in light.meta
    assert np.array_equal(light.model.flat, full.model.flat) and light.vocab.tokens == full.vocab.tokens
    assert np.array_equal(light.val_history, full.val_history)
    assert (tmp_path / "w.npz").stat().st_size < 0.6 * src.stat().st_size
    # sample and eval say exactly what the original says
    for cmd in (["sample", "{}", "--seed", "2", "--length", "60"], ["eval", "{}", text]):
        a = invoke(*[src if c == "{}" else c for c in cmd])
        b = invoke(*[tmp_path / "w.npz" if c == "{}" else c for c in cmd])
        assert a.exit_code == b.exit_code == 0 and a.output.replace(str(src), "X") == b.output.replace(
            str(tmp_path / "w.npz"), "X"
        )
    assert sample_text(light.model, light.vocab, length=20, seed=1) == sample_text(
        full.model, full.vocab, length=20, seed=1
    )


def test_resume_on_a_weights_only_checkpoint_says_why_it_cannot(trained, tmp_path):
    src, text = trained
    export(src, tmp_path / "w.npz")
    result = invoke("train", "--resume", tmp_path / "w.npz", "--steps", "20", "--no-tui")
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "is a weights-only checkpoint" in lines[0] and "--init-from" in lines[0]
    with pytest.raises(CheckpointError, match="cannot be resumed"):
        Trainer.resume(tmp_path / "w.npz")
    # a new run from its weights works
    tuned = Trainer.fine_tune(text, tmp_path / "w.npz", tmp_path / "ft", steps=2)
    assert np.array_equal(tuned.model.flat, checkpoint.load(src).model.flat)
    assert tuned.cfg.hidden == 32 and tuned.step == 0


def test_export_refuses_to_overwrite_its_source(trained):
    src, _ = trained
    result = invoke("export", src, src)
    assert result.exit_code != 0 and "already exists; pass --force" in result.output


@pytest.fixture
def two_shipped(trained, tmp_path, monkeypatch):
    """The shipped folder with the real model and a second, weights-only one."""
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(DATA / "republic.npz", folder / "republic.npz")
    export(trained[0], folder / "tiny-word.npz")
    monkeypatch.setattr(shipped, "SHIPPED", folder)
    return folder


def test_models_lists_each_shipped_model_from_its_own_metadata(two_shipped):
    result = invoke("models")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["name", "cell", "level", "size"]
    republic = next(line for line in lines if line.startswith("republic "))
    ckpt = checkpoint.load(two_shipped / "republic.npz")
    assert "rnn" in republic and "char" in republic and f"H={ckpt.model.cfg.hidden}" in republic
    assert f"{ckpt.meta['best_val']:.3f}/char" in republic and f"{ckpt.model.flat.size:,}" in republic
    tiny = next(line for line in lines if line.startswith("tiny-word "))
    assert "H=32" in tiny and "text.txt" in tiny
    info = {m.name: m for m in shipped.list_models()}
    assert info["tiny-word"].val_loss == checkpoint.load(two_shipped / "tiny-word.npz").meta["best_val"]


def test_play_model_opens_a_shipped_model_and_names_them_for_an_unknown_one(two_shipped, monkeypatch):
    from rnntui.tui.app import PlaygroundApp

    opened = []
    monkeypatch.setattr(PlaygroundApp, "run", lambda self, *a, **k: opened.append(self))
    result = invoke("play", "--model", "tiny-word")
    assert result.exit_code == 0, result.output
    assert opened[0].source == "shipped model: tiny-word" and opened[0].shipped_name == "tiny-word"
    assert opened[0].ckpt.model.cfg.hidden == 32
    assert invoke("play", "tiny-word").exit_code == 0  # CHECKPOINT a shipped model's name: the same
    assert opened[1].source == "shipped model: tiny-word" and opened[1].shipped_name == "tiny-word"
    assert invoke("play", str(two_shipped / "tiny-word.npz")).exit_code == 0  # a file: its path
    assert opened[2].source == str(two_shipped / "tiny-word.npz") and opened[2].shipped_name is None
    bad = invoke("play", "--model", "nope")
    assert bad.exit_code != 0
    assert "no shipped model named 'nope'; the shipped models are republic, tiny-word" in bad.output
    both = invoke("play", two_shipped / "republic.npz", "--model", "republic")
    assert both.exit_code != 0 and "not both" in both.output


def test_picking_a_model_in_the_playground_reopens_it_with_the_text(two_shipped, monkeypatch):
    """The app returns the picked name (Alt+M, tests/tui/test_picker.py); play opens that model next,
    with the text typed so far, and stops when the app returns nothing."""
    from rnntui.tui.app import PlaygroundApp

    opened = []
    answers = iter([("tiny-word", "the cat"), None])
    monkeypatch.setattr(PlaygroundApp, "run", lambda self, *a, **k: opened.append(self) or next(answers))
    result = invoke("play")
    assert result.exit_code == 0, result.output
    assert [app.shipped_name for app in opened] == ["republic", "tiny-word"]
    assert opened[1].initial_text == "the cat" and opened[1].ckpt.model.cfg.hidden == 32


def test_the_package_data_stays_under_20_mb():
    files = [p for p in DATA.rglob("*") if p.is_file()]
    assert files and sum(p.stat().st_size for p in files) <= 20_000_000


def test_every_command_takes_a_shipped_models_name(two_shipped, trained, tmp_path, monkeypatch):
    """sample, eval, compare, inspect, export, play (and its --compare) and tour read ``tiny-word`` as
    rnntui/data/tiny-word.npz; a name that is neither a file nor a shipped model is one clear line."""
    from rnntui.tui.app import PlaygroundApp
    from rnntui.tui.tour.app import TourApp

    src, text = trained
    by_path, by_name = (
        invoke("sample", src, "--seed", "3", "--length", "40"),
        invoke("sample", "tiny-word", "--seed", "3", "--length", "40"),
    )
    assert by_name.exit_code == by_path.exit_code == 0, by_name.output
    assert by_name.output == by_path.output
    uses = (
        ["eval", "tiny-word", text],
        ["compare", "tiny-word", src, "--text", text],
        ["inspect", "neighbours", "tiny-word", "t"],
        ["export", "tiny-word", tmp_path / "x.npz"],
    )
    for args in uses:
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.output)
    opened = []
    monkeypatch.setattr(PlaygroundApp, "run", lambda self, *a, **k: opened.append(self))
    monkeypatch.setattr(TourApp, "run", lambda self, *a, **k: opened.append(self))
    assert invoke("play", "tiny-word", "--compare", "tiny-word").exit_code == 0
    assert invoke("tour", "tiny-word", "--text", "the cat").exit_code == 0
    assert [app.ckpt.model.cfg.hidden for app in opened] == [32, 32]
    assert opened[0].other_ckpt is not None and opened[0].other_ckpt.model.cfg.hidden == 32
    for command in (["sample"], ["eval", "nope", text], ["compare", src], ["inspect", "health"], ["play"],
                    ["tour"], ["export", "nope", tmp_path / "y.npz"]):  # fmt: skip
        args = command if "nope" in command else [*command, "nope"]
        result = invoke(*args)
        assert result.exit_code != 0 and "Traceback" not in result.output, args
        assert "nope: no such checkpoint, nor the name of a shipped model (republic, tiny-word)" in (
            result.output
        )
