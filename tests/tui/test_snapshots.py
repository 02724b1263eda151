"""Snapshot tests (pytest-textual-snapshot) of the playground and the dashboard at 120×40 and
80×24. The model is a seeded initialisation and the dashboard is fed fixed messages, so nothing
on screen depends on timing. Update with ``pytest tests/tui --snapshot-update`` after looking."""

from pathlib import Path

import pytest

from rnntui import checkpoint
from rnntui.train import Evaluated, Progress, Saved, TrainConfig, Trainer
from rnntui.tui.app import PlaygroundApp
from rnntui.tui.dashboard import TrainApp
from rnntui.tui.messages import SampleReady, TrainEvent, TrainProgress
from rnntui.tui.widgets.loss_chart import LossChart

from .conftest import TEXT

SIZES = [(120, 40), (80, 24)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_playground(snap_compare, tiny_ckpt, size):
    app = PlaygroundApp(checkpoint.load(tiny_ckpt), "tiny.npz", cursor_blink=False)
    assert snap_compare(app, press=[*"The just man"], terminal_size=size)


def test_playground_unit_lens_second_layer(snap_compare, tiny_ckpt_2layer):
    app = PlaygroundApp(checkpoint.load(tiny_ckpt_2layer), "tiny2.npz", cursor_blink=False)
    assert snap_compare(app, press=[*"What is justice?", "ctrl+l", "ctrl+n", "f3"], terminal_size=(120, 40))


@pytest.mark.parametrize("cell,size", [("lstm", (120, 40)), ("gru", (80, 24))])
def test_playground_gated(snap_compare, tmp_path, cell, size):
    """The gates panel beside the memory heatmap; the LSTM's after Ctrl+T shows its cell state c."""
    from rnntui.checkpoint import Checkpoint

    from .conftest import tiny_model

    model, vocab = tiny_model(cell=cell)
    path = checkpoint.save(Checkpoint(model=model, vocab=vocab, meta={"step": 0}), tmp_path / f"{cell}.npz")
    app = PlaygroundApp(checkpoint.load(path), f"{cell}.npz", cursor_blink=False)
    keys = [*"The just man", *(["ctrl+t"] if cell == "lstm" else [])]
    assert snap_compare(app, press=keys, terminal_size=size)


def test_playground_help(snap_compare, tiny_ckpt):
    app = PlaygroundApp(checkpoint.load(tiny_ckpt), "tiny.npz", cursor_blink=False)
    assert snap_compare(app, press=["f1"], terminal_size=(80, 24))


def test_too_small(snap_compare, tiny_ckpt):
    app = PlaygroundApp(checkpoint.load(tiny_ckpt), "tiny.npz", cursor_blink=False)
    assert snap_compare(app, terminal_size=(70, 20))


def fixed_dashboard(tmp_path: Path) -> TrainApp:
    corpus = tmp_path / "republic.txt"
    corpus.write_text(TEXT * 20, encoding="utf-8")
    cfg = TrainConfig(hidden=32, embed=8, seq=8, batch=4, steps=3000)
    trainer = Trainer.start(corpus, cfg, Path("runs/republic"))
    return TrainApp(trainer, autostart=False)


async def feed_fixed_training(pilot) -> None:
    """What a worker would have posted over 1,200 steps, with made-up but fixed figures."""
    app = pilot.app
    for i in range(1, 25):
        step = 50 * i
        loss = 1.3 + 3.0 / (1 + step / 150)
        progress = Progress(step, 3000, loss, 0.4 + 1 / i, 2e-3, 12_345.0, step / 40, None)
        app.post_message(TrainProgress(progress))
        await pilot.pause()
        if step % 200 == 0:
            ev = Evaluated(step, loss + 0.02, loss + 0.05, 0.45, 0.01 * (i % 3), 12_345.0, True)
            app.post_message(TrainEvent(ev))
    app.post_message(TrainEvent(Saved(Path("runs/republic/latest.npz"), 1000)))
    samples = [(400, "the the and tho sas ofe the"), (800, "Socrates: And the just man is the same?")]
    for step, text in samples:
        app.post_message(SampleReady(step, 0.7, text))
    await pilot.pause()
    app.query_one(LossChart).replot()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare, tmp_path, size):
    assert snap_compare(fixed_dashboard(tmp_path), run_before=feed_fixed_training, terminal_size=size)


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


@pytest.mark.parametrize(
    "view", ["f5", "f6", "f7", "f11"], ids=["softmax", "memory", "sentences", "autocomplete"]
)
def test_views(snap_compare, tiny_ckpt_2layer, view):
    """The softmax view (memory strip, logit table, entropy), the memory view (fading memory and the
    connectivity to the next token at the cursor), the sentence view (cosine heatmap, PCA map) and the
    ghost-text view (accuracy by letters seen: chart and table) of the 2-layer tiny
    model, after typing a little."""
    app = PlaygroundApp(checkpoint.load(tiny_ckpt_2layer), "tiny2.npz", cursor_blink=False)

    async def open_view(pilot) -> None:
        await pilot.press(*"The just man", view)
        await settle(pilot)

    assert snap_compare(app, run_before=open_view, terminal_size=(120, 40))


@pytest.mark.parametrize("presses", [2, 3], ids=["copies", "counting"])
def test_lenses(snap_compare, tmp_path, presses):
    """The copies lens (spans found verbatim in the training split, reversed) and the counting lens
    (RNN bits − n-gram bits per token) on the tiny model, with its training text on disk."""
    from .conftest import ckpt_for

    app = PlaygroundApp(ckpt_for(tmp_path, "char"), "tiny.npz", text="Oh! " + TEXT[10:60] + " ok?",
                        cursor_blink=False)  # fmt: skip

    async def open_lens(pilot) -> None:
        await pilot.press(*["ctrl+s"] * presses)  # surprise → unit → copies → counting
        await settle(pilot)

    assert snap_compare(app, run_before=open_lens, terminal_size=(120, 40))
