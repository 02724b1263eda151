"""F9: health, the activation histogram, each recurrent matrix's spectral radius, and how often each
gate saturates."""

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
from rnntui.tui.widgets.next_tokens import bar


class HealthView(ViewScreen):
    """Saturation and health: the activation histogram and each Whh's spectral radius."""

    NAME = "health"
    BINS = 20

    def __init__(self, play: Playground) -> None:
        super().__init__(play)
        self.spectra: np.ndarray | None = None
        self.counts: np.ndarray | None = None

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="health-scroll", classes="panel"):
            yield Static("running the validation text…", id="health")

    def refresh_view(self) -> None:
        self.compute(list(self.play.trace.ids))

    @work(thread=True, exclusive=True, group="health")
    def compute(self, fallback: list[int]) -> None:
        spectra = inspect.recurrent_spectra(self.play.ckpt.model.params)
        sample = self.play.samples.get(fallback)
        histogram = None if sample is None else inspect.activation_histogram(sample.hs, self.BINS)
        if not get_current_worker().is_cancelled:
            self.post_message(Computed("health", (spectra, sample, histogram)))

    def on_computed(self, message: Computed) -> None:
        spectra, sample, histogram = message.result
        self.spectra = spectra
        step = self.play.ckpt.meta.get("step", "?")
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(f"{self.play.ckpt.model.cell.RECURRENT} after {step} steps:\n", Style(bold=True))
        for layer, (radius, sigma) in enumerate(spectra):
            out.append(f" layer {layer + 1}: spectral radius {radius:.3f} · ")
            out.append(f"largest singular value {sigma:.3f}\n")
        out.append(" (radius > 1: some direction grows each step until tanh squashes it)\n", Style(dim=True))
        history = self.play.ckpt.spectra_history  # (K, 1 + 2L): step, then radius and sigma per layer
        if len(history):
            out.append("over training (step: radius / largest singular value, per layer)\n", Style(bold=True))
            rows = np.unique(np.linspace(0, len(history) - 1, min(len(history), 8)).astype(int))
            top = max(float(history[:, 1::2].max()), 1e-12)
            for row in history[rows]:
                out.append(f" {int(row[0]):>8,}")
                for radius, sigma in row[1:].reshape(-1, 2):
                    out.append(f"  {radius:6.3f} / {sigma:6.3f} ")
                    out.append(bar(radius / top, 10), Style(color=ORANGE if radius > 1 else "#60a5fa"))
                out.append("\n")
        if histogram is None:
            out.append("\nno text for a histogram: the corpus is not here and the playground is empty")
        else:
            counts, edges, saturated = histogram
            self.counts = counts
            L = len(counts)
            width = 40 if L == 1 else 22
            out.append(f"\nactivations h on {sample.source}\n", Style(bold=True))
            heads = [f"layer {i + 1}: {saturated[i]:5.1%} |h|>{inspect.SATURATED}" for i in range(L)]
            out.append(" " * 10 + "".join(h.ljust(width + 9) for h in heads) + "\n")
            for b in range(len(edges) - 1):
                out.append(f" {edges[b]:+.1f}..{edges[b + 1]:+.1f}")
                for layer in range(L):
                    n, total, top = counts[layer, b], counts[layer].sum(), counts[layer].max()
                    edge = max(abs(edges[b]), abs(edges[b + 1])) > inspect.SATURATED
                    out.append(f" {n / total:6.1%} ")
                    colour = ORANGE if edge else "#60a5fa"  # orange: the saturated bins
                    out.append(bar(n / top if top else 0.0, width), Style(color=colour))
                out.append("\n")
        if sample is not None and sample.gates is not None:
            out.append_text(gate_summary(sample.gates, sample.source))
        self.query_one("#health", Static).update(out)
        self.query_one("#health-scroll").border_title = "saturation and health"


def gate_summary(sat: inspect.GateSaturation, source: str) -> Text:
    """Per layer and gate: how many units are mostly open (> 0.9) or mostly shut (< 0.1), and the
    share of units at each level of "time open" (Karpathy et al. 2015's right-saturation)."""
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(f"\ngates on {source}: units mostly open (> {inspect.GATE_HIGH}) / mostly shut "
               f"(< {inspect.GATE_LOW}), over half the text\n", Style(bold=True))  # fmt: skip
    L, G, H = sat.right.shape
    for layer in range(L):
        for g, name in enumerate(sat.names):
            right, left = sat.right[layer, g], sat.left[layer, g]
            where = f"layer {layer + 1} " if L > 1 else ""
            out.append(f" {where}{name:<9} mean {sat.mean[layer, g].mean():.2f}  ")
            out.append(f"open {int((right > 0.5).sum()):>4}", Style(color=ORANGE))
            out.append(f"  shut {int((left > 0.5).sum()):>4}", Style(color="#60a5fa"))
            out.append(f"  of {H}  time open ")
            counts = np.histogram(right, bins=10, range=(0.0, 1.0))[0]
            out.append(sparkline(counts / max(1, counts.max())), Style(color=ORANGE))
            out.append(" 0→1\n")
    return out


def sparkline(values: np.ndarray) -> str:
    """Values in 0..1 as a row of eighth blocks (nothing shows as a space)."""
    blocks = " ▁▂▃▄▅▆▇█"
    return "".join(blocks[int(round(float(v) * 8))] for v in values)
