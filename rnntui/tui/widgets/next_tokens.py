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
        self.kept = np.ones(len(tokens), bool)  # the nucleus sampling draws from

    def show(
        self, probs: np.ndarray, temperature: float, top_p: float = 1.0, kept: np.ndarray | None = None
    ) -> None:
        """``probs`` (V,) at ``temperature``; ``kept`` (V,) bool, the nucleus of mass ``top_p``: the
        tokens outside it are drawn struck through and dim (sampling never picks them)."""
        self.probs = probs
        self.kept = np.ones(len(probs), bool) if kept is None else kept
        self.border_title = f"next token · T={temperature:g}"
        if top_p < 1.0:  # (the panel is narrow)
            self.border_title = f"next · T={temperature:g} · p={top_p:g} keeps {int(self.kept.sum())}"
        self.refresh()

    def top(self, k: int) -> list[tuple[str, float]]:
        order = np.argsort(-self.probs, kind="stable")[:k]
        return [(self.tokens[i], float(self.probs[i])) for i in order]

    def top_kept(self, k: int) -> list[bool]:
        """Whether each of ``top(k)`` is in the nucleus."""
        return [bool(self.kept[i]) for i in np.argsort(-self.probs, kind="stable")[:k]]

    def render(self) -> Text:
        width, rows = self.content_size
        label = min(8, max(len(show_token(t)) for t in self.tokens))
        bar_width = max(1, width - label - 8)
        out = Text(no_wrap=True, overflow="ellipsis")
        top = self.top(max(1, rows))
        for i, ((token, p), kept) in enumerate(zip(top, self.top_kept(len(top)), strict=True)):
            if i:
                out.append("\n")
            out.append(show_token(token)[:label].rjust(label), style="bold" if kept else "dim strike")
            out.append(" ")
            out.append(bar(p, bar_width), style=("#f97316" if i == 0 else "#60a5fa") if kept else "#404040")
            out.append(f" {p:6.1%}", style="dim" if p < 0.01 or not kept else "")
        return out
