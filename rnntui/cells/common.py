"""What the cells share that is plain NumPy: the orthogonal initialisation and the sigmoid of the twins."""

from __future__ import annotations

import numpy as np


def orthogonal(rng: np.random.Generator, H: int) -> np.ndarray:
    """A uniformly random orthogonal (H, H) matrix: Q of a Gaussian's QR, its columns' signs fixed
    by R's diagonal (without the fix Q is not uniformly distributed)."""
    q, r = np.linalg.qr(rng.standard_normal((H, H)))
    return q * np.sign(np.diag(r))


def sigmoid(a):
    """The logistic function, as the NumPy twins write it."""
    return 1.0 / (1.0 + np.exp(-a))
