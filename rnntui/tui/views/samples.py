"""The training corpus's validation split run through the model once, shared by the unit (F8) and
health (F9) views, and the corpus's token frequencies for the map (F4)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from rnntui import copies, inspect

MAX_TOKENS = 30_000  # validation tokens run through the model for the unit and health views


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
        self.reference: copies.Reference | str | None = None  # the indexed training text, or why not
        self.counting: tuple[object, str] | str | None = None  # (n-gram model, about), or why not
        self.off: dict[
            tuple[int, int, float], np.ndarray
        ] = {}  # match: (sample, layer, threshold) -> off counts

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

    def copies_in(self, text: str) -> tuple[list[tuple[int, int]], str]:
        """The (start, end) characters of ``text`` copied verbatim from the training text, and a line
        about them (or why they cannot be found). The first call indexes the training split."""
        from rnntui.memory import MemoryLimitError
        from rnntui.trainingtext import CorpusMissingError

        with self.lock:
            if self.reference is None:
                try:
                    self.reference = copies.reference_of(self.ckpt)
                except (CorpusMissingError, MemoryLimitError, OSError) as err:
                    self.reference = str(err)
        ref = self.reference
        if isinstance(ref, str):
            return [], ref
        found = copies.check_text(ref, text)
        unit = "characters" if ref.vocab.level == "char" else "words"
        return found.chars, copies.summary(found, text, unit)

    def ngram_bits(self, ids: list[int]) -> tuple[np.ndarray | None, str]:
        """The n-gram baseline's surprise (bits) at each of ``ids`` (T,), read after a newline as the
        playground's trace is, and a line about the model (or why there is none). The first call
        counts the training split."""
        from rnntui import ngram
        from rnntui.memory import MemoryLimitError
        from rnntui.trainingtext import CorpusMissingError

        with self.lock:
            if self.counting is None:
                try:
                    self.counting = ngram.baseline_of(self.ckpt)
                except (CorpusMissingError, MemoryLimitError, OSError) as err:
                    self.counting = str(err)
        if isinstance(self.counting, str):
            return None, self.counting
        model, about = self.counting
        nl = self.ckpt.vocab.id_of("\n")
        head = [nl] if nl is not None else []
        return ngram.bits(model, np.asarray(head + list(ids), np.int64))[len(head) :], about

    def matches(self, span: np.ndarray, layer: int, threshold: float, fallback_ids: list[int],
                n: int = 8) -> tuple[str, list[tuple[int, int]], str]:  # fmt: skip
        """Select and match: the units of ``layer`` on across ``span`` (w, H), the memories of the
        selected tokens, and the best matching windows of the validation text (else of ``fallback_ids``)
        as lines of text, with each match's (start, end) characters in them, and a title."""
        from rnntui.match import best_matches, off_counts, on_across

        w = len(span)
        pattern = on_across(span, w, threshold)[0]
        units = np.flatnonzero(pattern)
        title = f"match · {len(units)} unit(s) on (h > {threshold:+.1f}, Ctrl+↑/↓) across the selection"
        if not len(units):
            return "no unit stays on across the selection: lower the threshold (Ctrl+↓)", [], title
        sample = self.get(fallback_ids)
        if sample is None:
            return "no text to search: the training corpus is not here and the playground is empty", [], title
        key = (id(sample), layer, threshold)
        if key not in self.off:  # one per layer and threshold: each selection then costs one pass
            self.off = {key: off_counts(sample.hs[:, layer], threshold)}
        found = best_matches(pattern, sample.hs[:, layer], w, threshold, n, self.off[key])
        glue = "" if self.ckpt.vocab.level == "char" else " "
        lines, spans, at = [], [], 0
        for m in found:
            shown = [inspect.display_token(t) for t in sample.tokens]
            left = glue.join(shown[max(0, m.start - 24) : m.start])[-24:]
            mid = glue.join(shown[m.start : m.start + w])
            right = glue.join(shown[m.start + w : m.start + w + 24])[:24]
            head = f"{m.jaccard:4.2f} {left:>24}"
            spans.append((at + len(head), at + len(head) + len(mid)))
            line = f"{head}{mid}{right}  shares {len(m.shared)}"
            lines.append(line)
            at += len(line) + 1
        title += f" · best in {sample.source} (Jaccard)"
        return "\n".join(lines) or "no window shares a unit", spans, title
