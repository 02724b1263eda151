"""The gates heatmap (GRU, LSTM): beside the memory heatmap, each gate of the same units, per token.

One block per gate (its name, then two units per text row in half blocks, like the memory heatmap),
the tokens along the bottom, and the 0..1 scale. Shut gates are dark, open ones bright: an LSTM unit
whose forget gate stays bright is keeping its memory; a GRU unit whose update gate z is bright is
copying its old memory through. Drawn with the Line API, as it redraws on every keystroke.
"""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from rnntui.tui.widgets.heatmap import GUTTER, pair_label, token_row
from rnntui.tui.widgets.scales import gate_cell_style, gate_color, gate_level

LEGEND_ROWS = 2  # token labels and the colour legend


class GatesMap(Widget):
    """Gates over time: ``gates`` (N, G, H) of one layer for the units the memory heatmap shows."""

    def __init__(self, names: tuple[str, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self.names = names
        self.gates = np.zeros((0, len(names), 0), np.float32)
        self.labels: list[str] = []
        self.units = np.arange(0)  # the units drawn
        self.offered = np.arange(0)  # the memory heatmap's units, in its order
        self.unit = 0
        self.layer_note = ""  # "layer 2 · " on a multi-layer model
        self.columns = 0

    @property
    def pairs_per_gate(self) -> int:
        """Rows of unit pairs each gate gets after its name row."""
        rows = self.size.height - LEGEND_ROWS
        return max(0, (rows - len(self.names)) // max(1, len(self.names)))

    def show(
        self, gates: np.ndarray, labels: list[str], units: np.ndarray, unit: int, layer: str = ""
    ) -> None:
        """gates (N, G, H); ``units`` in the memory heatmap's order: as many as fit are drawn, the
        picked ``unit`` always among them."""
        self.gates, self.labels, self.unit, self.layer_note = gates, labels, unit, layer
        self.offered = np.asarray(units, np.int64)
        self._layout()

    def on_resize(self) -> None:
        self._layout()

    def _layout(self) -> None:
        """Which units and tokens fit the panel's size now (also on a resize, when show is not called)."""
        room = 2 * self.pairs_per_gate
        chosen = [int(u) for u in self.offered[:room]]
        if room and self.unit not in chosen:
            chosen[-1:] = [self.unit]
        self.units = np.asarray(sorted(chosen), np.int64)
        self.columns = min(len(self.gates), max(0, self.size.width - GUTTER))
        self.border_title = (
            f"gates · {self.layer_note}{len(self.units)} units" if len(self.units) else "gates"
        )
        self.border_subtitle = "0 shut · 1 open"
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        pairs = (len(self.units) + 1) // 2
        block = 1 + pairs
        if y < block * len(self.names):
            g, row = divmod(y, block)
            strip = self._name_row(g) if row == 0 else self._unit_row(g, row - 1)
        elif y == block * len(self.names):
            strip = self._token_row()
        elif y == block * len(self.names) + 1:
            strip = self._legend()
        else:
            strip = Strip.blank(width, self.rich_style)
        return strip.apply_style(self.rich_style).crop_extend(0, width, self.rich_style)

    def _visible(self) -> np.ndarray:
        return self.gates[len(self.gates) - self.columns :]

    def _name_row(self, g: int) -> Strip:
        visible = self._visible()
        mean = f" · mean {visible[:, g, self.units].mean():.2f}" if self.columns and len(self.units) else ""
        return Strip([Segment(f"{self.names[g]}{mean}", Style(bold=True))])

    def _unit_row(self, g: int, pair: int) -> Strip:
        upper = int(self.units[2 * pair])
        lower = int(self.units[2 * pair + 1]) if 2 * pair + 1 < len(self.units) else -1
        label = pair_label(upper, lower, self.unit)
        visible = self._visible()
        cells = []
        for x in range(self.columns):
            up = gate_level(visible[x, g, upper])
            lo = gate_level(visible[x, g, lower]) if lower >= 0 else -1
            cells.append(Segment("▄", gate_cell_style(up, lo)))
        return Strip(label + cells)

    def _token_row(self) -> Strip:
        return token_row(self.labels, self.columns)

    def _legend(self) -> Strip:
        segments = [Segment("   gate   ", Style(dim=True)), Segment("0 ")]
        for i in range(17):
            segments.append(Segment(" ", Style(bgcolor=gate_color(i / 16).rich_color)))
        segments.append(Segment(" 1", Style()))
        return Strip(segments)
