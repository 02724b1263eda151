"""Messages the training worker posts to the dashboard (thread-safe ``post_message``).

Engine events arrive wrapped; progress is posted at most a few times a second, and a waiting
progress message is replaced by a newer one (``can_replace``), so a backlog never builds up.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from rnntui.train import Evaluated, Progress, Saved, Stopped


@dataclass
class TrainProgress(Message):
    """The latest step (only the newest waiting one is kept)."""

    event: Progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TrainProgress)


@dataclass
class TrainEvent(Message):
    """An evaluation, a checkpoint written, or the end of the run."""

    event: Evaluated | Saved | Stopped


@dataclass
class SampleReady(Message):
    """Text sampled from a copy of the weights at ``step``."""

    step: int
    temperature: float
    text: str
    copies: tuple[tuple[int, int], ...] = ()  # (start, end) characters copied from the training text
    copies_note: str = ""  # one line about them ("" while the training text's index is being built)
    top_p: float = 1.0  # the nucleus it was sampled from (1: the whole softmax)


@dataclass
class TrainFailed(Message):
    """The worker could not run (e.g. the run folder is locked by another training)."""

    error: str


@dataclass
class Paused(Message):
    """The trainer has taken the pause: it sleeps before its next step."""


@dataclass
class CopiesFound(Message):
    """The playground's ``text`` checked against the training text: its copied character spans."""

    text: str
    chars: list[tuple[int, int]]
    note: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, CopiesFound)


@dataclass
class CountingLoss(Message):
    """The n-gram baseline's validation loss (its best order), for the loss chart."""

    order: int
    loss: float


@dataclass
class CountingBits(Message):
    """The n-gram baseline's surprise at each token of the playground's ``text`` (None: no baseline)."""

    text: str
    bits: object  # (T,) float64 | None
    note: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, CountingBits)


@dataclass
class MatchFound(Message):
    """The matches of the playground's selection (``key``: what they were computed for)."""

    key: tuple
    text: str
    spans: list[tuple[int, int]]
    title: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MatchFound)
