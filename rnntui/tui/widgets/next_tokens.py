"""The next-token panel: the likeliest next tokens with their probabilities as bars."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.widget import Widget

from rnntui.tui.widgets.scales import show_token

EIGHTHS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of ``fraction`` (0..1) of ``width`` cells, to an eighth of a cell."""
    eighths = int(round(max(0.0, min(1.0, fraction)) * width * 8))
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


class NextTokens(Widget):
    """Top-k of a distribution over the vocabulary, one row per token, as many rows as fit."""

    def __init__(self, tokens: tuple[str, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self.tokens = tokens
        self.probs = np.full(len(tokens), 1.0 / len(tokens))

    def show(self, probs: np.ndarray, temperature: float) -> None:
        self.probs = probs
        self.border_title = f"next token · T={temperature:g}"
        self.refresh()

    def top(self, k: int) -> list[tuple[str, float]]:
        order = np.argsort(-self.probs, kind="stable")[:k]
        return [(self.tokens[i], float(self.probs[i])) for i in order]

    def render(self) -> Text:
        width, rows = self.content_size
        label = min(8, max(len(show_token(t)) for t in self.tokens))
        bar_width = max(1, width - label - 8)
        out = Text(no_wrap=True, overflow="ellipsis")
        for i, (token, p) in enumerate(self.top(max(1, rows))):
            if i:
                out.append("\n")
            out.append(show_token(token)[:label].rjust(label), style="bold")
            out.append(" ")
            out.append(bar(p, bar_width), style="#f97316" if i == 0 else "#60a5fa")
            out.append(f" {p:6.1%}", style="dim" if p < 0.01 else "")
        return out
