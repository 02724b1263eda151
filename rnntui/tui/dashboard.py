"""The training dashboard: the trainer runs in a worker thread; the UI draws what it reports.

The worker is the only thread that touches the weights. Everything that needs them consistent —
a sample from the current weights, "save now" — happens in the trainer's event callback, between
two steps, on the worker thread; the UI only sets flags and reads the messages it gets back.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import numpy as np
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, RichLog, Static

from rnntui import copies
from rnntui.generate import sample_text
from rnntui.model import RNN
from rnntui.train import Evaluated, Progress, Saved, Stopped, Trainer
from rnntui.tui.app import TEMPERATURES, TOP_PS, RnnApp
from rnntui.tui.messages import CountingLoss, Paused, SampleReady, TrainEvent, TrainFailed, TrainProgress
from rnntui.tui.widgets.loss_chart import LossChart

PROGRESS_EVERY = 0.25  # seconds between progress messages
SAMPLE_EVERY = 4.0  # seconds between samples
SAMPLE_CHARS = 240  # tokens per sample


STATES = {
    "starting": "starting…",
    "running": "[green]running[/]",
    "pausing": "[yellow]pausing…[/]",
    "paused": "[yellow]paused[/]",
    "saving": "[yellow]saving and stopping…[/]",
    "finished": "[cyan]finished[/] (q quits)",
    "stopped": "[cyan]stopped[/]",
    "failed": "[red]failed[/]",
    "diverged": "[red]diverged[/]",
}


def clock(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "—"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class TrainApp(RnnApp):
    """``rnntui train`` with a dashboard: loss chart, figures, samples from the current weights."""

    TITLE = "rnntui train"
    BINDINGS = [
        Binding("space,p", "pause", "Pause"),
        Binding("s", "save", "Save"),
        Binding("minus,f2", "temperature(-1)", "T−"),
        Binding("plus,equals_sign,f3", "temperature(1)", "T+"),
        Binding("n", "top_p", "top-p", show=False),
        Binding("r", "reroll", "Re-roll"),
        Binding("f1,question_mark", "help", "Help"),
        Binding("q", "quit_training", "Quit (saves)"),
        Binding("ctrl+c", "quit_training", "Quit (saves)", show=False, priority=True),
    ]
    HELP_KEYS = [
        ("Space or P", "pause / resume training (the loop waits between two steps)"),
        ("S", "save a checkpoint now (latest.npz)"),
        ("− / +  (F2 / F3)", "sampling temperature down / up for the next samples"),
        ("N", "nucleus sampling for the next samples: top-p 1 → 0.95 → … → 0.4"),
        ("R", "re-roll: a new sample from the current weights right away"),
        ("↑ ↓ PgUp PgDn", "scroll the history of samples (step-stamped)"),
        ("Q or Ctrl+C", "stop: saves a checkpoint, then quits"),
        ("F1 or ?", "this help"),
    ]

    def __init__(self, trainer: Trainer, *, seed: int = 0, sample_every: float = SAMPLE_EVERY,
                 autostart: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.autostart = autostart  # False: no worker (tests drive the dashboard with messages)
        self.trainer = trainer
        self.seed = seed
        self.sample_every = sample_every
        self.stop = threading.Event()
        self.pause = threading.Event()
        self._save_now = threading.Event()
        self._reroll = threading.Event()
        self.pause_request = threading.Event()
        self._last_sample = -math.inf
        self._rng = np.random.default_rng(seed)
        self._snapshot = RNN(trainer.model.cfg)
        self.done = threading.Event()  # set when the worker has returned (its checkpoint written)
        self.t_index = TEMPERATURES.index(0.7)
        self.temperature = TEMPERATURES[self.t_index]  # read by the worker: a float swap is atomic
        self.top_p = 1.0  # nucleus sampling's p (read by the worker too)
        self.progress: Progress | None = None
        self.evaluated: Evaluated | None = None
        self.saved: Saved | None = trainer.last_saved and Saved(trainer.last_saved, trainer.step)
        self.stopped: Stopped | None = None
        self.error: str | None = None
        self.state = "starting"
        self.last_sample: SampleReady | None = None
        self.start_step = trainer.step
        self._copies: copies.Reference | None = None  # the training split indexed (set by a worker)

    # -- layout -------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        t = self.trainer
        cfg = t.cfg
        files = t.corpus_files
        corpus = files[0].name if len(files) == 1 else f"{len(files)} files"
        init = t.init_from
        tuned = f" ← {Path(init['path']).name}@{init['step']} +{init['added']} tokens" if init else ""
        cell = "" if cfg.cell == "rnn" else f"{cfg.cell.upper()} "
        about = (f"{corpus}{tuned} · {cfg.level} level, V={len(t.vocab)} · {cell}H={cfg.hidden}"
                 f"{f'×{cfg.layers}' if cfg.layers > 1 else ''} · {t.model.flat.size:,} parameters · "
                 f"→ {t.run_dir}/ · F1 help")  # fmt: skip
        yield Static(about, id="title")
        with Horizontal(id="charts-row"):
            chart = LossChart(math.log(len(t.vocab)), id="chart", classes="panel")
            chart.border_title = "loss (nats/token) vs step"
            chart.border_subtitle = f"[#f97316]train[/] · [cyan]val[/] · [gray]ln V = {chart.uniform:.2f}[/]"
            yield chart
            stats = Static(id="stats", classes="panel")
            stats.border_title = "training"
            yield stats
        samples = RichLog(id="samples", classes="panel", wrap=True, markup=False, max_lines=2000)
        samples.border_title = "samples from the current weights"
        yield samples
        yield from self.compose_too_small()
        yield Footer()

    def on_mount(self) -> None:
        chart = self.query_one(LossChart)
        history = self.trainer.train_history
        stride = max(1, len(history) // 200)  # a resumed run: its past, thinned
        for i in range(stride - 1, len(history), stride):
            chart.add_train(i + 1, history[i])
        for step, val in self.trainer.val_history:
            chart.add_val(step, val)
        chart.replot()
        self.show_stats()
        self.set_interval(1.0, chart.replot)
        self.state = "running"
        if self.autostart:
            self.index_training_text()
            self.train()

    def on_unmount(self) -> None:
        self.stop.set()  # however the app goes away, the trainer stops (and saves)

    def exit(self, *args, **kwargs) -> None:
        self.stop.set()
        super().exit(*args, **kwargs)

    # -- the worker ---------------------------------------------------------------------------------
    #
    # Only one thread at a time works with the weights. While training, that is the trainer thread;
    # in its event callback (between two steps) it also samples and saves on request. Pausing is a
    # hand-off: the UI asks (``pause_request``), the callback sets the trainer's ``pause`` event, so
    # the loop sleeps before its next step, and a second worker serves samples and saves meanwhile.

    @work(thread=True, exit_on_error=False)
    def train(self) -> None:
        last_post = 0.0

        def on_event(event) -> None:
            nonlocal last_post
            if isinstance(event, Progress):
                now = time.monotonic()
                if now - last_post >= PROGRESS_EVERY:
                    last_post = now
                    self.post_message(TrainProgress(event))
                self.between_steps()
                if self.pause_request.is_set():
                    self.pause.set()  # the trainer sleeps before its next step
                    self.post_message(Paused())
            else:
                self.post_message(TrainEvent(event))

        try:
            self.trainer.run(on_event, self.stop, self.pause)
        except Exception as err:  # shown in the app, never as a traceback
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
            self.post_message(TrainFailed(first_line))
        finally:
            self.done.set()

    @work(thread=True, exit_on_error=False, group="copies")
    def index_training_text(self) -> None:
        """Off the UI, once: the training split's suffix array, to mark the samples' copies, then the
        n-gram baseline for the chart (each read from beside the token cache when it is there; left
        out when the machine has not the memory for it)."""
        from rnntui import ngram
        from rnntui.memory import MemoryLimitError

        t = self.trainer
        about = ", ".join(f.name for f in t.corpus_files)
        try:
            self._copies = copies.make_reference(t.train_ids, t.vocab, t.corpus_sha, t.token_cache, about)
        except MemoryLimitError:
            pass
        try:
            order = ngram.DEFAULT_ORDER[t.vocab.level]
            model = ngram.load_or_build(
                np.asarray(t.train_ids), len(t.vocab), order, t.corpus_sha, t.token_cache
            )
        except MemoryLimitError:
            return
        if len(t.val_ids) >= 2:
            chunk = 1 << 20
            blocks = (np.asarray(t.val_ids[i : i + chunk]) for i in range(0, len(t.val_ids), chunk))
            table, _ = ngram.stream_losses(model, blocks)
            best = int(np.argmin(table[1:])) + 1
            self.post_message(CountingLoss(best, float(table[best])))

    @work(thread=True, exit_on_error=False, group="paused")
    def serve_while_paused(self) -> None:
        """Samples and saves while the trainer sleeps (its weights are still)."""
        while self.pause.is_set() and not self.stop.is_set():
            self.between_steps()
            time.sleep(0.05)

    def between_steps(self) -> None:
        """Save or sample if asked or due. Runs on a worker thread while the weights are still."""
        if self._save_now.is_set():
            self._save_now.clear()
            self.post_message(TrainEvent(Saved(self.trainer.save(), self.trainer.step)))
        if self._reroll.is_set() or time.monotonic() - self._last_sample >= self.sample_every:
            self._reroll.clear()
            self._last_sample = time.monotonic()
            self._snapshot.flat[:] = self.trainer.model.flat  # a private copy to sample from
            temperature, top_p = self.temperature, self.top_p
            seed = int(self._rng.integers(2**31))
            text = sample_text(self._snapshot, self.trainer.vocab, length=SAMPLE_CHARS,
                               temperature=temperature, top_p=top_p, seed=seed)  # fmt: skip
            marks, note = self.copies_in(text)
            self.post_message(SampleReady(self.trainer.step, temperature, text, marks, note, top_p=top_p))

    def copies_in(self, text: str) -> tuple[tuple[tuple[int, int], ...], str]:
        """The character spans of ``text`` copied from the training text, and a line about them."""
        ref = self._copies
        if ref is None:
            return (), ""
        found = copies.check_text(ref, text)
        unit = "characters" if ref.vocab.level == "char" else "words"
        return tuple(found.chars), copies.summary(found, text, unit)

    def on_paused(self, message: Paused) -> None:
        if self.pause.is_set() and self.state == "pausing":
            self.state = "paused"
            self.serve_while_paused()
            self.show_stats()

    # -- messages from the worker -------------------------------------------------------------------

    def on_train_progress(self, message: TrainProgress) -> None:
        self.progress = message.event
        for chart in self.query(LossChart):  # none while the app is closing
            chart.add_train(message.event.step, message.event.loss)
        self.show_stats()

    def on_train_event(self, message: TrainEvent) -> None:
        event = message.event
        if isinstance(event, Evaluated):
            self.evaluated = event
            for chart in self.query(LossChart):
                chart.add_val(event.step, event.val_loss)
        elif isinstance(event, Saved):
            self.saved = event
        elif isinstance(event, Stopped):
            self.stopped = event
            self.state = "stopped" if event.reason in ("interrupted",) else (
                "diverged" if event.reason == "diverged" else "finished")  # fmt: skip
            if self.stop.is_set():
                self.exit()
                return
            self.notify(event.message, title="training stopped", timeout=10)
        self.show_stats()

    def on_train_failed(self, message: TrainFailed) -> None:
        self.error = message.error
        self.state = "failed"
        self.notify(message.error, title="training could not run", severity="error", timeout=30)
        self.show_stats()

    def on_counting_loss(self, message: CountingLoss) -> None:
        for chart in self.query(LossChart):
            chart.set_counting(message.loss)
            counting = f"[magenta]counting gets here: {message.order}-gram {message.loss:.2f}[/]"
            chart.border_subtitle = (f"[#f97316]train[/] · [cyan]val[/] · {counting} · "
                                     f"[gray]ln V = {chart.uniform:.2f}[/]")  # fmt: skip

    def on_sample_ready(self, message: SampleReady) -> None:
        for log in self.query(RichLog):
            self._write_sample(log, message)
        self.last_sample = message

    def _write_sample(self, log: RichLog, message: SampleReady) -> None:
        nucleus = f"· top-p {message.top_p:g} " if message.top_p < 1.0 else ""
        head = Text(f"── step {message.step:,} · T={message.temperature:g} {nucleus}", style="bold #f97316")
        log.write(head)
        text = Text(message.text)
        for start, end in message.copies:
            text.stylize("reverse", start, end)
        log.write(text)
        if message.copies_note:
            log.write(Text(message.copies_note, style="dim"))

    # -- the figures --------------------------------------------------------------------------------

    def show_stats(self) -> None:
        cfg, p, ev = self.trainer.cfg, self.progress, self.evaluated
        table = Table.grid(padding=(0, 1))
        table.add_column(style="dim", no_wrap=True)
        table.add_column(no_wrap=True)
        state = STATES.get(self.state, self.state)
        table.add_row("state", state)
        step = p.step if p else self.trainer.step
        total = cfg.steps
        table.add_row("step", f"{step:,}" + (f" / {total:,}" if total else ""))
        if p:
            done = p.step - self.start_step
            remaining = None
            if total and done > 0:
                remaining = (total - p.step) * p.elapsed / done
            if p.deadline is not None:
                remaining = min(remaining if remaining is not None else math.inf, p.deadline - p.elapsed)
            table.add_row("tokens/s", f"{p.tokens_per_s:,.0f}")
            table.add_row("time", f"{clock(p.elapsed)} · {clock(remaining)} left")
            table.add_row("lr", f"{p.lr:.2e}")
            clip = f" · clip {ev.clip_rate:.0%}" if ev else ""
            table.add_row("grad norm", f"{p.grad_norm:.2f}{clip}")
            table.add_row("loss", f"{p.loss:.3f} (this step)")
        if ev:
            table.add_row("train/val", f"{ev.train_loss:.3f} / {ev.val_loss:.3f}{' *' if ev.best else ''}")
            table.add_row("  bits", f"{ev.train_loss / math.log(2):.2f} / {ev.val_loss / math.log(2):.2f}")
        table.add_row(
            "sample T", f"{self.temperature:g}" + (f" · top-p {self.top_p:g}" if self.top_p < 1 else "")
        )
        if self.saved:
            table.add_row("saved", Text(f"{self.saved.path.name} @ {self.saved.step:,}", overflow="ellipsis"))
        else:
            table.add_row("saved", "not yet")
        if self.error:
            table.add_row("error", Text(self.error, style="red"))
        for stats in self.query("#stats").results(Static):
            stats.update(table)

    # -- keys -------------------------------------------------------------------------------------

    def action_pause(self) -> None:
        if self.state == "running":
            self.pause_request.set()
            self.state = "pausing"
        elif self.state in ("pausing", "paused"):
            self.pause_request.clear()
            self.pause.clear()
            self.state = "running"
        self.show_stats()

    def action_save(self) -> None:
        if self.state in ("running", "pausing", "paused"):
            self._save_now.set()

    def action_temperature(self, delta: int) -> None:
        self.t_index = max(0, min(len(TEMPERATURES) - 1, self.t_index + delta))
        self.temperature = TEMPERATURES[self.t_index]
        self.show_stats()

    def action_top_p(self) -> None:
        self.top_p = TOP_PS[(TOP_PS.index(self.top_p) + 1) % len(TOP_PS)]
        self.show_stats()

    def action_reroll(self) -> None:
        self._reroll.set()

    def action_quit_training(self) -> None:
        if self.state in ("running", "pausing", "paused", "starting"):
            self.state = "saving"
            self.show_stats()
            self.stop.set()  # the trainer saves, then reports Stopped, and we exit
        else:
            self.exit()
