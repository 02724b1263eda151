"""Derive the coefficients of rnntui's float32 tanh and exp approximations (kernels.py).

    python benchmarks/fit_approx.py

tanh(x) ~ x P(x^2) / Q(x^2) on |x| <= 9 (degree 4 in x^2 above and below), and
exp(r) ~ a degree-6 polynomial on |r| <= ln(2)/2. Both are fitted by least squares on the relative
error, reweighted (Lawson's iteration) towards equal ripple; the script prints the coefficients and
the worst relative error of the fit and of its float32 evaluation.
"""

import numpy as np


def fit_tanh(num_deg: int = 4, den_deg: int = 4, clamp: float = 9.0, iters: int = 60):
    x = np.unique(
        np.concatenate([np.linspace(0, clamp, 20000), (1 - np.cos(np.linspace(0, np.pi, 4000))) * clamp / 2])
    )
    s, f = x * x, np.where(x > 0, np.tanh(x) / np.where(x > 0, x, 1), 1.0)
    w, q_prev = np.ones_like(x), np.ones_like(x)
    for _ in range(iters):
        # linearised: P(s) - f (Q(s) - 1) = f, with Q's constant term fixed at 1, weighted to relative error
        A = np.concatenate([np.stack([s**k for k in range(num_deg + 1)], 1),
                            -np.stack([f * s**k for k in range(1, den_deg + 1)], 1)], 1)  # fmt: skip
        ww = w / (np.abs(f) * np.abs(q_prev))
        coef, *_ = np.linalg.lstsq(A * ww[:, None], f * ww, rcond=None)
        p, q = coef[: num_deg + 1], np.concatenate([[1.0], coef[num_deg + 1 :]])
        q_prev = np.polyval(q[::-1], s)
        err = np.abs(x * np.polyval(p[::-1], s) / q_prev - np.tanh(x)) / np.maximum(np.tanh(x), 1e-300)
        err[x == 0] = 0
        w = w * (err / err.max() + 1e-3)
        w /= w.mean()
    return p, q, err.max()


def fit_exp(deg: int = 6, iters: int = 50):
    r = np.cos(np.linspace(0, np.pi, 5001)) * np.log(2) / 2
    A, f = np.stack([r**k for k in range(deg + 1)], 1), np.exp(r)
    w = np.ones_like(r)
    for _ in range(iters):
        c, *_ = np.linalg.lstsq(A * (w / f)[:, None], w, rcond=None)
        err = np.abs(A @ c - f) / f
        w = w * (err / err.max() + 1e-3)
        w /= w.mean()
    return c, err.max()


def horner32(coefs, s):
    out = np.zeros_like(s)
    for c in reversed(coefs):
        out = out * s + np.float32(c)
    return out


def main() -> None:
    p, q, err = fit_tanh()
    x = np.linspace(-9, 9, 2_000_001).astype(np.float32)
    s = x * x
    y = x * horner32(p, s) / horner32(q, s)
    ref = np.tanh(x.astype(np.float64))
    rel = np.abs(y - ref) / np.maximum(np.abs(ref), 1e-300)
    print(f"tanh P = {p.tolist()}\n     Q = {q.tolist()}")
    print(f"     fit relative error {err:.2e}; evaluated in float32 {rel[x != 0].max():.2e}")
    c, err = fit_exp()
    print(f"exp  C = {c.tolist()}\n     fit relative error {err:.2e}")


if __name__ == "__main__":
    main()
