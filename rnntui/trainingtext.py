"""The text a checkpoint was trained on, found again on this machine, or one line saying why not.

A checkpoint records its corpus's files and the sha256 of their text (``checkpoint.corpus_files``).
They are looked for at the recorded paths, then under the same names in the project's ``corpora/``
folder (where the shipped model's text lives), and used only if the text is the very one trained on:
a corpus that is gone or changed is reported as such (``CorpusMissingError``), never guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

CORPORA = Path(__file__).resolve().parents[1] / "corpora"


class CorpusMissingError(ValueError):
    """The training text cannot be had; the message is one line for a person."""


@dataclass(frozen=True)
class TrainingText:
    """A checkpoint's corpus as its model saw it."""

    files: tuple[Path, ...]
    ids: np.ndarray  # (N,) every token id (memory-mapped from the token cache when it fits)
    n_train: int  # ids[:n_train] is the training split, the rest validation (corpus.split_train_val)
    sha256: str  # of the joined text
    cache: Path | None  # the token cache ``ids`` live in (None: encoded with the checkpoint's vocabulary)

    @property
    def train(self) -> np.ndarray:
        return self.ids[: self.n_train]

    @property
    def val(self) -> np.ndarray:
        return self.ids[self.n_train :]

    def describe(self) -> str:
        names = ", ".join(f.name for f in self.files)
        return f"{names} ({self.n_train:,} training tokens)"


def locate(ckpt) -> TrainingText:
    """The training text of ``ckpt``; CorpusMissingError (one line) when it is gone, changed or unreadable."""
    from rnntui.checkpoint import corpus_files
    from rnntui.corpus import Vocab, read_corpus, split_train_val
    from rnntui.tokencache import tokenize

    recorded = [path for path, _ in corpus_files(ckpt.meta)]
    if not recorded:
        raise CorpusMissingError("the checkpoint does not record the corpus it was trained on")
    info = ckpt.meta.get("corpus") or {}
    train = ckpt.meta.get("train") or {}
    vocab = ckpt.vocab
    init = ckpt.meta.get("init_from")  # a fine-tuned model's vocabulary grew from its base's
    base = Vocab(vocab.level, vocab.tokens[: int(init["base_vocab"])], vocab.lowercase) if init else None
    val_frac = train.get("val_frac", 0.05)
    if not isinstance(val_frac, int | float) or not 0.0 < val_frac <= 0.5:
        raise CorpusMissingError(
            f"the checkpoint's recorded val_frac {val_frac!r} is not a fraction in (0, 0.5]"
        )
    problems = []
    for files in (recorded, [CORPORA / path.name for path in recorded]):
        gone = [str(path) for path in files if not path.is_file()]
        if gone:
            problems.append(f"{gone[0]} is not there")
            continue
        try:
            # the training run's token cache (memory-mapped) when it fits this checkpoint ...
            tok = tokenize(files, vocab.level, lowercase=vocab.lowercase, min_count=train.get("min_count", 1),
                           max_vocab=train.get("max_vocab"), base=base)  # fmt: skip
            if info.get("sha256") and tok.sha256 != info["sha256"]:
                problems.append(f"{files[0]} has changed since training (sha256 {tok.sha256[:12]}…, "
                                f"the checkpoint recorded {info['sha256'][:12]}…)")  # fmt: skip
                continue
            if tok.vocab.tokens == vocab.tokens:
                ids, cache = tok.ids, tok.cache
            else:  # ... else the text encoded with the checkpoint's own vocabulary
                ids, cache = vocab.encode(read_corpus(files), what=str(files[0])), None
        except (OSError, TypeError, ValueError) as err:  # CorpusError is a ValueError; so are garbled options
            problems.append(f"{files[0]}: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
            continue
        n_train = len(split_train_val(ids, float(val_frac))[0])
        return TrainingText(tuple(files), ids, n_train, tok.sha256, cache)
    raise CorpusMissingError(
        "the training corpus is not on this machine: " + "; ".join(dict.fromkeys(problems))
    )
