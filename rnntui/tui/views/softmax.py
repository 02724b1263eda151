"""F5: the softmax's geometry, logit = h·w + b for the likeliest next tokens; entropy at T and at 1."""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from rnntui import inspect
from rnntui.tui.views.base import ORANGE, ViewScreen, label
from rnntui.tui.widgets.next_tokens import bar
from rnntui.tui.widgets.prompt import Prompt
from rnntui.tui.widgets.scales import activation_level, cell_style


class SoftmaxView(ViewScreen):
    """logit = h · w + b for the likeliest next tokens, and the temperature's effect on entropy."""

    NAME = "softmax"
    ROWS = 10

    def compose_body(self) -> ComposeResult:
        yield from self.compose_prompt()
        with VerticalScroll(id="softmax-scroll", classes="panel"):
            yield Static(id="softmax")

    def start(self) -> None:
        self.focus_prompt()
        self.refresh_view()

    @cached_property
    def output_layer(self) -> dict[str, np.ndarray]:
        """Why (H, V) and by (V,) in float64, converted once rather than on every keystroke."""
        params = self.play.ckpt.model.params
        return {k: np.asarray(params[k], np.float64) for k in ("Why", "by")}

    def refresh_view(self) -> None:
        play = self.play
        trace, vocab, T = play.trace, play.ckpt.vocab, play.temperature
        trace.set_text(self.query_one(Prompt).text)
        h = np.asarray(trace.gen.model.memory(trace.gen.h)[-1], np.float64)  # (H,) the top layer's memory now
        g = inspect.softmax_geometry(self.output_layer, h, T if T > 0 else 1.0, self.ROWS)
        probs = g.probs if T > 0 else (np.arange(len(g.ids)) == 0).astype(float)  # T = 0: the argmax
        entropy = g.entropy if T > 0 else 0.0
        self.geometry = g
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append("memory h: ", Style(bold=True))
        saturated = float(np.mean(np.abs(h) > inspect.SATURATED))
        out.append(f"|h| = {np.linalg.norm(h):.2f}, {saturated:.0%} of {len(h)} units near ±1\n")
        cells = [(h[i], h[i + 1] if i + 1 < len(h) else None) for i in range(0, len(h), 2)]
        for start in range(0, len(cells), 64):  # two units per cell: upper = background
            out.append("  ")
            for up, lo in cells[start : start + 64]:
                out.append("▄", cell_style(activation_level(up), -1 if lo is None else activation_level(lo)))
            out.append("\n")
        out.append(f"\n{'next':<10}{'h·w':>7}{'+ b':>7}{'= logit':>8}{'|w|':>6}{'cos':>6}", Style(bold=True))
        out.append(f"  {'p at T=' + format(T, 'g'):<19}{'p at 1':>7}\n", Style(bold=True))
        for j, tid in enumerate(g.ids):
            style = Style(color=ORANGE, bold=True) if j == 0 else Style()
            out.append(f"{label(vocab, tid)[:10]:<10}", style)
            out.append(f"{g.dots[j]:7.2f}{g.biases[j]:+7.2f}{g.logits[j]:8.2f}")
            out.append(f"{g.w_norms[j]:6.2f}{g.cosines[j]:+6.2f}  ")
            out.append(bar(float(probs[j]), 12), Style(color=ORANGE if j == 0 else "#60a5fa"))
            out.append(f"{probs[j]:7.1%}{g.probs_at_1[j]:7.1%}\n")
        uniform = math.log2(len(vocab))
        out.append(f"\nentropy: {entropy:.2f} bits at T={T:g}, {g.entropy_at_1:.2f} bits at T=1 ")
        out.append(f"(uniform {uniform:.2f}) · F2/F3 temperature", Style(dim=True))
        self.query_one("#softmax", Static).update(out)
        title = "the softmax's geometry: logit = h · w_token + b_token"
        self.query_one("#softmax-scroll").border_title = title
