"""The typed text again, each token coloured by what the model felt there: its surprise (bits),
the activation of one hidden unit, or (comparing two models) the difference in their surprise."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from rnntui.tui.widgets.scales import SURPRISE_MAX_BITS, activation_style, surprise_style

COMPARE_MAX_BITS = 4.0  # a difference in surprise of this many bits gets the full colour


def compare_style(bits: float):
    """bits(A) - bits(B) on the diverging scale: orange where B is less surprised, blue where A is."""
    return activation_style(max(-1.0, min(1.0, float(bits) / COMPARE_MAX_BITS)))


SUBTITLES = {
    "surprise": f"grey 0 → red ≥{SURPRISE_MAX_BITS:g} bits",
    "unit": "blue −1 · orange +1",
    "compare": f"blue: A less surprised · orange: B (±{COMPARE_MAX_BITS:g} bits)",
    "copies": "reversed: found verbatim in the training text",
    "match": "reversed: the selection's match · select with Shift+arrows",
    "counting": f"blue: memory beats counting · orange: counting wins (±{COMPARE_MAX_BITS:g} bits)",
}
COPIED = Style(reverse=True)


def copies_style(value: float) -> Style:
    """A span copied from the training text (value 1) reversed; anything else as it is."""
    return COPIED if value > 0 else Style()


class Lens(Widget):
    """``mode`` is "surprise", "unit", "compare", "copies", "counting" (bits of the RNN − bits of the
    n-gram baseline) or "match" (the selection's matches as text); ``values[i]`` colours ``spans[i]``
    of ``text``."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.text = ""
        self.spans: list[tuple[int, int]] = []
        self.values: list[float] = []
        self.mode = "surprise"

    def show(self, text: str, spans: list[tuple[int, int]], values, mode: str, title: str) -> None:
        # copies: the caller's lists (the Trace's) grow with the next keystroke, maybe before a redraw
        self.text, self.spans, self.values, self.mode = text, list(spans), list(values), mode
        self.border_title = title
        self.border_subtitle = SUBTITLES[mode]
        self.refresh()

    def render(self) -> Text:
        width, height = self.content_size
        out = Text(self.text, no_wrap=False)
        style = {"surprise": surprise_style, "unit": activation_style, "compare": compare_style,
                 "copies": copies_style, "counting": compare_style,
                 "match": copies_style}[self.mode]  # fmt: skip
        for (start, end), value in zip(self.spans, self.values, strict=True):
            out.stylize(style(value), start, end)
        # show the end of the text: the last lines that fit
        lines = out.wrap(self.app.console, max(1, width))
        if len(lines) > height:
            lines = lines[len(lines) - height :]
        return Text("\n").join(lines)
