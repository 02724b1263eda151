"""A labelled 2D scatter in text cells: each point is drawn as its label, placed so labels do not
collide (``inspect.place_labels``); labels that do not fit are left out and counted."""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from rnntui.inspect import place_labels


class Scatter(Widget):
    """Points ``xy`` (N, 2) with ``labels``; ``styles[i]`` (or None) colours label i. Pass the most
    important points first: they are placed first, so they are the ones that always fit."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.xy = np.zeros((0, 2))
        self.labels: list[str] = []
        self.label_styles: list[Style | None] = []
        self.placed: list[tuple[int, int, int]] = []

    def show(self, xy: np.ndarray, labels: list[str], styles: list[Style | None] | None = None) -> None:
        self.xy, self.labels = np.asarray(xy, np.float64), list(labels)
        self.label_styles = list(styles) if styles is not None else [None] * len(self.labels)
        self.refresh()

    @property
    def missing(self) -> int:
        return len(self.labels) - len(self.placed)

    def render(self) -> Text:
        width, height = self.content_size
        if not len(self.labels) or width < 2 or height < 2:
            self.placed = []
            return Text("")
        self.placed = place_labels(self.xy, self.labels, width, height)
        grid: list[list[tuple[str, Style | None]]] = [[(" ", None)] * width for _ in range(height)]
        for r, c, i in self.placed:
            for j, ch in enumerate(self.labels[i]):
                grid[r][c + j] = (ch, self.label_styles[i])
        out = Text(no_wrap=True, overflow="crop")
        for r, row in enumerate(grid):
            if r:
                out.append("\n")
            for ch, style in row:
                out.append(ch, style)
        return out
