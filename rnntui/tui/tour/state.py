"""What the tour is looking at: the text, the time step, the temperature, the dice; and each screen's
numbers from ``rnntui.tour``, computed when first asked for and kept until the step changes."""

from __future__ import annotations

from functools import cached_property

from rnntui import tour
from rnntui.checkpoint import Checkpoint
from rnntui.tui.app import TEMPERATURES  # the playground's F2/F3 steps (app.py imports the tour lazily)


class TourState:
    """The learner's place in the tour. ``t`` is the time step shown (the last token at first)."""

    def __init__(self, ckpt: Checkpoint, text: str, t_index: int = TEMPERATURES.index(0.7)) -> None:
        self.ckpt = ckpt
        self.vocab = ckpt.vocab
        self.params = ckpt.model.params
        self.tokens = tour.tokens(ckpt.vocab, text)
        self.reading = tour.read(self.params, self.tokens.ids)
        self.t = len(self.tokens.ids) - 1
        self.layer = 0
        self.t_index = t_index
        self.roll = 0
        self._fading: dict[int, tour.Fading] = {}

    @property
    def n_tokens(self) -> int:
        """Tokens in the text."""
        return len(self.tokens.ids)

    @property
    def temperature(self) -> float:
        return TEMPERATURES[self.t_index]

    @property
    def gated(self) -> bool:
        return bool(self.ckpt.model.cell.GATES)

    @property
    def layers(self) -> int:
        return self.ckpt.model.cfg.layers

    def move(self, delta: int) -> None:
        self.t = max(0, min(self.n_tokens - 1, self.t + delta))

    def embedding(self) -> tour.Embedding:
        return tour.embedding(self.params, self.reading, self.t)

    def memory(self) -> tour.MemoryUpdate:
        return tour.memory_update(self.params, self.reading, self.t, self.layer)

    def output(self) -> tour.Output:
        return tour.output(self.params, self.reading, self.t, self.temperature, self.roll)

    def feed_back(self) -> tour.FeedBack:
        return tour.feed_back(self.params, self.reading, self.t, self.temperature, self.roll)

    @cached_property
    def learning(self) -> tour.Learning:
        """One SGD step on the whole text (on a copy of the model), computed once."""
        return tour.learning(self.ckpt.model, self.tokens.ids)

    def fading(self) -> tour.Fading:
        if self.t not in self._fading:
            self._fading[self.t] = tour.fading(self.params, self.reading, self.t)
        return self._fading[self.t]

    def gates(self) -> tour.Gates:
        return tour.gates(self.params, self.reading, self.t, self.layer)
