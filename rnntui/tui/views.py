"""Inside the network: one screen per view over the playground (F4..F9; Esc goes back to it).

Each view reads the playground's state (its ``Trace`` of the text, the temperature, the picked unit
and layer) and draws what a function of ``rnntui.inspect`` returns; the views do no math of their
own. Anything slower than a keystroke (a Jacobian chain, the validation text run through the model)
runs in a thread worker that posts a ``Computed`` message back to its screen.

    F4 map        PCA map of the frequent tokens' vectors, and the neighbours of one token
    F5 softmax    logit = h·w + b for the likeliest next tokens; entropy at T and at 1
    F6 memory     how much each earlier token still moves the memory (fading memory)
    F7 sentences  final memories of a few sentences: cosine matrix and PCA map
    F8 unit       the picked unit's top contexts on validation text; units ranked by features
    F9 health     histogram of activations; spectral radius of each recurrent matrix
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static, TextArea
from textual.worker import get_current_worker

from rnntui import inspect
from rnntui.tui.widgets.next_tokens import bar
from rnntui.tui.widgets.prompt import Prompt
from rnntui.tui.widgets.scales import activation_color, activation_level, activation_style, cell_style
from rnntui.tui.widgets.scatter import Scatter

if TYPE_CHECKING:
    from rnntui.tui.app import PlaygroundApp

VIEWS = [  # key, name, tab label
    ("f4", "map", "Map"),
    ("f5", "softmax", "Softmax"),
    ("f6", "memory", "Memory"),
    ("f7", "sentences", "Sentences"),
    ("f8", "unit", "Unit"),
    ("f9", "health", "Health"),
]
MAX_TOKENS = 30_000  # validation tokens run through the model for the unit and health views
MAP_TOKENS = 50  # points on the embedding map
NEIGHBOURS = 10
LOOK_BACK = 40  # K of the fading-memory curve (the cost is K products of H x H matrices per layer)
DEBOUNCE = 0.2  # seconds of quiet typing before the fading-memory curve is recomputed
SHADES = " ░▒▓█"
ORANGE, CYAN = "#f97316", "#22d3ee"
DEFAULT_SENTENCES = """The just man is happy.
The unjust man is miserable.
What is justice?
Socrates asked Glaucon a question.
"""


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


# -- the validation text, run once and shared by the unit and health views --------------------------


@dataclass(frozen=True)
class Sample:
    """A text run through the model from a zero memory, with the unit statistics of inspect."""

    source: str
    tokens: list[str]
    hs: np.ndarray  # (T, L, H) memories
    drive: np.ndarray  # (T, L, H) pre-activations (rank contexts where h sits at ±1)
    feature_names: tuple[str, ...]
    feats: np.ndarray  # (T, F)
    r: np.ndarray  # (F, L*H) correlation of each feature with each unit
    gates: inspect.GateSaturation | None  # gated cells: how often each unit's gates saturate


def run_sample(ckpt, ids: np.ndarray, source: str) -> Sample:
    params = ckpt.model.params
    saturation = trace = None
    if ckpt.model.cell.GATES:
        trace = inspect.state_trace_from_inputs(params, params["embed"][np.asarray(ids, np.int64)])
        hs = trace.hs  # (T, L, H)
        saturation = inspect.saturation_of(trace.gates, ckpt.model.cell.GATES)
    else:
        hs = inspect.hidden_trace(params, ids)  # (T, L, H)
    tokens = [ckpt.vocab.tokens[int(i)] for i in ids]
    names, feats = inspect.features(tokens, ckpt.vocab.level)
    r = inspect.correlations(hs.reshape(len(ids), -1), feats)
    drive = inspect.preactivations(params, ids, hs, trace=trace)
    return Sample(source, tokens, hs, drive, names, feats, r, saturation)


class SampleCache:
    """The training corpus's validation split run through the model, found and computed at most once
    (in whichever worker asks first). Without the corpus, the playground's text stands in."""

    def __init__(self, ckpt) -> None:
        self.ckpt = ckpt
        self.lock = threading.Lock()
        self.tried = False
        self.validation: Sample | None = None
        self.order: tuple[np.ndarray, str] | None = None

    def get(self, fallback_ids: list[int]) -> Sample | None:
        with self.lock:
            if not self.tried:
                self.tried = True
                found = inspect.training_corpus_ids(self.ckpt)
                if found is not None and len(found[1]) >= 2:
                    ids = np.asarray(found[1][:MAX_TOKENS], np.int64)
                    source = f"the validation split ({len(ids):,} tokens)"
                    self.validation = run_sample(self.ckpt, ids, source)
        if self.validation is not None:
            return self.validation
        if len(fallback_ids) < 2:
            return None
        ids = np.asarray(fallback_ids, np.int64)
        return run_sample(self.ckpt, ids, f"your text ({len(ids)} tokens; training corpus not found)")

    def frequency_order(self) -> tuple[np.ndarray, str]:
        """Token ids, most frequent in the training corpus first (else in vocabulary order)."""
        if self.order is None:
            found = inspect.training_corpus_ids(self.ckpt)
            V = len(self.ckpt.vocab)
            if found is None:
                self.order = np.arange(V), "vocabulary order: corpus not found"
            else:
                counts = np.bincount(found[0], minlength=V)
                self.order = np.argsort(-counts, kind="stable"), "corpus frequency"
        return self.order


# -- the screens ----------------------------------------------------------------------------------------


class ViewScreen(Screen):
    """A view: the tab bar, the view's body, the footer. ``refresh_view`` redraws it from the app's state."""

    NAME = ""
    BINDINGS = [Binding("escape", "app.view('play')", "Playground")]

    @property
    def play(self) -> PlaygroundApp:
        return self.app  # type: ignore[return-value]

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
        from rnntui.tui.app import MIN_SIZE

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


class MapView(ViewScreen):
    """The embedding map and a token's nearest neighbours."""

    NAME = "map"
    BINDINGS = [Binding("ctrl+o", "vectors", "Vectors")]
    SPACES = ("input", "projected", "output")

    def __init__(self) -> None:
        super().__init__()
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
        X = np.asarray(vectors[self.order], np.float64)
        coords, axes, explained = inspect.pca(X, 2)
        if coords.shape[1] < 2:
            axes = np.pad(axes, ((0, 2 - len(axes)), (0, 0)))
        # the query and its neighbours go first (placed first, so always shown), projected on the
        # same axes even when they are not among the frequent tokens
        first = [] if self.query_id is None else [self.query_id, *map(int, self.neighbour_ids)]
        ids = first + [int(i) for i in self.order if int(i) not in first]
        xy = (np.asarray(vectors[ids], np.float64) - X.mean(axis=0)) @ axes.T
        styles = [Style(bold=True, color=ORANGE) if j == 0 and first else
                  Style(color=CYAN) if j < len(first) else None for j in range(len(ids))]  # fmt: skip
        scatter.show(xy, [label(vocab, i) for i in ids], styles)
        share = f"{explained[0]:.0%} + {explained[1] if len(explained) > 1 else 0:.0%} of the variance"
        scatter.border_title = f"embedding map · {self.space} vectors · PCA, {share}"
        scatter.border_subtitle = f"{len(self.order)} most frequent ({self.order_source}) · ^O vectors"


class SoftmaxView(ViewScreen):
    """logit = h · w + b for the likeliest next tokens, and the temperature's effect on entropy."""

    NAME = "softmax"
    ROWS = 10

    def compose_body(self) -> ComposeResult:
        yield from self.compose_prompt()
        with VerticalScroll(id="softmax-scroll", classes="panel"):
            yield Static(id="softmax")

    def start(self) -> None:
        self.focus_prompt()
        self.refresh_view()

    @cached_property
    def output_layer(self) -> dict[str, np.ndarray]:
        """Why (H, V) and by (V,) in float64, converted once rather than on every keystroke."""
        params = self.play.ckpt.model.params
        return {k: np.asarray(params[k], np.float64) for k in ("Why", "by")}

    def refresh_view(self) -> None:
        play = self.play
        trace, vocab, T = play.trace, play.ckpt.vocab, play.temperature
        trace.set_text(self.query_one(Prompt).text)
        h = np.asarray(trace.gen.model.memory(trace.gen.h)[-1], np.float64)  # (H,) the top layer's memory now
        g = inspect.softmax_geometry(self.output_layer, h, T if T > 0 else 1.0, self.ROWS)
        probs = g.probs if T > 0 else (np.arange(len(g.ids)) == 0).astype(float)  # T = 0: the argmax
        entropy = g.entropy if T > 0 else 0.0
        self.geometry = g
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append("memory h: ", Style(bold=True))
        saturated = float(np.mean(np.abs(h) > inspect.SATURATED))
        out.append(f"|h| = {np.linalg.norm(h):.2f}, {saturated:.0%} of {len(h)} units near ±1\n")
        cells = [(h[i], h[i + 1] if i + 1 < len(h) else None) for i in range(0, len(h), 2)]
        for start in range(0, len(cells), 64):  # two units per cell: upper = background
            out.append("  ")
            for up, lo in cells[start : start + 64]:
                out.append("▄", cell_style(activation_level(up), -1 if lo is None else activation_level(lo)))
            out.append("\n")
        out.append(f"\n{'next':<10}{'h·w':>7}{'+ b':>7}{'= logit':>8}{'|w|':>6}{'cos':>6}", Style(bold=True))
        out.append(f"  {'p at T=' + format(T, 'g'):<19}{'p at 1':>7}\n", Style(bold=True))
        for j, tid in enumerate(g.ids):
            style = Style(color=ORANGE, bold=True) if j == 0 else Style()
            out.append(f"{label(vocab, tid)[:10]:<10}", style)
            out.append(f"{g.dots[j]:7.2f}{g.biases[j]:+7.2f}{g.logits[j]:8.2f}")
            out.append(f"{g.w_norms[j]:6.2f}{g.cosines[j]:+6.2f}  ")
            out.append(bar(float(probs[j]), 12), Style(color=ORANGE if j == 0 else "#60a5fa"))
            out.append(f"{probs[j]:7.1%}{g.probs_at_1[j]:7.1%}\n")
        uniform = math.log2(len(vocab))
        out.append(f"\nentropy: {entropy:.2f} bits at T={T:g}, {g.entropy_at_1:.2f} bits at T=1 ")
        out.append(f"(uniform {uniform:.2f}) · F2/F3 temperature", Style(dim=True))
        self.query_one("#softmax", Static).update(out)
        title = "the softmax's geometry: logit = h · w_token + b_token"
        self.query_one("#softmax-scroll").border_title = title


class MemoryView(ViewScreen):
    """Fading memory: ||d h_last / d x_(last-k)|| for the text, as a strip and a curve."""

    NAME = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.strip_tokens = 0  # tokens shaded in the strip (for tests)
        self.memory: inspect.FadingMemory | None = None
        self.timer: Timer | None = None

    def compose_body(self) -> ComposeResult:
        yield from self.compose_prompt()
        with VerticalScroll(id="memory-scroll", classes="panel"):
            yield Static(id="memory")

    def start(self) -> None:
        self.focus_prompt()
        self.recompute()

    def refresh_view(self) -> None:
        """Recompute once typing pauses: a thread cannot be stopped midway, so don't start one per key."""
        if self.timer is not None:
            self.timer.stop()
        self.timer = self.set_timer(DEBOUNCE, self.recompute)

    def recompute(self) -> None:
        trace = self.play.trace
        trace.set_text(self.query_one(Prompt).text)
        if not trace.ids:
            self.memory, self.strip_tokens = None, 0
            self.query_one("#memory", Static).update("type some text: the curve is about its last token")
            return
        nl = self.play.ckpt.vocab.id_of("\n")  # the trace starts from a newline's memory
        ids = ([nl] if nl is not None else []) + list(trace.ids)
        self.compute(np.asarray(ids, np.int64), min(LOOK_BACK, len(trace.ids) - 1), len(trace.ids))

    @work(thread=True, exclusive=True, group="memory")
    def compute(self, ids: np.ndarray, K: int, n_text: int) -> None:
        fm = inspect.fading_memory(self.play.ckpt.model.params, ids, K=K)
        if not get_current_worker().is_cancelled:
            self.post_message(Computed("memory", (fm, ids[len(ids) - n_text :])))

    def on_computed(self, message: Computed) -> None:
        fm, ids = message.result
        self.memory = fm
        vocab = self.play.ckpt.vocab
        curve = fm.norms
        peak = float(curve.max())
        floor = max(float(curve.min()), peak * 1e-12)
        decades = max(1, math.ceil(math.log10(peak / floor))) if peak > 0 else 1

        def level(v: float) -> float:  # 0..1 on the log scale
            return max(0.0, 1 + math.log10(v / peak) / decades) if v > 0 and peak > 0 else 0.0

        width = max(30, (self.query_one("#memory-scroll").content_size.width or 76) - 2)  # - scrollbar
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append("the last tokens, shaded by how much each still moves the memory now:\n", Style(bold=True))
        shown = [label(vocab, i) for i in ids[-len(curve) :]]
        cells, budget = [], width
        for j in range(len(shown) - 1, -1, -1):  # from the last token back, as many as fit
            piece = shown[j] if vocab.level == "char" else shown[j] + " "
            if len(piece) > budget:
                break
            budget -= len(piece)
            cells.insert(0, (piece, level(float(curve[len(shown) - 1 - j]))))
        self.strip_tokens = len(cells)
        for piece, f in cells:
            out.append(piece, activation_style(2 * f - 1) if f > 0 else Style(dim=True))
        out.append("\n")
        for piece, f in cells:
            out.append(SHADES[min(len(SHADES) - 1, int(f * (len(SHADES) - 1) + 0.5))] * len(piece))
        hl, fit = fm.half_life, fm.fitted_half_life
        hl_text = f"{hl:.1f} tokens" if hl is not None else f"more than {len(curve) - 1} tokens"
        out.append("\n\nhalf-life: ", Style(bold=True))
        out.append(f"{hl_text} (exponential fit: {f'{fit:.1f}' if fit is not None else 'no decay'})\n")
        out.append(f"saturated (|h| > {inspect.SATURATED}): ", Style(bold=True))
        pairs = enumerate(zip(fm.saturated, fm.saturated_text, strict=True))
        out.append(", ".join(f"layer {i + 1} {s:.0%} now, {m:.0%} over the text" for i, (s, m) in pairs))
        heading = f"\n\n{'k':>3} {'token':>8} {'‖∂h/∂x‖':>9}  log scale over {decades} decade(s)\n"
        out.append(heading, Style(bold=True))
        for k, v in enumerate(curve):
            out.append(f"{k:>3} {shown[len(shown) - 1 - k][:8]:>8} {v:9.2e}  ")
            out.append(bar(level(float(v)), min(60, width - 26)) + "\n", Style(color=ORANGE))
        self.query_one("#memory", Static).update(out)
        self.query_one("#memory-scroll").border_title = "fading memory: ‖∂h_last / ∂x_(last−k)‖, Frobenius"


class SentencesView(ViewScreen):
    """Sentence vectors: the final memory of each line; their cosine matrix and PCA map."""

    NAME = "sentences"

    def __init__(self) -> None:
        super().__init__()
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


class UnitView(ViewScreen):
    """What the picked unit does: top contexts on validation text, correlations, units by feature."""

    NAME = "unit"

    def __init__(self) -> None:
        super().__init__()
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
                gap = " " if level == "word" else ""
                extra = f" {shown[0]} {drive[t]:+6.1f}" if shown else ""
                out.append(f" h {values[t]:+.2f}{extra}  ")
                out.append(left + gap, Style(dim=True))
                out.append(mid, activation_style(float(values[t])) + Style(bold=True))
                out.append(gap + right + "\n", Style(dim=True))
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


class HealthView(ViewScreen):
    """Saturation and health: the activation histogram and each Whh's spectral radius."""

    NAME = "health"
    BINS = 20

    def __init__(self) -> None:
        super().__init__()
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


SCREENS = {cls.NAME: cls for cls in (MapView, SoftmaxView, MemoryView, SentencesView, UnitView, HealthView)}
