"""The playground: type with the model, see what it expects next and what its memory holds.

The app owns one ``Trace`` (the text as the model read it); every keystroke advances it by the new
token only, then hands the panels fresh numbers (attributes down). The panels only draw.
"""

from __future__ import annotations

import numpy as np
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import Footer, Static, TextArea

from rnntui.checkpoint import Checkpoint
from rnntui.generate import BEAM_WIDTH, Trace, nucleus, probabilities
from rnntui.tui.help import HelpScreen
from rnntui.tui.messages import CopiesFound, CountingBits, MatchFound
from rnntui.tui.sizes import MIN_SIZE, too_small_message
from rnntui.tui.views import DEFAULT_SENTENCES, SCREENS, VIEWS, SampleCache, ViewScreen
from rnntui.tui.widgets.gates import GatesMap
from rnntui.tui.widgets.heatmap import Heatmap
from rnntui.tui.widgets.lens import Lens
from rnntui.tui.widgets.next_tokens import NextTokens
from rnntui.tui.widgets.prompt import Prompt

TEMPERATURES = (0.0, 0.1, 0.25, 0.5, 0.7, 0.85, 1.0, 1.25, 1.5, 2.0, 3.0)
TOP_PS = (1.0, 0.95, 0.9, 0.8, 0.6, 0.4)  # nucleus sampling's p, in the order Ctrl+O steps through
GENERATE_TOKENS = 120


class RnnApp(App):
    """Shared by the playground and the dashboard: CSS, help, and the too-small notice."""

    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = False
    HELP_KEYS: list[tuple[str, str]] = []

    def compose_too_small(self) -> ComposeResult:
        yield Static(too_small_message(*self.size), id="too-small")

    def on_resize(self, event: Resize) -> None:
        small = event.size.width < MIN_SIZE[0] or event.size.height < MIN_SIZE[1]
        self.screen.set_class(small, "-too-small")
        for notice in self.query("#too-small"):
            notice.update(too_small_message(event.size.width, event.size.height))
        if not small and self.focused is None:
            self.call_after_refresh(self.restore_focus)

    def restore_focus(self) -> None:
        """Give the focus back after the too-small notice hid everything (override)."""

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.HELP_KEYS, self.TITLE or "rnntui"))


class PlaygroundApp(RnnApp):
    """``rnntui play``: the text area, the next-token panel, the lens and the memory heatmap."""

    TITLE = "rnntui play"
    BINDINGS = [
        Binding("ctrl+g", "generate", "Generate"),
        Binding("f2", "temperature(-1)", "T−"),
        Binding("f3", "temperature(1)", "T+"),
        Binding("ctrl+n", "unit(1)", "Unit"),
        Binding("ctrl+p", "unit(-1)", "Unit−", show=False),
        Binding("ctrl+l", "layer", "Layer"),
        Binding("ctrl+t,alt+c", "cell_state", "h/c", show=False),  # Alt+C: a browser keeps Ctrl+T
        Binding("ctrl+s", "lens", "Lens"),
        Binding("ctrl+o", "top_p", "top-p", show=False),
        Binding("ctrl+up", "threshold(0.1)", "threshold+", show=False),
        Binding("ctrl+down", "threshold(-0.1)", "threshold−", show=False),
        Binding("ctrl+r", "clear", "Clear", show=False),
        Binding("alt+m,f12", "models", "Models", show=False),  # a browser keeps F12: Alt+M first
        *[Binding(key, f"view('{name}')", title, show=False, priority=True) for key, name, title in VIEWS],
        Binding("f10", "tour", "Tour", show=False),  # the title line says so
        Binding("f1", "help", "Help", priority=True),
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]
    HELP_KEYS = [
        ("type", "the model reads each new character; its guess appears as dim ghost text"),
        ("Tab", "accept the next word of the guess (moves focus when there is none)"),
        ("Shift+Tab, Ctrl+→, →", "accept the whole guess"),
        (
            "Ctrl+G",
            f"generate: sample {GENERATE_TOKENS} tokens at the current temperature and top-p; the "
            "lens then marks what was copied verbatim from the training text",
        ),
        ("F2 / F3", "temperature down / up (watch the next-token bars)"),
        ("Ctrl+O", "nucleus sampling: top-p 1 → 0.95 → … → 0.4 (the next-token panel strikes what it drops)"),
        ("Ctrl+N / Ctrl+P", "pick the next / previous hidden unit (or click a heatmap row)"),
        ("Ctrl+L", "show the next layer's memory (2-layer models)"),
        ("Ctrl+T or Alt+C", "LSTM: the memory heatmap shows the cell state c instead of h (and back)"),
        (
            "Ctrl+S",
            "colour the text by surprise, by the picked unit, by what it copies from the training "
            "text, by RNN − n-gram bits (where memory beats counting), or (play A --compare B) by the "
            "difference between the two models' surprise; or match: the units on across the selected "
            "span (Shift+arrows) and where else in the validation text they are on (LSTMVis)",
        ),
        ("Ctrl+↑ / Ctrl+↓", "match lens: the threshold above which a unit is on"),
        ("Ctrl+R", "clear the text"),
        ("F4 … F9", "inside the network: map, softmax, memory, sentences, unit, health (one view each)"),
        ("F10", "the guided tour: one time step of the network, screen by screen, on your text (Esc back)"),
        ("Esc", "back from a view to the playground (F2/F3, Ctrl+N/P/L work in the views too)"),
        ("Ctrl+O", "map view: input / projected / output vectors"),
        ("Alt+M or F12", "open another of the models that ship with rnntui (a list to pick from)"),
        ("F1", "this help (? too, when the text area is not focused)"),
        ("Ctrl+Q", "quit"),
    ]

    def __init__(self, ckpt: Checkpoint, source: str, *, text: str = "", seed: int = 0,
                 cursor_blink: bool = True, compare: Checkpoint | None = None,
                 compare_source: str = "", shipped_name: str | None = None) -> None:  # fmt: skip
        """``compare``: a second model (same vocabulary) that reads the same text: the lens then
        colours each token by the difference in the two models' surprise. ``shipped_name``: the
        shipped model this is, if it is one. Picking another shipped model (Alt+M) ends the app with
        (its name, the text typed so far) as the return value, for the caller to open it."""
        super().__init__()
        self.shipped_name = shipped_name
        self.cursor_blink = cursor_blink
        self.ckpt = ckpt
        self.source = source
        self.trace = Trace(ckpt.model, ckpt.vocab)
        self.other = None if compare is None else Trace(compare.model, compare.vocab)  # model B
        self.other_ckpt, self.other_source = compare, compare_source
        self.rng = np.random.default_rng(seed)
        self.t_index = TEMPERATURES.index(0.7)
        self.top_p = 1.0  # nucleus sampling's p for Ctrl+G (1: the whole softmax)
        self.unit = 0
        self.layer = 0
        self.lens_mode = "compare" if compare is not None else "surprise"
        self.show_c = False  # LSTM: the memory heatmap shows c
        self.initial_text = text
        self.samples = SampleCache(ckpt)  # validation text through the model, for the unit/health views
        self.sentences = DEFAULT_SENTENCES  # what the sentences view's text area holds
        self.copies: CopiesFound | None = None  # the copies lens's latest answer
        self.counting: CountingBits | None = None  # the counting lens's latest answer
        self.matched: MatchFound | None = None  # the match lens's latest answer
        self.threshold = 0.3  # match lens: a unit is on above this h

    @property
    def temperature(self) -> float:
        return TEMPERATURES[self.t_index]

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        cfg, vocab = self.ckpt.model.cfg, self.ckpt.vocab
        step = self.ckpt.meta.get("step")
        cell = "" if cfg.cell == "rnn" else f"{cfg.cell.upper()} "
        about = (f"{self.source} · {vocab.level} level, V={len(vocab)} · {cell}H={cfg.hidden}"
                 f"{f' × {cfg.layers} layers' if cfg.layers > 1 else ''}"
                 f"{f' · trained {step:,} steps' if isinstance(step, int) else ''}"
                 " · F1 help · F4–F9 views · F10 tour")  # fmt: skip
        if self.other_ckpt is not None:
            other = self.other_ckpt.model.cfg
            about = (f"A: {self.shipped_name or self.source} ({cfg.cell}, H={cfg.hidden}) · "
                     f"B: {self.other_source} ({other.cell}, H={other.hidden}) · "
                     "Ctrl+S lens · F1 help")  # fmt: skip
        yield Static(about, id="title")
        with Horizontal(id="top"):
            with Vertical(id="left"):
                prompt = Prompt(self.suggest, text=self.initial_text, id="prompt")
                prompt.cursor_blink = self.cursor_blink
                prompt.border_title = "write here — Tab accepts the model's guess"
                yield prompt
                yield Lens(id="lens", classes="panel")
            yield NextTokens(vocab.tokens, id="next", classes="panel")
        with Horizontal(id="memory-row"):
            yield Heatmap(cfg.hidden, cfg.layers, id="heatmap", classes="panel")
            if self.ckpt.model.cell.GATES:
                yield GatesMap(self.ckpt.model.cell.GATES, id="gates", classes="panel")
        yield from self.compose_too_small()
        yield Footer()

    def on_mount(self) -> None:
        prompt = self.query_one(Prompt)
        prompt.move_cursor(prompt.document.end)
        prompt.focus()
        self.refresh_panels()
        self.call_after_refresh(self.refresh_panels)  # again once the panels have their sizes

    def on_resize(self, event: Resize) -> None:
        super().on_resize(event)
        if not isinstance(self.screen, ViewScreen):
            self.call_after_refresh(self.refresh_panels)  # the gates panel follows the heatmap's units

    def restore_focus(self) -> None:
        if self.focused is None and self.screen is self.screen_stack[0]:
            self.query_one(Prompt).focus()

    def action_models(self) -> None:
        from rnntui.shipped import list_models
        from rnntui.tui.picker import ModelPicker

        def picked(name: str | None) -> None:
            if name is not None and name != self.shipped_name:
                self.exit((name, self.main_prompt.text))  # the text goes on with the next model

        self.push_screen(ModelPicker(list_models(), self.shipped_name), picked)

    @property
    def main_prompt(self) -> Prompt:
        """The playground's text area (``query_one`` looks only at the active screen)."""
        return self.screen_stack[0].query_one("#prompt", Prompt)

    def active_prompt(self) -> Prompt:
        """The text area the user sees: a view's copy of the text, else the playground's."""
        return next(iter(self.screen.query(Prompt)), self.main_prompt)

    # -- the model --------------------------------------------------------------------------------

    def suggest(self, text: str) -> str:
        """The ghost text after ``text`` (called by the Prompt on every edit): the likeliest end of
        the word being typed (a beam of BEAM_WIDTH), then two more words, greedily."""
        self.trace.set_text(text)
        return self.trace.suggestion(max_chars=40, extra_words=2, width=BEAM_WIDTH)

    def refresh_panels(self) -> None:
        if isinstance(self.screen, ViewScreen):
            self.screen.refresh_view()
            return
        if self.screen is not self.screen_stack[0]:  # the tour or the help: no panels on it
            return
        trace = self.trace
        trace.set_text(self.query_one(Prompt).text)
        tokens = self.ckpt.vocab.tokens
        probs = probabilities(trace.gen.logits, self.temperature)
        self.query_one(NextTokens).show(probs, self.temperature, self.top_p, nucleus(probs, self.top_p))
        heatmap = self.query_one(Heatmap)
        labels = [tokens[i] for i in trace.ids[-1000:]]
        what = "c" if self.show_c and self.ckpt.model.cell.STATE_SLOTS == 2 else "h"
        heatmap.show(trace.activations(self.layer, last=1000, cell_state=what == "c"), labels, self.unit,
                     self.layer, what)  # fmt: skip
        for gates in self.query(GatesMap):
            layer = f"layer {self.layer + 1} · " if self.ckpt.model.cfg.layers > 1 else ""
            gates.show(trace.gate_activations(self.layer, last=1000), labels, heatmap.units, self.unit, layer)
        lens = self.query_one(Lens)
        if self.lens_mode == "compare" and self.other is not None:
            self.other.set_text(trace.text)
            a, b = np.asarray(trace.bits), np.asarray(self.other.bits)
            title = "A vs B: the difference in surprise"
            if len(a):
                wins = (a > b).mean()
                title = f"A {a.mean():.2f} · B {b.mean():.2f} bits/token · B less surprised on {wins:.0%}"
            lens.show(trace.text, trace.spans, a - b, "compare", title)
        elif self.lens_mode == "copies":
            found = self.copies
            if found is None or found.text != trace.text:
                self.find_copies(trace.text)
            if found is not None:  # the last answer (the new one follows within milliseconds)
                lens.show(
                    found.text, found.chars, [1.0] * len(found.chars), "copies", f"copies · {found.note}"
                )
            else:
                lens.show(trace.text, [], [], "copies", "copies · indexing the training text…")
        elif self.lens_mode == "match":
            prompt = self.query_one(Prompt)
            a, b = sorted(prompt.document.get_index_from_location(x) for x in prompt.selection)
            chosen = [i for i, (s, e) in enumerate(trace.spans) if a <= s and e <= b]
            key = (trace.text, tuple(chosen), self.layer, self.threshold)
            if not chosen:
                hint = "select a span of your text (Shift+arrows): the units on across it form a pattern"
                lens.show(hint, [], [], "match", "match · nothing selected")
            elif self.matched is not None and self.matched.key == key:
                found = self.matched
                lens.show(found.text, found.spans, [1.0] * len(found.spans), "match", found.title)
            else:
                span = trace.activations(self.layer)[chosen[0] : chosen[-1] + 1]
                self.find_matches(key, span, list(trace.ids))
        elif self.lens_mode == "counting":
            found = self.counting
            if found is None or found.text != trace.text:
                self.count_bits(trace.text, list(trace.ids))
            if found is None:
                lens.show(trace.text, [], [], "counting", "RNN − n-gram bits · counting the training text…")
            elif found.bits is None:
                lens.show(trace.text, [], [], "counting", f"RNN − n-gram bits · {found.note}")
            else:
                n = min(len(found.bits), len(trace.bits))
                diff = np.asarray(trace.bits[:n]) - found.bits[:n]
                title = "RNN − n-gram bits"
                if n:
                    rnn, counted = np.mean(trace.bits[:n]), found.bits[:n].mean()
                    title = (f"RNN {rnn:.2f} · n-gram {counted:.2f} bits/token · memory beats counting "
                             f"on {(diff < 0).mean():.0%}")  # fmt: skip
                lens.show(trace.text, trace.spans[:n], diff, "counting", title)
        elif self.lens_mode == "surprise":
            total = sum(trace.bits)
            per = total / len(trace.bits) if trace.bits else 0.0
            lens.show(trace.text, trace.spans, trace.bits, "surprise",
                      f"surprise · {per:.2f} bits/token on average")  # fmt: skip
        else:
            acts = trace.activations(self.layer)[:, self.unit] if len(trace) else []
            layer = f" of layer {self.layer + 1}" if self.ckpt.model.cfg.layers > 1 else ""
            lens.show(trace.text, trace.spans, acts, "unit", f"unit {self.unit}{layer} · its activation")

    @work(thread=True, exclusive=True, group="copies", exit_on_error=False)
    def find_copies(self, text: str) -> None:
        """The copies of ``text`` from the training text (the first time, the corpus is indexed)."""
        self.post_message(CopiesFound(text, *self.samples.copies_in(text)))

    @work(thread=True, exclusive=True, group="match", exit_on_error=False)
    def find_matches(self, key: tuple, span: np.ndarray, ids: list[int]) -> None:
        """The selection's matches in the validation text (the first time, it is run through the model)."""
        self.post_message(MatchFound(key, *self.samples.matches(span, self.layer, self.threshold, ids)))

    def on_match_found(self, message: MatchFound) -> None:
        self.matched = message
        if self.lens_mode == "match" and not isinstance(self.screen, ViewScreen):
            self.refresh_panels()

    def action_threshold(self, delta: float) -> None:
        self.threshold = round(max(-0.9, min(0.9, self.threshold + delta)), 1)
        self.refresh_panels()

    @work(thread=True, exclusive=True, group="counting", exit_on_error=False)
    def count_bits(self, text: str, ids: list[int]) -> None:
        """The n-gram baseline's bits at each token (the first time, the training split is counted)."""
        self.post_message(CountingBits(text, *self.samples.ngram_bits(ids)))

    def on_counting_bits(self, message: CountingBits) -> None:
        self.counting = message
        if self.lens_mode == "counting" and not isinstance(self.screen, ViewScreen):
            self.refresh_panels()

    def on_copies_found(self, message: CopiesFound) -> None:
        self.copies = message
        if self.lens_mode == "copies" and not isinstance(self.screen, ViewScreen):
            self.refresh_panels()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if event.text_area.id == "view-prompt" and self.main_prompt.text != event.text_area.text:
            self.main_prompt.load_text(event.text_area.text)  # keep the playground's text in step
            self.main_prompt.move_cursor(self.main_prompt.document.end)
        self.refresh_panels()

    def on_text_area_selection_changed(self, event: TextArea.SelectionChanged) -> None:
        if self.lens_mode == "match" and event.text_area.id == "prompt":
            self.refresh_panels()  # the match lens follows the selection

    def on_heatmap_unit_picked(self, event: Heatmap.UnitPicked) -> None:
        self.unit = event.unit
        self.lens_mode = "unit"
        self.refresh_panels()

    # -- actions ----------------------------------------------------------------------------------

    def action_generate(self) -> None:
        prompt = self.active_prompt()
        self.trace.set_text(prompt.text)
        more = self.trace.continuation(GENERATE_TOKENS, self.rng, self.temperature, self.top_p)
        self.lens_mode = "copies"  # what did it copy from the training text?
        prompt.move_cursor(prompt.document.end)
        prompt.insert(more)
        prompt.focus()

    def action_temperature(self, delta: int) -> None:
        self.t_index = max(0, min(len(TEMPERATURES) - 1, self.t_index + delta))
        self.refresh_panels()

    def action_top_p(self) -> None:
        self.top_p = TOP_PS[(TOP_PS.index(self.top_p) + 1) % len(TOP_PS)]
        self.refresh_panels()

    def action_unit(self, delta: int) -> None:
        self.unit = (self.unit + delta) % self.ckpt.model.cfg.hidden
        self.lens_mode = "unit"
        self.refresh_panels()

    def action_layer(self) -> None:
        self.layer = (self.layer + 1) % self.ckpt.model.cfg.layers
        self.refresh_panels()

    def action_cell_state(self) -> None:
        if self.ckpt.model.cell.STATE_SLOTS == 2:
            self.show_c = not self.show_c
            self.refresh_panels()
        else:
            self.notify("only an LSTM has a cell state c; this model's memory is h alone", timeout=3)

    def action_lens(self) -> None:
        modes = ["surprise", "unit", "copies", "counting", "match"]
        modes += ["compare"] if self.other is not None else []
        self.lens_mode = modes[(modes.index(self.lens_mode) + 1) % len(modes)]
        self.refresh_panels()

    def action_clear(self) -> None:
        self.active_prompt().clear()

    def action_view(self, name: str) -> None:
        """Open view ``name`` over the playground (or switch to it from another view); "play" goes back."""
        while len(self.screen_stack) > 1 and not isinstance(self.screen, ViewScreen):
            self.pop_screen()  # e.g. the help screen
        current = self.screen
        if name == "play":
            if isinstance(current, ViewScreen):
                self.pop_screen()
                self.call_after_refresh(self.back_to_playground)
        elif isinstance(current, ViewScreen):
            if current.NAME != name:
                self.switch_screen(SCREENS[name](self))
        else:
            self.push_screen(SCREENS[name](self))

    def action_tour(self) -> None:
        """Open the guided tour over the playground's text (F10); Esc comes back."""
        from rnntui.tui.tour.screen import TourScreen  # it imports this module's TEMPERATURES

        self.push_screen(TourScreen(self.ckpt, self.main_prompt.text, self.t_index),
                         lambda _: self.call_after_refresh(self.back_to_playground))  # fmt: skip

    def back_to_playground(self) -> None:
        self.refresh_panels()
        self.main_prompt.focus()
