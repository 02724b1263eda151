"""F6: fading memory, how much each earlier token still moves the memory now (‖∂h_last/∂x_(last−k)‖)."""

from __future__ import annotations

import math

import numpy as np
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import get_current_worker

from rnntui import inspect
from rnntui.tui.views.base import ORANGE, Computed, Playground, ViewScreen, label
from rnntui.tui.widgets.next_tokens import bar
from rnntui.tui.widgets.prompt import Prompt
from rnntui.tui.widgets.scales import activation_style

LOOK_BACK = 40  # K of the fading-memory curve (the cost is K products of H x H matrices per layer)
DEBOUNCE = 0.2  # seconds of quiet typing before the fading-memory curve is recomputed
SHADES = " ░▒▓█"


class MemoryView(ViewScreen):
    """Fading memory: ||d h_last / d x_(last-k)|| for the text, as a strip and a curve."""

    NAME = "memory"

    def __init__(self, play: Playground) -> None:
        super().__init__(play)
        self.strip_tokens = 0  # tokens shaded in the strip (for tests)
        self.memory: inspect.FadingMemory | None = None
        self.timer: Timer | None = None

    def compose_body(self) -> ComposeResult:
        yield from self.compose_prompt()
        with VerticalScroll(id="memory-scroll", classes="panel"):
            yield Static(id="memory")

    def start(self) -> None:
        self.focus_prompt()
        self.recompute()

    def refresh_view(self) -> None:
        """Recompute once typing pauses: a thread cannot be stopped midway, so don't start one per key."""
        if self.timer is not None:
            self.timer.stop()
        self.timer = self.set_timer(DEBOUNCE, self.recompute)

    def recompute(self) -> None:
        trace = self.play.trace
        trace.set_text(self.query_one(Prompt).text)
        if not trace.ids:
            self.memory, self.strip_tokens = None, 0
            self.query_one("#memory", Static).update("type some text: the curve is about its last token")
            return
        nl = self.play.ckpt.vocab.id_of("\n")  # the trace starts from a newline's memory
        ids = ([nl] if nl is not None else []) + list(trace.ids)
        self.compute(np.asarray(ids, np.int64), min(LOOK_BACK, len(trace.ids) - 1), len(trace.ids))

    @work(thread=True, exclusive=True, group="memory")
    def compute(self, ids: np.ndarray, K: int, n_text: int) -> None:
        fm = inspect.fading_memory(self.play.ckpt.model.params, ids, K=K)
        if not get_current_worker().is_cancelled:
            self.post_message(Computed("memory", (fm, ids[len(ids) - n_text :])))

    def on_computed(self, message: Computed) -> None:
        fm, ids = message.result
        self.memory = fm
        vocab = self.play.ckpt.vocab
        curve = fm.norms
        peak = float(curve.max())
        floor = max(float(curve.min()), peak * 1e-12)
        decades = max(1, math.ceil(math.log10(peak / floor))) if peak > 0 else 1

        def level(v: float) -> float:  # 0..1 on the log scale
            return max(0.0, 1 + math.log10(v / peak) / decades) if v > 0 and peak > 0 else 0.0

        width = max(30, (self.query_one("#memory-scroll").content_size.width or 76) - 2)  # - scrollbar
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append("the last tokens, shaded by how much each still moves the memory now:\n", Style(bold=True))
        shown = [label(vocab, i) for i in ids[-len(curve) :]]
        cells, budget = [], width
        for j in range(len(shown) - 1, -1, -1):  # from the last token back, as many as fit
            piece = shown[j] if vocab.level == "char" else shown[j] + " "
            if len(piece) > budget:
                break
            budget -= len(piece)
            cells.insert(0, (piece, level(float(curve[len(shown) - 1 - j]))))
        self.strip_tokens = len(cells)
        for piece, f in cells:
            out.append(piece, activation_style(2 * f - 1) if f > 0 else Style(dim=True))
        out.append("\n")
        for piece, f in cells:
            out.append(SHADES[min(len(SHADES) - 1, int(f * (len(SHADES) - 1) + 0.5))] * len(piece))
        hl, fit = fm.half_life, fm.fitted_half_life
        hl_text = f"{hl:.1f} tokens" if hl is not None else f"more than {len(curve) - 1} tokens"
        out.append("\n\nhalf-life: ", Style(bold=True))
        out.append(f"{hl_text} (exponential fit: {f'{fit:.1f}' if fit is not None else 'no decay'})\n")
        out.append(f"saturated (|h| > {inspect.SATURATED}): ", Style(bold=True))
        pairs = enumerate(zip(fm.saturated, fm.saturated_text, strict=True))
        out.append(", ".join(f"layer {i + 1} {s:.0%} now, {m:.0%} over the text" for i, (s, m) in pairs))
        heading = f"\n\n{'k':>3} {'token':>8} {'‖∂h/∂x‖':>9}  log scale over {decades} decade(s)\n"
        out.append(heading, Style(bold=True))
        for k, v in enumerate(curve):
            out.append(f"{k:>3} {shown[len(shown) - 1 - k][:8]:>8} {v:9.2e}  ")
            out.append(bar(level(float(v)), min(60, width - 26)) + "\n", Style(color=ORANGE))
        self.query_one("#memory", Static).update(out)
        self.query_one("#memory-scroll").border_title = "fading memory: ‖∂h_last / ∂x_(last−k)‖, Frobenius"
