"""Pilot tests of the training dashboard, with a real (tiny) training in the worker thread."""

import asyncio
import os
import time

import numpy as np
import pytest

from rnntui import checkpoint
from rnntui.train import TrainConfig, Trainer
from rnntui.tui.dashboard import TrainApp
from rnntui.tui.widgets.loss_chart import LossChart


def tiny_trainer(tiny_text, run_dir, steps=10**6, cell="rnn"):
    cfg = TrainConfig(hidden=16, embed=8, seq=8, batch=4, steps=steps, eval_every=25, save_every=10**6,
                      cell=cell)  # fmt: skip
    return Trainer.start(tiny_text, cfg, run_dir)


async def wait_for(pilot, condition, timeout=60.0):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        await pilot.pause(0.05)


async def test_training_advances_updates_the_chart_and_quit_saves(tiny_text, tmp_path):
    trainer = tiny_trainer(tiny_text, tmp_path / "run")
    app = TrainApp(trainer, sample_every=0.2)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.evaluated is not None and app.progress and app.progress.step > 30)
        chart = app.query_one(LossChart)
        assert len(chart.train) >= 1 and chart.val and chart.val[0][0] == 25
        await wait_for(pilot, lambda: app.last_sample is not None)
        assert app.last_sample.text
        await pilot.press("q")
        await wait_for(pilot, lambda: app.done.is_set())
    saved = checkpoint.load(tmp_path / "run" / "latest.npz")
    assert saved.meta["step"] == trainer.step > 30
    assert app.stopped.reason == "interrupted"


async def test_a_gated_run_trains_samples_and_saves_in_the_dashboard(tiny_text, tmp_path):
    """The dashboard with an LSTM: the title names the cell, training advances, samples come from
    the model's own weights, and quitting saves the cell's state (h and c)."""
    from textual.widgets import Static

    trainer = tiny_trainer(tiny_text, tmp_path / "run", cell="lstm")
    app = TrainApp(trainer, sample_every=0.2)
    async with app.run_test(size=(120, 40)) as pilot:
        assert "LSTM H=16" in str(app.query_one("#title", Static).render())
        await wait_for(pilot, lambda: app.progress and app.progress.step > 5 and app.last_sample is not None)
        await pilot.press("q")
        await wait_for(pilot, lambda: app.done.is_set())
    saved = checkpoint.load(tmp_path / "run" / "latest.npz")
    assert saved.model.cfg.cell == "lstm" and saved.carry.shape == (1, 4, 32)


async def test_pause_holds_the_step_and_save_now_writes_it(tiny_text, tmp_path):
    trainer = tiny_trainer(tiny_text, tmp_path / "run")
    app = TrainApp(trainer, sample_every=1000)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.progress is not None and app.progress.step > 5)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "paused")
        await asyncio.sleep(0.3)
        held = trainer.step
        await asyncio.sleep(0.5)
        assert trainer.step == held  # nothing moves while paused
        await pilot.press("s")
        await wait_for(pilot, lambda: app.saved is not None and app.saved.step == held)
        assert checkpoint.load(tmp_path / "run" / "latest.npz").meta["step"] == held
        await pilot.press("r")  # a sample even while paused, from the held weights
        # (the first step's sample may still be arriving: wait for the one from the held step)
        await wait_for(pilot, lambda: app.last_sample is not None and app.last_sample.step == held)
        await pilot.press("space")
        await wait_for(pilot, lambda: trainer.step > held + 5)
        await pilot.press("q")
        await wait_for(pilot, lambda: app.done.is_set())


async def test_temperature_keys_set_the_next_samples_temperature(tiny_text, tmp_path):
    app = TrainApp(tiny_trainer(tiny_text, tmp_path / "run"), sample_every=1000)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.last_sample is not None)
        first = app.last_sample
        await pilot.press("plus", "plus", "r")
        await wait_for(pilot, lambda: app.last_sample is not first)
        assert app.last_sample.temperature == app.temperature > first.temperature
        await pilot.press("q")
        await wait_for(pilot, lambda: app.done.is_set())


async def test_a_finished_run_stays_on_screen_until_quit(tiny_text, tmp_path):
    trainer = tiny_trainer(tiny_text, tmp_path / "run", steps=30)
    app = TrainApp(trainer, sample_every=1000)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.stopped is not None)
        assert app.state == "finished" and app.stopped.reason == "steps"
        assert app.is_running
        await pilot.press("q")
    assert checkpoint.load(tmp_path / "run" / "latest.npz").meta["step"] == 30


async def test_a_locked_run_folder_is_reported_in_the_app(tiny_text, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text(str(os.getppid()))  # a live process holds it
    app = TrainApp(tiny_trainer(tiny_text, run), sample_every=1000)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state == "failed")
        assert "in use by another training" in app.error
        await pilot.press("q")


async def test_a_resumed_run_shows_its_past_on_the_chart(tiny_text, tmp_path):
    first = tiny_trainer(tiny_text, tmp_path / "run", steps=60)
    first.run()
    resumed = Trainer.resume(tmp_path / "run" / "latest.npz", steps=80)
    app = TrainApp(resumed, sample_every=1000)
    async with app.run_test(size=(120, 40)) as pilot:
        chart = app.query_one(LossChart)
        assert [s for s, _ in chart.train[:60]] == list(range(1, 61))  # the run's past, step by step
        assert [s for s, _ in chart.val[:3]] == [25, 50, 60]
        await wait_for(pilot, lambda: app.stopped is not None)
        assert app.stopped.step == 80 and chart.train[-1][0] > 60
        await pilot.press("q")


async def test_the_title_shows_what_a_run_was_fine_tuned_from(tiny_text, tmp_path):
    from textual.widgets import Static

    tiny_trainer(tiny_text, tmp_path / "base", steps=5).run()
    new = tmp_path / "new.txt"
    new.write_text("The Cat & The Dog.\n" * 40)
    trainer = Trainer.fine_tune(new, tmp_path / "base" / "latest.npz", tmp_path / "ft", steps=3)
    app = TrainApp(trainer, sample_every=1000)
    async with app.run_test(size=(160, 40)) as pilot:
        title = str(app.query_one("#title", Static).render())
        assert title.startswith(f"new.txt ← latest.npz@5 +{trainer.init_from['added']} tokens · char level")
        await pilot.press("q")


def test_core_modules_do_not_import_textual():
    import subprocess
    import sys

    code = (
        "import sys, rnntui.generate, rnntui.train, rnntui.checkpoint, rnntui.cli;"
        "print(sorted(m for m in sys.modules if m.startswith(('textual', 'rich'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


async def test_samples_show_what_they_copied_from_the_training_text(tiny_text, tmp_path):
    """The dashboard indexes the training split in a worker; a sample's copies (20+ characters that
    occur verbatim there) are drawn reversed, with a line that counts them."""
    from textual.widgets import RichLog

    from rnntui.tui.messages import SampleReady

    trainer = tiny_trainer(tiny_text, tmp_path / "run")
    app = TrainApp(trainer, autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        app.index_training_text()
        await wait_for(pilot, lambda: app._copies is not None)
        text = "qq the dog sat on the log.\nthe cat zz"  # 33 characters copied from the corpus
        marks, note = app.copies_in(text)
        assert marks == ((2, 35),) and note.startswith("1 span of 20+ characters copied")
        app.post_message(SampleReady(7, 0.7, text, marks, note))
        await wait_for(pilot, lambda: app.last_sample is not None)
        await pilot.pause()
        lines = app.query_one(RichLog).lines
        reversed_text = "".join(s.text for line in lines for s in line if s.style and s.style.reverse)
        assert reversed_text.replace("\n", "") == text[2:35].replace("\n", "")
        shown = "".join(s.text for line in lines for s in line)
        assert note.replace(" ", "") in shown.replace(" ", "")  # (wrapped)


async def test_n_steps_the_samples_nucleus(tiny_text, tmp_path):
    trainer = tiny_trainer(tiny_text, tmp_path / "run")
    app = TrainApp(trainer, autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n", "n")
        assert app.top_p == 0.9 and "top-p 0.9" in app.export_screenshot().replace("&#160;", " ")
        app.between_steps()  # a sample is due: drawn from the nucleus of mass 0.9
        await wait_for(pilot, lambda: app.last_sample is not None)
        assert app.last_sample.top_p == 0.9 and app.last_sample.text


async def test_the_chart_shows_where_counting_gets(tiny_text, tmp_path):
    """The n-gram baseline's best validation loss is drawn as a line, and named in the legend."""
    from rnntui import ngram

    trainer = tiny_trainer(tiny_text, tmp_path / "run")
    app = TrainApp(trainer, autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        app.index_training_text()
        chart = app.query_one(LossChart)
        await wait_for(pilot, lambda: chart.counting is not None)
        model = ngram.build(np.asarray(trainer.train_ids), len(trainer.vocab), 8)
        table = -np.log(ngram.token_probs(model, np.asarray(trainer.val_ids))[:, 1:]).mean(axis=1)
        assert chart.counting == pytest.approx(table[1:].min(), rel=1e-9)
        assert "counting gets here" in str(chart.border_subtitle)
