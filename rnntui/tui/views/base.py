"""What every view shares: the tab bar, the ``Computed`` message a worker posts back, and the
``Playground`` a view reads its state from.

A view is given the playground (attributes down) rather than importing the app: it reads the text's
``Trace``, the temperature, the picked unit and layer from it, and edits nothing but its own widgets
and the few fields the protocol lists as shared (the sentences).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from rnntui import inspect
from rnntui.tui.sizes import MIN_SIZE
from rnntui.tui.widgets.prompt import Prompt

if TYPE_CHECKING:
    from rnntui.checkpoint import Checkpoint
    from rnntui.generate import Trace
    from rnntui.tui.views.samples import SampleCache

VIEWS = [  # key, name, tab label
    ("f4", "map", "Map"),
    ("f5", "softmax", "Softmax"),
    ("f6", "memory", "Memory"),
    ("f7", "sentences", "Sentences"),
    ("f8", "unit", "Unit"),
    ("f9", "health", "Health"),
    ("f11", "autocomplete", "Ghost"),
]
ORANGE, CYAN = "#f97316", "#22d3ee"


class Playground(Protocol):
    """What a view needs from the playground that opens it (the app passes itself down)."""

    ckpt: Checkpoint
    trace: Trace  # the text as the model read it
    unit: int
    layer: int
    cursor_blink: bool
    samples: SampleCache  # the validation text run through the model, shared by the views
    sentences: str  # the sentences view's text, kept while the view is closed
    other_ckpt: Checkpoint | None  # play A --compare B: model B

    @property
    def temperature(self) -> float: ...

    @property
    def main_prompt(self) -> Prompt: ...

    def suggest(self, text: str) -> str: ...

    def compose_too_small(self) -> Iterable[Widget]: ...


def label(vocab, tid: int) -> str:
    return inspect.display_token(vocab.tokens[int(tid)])


def encode_lenient(vocab, text: str) -> list[int]:
    """Token ids of ``text``: unknown words become <unk>, unknown characters are skipped."""
    ids = []
    for piece in vocab.pieces(text):
        tid = vocab.id_of(piece)
        tid = vocab.unk_id if tid is None else tid
        if tid is not None:
            ids.append(int(tid))
    return ids


@dataclass
class Computed(Message):
    """A worker's result for its screen; a newer one replaces a waiting one of the same kind."""

    kind: str
    result: object

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Computed) and message.kind == self.kind


class ViewScreen(Screen):
    """A view: the tab bar, the view's body, the footer. ``refresh_view`` redraws it from the app's state."""

    NAME = ""
    BINDINGS = [Binding("escape", "app.view('play')", "Playground")]

    def __init__(self, play: Playground) -> None:
        super().__init__()
        self.play = play

    def compose(self) -> ComposeResult:
        tabs = Text(" ")
        for key, name, title in VIEWS:
            style = Style(bold=True, reverse=True, color=ORANGE) if name == self.NAME else Style(dim=True)
            tabs.append(f" {key.upper()} {title} ", style)
        tabs.append("  Esc back", Style(dim=True))
        yield Static(tabs, id="view-tabs")
        yield from self.compose_body()
        yield from self.play.compose_too_small()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        # the too-small notice, as the app's resize handler would have set it (no resize comes now)
        self.set_class(self.app.size.width < MIN_SIZE[0] or self.app.size.height < MIN_SIZE[1], "-too-small")
        self.start()

    def start(self) -> None:
        """Focus and first drawing (override; Textual calls every class's ``on_mount`` itself)."""
        self.refresh_view()

    def refresh_view(self) -> None:
        """Redraw from the app's current text, temperature, unit and layer (override)."""

    def compose_prompt(self) -> ComposeResult:
        """The playground's text, editable here too (kept in step with the playground's)."""
        prompt = Prompt(self.play.suggest, text=self.play.trace.text, id="view-prompt")
        prompt.cursor_blink = self.play.cursor_blink
        prompt.border_title = "your text (shared with the playground)"
        yield prompt

    def focus_prompt(self) -> None:
        for prompt in self.query(Prompt):
            prompt.move_cursor(prompt.document.end)
            prompt.focus()
