"""``rnntui tour``: the guided tour on its own; leaving it (Esc) quits."""

from __future__ import annotations

from textual.binding import Binding

from rnntui.checkpoint import Checkpoint
from rnntui.tui.app import RnnApp
from rnntui.tui.tour.screen import TourScreen

TOUR_KEYS = [
    ("Space, →", "the next screen"),
    ("←", "the screen before"),
    ("Shift+← / Shift+→", "the time step before / after (Ctrl+←/→ too, or click a token)"),
    ("F2 / F3", "temperature down / up (screens 4 and 5)"),
    ("R", "roll the dice again (screens 4 and 5)"),
    ("Ctrl+L", "the next layer (screens 3 and 8, models with layers)"),
    ("1 … 8", "jump to a screen"),
    ("↑ / ↓, PgUp / PgDn", "scroll a screen taller than the terminal"),
    ("Esc", "leave the tour (nothing is saved; the model is unchanged)"),
    ("F1", "this help"),
    ("Ctrl+Q", "quit"),
]


class TourApp(RnnApp):
    """The tour screen over an empty app, which exits when the tour is left."""

    TITLE = "rnntui tour"
    CSS_PATH = "../app.tcss"  # the app's (relative to this module), for the help and too-small screens
    BINDINGS = [
        Binding("f1", "help", "Help", priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]
    HELP_KEYS = TOUR_KEYS

    def __init__(self, ckpt: Checkpoint, text: str = "") -> None:
        super().__init__()
        self.ckpt, self.text = ckpt, text

    def on_mount(self) -> None:
        self.push_screen(TourScreen(self.ckpt, self.text), lambda _: self.exit())
