"""F8: what the picked unit does: its strongest contexts on the validation text, its correlation with
simple features, and the units that track each feature best."""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static
from textual.worker import get_current_worker

from rnntui import inspect
from rnntui.tui.views.base import ORANGE, Computed, Playground, ViewScreen
from rnntui.tui.views.samples import Sample
from rnntui.tui.widgets.next_tokens import bar
from rnntui.tui.widgets.scales import activation_style


class UnitView(ViewScreen):
    """What the picked unit does: top contexts on validation text, correlations, units by feature."""

    NAME = "unit"

    def __init__(self, play: Playground) -> None:
        super().__init__(play)
        self.sample: Sample | None = None

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="unit-scroll", classes="panel"):
            yield Static("reading the validation text…", id="unit")

    def refresh_view(self) -> None:
        if self.sample is not None and self.play.samples.validation is self.sample:
            self.draw()
        else:
            self.compute(list(self.play.trace.ids))

    @work(thread=True, exclusive=True, group="unit")
    def compute(self, fallback: list[int]) -> None:
        sample = self.play.samples.get(fallback)
        if not get_current_worker().is_cancelled:
            self.post_message(Computed("sample", sample))

    def on_computed(self, message: Computed) -> None:
        self.sample = message.result
        self.draw()

    def draw(self) -> None:
        play, sample = self.play, self.sample
        H, L = play.ckpt.model.cfg.hidden, play.ckpt.model.cfg.layers
        unit, layer = play.unit, play.layer
        scroll = self.query_one("#unit-scroll")
        of_layer = f" of layer {layer + 1}/{L}" if L > 1 else ""
        scroll.border_title = f"unit {unit}{of_layer} · Ctrl+N/P unit, Ctrl+L layer"
        if sample is None:
            self.query_one("#unit", Static).update(
                "the training corpus is not on this machine: type some text in the playground to run on"
            )
            return
        values, drive = sample.hs[:, layer, unit], sample.drive[:, layer, unit]
        level = play.ckpt.vocab.level
        top, bottom = inspect.top_contexts(drive, 5, gap=30 if level == "char" else 8)
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(f"on {sample.source}: ", Style(bold=True))
        saturated = np.mean(np.abs(values) > inspect.SATURATED)
        out.append(f"mean {values.mean():+.2f}, |h| > {inspect.SATURATED} at {saturated:.0%}\n")
        shown = play.ckpt.model.cell.DRIVE  # (symbol, words) of what ranks the contexts; None: h
        for title, picks in (("most positive", top), ("most negative", bottom)):
            out.append(f"\n{title}", Style(bold=True))
            what = f"; {shown[0]} {shown[1]}" if shown else ""
            out.append(f" (h after the marked token{what})\n", Style(dim=True))
            for t in picks:
                left, mid, right = inspect.snippet_parts(sample.tokens, int(t), level)
                extra = f" {shown[0]} {drive[t]:+6.1f}" if shown else ""
                out.append(f" h {values[t]:+.2f}{extra}  ")
                out.append(left, Style(dim=True))
                out.append(mid, activation_style(float(values[t])) + Style(bold=True))
                out.append(right + "\n", Style(dim=True))
        out.append("\ncorrelation with simple features", Style(bold=True))
        out.append("  ·  units that track each best (layer/unit r)\n", Style(dim=True))
        best = inspect.rank_units(sample.r, 4)
        for f, name in enumerate(sample.feature_names):
            r = float(sample.r[f, layer * H + unit])
            out.append(f" {name:<18}{r:+.2f} ")
            out.append(bar(abs(r), 6), Style(color=ORANGE if r > 0 else "#60a5fa"))
            if np.ptp(sample.feats[:, f]) == 0:
                out.append("  constant in this text\n", Style(dim=True))
                continue
            ranked = "  ".join(f"{u // H + 1}/{u % H} {sample.r[f, u]:+.2f}" for u in best[f])
            out.append(f"  {ranked}\n")
        self.query_one("#unit", Static).update(out)
