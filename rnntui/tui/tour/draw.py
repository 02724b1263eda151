"""Drawing helpers of the tour: numbers at a terminal's size and vectors as heat blocks (rich Text).

A vector of N numbers is drawn as a block of half-block cells, two numbers per cell (the upper half
and the lower half), row after row: number j sits in pixel row j // cols, column j % cols. Values
are shown on the tanh colours (blue -1, black 0, orange +1) divided by a scale; gates (0..1) on the
gate colours. Only drawing here: every number comes from ``rnntui.tour``.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
from rich.style import Style
from rich.text import Text

from rnntui.inspect import display_token
from rnntui.tui.widgets.scales import activation_color, gate_color

ORANGE, CYAN, DIM = "#f97316", "#22d3ee", Style(dim=True)
LABEL = 22  # width of a vector's label column
NUMBERS = 28  # width of its numbers, "[−0.263 −1.80 … +0.568]", or of the note below them


def tok(vocab, tid: int) -> str:
    """A token as a short visible label (space ␣, newline ⏎)."""
    return display_token(vocab.tokens[int(tid)])


def quoted(vocab, tid: int) -> str:
    return f"'{tok(vocab, tid)}'"


def num(v: float) -> str:
    """A number in 6 characters, signed: +0.123, −1.23, +12.3."""
    v = float(v)
    if abs(v) >= 99.95:
        text = f"{v:+.0f}"
    elif abs(v) >= 9.995:
        text = f"{v:+.1f}"
    elif abs(v) >= 0.9995:
        text = f"{v:+.2f}"
    else:
        text = f"{v:+.3f}"
    return text.replace("-", "−")


def numbers(v: np.ndarray, shown: int = 3) -> str:
    """The first ``shown`` numbers, an ellipsis and the last: "[+0.12 −0.40 +1.03 … −0.22]"."""
    v = np.asarray(v)
    if len(v) <= shown + 1:
        return "[" + " ".join(num(x) for x in v) + "]"
    return "[" + " ".join(num(x) for x in v[:shown]) + " … " + num(v[-1]) + "]"


def paragraph(text: str, width: int, style: Style | str = "") -> list[Text]:
    """Plain text wrapped at ``width`` into lines (the tour's widgets draw without wrapping)."""
    return [Text(line, style) for line in textwrap.wrap(text, max(10, width))] or [Text("")]


def block_shape(n: int, width: int) -> tuple[int, int]:
    """(text rows, columns) of a heat block of n numbers at most ``width`` columns wide: as few rows as
    fit, then the columns evened out over them."""
    width = max(1, width)
    rows = max(1, math.ceil(n / (2 * width)))
    return rows, max(1, math.ceil(n / (2 * rows)))


def heat_block(
    v: np.ndarray, width: int, scale: float = 1.0, gate: bool = False, max_rows: int | None = None
) -> list[Text]:
    """Text rows drawing every number of v (N,): two per cell, on the tanh colours of v / scale
    (``gate``: the 0..1 gate colours of v). ``max_rows``: at most that many rows (the first numbers)."""
    v = np.asarray(v, np.float64)
    rows, cols = block_shape(len(v), width)
    if max_rows is not None and rows > max_rows:
        rows, cols = max_rows, max(1, width)
        v = v[: 2 * rows * cols]
    n = len(v)
    inv = 1.0 / scale if scale > 0 else 1.0

    def color(x: float):
        return gate_color(x) if gate else activation_color(x * inv)

    out = []
    for r in range(rows):
        line = Text(no_wrap=True)
        for c in range(cols):
            up, lo = 2 * r * cols + c, (2 * r + 1) * cols + c
            if up >= n:
                break
            if lo < n:
                line.append("▄", Style(color=color(v[lo]).rich_color, bgcolor=color(v[up]).rich_color))
            else:
                line.append("▀", Style(color=color(v[up]).rich_color))
        out.append(line)
    return out


def scale_of(rows: list[np.ndarray]) -> float:
    """One colour scale for vectors drawn together: ±1 when they all fit, else their largest |value|."""
    top = max((float(np.abs(v).max()) for v in rows if len(v)), default=1.0)
    return max(1.0, top)


def vector_lines(
    label: str,
    v: np.ndarray,
    width: int,
    scale: float = 1.0,
    gate: bool = False,
    note: str = "",
    label_width: int = LABEL,
    shown: np.ndarray | None = None,
) -> list[Text]:
    """A labelled vector: its label, its first numbers (of ``shown`` when given, else of v) and a note
    (default: its norm), and its heat block. Wide terminals put the block beside the text, two rows
    for 256 numbers; narrow ones below it."""
    head = Text(no_wrap=True, overflow="ellipsis")
    head.append(label[: label_width - 1].ljust(label_width), Style(bold=True))
    head.append(numbers(v if shown is None else shown, 2), DIM)
    note = note or f"‖·‖ {float(np.linalg.norm(v)):.3g}"
    text_width = label_width + NUMBERS
    if width - text_width - 2 >= 48:  # beside
        block = heat_block(v, width - text_width - 2, scale, gate)
        lefts = [head, Text(" " * label_width + note, DIM)]
        lines = []
        for i in range(max(len(block), 2)):
            left = lefts[i].copy() if i < 2 else Text("")
            left.truncate(text_width, pad=True)
            lines.append(Text.assemble(left, "  ", block[i] if i < len(block) else "", no_wrap=True))
        return lines
    head.append("  " + note, DIM)
    return [head] + [Text.assemble("  ", row, no_wrap=True) for row in heat_block(v, width - 2, scale, gate)]


def legend(scale: float = 1.0, gate: bool = False) -> Text:
    """The colour scale: −s … +s on the tanh colours, or 0 … 1 on the gate colours."""
    out = Text(no_wrap=True)
    if gate:
        out.append("gate  0 shut ", DIM)
        for i in range(17):
            out.append(" ", Style(bgcolor=gate_color(i / 16).rich_color))
        out.append(" 1 open", DIM)
        return out
    out.append(f"colours  {num(-scale)} ", DIM)
    for i in range(17):
        out.append(" ", Style(bgcolor=activation_color(-1 + i / 8).rich_color))
    out.append(f" {num(scale)}", DIM)
    return out
