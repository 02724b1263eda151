"""F7: sentence vectors, the final memory of each line; their cosine matrix and PCA map."""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static, TextArea
from textual.worker import get_current_worker

from rnntui import inspect
from rnntui.tui.views.base import ORANGE, Computed, Playground, ViewScreen, encode_lenient
from rnntui.tui.widgets.scales import activation_color
from rnntui.tui.widgets.scatter import Scatter

DEFAULT_SENTENCES = """The just man is happy.
The unjust man is miserable.
What is justice?
Socrates asked Glaucon a question.
"""


class SentencesView(ViewScreen):
    """Sentence vectors: the final memory of each line; their cosine matrix and PCA map."""

    NAME = "sentences"

    def __init__(self, play: Playground) -> None:
        super().__init__(play)
        self.matrix = np.zeros((0, 0))
        self.lines: list[str] = []

    def compose_body(self) -> ComposeResult:
        area = TextArea(self.play.sentences, id="sentences", soft_wrap=False, show_line_numbers=True)
        area.cursor_blink = self.play.cursor_blink
        area.border_title = "one sentence a line"
        yield area
        with Horizontal(id="sentence-row"):
            with VerticalScroll(id="cosines-scroll", classes="panel"):
                yield Static(id="cosines")
            yield Scatter(id="sentence-map", classes="panel")

    def start(self) -> None:
        self.query_one("#sentences", TextArea).focus()
        self.refresh_view()

    @on(TextArea.Changed, "#sentences")
    def sentences_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.play.sentences = event.text_area.text
        self.refresh_view()

    def refresh_view(self) -> None:
        vocab = self.play.ckpt.vocab
        lines = [s.strip() for s in self.query_one("#sentences", TextArea).text.splitlines() if s.strip()]
        ids = [encode_lenient(vocab, s) for s in lines]
        kept = [(s, i) for s, i in zip(lines, ids, strict=True) if i]
        self.compute([s for s, _ in kept], [np.asarray(i, np.int64) for _, i in kept], self.play.layer)

    @work(thread=True, exclusive=True, group="sentences")
    def compute(self, lines: list[str], ids: list[np.ndarray], layer: int) -> None:
        if len(lines) < 2:
            result = (lines, None)
        else:
            vectors = inspect.sentence_vectors(self.play.ckpt.model.params, ids)[:, layer]  # (S, H)
            result = (lines, inspect.sentence_map(np.asarray(vectors, np.float64)))
        if not get_current_worker().is_cancelled:
            self.post_message(Computed("sentences", result))

    def on_computed(self, message: Computed) -> None:
        lines, result = message.result
        self.lines = lines
        panel, scatter = self.query_one("#cosines", Static), self.query_one("#sentence-map", Scatter)
        layers = self.play.ckpt.model.cfg.layers
        which = f" · layer {self.play.layer + 1}/{layers} (Ctrl+L)" if layers > 1 else ""
        self.query_one("#cosines-scroll").border_title = f"cosine of the final memories{which}"
        if result is None:
            self.matrix = np.zeros((len(lines), len(lines)))
            panel.update("write at least two sentences (lines) above")
            scatter.show(np.zeros((0, 2)), [])
            return
        cos, coords, explained = result
        self.matrix = cos
        S = len(lines)
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append("   " + "".join(f"{j + 1:>6}" for j in range(S)) + "\n", Style(bold=True))
        for i in range(S):
            out.append(f"{i + 1:>3} ", Style(bold=True))
            for j in range(S):
                c = float(cos[i, j])
                out.append(f"{c:+5.2f}", Style(bgcolor=activation_color(c).rich_color, color="white"))
                out.append(" ")
            out.append("\n")
        out.append("\n")
        for i, line in enumerate(lines):
            out.append(f"{i + 1:>3} ", Style(bold=True))
            out.append(line + "\n")
        panel.update(out)
        scatter.show(coords, [str(i + 1) for i in range(S)], [Style(bold=True, color=ORANGE)] * S)
        scatter.border_title = f"PCA map · {explained[0]:.0%} + {explained[1]:.0%} of the variance"
