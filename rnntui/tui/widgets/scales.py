"""Colour scales shared by the widgets: tanh activations (diverging) and surprise (sequential)."""

from __future__ import annotations

from functools import lru_cache

from rich.style import Style
from textual.color import Color, Gradient

STEPS = 32  # quantisation levels: styles are cached per level

# blue for -1, near black for 0, orange for +1: tanh's two directions read apart at a glance
ACTIVATION = Gradient((0.0, "#3b82f6"), (0.5, "#1c1c1c"), (1.0, "#f97316"), quality=2 * STEPS + 1)
# surprise in bits: calm grey through amber to red
SURPRISE = Gradient((0.0, "#262626"), (0.4, "#a16207"), (1.0, "#dc2626"), quality=STEPS + 1)
SURPRISE_MAX_BITS = 10.0


def _level(position: float, steps: int) -> int:
    if position != position:  # nan
        return steps // 2
    return max(0, min(steps, round(position * steps)))


@lru_cache(maxsize=256)
def _activation_color(level: int) -> Color:
    return ACTIVATION.get_color(level / (2 * STEPS))


def activation_color(value: float) -> Color:
    """Colour of a tanh activation in [-1, +1]."""
    return _activation_color(_level((float(value) + 1.0) / 2.0, 2 * STEPS))


@lru_cache(maxsize=512)
def cell_style(upper: int, lower: int) -> Style:
    """A half-block ▄ cell: background = upper unit, foreground = lower unit (levels, -1 = none)."""
    bg = _activation_color(upper).rich_color if upper >= 0 else None
    fg = _activation_color(lower).rich_color if lower >= 0 else None
    return Style(color=fg, bgcolor=bg)


def activation_level(value: float) -> int:
    return _level((float(value) + 1.0) / 2.0, 2 * STEPS)


@lru_cache(maxsize=64)
def _surprise_style(level: int) -> Style:
    bg = SURPRISE.get_color(level / STEPS)
    return Style(bgcolor=bg.rich_color, color="white" if level > STEPS // 3 else None)


def surprise_style(bits: float) -> Style:
    return _surprise_style(_level(min(float(bits), SURPRISE_MAX_BITS) / SURPRISE_MAX_BITS, STEPS))


def activation_style(value: float) -> Style:
    color = activation_color(value)
    return Style(bgcolor=color.rich_color, color="white" if abs(value) > 0.35 else None)


def show_token(token: str) -> str:
    """A token as one visible label: space as ·, newline as ⏎, tab as ⇥."""
    return token.replace(" ", "·").replace("\n", "⏎").replace("\t", "⇥")


# gates in [0, 1]: shut (near black) to wide open (teal): a sequential scale, unlike tanh's two colours
GATE = Gradient((0.0, "#1c1c1c"), (1.0, "#2dd4bf"), quality=STEPS + 1)


@lru_cache(maxsize=64)
def _gate_color(level: int) -> Color:
    return GATE.get_color(level / STEPS)


def gate_color(value: float) -> Color:
    """Colour of a gate's value in [0, 1]."""
    return _gate_color(gate_level(value))


def gate_level(value: float) -> int:
    return _level(float(value), STEPS)


@lru_cache(maxsize=1200)
def gate_cell_style(upper: int, lower: int) -> Style:
    """A half-block ▄ cell of two gate values (levels, -1 = none): background upper, foreground lower."""
    bg = _gate_color(upper).rich_color if upper >= 0 else None
    fg = _gate_color(lower).rich_color if lower >= 0 else None
    return Style(color=fg, bgcolor=bg)
