"""The loss chart: training and validation loss against step, with the uniform-guess line ln V and
(once it is counted) the n-gram baseline's validation loss: "counting gets here"."""

from __future__ import annotations

from textual_plotext import PlotextPlot

MAX_POINTS = 400  # training-loss points kept on screen (older ones thinned)


class LossChart(PlotextPlot):
    """Owns the plotted series; ``replot()`` redraws them (called at most once a second)."""

    def __init__(self, uniform: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.uniform = uniform  # ln V: the loss of a uniform guess
        self.train: list[tuple[int, float]] = []
        self.val: list[tuple[int, float]] = []
        self.counting: float | None = None  # the best n-gram order's validation loss
        self.dirty = True

    def set_counting(self, loss: float) -> None:
        self.counting = loss
        self.dirty = True

    def add_train(self, step: int, loss: float) -> None:
        self.train.append((step, loss))
        if len(self.train) > MAX_POINTS:
            self.train = self.train[::2]  # thin evenly: old points every other one
        self.dirty = True

    def add_val(self, step: int, loss: float) -> None:
        self.val.append((step, loss))
        self.dirty = True

    def replot(self) -> None:
        if not self.dirty:
            return
        self.dirty = False
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        last = max([s for s, _ in self.train + self.val] or [1])
        plt.plot([0, last], [self.uniform, self.uniform], color="gray", marker="braille")
        if self.counting is not None:
            plt.plot([0, last], [self.counting, self.counting], color="magenta", marker="braille")
        if self.train:
            plt.plot(*zip(*self.train, strict=True), color="orange", marker="braille")
        if self.val:
            plt.plot(*zip(*self.val, strict=True), color="cyan", marker="braille")
        plt.ylim(0, self.uniform * 1.05)
        self.refresh()
