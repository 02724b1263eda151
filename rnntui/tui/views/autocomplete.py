"""F11: how good is the ghost text? Autocomplete accuracy by letters seen (Distill's "Memorization in
RNNs"), as a chart: the share of the validation text's words the beam finishes right after 0, 1, 2, …
of their letters, top-1 (the ghost text) and top-3; with ``play A --compare B``, B's curves beside A's."""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from rnntui import autocomplete, inspect
from rnntui.tui.views.base import CYAN, ORANGE, Computed, Playground, ViewScreen

MAX_WORDS = 300  # words of the validation text scored: about a second per model


class AccuracyChart(PlotextPlot):
    """Top-1 and top-3 accuracy (%) against letters seen, one pair of curves per model."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.curves: list[tuple[str, autocomplete.Accuracy]] = []

    def show(self, curves: list[tuple[str, autocomplete.Accuracy]]) -> None:
        self.curves = curves
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        for (name, acc), color in zip(curves, ("orange", "cyan"), strict=False):
            j = np.flatnonzero(acc.words > 0)
            plt.plot(j, 100 * acc.top1_share[j], color=color, marker="braille", label=f"{name} top-1")
            plt.plot(j, 100 * acc.top3_share[j], color=color, marker="dot", label=f"{name} top-3")
        letters = [int(j) for j in np.flatnonzero(curves[0][1].words > 0)] if curves else [0]
        plt.xticks(letters)  # whole letters only
        plt.ylim(0, 100)
        plt.xlabel("letters of the word already typed")
        plt.ylabel("% right")
        self.refresh()


class AutocompleteView(ViewScreen):
    """Autocomplete accuracy by letters seen on the validation text, as a chart and a table."""

    NAME = "autocomplete"

    def __init__(self, play: Playground) -> None:
        super().__init__(play)
        self.curves: list[tuple[str, autocomplete.Accuracy]] = []

    def compose_body(self) -> ComposeResult:
        with Vertical(id="autocomplete-body", classes="panel"):
            yield AccuracyChart(id="accuracy-chart")
            yield Static("scoring the ghost text on the validation text…", id="accuracy")

    def refresh_view(self) -> None:
        if not self.curves:
            self.compute(list(self.play.trace.ids))

    @work(thread=True, exclusive=True, group="autocomplete")
    def compute(self, fallback: list[int]) -> None:
        found = inspect.training_corpus_ids(self.play.ckpt)
        if found is not None and len(found[1]) >= 2:
            ids, source = np.asarray(found[1], np.int64), "the validation split"
        else:
            ids, source = np.asarray(fallback, np.int64), "your text (training corpus not found)"
        models = [("A" if self.play.other_ckpt is not None else "model", self.play.ckpt)]
        if self.play.other_ckpt is not None:
            models.append(("B", self.play.other_ckpt))
        curves = []
        for name, ckpt in models:
            if get_current_worker().is_cancelled:
                return
            curves.append((name, autocomplete.accuracy(ckpt.model, ckpt.vocab, ids, max_words=MAX_WORDS)))
        if not get_current_worker().is_cancelled:
            self.post_message(Computed("autocomplete", (curves, source)))

    def on_computed(self, message: Computed) -> None:
        curves, source = message.result
        self.curves = curves
        words = int(curves[0][1].words[0])
        body = self.query_one("#autocomplete-body")
        body.border_title = f"autocomplete accuracy by letters seen · {words:,} words of {source}"
        if words == 0:
            self.query_one("#accuracy", Static).update("no whole words to score: type a longer text")
            return
        self.query_one(AccuracyChart).show(curves)
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(f"{'letters':>8}{'words':>7}", Style(dim=True))
        for name, _ in curves:
            out.append(f"   {name + ' top-1':>11}{'top-3':>7}", Style(dim=True))
        out.append("\n")
        for j in np.flatnonzero(curves[0][1].words > 0):
            out.append(f"{j:>8}{curves[0][1].words[j]:>7}")
            for (_, acc), color in zip(curves, (ORANGE, CYAN), strict=False):
                out.append(f"   {acc.top1_share[j]:>11.0%}", Style(color=color, bold=True))
                out.append(f"{acc.top3_share[j]:>7.0%}", Style(color=color))
            out.append("\n")
        out.append(
            "top-1: the ghost text the playground shows; top-3: the word is among the beam's three best",
            Style(dim=True),
        )
        self.query_one("#accuracy", Static).update(out)
