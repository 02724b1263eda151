"""How the tests compare floating-point results: against a float64 reference, with a tolerance that is
a share of the size of the values compared.

A float32 kernel and its reference add the same terms in different orders (the order depends on the
thread count, the BLAS build and the CPU), so they differ by rounding of about eps32 times the size of
the terms, not of each result: an entry that is small because its terms cancel carries the rounding
of its large neighbours. Comparing with ``atol`` fixed in absolute terms, or with ``rtol`` per entry,
turns that rounding into a verdict that changes from machine to machine. ``assert_close`` measures the
worst error against the largest value in the array, which no summation order can move by more than
a few eps32.
"""

import numpy as np


def assert_close(got, want, rel: float, what: str = "", scale: float | None = None) -> None:
    """max |got - want| <= rel * scale (want: the float64 reference, any shape).

    ``scale`` is the size of the values compared: by default max |want|; for a sum or product whose
    results may all cancel (a single column sum, say) pass the size of its terms, max of sum |terms|.
    """
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert np.isfinite(got).all() and np.isfinite(want).all(), f"{what}: non-finite values"
    if scale is None:
        scale = float(np.abs(want).max()) if want.size else 0.0
    err = float(np.abs(got - want).max()) if want.size else 0.0
    assert err <= rel * scale, f"{what}: max error {err:.3g} > {rel:g} x {scale:.3g} (the size of the values)"


def central_differences(f, x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """d f / d x by central differences, one entry of x (float64, changed in place and restored) at a
    time: (f(x + eps e_i) - f(x - eps e_i)) / (2 eps), the same shape as x."""
    out = np.empty(x.shape)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        up = f()
        x[idx] = old - eps
        down = f()
        x[idx] = old
        out[idx] = (up - down) / (2 * eps)
    return out
