"""Fine-tuning: a new run whose weights start from a trained model's.

The new run's model has the old one's shape and a vocabulary grown for the new text
(``corpus.grow_vocab``): the old tokens keep their ids, the new ones come after them. Every weight is
copied, except that only the old tokens' rows of the three arrays indexed by token can be:

    embed (V, E)   row i is token i's input vector
    Why   (H, V)   column i is token i's output vector
    by    (V,)     entry i is token i's output bias

The new tokens' rows keep what ``RNN.initialised`` gave the new model (embeddings N(0, 1), output
vectors N(0, 0.01/H), biases 0), so they start exactly as in a fresh model. Every other parameter,
whatever the cell, has the same name and shape in both models and is copied whole.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from rnntui.checkpoint import CheckpointError
from rnntui.model import RNN

TOKEN_ROWS = {"embed": 0, "Why": 1, "by": 0}  # the arrays indexed by token id, and along which axis


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (what ``sha256sum`` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def transplant(src: RNN, dst: RNN) -> None:
    """Copy ``src``'s weights into ``dst``, whose vocabulary is ``src``'s followed by new tokens:
    the token-indexed arrays (TOKEN_ROWS) get ``src``'s rows for the first V_src ids and keep their
    own after; every other array is copied whole."""
    if set(src.params) != set(dst.params):
        raise CheckpointError("the model to start from has other parameters than the new one")
    V = src.cfg.vocab_size
    for name, w in src.params.items():
        target = dst.params[name]
        if name in TOKEN_ROWS:
            axis = TOKEN_ROWS[name]
            rows = (slice(None),) * axis + (slice(0, V),)
            if target[rows].shape != w.shape:
                raise CheckpointError(f"{name}: shape {w.shape} does not fit the new model's {target.shape}")
            target[rows] = w
        elif target.shape != w.shape:
            raise CheckpointError(f"{name}: shape {w.shape} does not fit the new model's {target.shape}")
        else:
            target[...] = w
