"""The hidden-state heatmap: one column per token, two hidden units per text row (half blocks).

It shows the memory h (tanh's -1..+1), or for an LSTM its cell state c, which has no bound: c is
drawn on a scale of ±(the largest |c| in view, at least 1), given in the legend.

Drawn with the Line API (``render_line``), since it redraws on every keystroke.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.events import Click
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from rnntui.generate import salient_units
from rnntui.tui.widgets.scales import activation_color, activation_level, cell_style, show_token

GUTTER = 10  # "uuu▀ vvv▄ ": the labels of the two units of a row
LEGEND_ROWS = 2  # token labels and the colour legend


def pair_label(upper: int, lower: int, picked: int) -> list[Segment]:
    """The gutter of a row of two units (lower -1: none), the picked unit marked: "uuu▀ vvv▄ "."""
    mark, dim = Style(bold=True, reverse=True), Style(dim=True)
    return [
        Segment(f"{upper:>3}", mark if upper == picked else dim),
        Segment("▀ ", dim),
        Segment(f"{lower:>3}" if lower >= 0 else "   ", mark if lower == picked else dim),
        Segment("▄ " if lower >= 0 else "  ", dim),
    ]


def token_row(labels: list[str], columns: int) -> Strip:
    """The last ``columns`` tokens under the heatmap's columns, one character each."""
    text = "".join(show_token(t)[:1] for t in labels[len(labels) - columns :])
    return Strip([Segment("  tokens→ ", Style(dim=True)), Segment(text, Style(bold=True))])


class Heatmap(Widget, can_focus=True):
    """Memory over time: ``acts`` (N, H) of one layer, the last tokens that fit as columns."""

    @dataclass
    class UnitPicked(Message):
        unit: int

    def __init__(self, hidden: int, layers: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.hidden, self.n_layers = hidden, layers
        self.acts = np.zeros((0, hidden), np.float32)
        self.labels: list[str] = []
        self.unit = 0
        self.layer_index = 0
        self.units = np.arange(0)  # the units shown, top to bottom
        self.columns = 0  # tokens shown
        self.what = "h"  # "h", or "c": the LSTM's cell state
        self.scale = 1.0  # values are drawn as value / scale on the -1..+1 colours

    @property
    def rows_available(self) -> int:
        return max(0, self.size.height - LEGEND_ROWS)

    @property
    def columns_available(self) -> int:
        return max(0, self.size.width - GUTTER)

    def show(self, acts: np.ndarray, labels: list[str], unit: int, layer: int, what: str = "h") -> None:
        """acts (N, H): h, or with ``what="c"`` the LSTM's cell state."""
        self.acts, self.labels, self.unit, self.layer_index, self.what = acts, labels, unit, layer, what
        self._layout()

    def on_resize(self) -> None:
        self._layout()

    def _layout(self) -> None:
        self.columns = min(len(self.acts), self.columns_available)
        visible = self.acts[len(self.acts) - self.columns :]
        self.units = salient_units(visible, 2 * self.rows_available, keep=self.unit)
        shown = "all units" if len(self.units) == self.hidden else (
            f"{len(self.units)} of {self.hidden} units, the most varying")  # fmt: skip
        layer = f"layer {self.layer_index + 1}/{self.n_layers} · " if self.n_layers > 1 else ""
        self.scale = 1.0
        if self.what == "c" and visible.size:
            self.scale = max(1.0, float(np.abs(visible).max()))
        name = "cell state c" if self.what == "c" else "memory h"
        self.border_title = f"{name} · {layer}{shown}"
        self.border_subtitle = f"unit {self.unit}"
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        pairs = (len(self.units) + 1) // 2
        if y < pairs:
            strip = self._unit_row(y)
        elif y == pairs:
            strip = self._token_row()
        elif y == pairs + 1:
            strip = self._legend()
        else:
            strip = Strip.blank(width, self.rich_style)
        return strip.apply_style(self.rich_style).crop_extend(0, width, self.rich_style)

    def _unit_row(self, y: int) -> Strip:
        upper = int(self.units[2 * y])
        lower = int(self.units[2 * y + 1]) if 2 * y + 1 < len(self.units) else -1
        label = pair_label(upper, lower, self.unit)
        visible = self.acts[len(self.acts) - self.columns :]
        cells = []
        inv = 1.0 / self.scale
        for x in range(self.columns):
            up = activation_level(visible[x, upper] * inv)
            lo = activation_level(visible[x, lower] * inv) if lower >= 0 else -1
            cells.append(Segment("▄", cell_style(up, lo)))
        return Strip(label + cells)

    def _token_row(self) -> Strip:
        return token_row(self.labels, self.columns)

    def _legend(self) -> Strip:
        if self.what == "c":
            segments = [Segment("      c  ", Style(dim=True)), Segment(f"-{self.scale:.3g} ")]
        else:
            segments = [Segment("   tanh  ", Style(dim=True)), Segment("-1 ")]
        for i in range(17):
            value = -1 + i / 8
            segments.append(Segment(" ", Style(bgcolor=activation_color(value).rich_color)))
        segments.append(Segment(f" +{self.scale:.3g}" if self.what == "c" else " +1", Style()))
        return Strip(segments)

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        pair = offset.y
        if 0 <= pair < (len(self.units) + 1) // 2:
            upper = int(self.units[2 * pair])
            lower = int(self.units[2 * pair + 1]) if 2 * pair + 1 < len(self.units) else upper
            self.post_message(self.UnitPicked(lower if self.unit == upper else upper))
