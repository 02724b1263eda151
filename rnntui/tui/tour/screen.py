"""The tour's screen: a title line, the token bar, the screen's sentences and its body, the footer.

Space or → goes on, ← goes back, Esc leaves; Shift+←/→ (or Ctrl+←/→, or a click on a token) moves
the time step; F2/F3 change the temperature, R rolls the dice, Ctrl+L picks the layer, 1..8 jump.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from rnntui.checkpoint import Checkpoint
from rnntui.tui.tour.draw import ORANGE
from rnntui.tui.tour.state import TEMPERATURES, TourState
from rnntui.tui.tour.steps import STEPS, GatesStep, Step, TokenBar

# the playground's keys that have no meaning here (its own text area is not on this screen)
PLAYGROUND_KEYS = "ctrl+g,ctrl+n,ctrl+p,ctrl+t,alt+c,ctrl+s,ctrl+r"


class Computed(Message):
    """The worker has computed a slow screen's numbers."""


class TourScreen(Screen[None]):
    """The guided tour over a text; dismissed with Esc (the model is never changed)."""

    CSS_PATH = "tour.tcss"
    BINDINGS = [
        Binding("space,right", "page(1)", "Next"),
        Binding("left", "page(-1)", "Back"),
        Binding("shift+right,ctrl+right", "time(1)", "t+1"),
        Binding("shift+left,ctrl+left", "time(-1)", "t−1"),
        Binding("f2", "temperature(-1)", "T−"),
        Binding("f3", "temperature(1)", "T+"),
        Binding("r", "roll", "Dice"),
        Binding("ctrl+l", "layer", "Layer", show=False),
        *[Binding(str(k), f"jump({k - 1})", show=False) for k in range(1, 9)],
        Binding("escape", "leave", "Leave"),
        Binding(PLAYGROUND_KEYS, "not_here", show=False),
    ]

    def __init__(self, ckpt: Checkpoint, text: str = "", t_index: int = TEMPERATURES.index(0.7)) -> None:
        super().__init__()
        self.state = TourState(ckpt, text, t_index)
        self.steps: tuple[type[Step], ...] = tuple(s for s in STEPS if s is not GatesStep or self.state.gated)
        self.page = 0

    def compose(self) -> ComposeResult:
        yield Static(id="tour-title")
        yield TokenBar(self.state, id="tour-tokens")
        yield Static(id="tour-explain")
        with VerticalScroll(id="tour-body"):
            for i, step in enumerate(self.steps):
                yield step(self.state, id=f"tour-step-{i + 1}", classes="tour-step")
        yield from self.app.compose_too_small()  # type: ignore[attr-defined]
        yield Footer()

    def on_mount(self) -> None:
        from rnntui.tui.app import MIN_SIZE

        self.set_class(self.app.size.width < MIN_SIZE[0] or self.app.size.height < MIN_SIZE[1], "-too-small")
        self.show_page()

    @property
    def step(self) -> Step:
        return self.query_one(f"#tour-step-{self.page + 1}", Step)

    def show_page(self) -> None:
        """Show the current screen, redrawn from the state."""
        s = self.state
        for i, widget in enumerate(self.query(Step)):
            widget.display = i == self.page
        step = self.step
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(" Tour ", Style(bold=True, reverse=True, color=ORANGE))
        title.append(f" {self.page + 1}/{len(self.steps)} ", Style(bold=True))
        title.append(step.TITLE, Style(bold=True))
        cell = s.ckpt.model.cfg.cell
        title.append(
            f"   {s.tokens.level} level · {'vanilla RNN' if cell == 'rnn' else cell.upper()} · "
            f"temperature {s.temperature:g} · F1 help",
            Style(dim=True),
        )
        self.query_one("#tour-title", Static).update(title)
        self.query_one("#tour-explain", Static).update(step.explain())
        self.query_one(TokenBar).refresh()
        step.refresh(layout=True)
        if step.SLOW and not s.ready(step.SLOW):
            self.compute(step.SLOW)

    @work(thread=True, exclusive=True, group="tour")
    def compute(self, what: str) -> None:
        self.state.compute(what)
        self.post_message(Computed())

    def on_computed(self, message: Computed) -> None:
        self.show_page()

    # -- actions ------------------------------------------------------------------------------------

    def action_page(self, delta: int) -> None:
        self.page = max(0, min(len(self.steps) - 1, self.page + delta))
        self.query_one("#tour-body", VerticalScroll).scroll_home(animate=False)
        self.show_page()

    def action_jump(self, page: int) -> None:
        if page < len(self.steps):
            self.action_page(page - self.page)

    def action_time(self, delta: int) -> None:
        self.state.move(delta)
        self.show_page()

    def on_token_bar_picked(self, message: TokenBar.Picked) -> None:
        self.state.t = message.t
        self.show_page()

    def action_temperature(self, delta: int) -> None:
        self.state.t_index = max(0, min(len(TEMPERATURES) - 1, self.state.t_index + delta))
        self.show_page()

    def action_roll(self) -> None:
        self.state.roll += 1
        self.show_page()

    def action_layer(self) -> None:
        self.state.layer = (self.state.layer + 1) % self.state.layers
        self.show_page()

    def action_not_here(self) -> None:
        self.notify("that is a playground key: Esc leaves the tour first", timeout=3)

    def action_leave(self) -> None:
        self.dismiss(None)
