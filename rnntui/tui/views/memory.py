"""F6: fading memory, how much each earlier token still moves the memory now (‖∂h_last/∂x_(last−k)‖)."""

from __future__ import annotations

import math

import numpy as np
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widgets import Static, TextArea
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
    """Fading memory at the text's cursor: ||d h_t / d x_(t-k)|| as a strip and a curve, and the
    connectivity to the next token, ||d logit_next / d x_(t-k)|| (Distill, "Memorization in RNNs")."""

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

    @on(TextArea.SelectionChanged, "#view-prompt")
    def cursor_moved(self) -> None:
        self.refresh_view()

    def tokens_before_cursor(self) -> int:
        """How many of the trace's tokens end at or before the text's cursor."""
        prompt = self.query_one(Prompt)
        index = prompt.document.get_index_from_location(prompt.cursor_location)
        return sum(1 for _, end in self.play.trace.spans if end <= index)

    def recompute(self) -> None:
        trace = self.play.trace
        trace.set_text(self.query_one(Prompt).text)
        n = self.tokens_before_cursor()
        if not n:
            self.memory, self.strip_tokens = None, 0
            self.query_one("#memory", Static).update(
                "type some text: the curves are about the token before the cursor (move it with the arrows)"
            )
            return
        nl = self.play.ckpt.vocab.id_of("\n")  # the trace starts from a newline's memory
        ids = ([nl] if nl is not None else []) + list(trace.ids[:n])
        target = trace.ids[n] if n < len(trace.ids) else None  # None: the model's guess
        self.compute(np.asarray(ids, np.int64), min(LOOK_BACK, n - 1), n, target)

    @work(thread=True, exclusive=True, group="memory")
    def compute(self, ids: np.ndarray, K: int, n_text: int, target: int | None) -> None:
        params = self.play.ckpt.model.params
        guessed = target is None
        if guessed:  # the likeliest next token after the cursor
            target = int(np.argmax(inspect.logits_of(params, inspect.hidden_trace(params, ids)[-1, -1])))
        fm = inspect.fading_memory(params, ids, K=K, target=target)
        if not get_current_worker().is_cancelled:
            self.post_message(Computed("memory", (fm, ids[len(ids) - n_text :], guessed)))

    def strip(self, out: Text, shown: list[str], curve: np.ndarray, width: int) -> int:
        """The last tokens, each coloured and shaded by its value of ``curve`` (log scale); returns
        how many fit in ``width``."""
        level = log_level(curve)
        cells, budget = [], width
        for j in range(len(shown) - 1, -1, -1):  # from the last token back, as many as fit
            piece = shown[j] if self.play.ckpt.vocab.level == "char" else shown[j] + " "
            if len(piece) > budget:
                break
            budget -= len(piece)
            cells.insert(0, (piece, level(float(curve[len(shown) - 1 - j]))))
        for piece, f in cells:
            out.append(piece, activation_style(2 * f - 1) if f > 0 else Style(dim=True))
        out.append("\n")
        for piece, f in cells:
            out.append(SHADES[min(len(SHADES) - 1, int(f * (len(SHADES) - 1) + 0.5))] * len(piece))
        return len(cells)

    def on_computed(self, message: Computed) -> None:
        fm, ids, guessed = message.result
        self.memory = fm
        vocab = self.play.ckpt.vocab
        curve, conn = fm.norms, fm.connectivity
        width = max(30, (self.query_one("#memory-scroll").content_size.width or 76) - 2)  # - scrollbar
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append("the last tokens, shaded by how much each still moves the memory now:\n", Style(bold=True))
        shown = [label(vocab, i) for i in ids[-len(curve) :]]
        self.strip_tokens = self.strip(out, shown, curve, width)
        whose = "the model's guess" if guessed else "the one in your text"
        out.append(
            f"\n\nconnectivity to the next token {label(vocab, fm.target)!r} ({whose}): ", Style(bold=True)
        )
        out.append("how much each moves its logit\n", Style(bold=True))
        self.strip(out, shown, conn, width)
        hl, fit = fm.half_life, fm.fitted_half_life
        hl_text = f"{hl:.1f} tokens" if hl is not None else f"more than {len(curve) - 1} tokens"
        out.append("\n\nhalf-life: ", Style(bold=True))
        out.append(f"{hl_text} (exponential fit: {f'{fit:.1f}' if fit is not None else 'no decay'})\n")
        out.append(f"saturated (|h| > {inspect.SATURATED}): ", Style(bold=True))
        pairs = enumerate(zip(fm.saturated, fm.saturated_text, strict=True))
        out.append(", ".join(f"layer {i + 1} {s:.0%} now, {m:.0%} over the text" for i, (s, m) in pairs))
        level, decades = log_level(curve), log_decades(curve)
        heading = f"\n\n{'k':>3} {'token':>8} {'‖∂h/∂x‖':>9} {'‖∂z/∂x‖':>9}  ‖∂h/∂x‖ on a log scale"
        heading += f" over {decades} decade(s)\n"
        out.append(heading, Style(bold=True))
        for k, v in enumerate(curve):
            out.append(f"{k:>3} {shown[len(shown) - 1 - k][:8]:>8} {v:9.2e} {conn[k]:9.2e}  ")
            out.append(bar(level(float(v)), min(60, width - 36)) + "\n", Style(color=ORANGE))
        self.query_one("#memory", Static).update(out)
        self.query_one(
            "#memory-scroll"
        ).border_title = (
            "fading memory at the cursor: ‖∂h_t / ∂x_(t−k)‖, Frobenius · ‖∂ logit_next / ∂x_(t−k)‖"
        )


def log_decades(curve: np.ndarray) -> int:
    """Decades of a log scale that shows ``curve`` from its peak down to its floor (at most 12)."""
    peak = float(curve.max())
    floor = max(float(curve.min()), peak * 1e-12)
    return max(1, math.ceil(math.log10(peak / floor))) if peak > 0 else 1


def log_level(curve: np.ndarray):
    """v -> 0..1: ``v`` on the log scale of ``curve`` (1 at its peak, 0 at its floor or below)."""
    peak, decades = float(curve.max()), log_decades(curve)

    def level(v: float) -> float:
        return max(0.0, 1 + math.log10(v / peak) / decades) if v > 0 and peak > 0 else 0.0

    return level
