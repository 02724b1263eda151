"""The command line's TUI entry points: bare ``rnntui``, ``play``, ``train --tui``; a fast --help."""

import os
import signal
import subprocess
import sys
import time

from click.testing import CliRunner

from rnntui import checkpoint, cli
from rnntui.cli import main
from rnntui.tui.app import PlaygroundApp
from rnntui.tui.dashboard import TrainApp


def test_help_imports_neither_textual_nor_numba():
    code = (
        "import sys; from click.testing import CliRunner; from rnntui.cli import main;"
        "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0, r.output;"
        "heavy = ('textual', 'numba', 'rnntui.tui', 'aiohttp', 'rnntui.serve');"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_bare_rnntui_opens_the_playground_on_the_shipped_model(monkeypatch):
    opened = []
    monkeypatch.setattr(PlaygroundApp, "run", lambda self, *a, **k: opened.append(self))
    result = CliRunner().invoke(main, [])
    assert result.exit_code == 0, result.output
    (app,) = opened
    shipped = checkpoint.load(cli.SHIPPED_MODEL)
    assert app.ckpt.vocab.tokens == shipped.vocab.tokens
    assert "rnntui train" in result.output  # tells the user how to train their own


def test_play_opens_the_given_checkpoint(monkeypatch, tiny_ckpt):
    opened = []
    monkeypatch.setattr(PlaygroundApp, "run", lambda self, *a, **k: opened.append(self))
    result = CliRunner().invoke(main, ["play", str(tiny_ckpt), "--text", "The "])
    assert result.exit_code == 0, result.output
    assert opened[0].source == str(tiny_ckpt) and opened[0].initial_text == "The "


def _headless_dashboard(monkeypatch, auto_pilot):
    """``train --tui`` runs its dashboard headless (100 x 30), driven by ``auto_pilot(pilot)``."""
    original_run = TrainApp.run

    def run_headless(self, *args, **kwargs):
        return original_run(self, headless=True, size=(100, 30), auto_pilot=auto_pilot)

    monkeypatch.setattr(TrainApp, "run", run_headless)


async def _until(pilot, done) -> None:
    """Let the app run until ``done()`` holds (at most a minute)."""
    end = time.monotonic() + 60
    while not done() and time.monotonic() < end:
        await pilot.pause(0.05)


def _some_steps(app) -> bool:
    return app.progress is not None and app.progress.step >= 20


def test_train_tui_runs_the_dashboard_and_quitting_saves(monkeypatch, tiny_text, tmp_path):
    async def quit_after_some_steps(pilot):
        await _until(pilot, lambda: _some_steps(pilot.app))
        await pilot.press("q")

    _headless_dashboard(monkeypatch, quit_after_some_steps)
    args = ["train", str(tiny_text), "--tui", "--hidden", "16", "--embed", "8", "--seq", "8", "--batch", "4",
            "--steps", "1000000", "--out", str(tmp_path), "--name", "dash"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "interrupted" in result.output
    saved = checkpoint.load(tmp_path / "dash" / "latest.npz")
    assert saved.meta["step"] >= 20


def test_sigterm_to_the_dashboard_saves_exits_zero_and_restores_the_handler(monkeypatch, tiny_text, tmp_path):
    """``kill PID`` on ``train --tui``: the run saves, the dashboard quits, the exit is clean, and the
    process's own SIGTERM handler is back afterwards (here the test's, which must never be reached)."""
    reached, watchdog = [], []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: reached.append(signum))

    async def terminate_after_some_steps(pilot):
        await _until(pilot, lambda: _some_steps(pilot.app))
        os.kill(os.getpid(), signal.SIGTERM)  # the handler stops the trainer, which saves; the app exits
        pilot.app.set_timer(60, lambda: (watchdog.append("fired"), pilot.app.exit()))  # if it never does

    _headless_dashboard(monkeypatch, terminate_after_some_steps)
    args = ["train", str(tiny_text), "--tui", "--hidden", "16", "--embed", "8", "--seq", "8", "--batch", "4",
            "--steps", "1000000", "--out", str(tmp_path), "--name", "dash"]  # fmt: skip
    try:
        result = CliRunner().invoke(main, args)
        restored = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.exit_code == 0, result.output
    assert reached == [] and watchdog == []
    assert restored is not signal.SIG_DFL and restored.__code__.co_filename == __file__
    assert "interrupted" in result.output
    assert checkpoint.load(tmp_path / "dash" / "latest.npz").meta["step"] >= 20


def test_the_shipped_model_is_small_and_completes_real_words():
    import re
    from pathlib import Path

    from rnntui.generate import Trace

    assert cli.SHIPPED_MODEL.stat().st_size < 2_000_000
    ckpt = checkpoint.load(cli.SHIPPED_MODEL)
    republic = Path(__file__).resolve().parents[2] / "corpora" / "republic.txt"
    known = set(re.findall(r"[A-Za-z]+", republic.read_text(encoding="utf-8")))
    for prefix in ["The just m", "And what is justi", "Socrates said that the "]:
        trace = Trace(ckpt.model, ckpt.vocab)
        trace.set_text(prefix)
        ghost = trace.suggestion()
        start = prefix.rstrip().rfind(" ") + 1  # the word being typed, completed, and those after it
        words = re.findall(r"[A-Za-z]+", (prefix + ghost)[start:])
        assert words and all(w in known for w in words), (prefix, ghost)


def test_tour_opens_the_shipped_model_or_the_given_checkpoint(monkeypatch, tiny_ckpt, tmp_path):
    from rnntui.tui.tour.app import TourApp

    opened = []
    monkeypatch.setattr(TourApp, "run", lambda self, *a, **k: opened.append(self))
    result = CliRunner().invoke(main, ["tour"])
    assert result.exit_code == 0, result.output
    assert (
        opened[0].ckpt.vocab.tokens == checkpoint.load(cli.SHIPPED_MODEL).vocab.tokens
        and opened[0].text == ""
    )
    result = CliRunner().invoke(main, ["tour", str(tiny_ckpt), "--text", "The just"])
    assert result.exit_code == 0, result.output
    assert opened[1].text == "The just" and opened[1].ckpt.model.cfg.hidden == 24
    # a bad checkpoint: one line, no traceback, a non-zero exit
    for bad, why in [(tmp_path / "none.npz", "no such checkpoint"), (tmp_path / "junk.npz", "not an rnntui")]:
        if bad.name == "junk.npz":
            bad.write_text("not a zip")
        result = CliRunner().invoke(main, ["tour", str(bad)])
        assert result.exit_code != 0 and why in result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert len(opened) == 2
    help_text = CliRunner().invoke(main, ["tour", "--help"]).output
    assert "Shift+←/→ time step" in help_text and "--text" in help_text


def _dashboard_until(monkeypatch, state: str):
    """Run ``train --tui`` headless; quit once the dashboard's state is ``state``."""

    async def quit_when_there(pilot):
        await _until(pilot, lambda: pilot.app.state == state)
        await pilot.press("q")

    _headless_dashboard(monkeypatch, quit_when_there)


DASH = ["--tui", "--hidden", "16", "--embed", "8", "--seq", "8", "--batch", "4"]


def test_a_dashboard_run_that_fails_exits_1_with_its_reason(monkeypatch, tiny_text, tmp_path):
    from rnntui.train import Trainer

    def broken(self, *args, **kwargs):
        raise OSError("the disk is on fire\nsecond line")

    monkeypatch.setattr(Trainer, "run", broken)
    _dashboard_until(monkeypatch, "failed")
    result = CliRunner().invoke(
        main, ["train", str(tiny_text), *DASH, "--steps", "5", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1 and result.output.endswith("Error: the disk is on fire\n")


def test_a_dashboard_run_that_finishes_says_where_it_saved(monkeypatch, tiny_text, tmp_path):
    _dashboard_until(monkeypatch, "finished")
    result = CliRunner().invoke(
        main, ["train", str(tiny_text), *DASH, "--steps", "5", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    saved = checkpoint.load(tmp_path / "tiny" / "latest.npz")
    assert saved.meta["step"] == 5
    assert (
        result.output.splitlines()[-1]
        == f"stopped at step 5 (steps); saved {tmp_path / 'tiny' / 'latest.npz'}"
    )


def test_a_dashboard_run_that_diverges_says_so_once_as_its_error(monkeypatch, tiny_text, tmp_path):
    _dashboard_until(monkeypatch, "diverged")
    args = ["train", str(tiny_text), *DASH, "--steps", "500", "--optimizer", "sgd", "--lr", "1e30",
            "--clip", "0", "--out", str(tmp_path), "--name", "wild"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and result.output.count("lower --lr") == 1  # said once, as the error
    assert result.output.splitlines()[-1].startswith("Error: ")
