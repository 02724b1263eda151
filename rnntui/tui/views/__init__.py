"""Inside the network: one screen per view over the playground (F4..F9; Esc goes back to it), one
module per view.

Each view is given the playground (``base.Playground``: its ``Trace`` of the text, the temperature,
the picked unit and layer) and draws what a function of ``rnntui.inspect`` returns; the views do no
math of their own. Anything slower than a keystroke (a Jacobian chain, the validation text run
through the model) runs in a thread worker that posts a ``Computed`` message back to its screen.

    F4 map        PCA map of the frequent tokens' vectors, and the neighbours of one token
    F5 softmax    logit = h·w + b for the likeliest next tokens; entropy at T and at 1
    F6 memory     how much each earlier token still moves the memory (fading memory)
    F7 sentences  final memories of a few sentences: cosine matrix and PCA map
    F8 unit       the picked unit's top contexts on validation text; units ranked by features
    F9 health     histogram of activations; spectral radius of each recurrent matrix
"""

from __future__ import annotations

from rnntui.tui.views.autocomplete import AutocompleteView
from rnntui.tui.views.base import VIEWS, Playground, ViewScreen
from rnntui.tui.views.health import HealthView
from rnntui.tui.views.map import MapView
from rnntui.tui.views.memory import MemoryView
from rnntui.tui.views.samples import SampleCache
from rnntui.tui.views.sentences import DEFAULT_SENTENCES, SentencesView
from rnntui.tui.views.softmax import SoftmaxView
from rnntui.tui.views.unit import UnitView

SCREENS: dict[str, type[ViewScreen]] = {
    cls.NAME: cls
    for cls in (MapView, SoftmaxView, MemoryView, SentencesView, UnitView, HealthView, AutocompleteView)
}

__all__ = [
    "AutocompleteView", "DEFAULT_SENTENCES", "SCREENS", "VIEWS", "HealthView", "MapView", "MemoryView",
    "Playground", "SampleCache", "SentencesView", "SoftmaxView", "UnitView", "ViewScreen",
]  # fmt: skip
