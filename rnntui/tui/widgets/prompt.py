"""The text the user writes, with the model's continuation as ghost text after the cursor."""

from __future__ import annotations

from collections.abc import Callable

from textual import events
from textual.binding import Binding
from textual.widgets import TextArea

from rnntui.generate import next_word


class Prompt(TextArea):
    """A TextArea whose suggestion comes from ``suggest(text)`` whenever the cursor is at the end.

    Tab accepts the next word of the suggestion; Shift+Tab or Ctrl+Right accept all of it.
    """

    BINDINGS = [
        Binding("tab", "accept_word", "Accept", show=True),
        Binding("shift+tab,ctrl+right", "accept_all", "Accept all", show=False),
    ]

    def __init__(self, suggest: Callable[[str], str], **kwargs) -> None:
        super().__init__(soft_wrap=True, tab_behavior="focus", show_line_numbers=False,
                         highlight_cursor_line=False, **kwargs)  # fmt: skip
        self.suggest = suggest

    def _on_key(self, event: events.Key) -> None:
        """Alt+letter is a command here (Alt+M models, Alt+C the cell state), not a letter to type. A
        terminal's Alt+M is the key alt+m with the character m, which TextArea's handler (run after
        this one) would insert before the app's binding saw it: prevent_default skips that handler."""
        if event.key.startswith("alt+"):
            event.prevent_default()

    def update_suggestion(self) -> None:
        at_end = self.selection.is_empty and self.cursor_location == self.document.end
        self.suggestion = self.suggest(self.text) if at_end else ""

    def on_text_area_selection_changed(self, event: TextArea.SelectionChanged) -> None:
        self.update_suggestion()

    def action_accept_word(self) -> None:
        if self.suggestion:
            self.insert(next_word(self.suggestion))
        else:
            self.screen.focus_next()

    def action_accept_all(self) -> None:
        if self.suggestion:
            self.insert(self.suggestion)
