"""F4: the embedding map (PCA of the frequent tokens' unit vectors) and one token's nearest neighbours."""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from rnntui import inspect
from rnntui.tui.views.base import CYAN, ORANGE, Computed, Playground, ViewScreen, label
from rnntui.tui.widgets.next_tokens import bar
from rnntui.tui.widgets.scatter import Scatter

MAP_TOKENS = 50  # points on the embedding map
NEIGHBOURS = 10


class MapView(ViewScreen):
    """The embedding map and a token's nearest neighbours."""

    NAME = "map"
    BINDINGS = [Binding("ctrl+o", "vectors", "Vectors")]
    SPACES = ("input", "projected", "output")

    def __init__(self, play: Playground) -> None:
        super().__init__(play)
        self.space = "input"
        self.vectors: dict[str, np.ndarray] = {}  # per space, computed once
        self.order: np.ndarray | None = None  # token ids on the map, most frequent first
        self.order_source = ""
        self.query_id: int | None = None
        self.neighbour_ids = np.zeros(0, np.int64)
        self.neighbour_cos = np.zeros(0)

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="map-row"):
            with Vertical(id="map-left"):
                yield Input(placeholder="a token (empty: the one at the text's cursor)", id="map-word")
                yield Scatter(id="map", classes="panel")
            yield Static(id="neighbours", classes="panel")

    def start(self) -> None:
        self.query_one("#map-word", Input).focus()
        self.load_order()
        self.refresh_view()

    @work(thread=True, exclusive=True, group="map")
    def load_order(self) -> None:
        order, source = self.play.samples.frequency_order()
        if not get_current_worker().is_cancelled:
            self.post_message(Computed("order", (order, source)))

    def on_computed(self, message: Computed) -> None:
        if message.kind == "order":
            order, self.order_source = message.result
            unk = self.play.ckpt.vocab.unk_id
            self.order = np.array([int(i) for i in order if i != unk][:MAP_TOKENS], np.int64)
            self.refresh_view()

    def action_vectors(self) -> None:
        self.space = self.SPACES[(self.SPACES.index(self.space) + 1) % len(self.SPACES)]
        self.refresh_view()

    @on(Input.Changed, "#map-word")
    def word_changed(self) -> None:
        self.refresh_view()

    def cursor_token(self) -> int | None:
        """The token at (just before) the playground's cursor, else the last token of the text."""
        trace = self.play.trace
        if not trace.ids:
            return None
        main = self.play.main_prompt
        index = main.document.get_index_from_location(main.cursor_location)
        for tid, (start, end) in zip(trace.ids, trace.spans, strict=True):
            if start < index <= end:
                return tid
        return trace.ids[-1]

    def refresh_view(self) -> None:
        vocab = self.play.ckpt.vocab
        if self.space not in self.vectors:
            self.vectors[self.space] = inspect.token_vectors(self.play.ckpt.model.params, self.space)
        vectors = self.vectors[self.space]
        word = self.query_one("#map-word", Input).value
        note = ""
        if word:
            self.query_id = inspect.token_id(vocab, word)
            if self.query_id is None:
                note = f"{word!r} is not in the {len(vocab):,}-token vocabulary"
        else:
            self.query_id = self.cursor_token()
        panel = self.query_one("#neighbours", Static)
        panel.border_title = f"nearest · {self.space}"
        if self.query_id is None:
            self.neighbour_ids, self.neighbour_cos = np.zeros(0, np.int64), np.zeros(0)
            panel.update(note or "type a token above, or some text in the playground")
        else:
            self.neighbour_ids, self.neighbour_cos = inspect.neighbours(vectors, self.query_id, NEIGHBOURS)
            out = Text(no_wrap=True, overflow="ellipsis")
            out.append(f"{label(vocab, self.query_id)}\n", Style(bold=True, color=ORANGE))
            for tid, cos in zip(self.neighbour_ids, self.neighbour_cos, strict=True):
                out.append(f"{label(vocab, tid)[:10]:<10} ", Style(color=CYAN))
                out.append(f"{cos:+.2f} {bar(max(cos, 0.0), 6)}\n")
            out.append("cosine similarity", Style(dim=True))
            panel.update(out)
        self.draw_map(vectors)

    def draw_map(self, vectors: np.ndarray) -> None:
        scatter = self.query_one("#map", Scatter)
        if self.order is None:
            scatter.border_title = "embedding map · reading the corpus…"
            return
        vocab = self.play.ckpt.vocab
        # unit vectors: the map shows the geometry the neighbours are ranked by (cosine), and a token
        # with a long vector (at word level "." and "?") no longer squeezes the rest into a corner
        X = inspect.unit_rows(np.asarray(vectors[self.order], np.float64))
        coords, axes, explained = inspect.pca(X, 2)
        if coords.shape[1] < 2:
            axes = np.pad(axes, ((0, 2 - len(axes)), (0, 0)))
        # the query and its neighbours go first (placed first, so always shown), projected on the
        # same axes even when they are not among the frequent tokens
        first = [] if self.query_id is None else [self.query_id, *map(int, self.neighbour_ids)]
        ids = first + [int(i) for i in self.order if int(i) not in first]
        xy = (inspect.unit_rows(np.asarray(vectors[ids], np.float64)) - X.mean(axis=0)) @ axes.T
        styles = [Style(bold=True, color=ORANGE) if j == 0 and first else
                  Style(color=CYAN) if j < len(first) else None for j in range(len(ids))]  # fmt: skip
        scatter.show(xy, [label(vocab, i) for i in ids], styles)
        share = f"{explained[0]:.0%} + {explained[1] if len(explained) > 1 else 0:.0%} of the variance"
        scatter.border_title = f"embedding map · {self.space} vectors (unit length) · PCA, {share}"
        scatter.border_subtitle = f"{len(self.order)} most frequent ({self.order_source}) · ^O vectors"
