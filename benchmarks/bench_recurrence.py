"""The recurrent product h (R, H) @ Whh (H, H), the inner loop of training: three ways, side by side.

    PYTHONPATH=. python benchmarks/bench_recurrence.py
    PYTHONPATH=. python benchmarks/bench_recurrence.py --gated   # the GRU's and LSTM's H x GH products

  blas      one np.dot call from Numba (SciPy's OpenBLAS, single-threaded as in training)
  blas/8    np.dot on 8 rows at a time: small enough for OpenBLAS's small-matrix kernels, which
            skip packing the matrix
  loops     kernels.matmul_nt: 4 x 4 blocks of dot products over the matrix as it is

R is one thread's share of the batch (B = 32 on 2 threads: R = 16). Each figure is the best of 5
interleaved repeats, timed with the thread's CPU time so other jobs on a shared machine matter less.
kernels.recurrent_product picks blas/8 for H <= 352, else loops for 4 to 31 rows and blas otherwise;
this script shows why.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnntui import kernels  # noqa: E402
from rnntui.model import default_parts  # noqa: E402


@njit(nogil=True)
def _blas(h, W, out, n):
    for _ in range(n):
        np.dot(h, W, out)


@njit(nogil=True)
def _blas8(h, W, out, n):
    for _ in range(n):
        for r in range(0, h.shape[0], 8):
            np.dot(h[r : r + 8], W, out[r : r + 8])


@njit(nogil=True)
def _loops(h, WT, out, n):
    for _ in range(n):
        kernels.matmul_nt(h, WT, out)


@njit(nogil=True)
def _stacked(h, W, WT, Wb, tmp, out, n):
    for _ in range(n):
        kernels.stacked_product(h, W, WT, Wb, tmp, out)


@njit(nogil=True)
def _stacked_t(g, WT, W, tmp, part, out, n):
    for _ in range(n):
        kernels.stacked_product_t(g, WT, W, tmp, part, out)


@njit(nogil=True)
def _plain(h, W, WT, out, n):
    for _ in range(n):
        kernels.recurrent_product(h, W, WT, out)


def _gated_row(rng, H: int, G: int, R: int = 16) -> dict[str, float]:
    """Best-of-5 microseconds of each way to multiply by one stacked-gate matrix (H, GH)."""
    W = rng.standard_normal((H, G * H)).astype(np.float32)
    WT = np.ascontiguousarray(W.T)
    h = rng.standard_normal((R, H)).astype(np.float32)
    g = rng.standard_normal((R, G * H)).astype(np.float32)
    out, outt = np.empty((R, G * H), np.float32), np.empty((R, H), np.float32)
    Wb, tmp, part = kernels.stacked_workspace(W, R)
    n = max(10, int(3e8 / (2 * R * H * G * H)))
    runs = {
        "fwd whole": lambda n: _plain(h, W, WT, out, n),
        "fwd chosen": lambda n: _stacked(h, W, WT, Wb, tmp, out, n),
        "bwd whole": lambda n: _plain(g, WT, W, outt, n),
        "bwd chosen": lambda n: _stacked_t(g, WT, W, tmp, part, outt, n),
    }
    best = dict.fromkeys(runs, np.inf)
    for fn in runs.values():
        fn(1)
    for _ in range(5):
        for name, fn in runs.items():
            t0 = time.thread_time()
            fn(n)
            best[name] = min(best[name], (time.thread_time() - t0) / n * 1e6)
    return best | {"blocks": Wb.shape[0]}


def gated() -> None:
    """The stacked-gate products (h Whh forward, dg Whh^T backward) of the GRU (G = 3) and LSTM
    (G = 4), R = 16 rows: recurrent_product's rule for the whole matrix against stacked_product's
    choice (the whole matrix when 4 rows of it fit the small path, else blocks that do)."""
    rng = np.random.default_rng(0)
    print(f"{'H':>5} {'G':>2} {'blocks':>6} | {'fwd whole us':>12} {'fwd chosen us':>13} | "
          f"{'bwd whole us':>12} {'bwd chosen us':>13}")  # fmt: skip
    for H in (128, 256, 384, 512, 1024):
        for G in (3, 4):
            b = _gated_row(rng, H, G)
            print(f"{H:5d} {G:2d} {b['blocks']:6d} | {b['fwd whole']:12.1f} {b['fwd chosen']:13.1f} | "
                  f"{b['bwd whole']:12.1f} {b['bwd chosen']:13.1f}")  # fmt: skip


def main() -> None:
    default_parts()
    if "--gated" in sys.argv[1:]:
        gated()
        return  # the BLAS single-threaded, as during training
    rng = np.random.default_rng(0)
    print(f"{'H':>5} {'R':>4} | {'blas us':>9} {'blas/8 us':>10} {'loops us':>9} | chosen  vs blas")
    for H in (128, 256, 352, 384, 512, 1024):
        for R in (1, 16, 64):
            W = rng.standard_normal((H, H)).astype(np.float32)
            WT = np.ascontiguousarray(W.T)
            h = rng.standard_normal((R, H)).astype(np.float32)
            out = np.empty((R, H), np.float32)
            n = max(10, int(1e9 / (2 * R * H * H)))
            runs = {"blas": (_blas, W), "blas/8": (_blas8, W), "loops": (_loops, WT)}
            best = dict.fromkeys(runs, np.inf)
            for fn, w in runs.values():
                fn(h, w, out, 1)  # compile
            for _ in range(5):
                for name, (fn, w) in runs.items():
                    t0 = time.thread_time()
                    fn(h, w, out, n)
                    best[name] = min(best[name], (time.thread_time() - t0) / n * 1e6)
            if H <= kernels._SMALL_H:
                chosen = "blas/8"
            else:
                chosen = "loops" if 4 <= R < kernels._PACKING_PAYS else "blas"
            print(f"{H:5d} {R:4d} | {best['blas']:9.2f} {best['blas/8']:10.2f} {best['loops']:9.2f} | "
                  f"{chosen:7s} {best['blas'] / best[chosen]:5.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
