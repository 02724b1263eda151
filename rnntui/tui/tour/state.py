"""What the tour is looking at: the text, the time step, the temperature, the dice; and each screen's
numbers from ``rnntui.tour``. The two slow ones (the learning step, the fading-memory Jacobians, which
the first time on a machine also compile kernels) are computed once in the screen's worker thread
and kept: ``ready`` says whether they are there yet."""

from __future__ import annotations

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
        self._fading: dict[int, tour.Fading] = {}  # by the last token t
        self._learning: tour.Learning | None = None

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

    @property
    def factor_name(self) -> str:
        """What fading memory's every step back multiplies by besides the matrix (``tour.Fading``)."""
        return {"rnn": "tanh′", "gru": "z", "lstm": "f"}[self.reading.cell]

    def ready(self, what: str) -> bool:
        """Whether "learning" or "fading" (at the current t) has been computed."""
        return self._learning is not None if what == "learning" else self.t in self._fading

    def compute(self, what: str) -> None:
        """Compute "learning" or "fading" at the current t (slow: the screen runs it in a thread)."""
        if what == "learning" and self._learning is None:
            self._learning = tour.learning(self.ckpt.model, self.tokens.ids)
        elif what == "fading":
            t = self.t
            if t not in self._fading:
                self._fading[t] = tour.fading(self.params, self.reading, t)

    @property
    def learning(self) -> tour.Learning:
        """One SGD step on the whole text (on a copy of the model); only once ``ready("learning")``."""
        assert self._learning is not None
        return self._learning

    def fading(self) -> tour.Fading:
        """Fading memory from the current t; only once ``ready("fading")``."""
        return self._fading[self.t]

    def gates(self) -> tour.Gates:
        return tour.gates(self.params, self.reading, self.t, self.layer)
