"""The smallest terminal the apps draw in, and what they say when it is smaller."""

from __future__ import annotations

MIN_SIZE = (80, 24)  # columns, rows


def too_small_message(width: int, height: int) -> str:
    return (f"The terminal is {width}×{height}; rnntui needs at least {MIN_SIZE[0]}×{MIN_SIZE[1]}.\n"
            "Make the window larger.")  # fmt: skip
