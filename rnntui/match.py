"""Select and match (LSTMVis, Strobelt et al. 2018): the hidden units that stay on across a selected
span form a pattern; the places in another text whose on-units match it best (Jaccard) are listed.

A unit is on at a token when its memory h is above ``threshold``; on across a span of w tokens when
it is on at every one of them. For every window of w tokens of the text searched, the set of units on
across it is compared with the pattern by |A ∩ P| / |A ∪ P|; the best windows that do not overlap
are returned, with the units they share. A cumulative count of off-tokens per unit gives every
window's set at once: O(T · H).

Dimensions: T tokens searched, w the span's length, H units of the layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_THRESHOLD = 0.3


def off_counts(hs: np.ndarray, threshold: float) -> np.ndarray:
    """(T + 1, H) int32: how many of the first t tokens of ``hs`` (T, H) each unit is off at (h <=
    ``threshold``); computed once per text and threshold, it answers every window."""
    off = np.zeros((len(hs) + 1, hs.shape[1]), np.int32)
    np.cumsum(hs <= threshold, axis=0, out=off[1:])
    return off


def on_across(hs: np.ndarray, w: int, threshold: float, off: np.ndarray | None = None) -> np.ndarray:
    """(T − w + 1, H) bool: unit j is above ``threshold`` at every token of window [t, t + w) of
    ``hs`` (T, H); ``off``: ``off_counts(hs, threshold)`` when already at hand."""
    off = off_counts(hs, threshold) if off is None else off
    return (off[w:] - off[:-w]) == 0


@dataclass(frozen=True)
class Match:
    start: int  # the window [start, start + w) of the text searched
    jaccard: float
    shared: np.ndarray  # unit ids on across both the selection and this window


def best_matches(pattern: np.ndarray, hs: np.ndarray, w: int, threshold: float, n: int = 10,
                 off: np.ndarray | None = None) -> list[Match]:  # fmt: skip
    """The ``n`` best non-overlapping windows of ``w`` tokens of ``hs`` (T, H) by the Jaccard index of
    their on-units with ``pattern`` (H,) bool; ties go to the earlier window. Empty when no unit is
    on across the selection (nothing to match). ``off``: ``off_counts(hs, threshold)`` if at hand."""
    if not pattern.any() or len(hs) < w:
        return []
    on = on_across(hs, w, threshold, off)  # (T − w + 1, H)
    inter = (on & pattern).sum(axis=1)
    union = (on | pattern).sum(axis=1)
    jac = inter / union
    taken = np.zeros(len(hs), bool)
    out = []
    for t in np.argsort(-jac, kind="stable"):
        if len(out) == n or jac[t] == 0:
            break
        if taken[t : t + w].any():
            continue
        taken[t : t + w] = True
        out.append(Match(int(t), float(jac[t]), np.flatnonzero(on[t] & pattern)))
    return out
