"""The model picker: a modal list of the shipped models; choosing one switches the playground to it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from rnntui.shipped import ModelInfo


def model_label(m: ModelInfo) -> str:
    """One line per model: name, cell, level, size, validation loss."""
    size = f"H={m.hidden}" + (f"x{m.layers}" if m.layers > 1 else "")
    unit = "char" if m.level == "char" else "word"
    return (f"{m.name:<16} {m.cell:<4} {m.level:<4} {size:<8} {m.params / 1e6:5.2f}M params  "
            f"val {m.val_loss:.3f} nats/{unit}")  # fmt: skip


class ModelPicker(ModalScreen[str | None]):
    """Dismissed with the picked model's name, or None (Esc)."""

    DEFAULT_CSS = """
    ModelPicker { align: center middle; }
    ModelPicker > Vertical { width: 96; height: auto; max-height: 80%; border: round $accent;
                             background: $surface; padding: 0 1; }
    ModelPicker OptionList { height: auto; max-height: 16; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Back")]

    def __init__(self, models: list[ModelInfo], current: str | None) -> None:
        super().__init__()
        self.models, self.current = models, current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Open a shipped model (Enter), Esc: back", id="picker-title")
            options = [Option(model_label(m) + ("  (open)" if m.name == self.current else ""), id=m.name)
                       for m in self.models]  # fmt: skip
            yield OptionList(*options, id="models")

    def on_mount(self) -> None:
        names = [m.name for m in self.models]
        self.query_one(OptionList).highlighted = names.index(self.current) if self.current in names else 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
