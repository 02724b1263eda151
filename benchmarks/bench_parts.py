"""Where one thread's training step goes: each part of a layer's forward and backward, per cell.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=. python benchmarks/bench_parts.py
    ... bench_parts.py --hidden 512 --cells rnn,lstm

One thread's share of a training step (B = 32 on 2 threads: 16 rows, T = 64, char level E = 64,
V = 80), on one thread with single-threaded BLAS, as training runs it. Each part is timed on its own
with the same kernels the cells call, best of --repeats, in the thread's CPU time (other jobs on a
shared machine matter less). Every matrix part is reported in GFLOP/s and as a share of one thread's
rate on a large square product (2048^3) measured in the same run: the ceiling one core could reach.
"step" is the whole of ``RNN.loss_and_grads`` on that share; "rest" is what the parts leave
(Python, buffers, the output layer's small pieces).

This is what limits the gated cells: every part is a product of 16 rows, and the small products
each step of the recurrence needs run well below the large product's rate.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_train import openblas_cores, warn_openblas_env  # noqa: E402

from rnntui import cells, kernels  # noqa: E402
from rnntui.cells import gru, lstm  # noqa: E402
from rnntui.model import RNN, ModelConfig  # noqa: E402


@njit(nogil=True)
def _forward_products(hs, Whh, WhhT, Wb, tmp, rec):
    for t in range(hs.shape[0] - 1):
        kernels.stacked_product(hs[t], Whh, WhhT, Wb, tmp, rec)


@njit(nogil=True)
def _backward_products(dg, WhhT, Whh, gtmp, part, drec):
    for t in range(dg.shape[0] - 1, -1, -1):
        kernels.stacked_product_t(dg[t], WhhT, Whh, gtmp, part, drec)


@njit(nogil=True)
def _backward_products_square(da, WhhT, Whh, WbT, tmp, dnext):
    for t in range(da.shape[0] - 1, -1, -1):  # the vanilla cell: a square product, as the forward's
        kernels.stacked_product(da[t], WhhT, Whh, WbT, tmp, dnext)


@njit(nogil=True)
def _rnn_elementwise(hs, rec, bh, dhs, dnext):
    for t in range(hs.shape[0] - 1):
        kernels.tanh_add(hs[t + 1], rec, bh, False)
    for t in range(hs.shape[0] - 2, -1, -1):
        kernels.tanh_backward(hs[t + 1], dhs[t], dnext)


@njit(nogil=True)
def _gru_elementwise(gates, rec, bh, bhn, hs, hn, dhs, drec, dgx, dgh, dprev):
    for t in range(gates.shape[0]):
        gru.gates_forward(gates[t], rec, bh, bhn, hs[t], hs[t + 1], hn[t], False)
    for t in range(gates.shape[0] - 1, -1, -1):
        gru.gates_backward(gates[t], hn[t], hs[t], dhs[t], drec, dgx[t], dgh[t], dprev)


@njit(nogil=True)
def _lstm_elementwise(gates, rec, bh, cs, hs, tcs, dhs, drec, dc, dg):
    for t in range(gates.shape[0]):
        lstm.gates_forward(gates[t], rec, bh, cs[t], cs[t + 1], hs[t + 1], tcs[t], False)
    for t in range(gates.shape[0] - 1, -1, -1):
        lstm.gates_backward(gates[t], cs[t], tcs[t], dhs[t], drec, dc, dg[t])


def best_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.thread_time()
        fn()
        times.append(time.thread_time() - t0)
    return min(times) * 1e3


def one_thread_ceiling(repeats: int, n: int = 2048) -> float:
    """GFLOP/s of one thread on an n^3 float32 product."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    out = np.empty_like(a)
    return 2 * n**3 / best_ms(lambda: np.dot(a, b, out), repeats) / 1e6


def parts(
    cell_name: str, H: int, B: int, T: int, E: int, V: int, repeats: int
) -> list[tuple[str, float, float]]:
    """(part, ms, GFLOP) for one thread's share of a step of a 1-layer model."""
    G = cells.get(cell_name).param_shapes(1, 1)["Whh"][1]  # gates side by side: GH = G * H
    GH, N = G * H, T * B
    rng = np.random.default_rng(0)

    def f32(*shape, scale=0.1):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    Wxh, Whh, bh, bhn = f32(E, GH), f32(H, GH), f32(GH), f32(H)
    WhhT = np.ascontiguousarray(Whh.T)
    x, hs, dhs = f32(T, B, E), f32(T + 1, B, H), f32(T, B, H)
    gates = np.clip(f32(T, B, GH, scale=1.0), 0.05, 0.95)  # gate values in (0, 1), as after a forward
    dg = f32(T, B, GH)
    rec, drec = np.empty((B, GH), np.float32), np.zeros((B, H), np.float32)
    square = G == 1
    Wb, tmp, _ = kernels.stacked_workspace(Whh, B)
    if square:
        WbT, tmpT, _ = kernels.stacked_workspace(WhhT, B)
    else:
        _, gtmp, part = kernels.stacked_workspace(Whh, B, False)
    out: list[tuple[str, float, float]] = []

    def add(name, fn, flops):
        out.append((name, best_ms(fn, repeats), flops / 1e9))

    add("fwd: x Wxh, all steps", lambda: np.dot(x.reshape(N, E), Wxh, dg.reshape(N, GH)), 2 * N * E * GH)
    add("fwd: h Whh, step by step", lambda: _forward_products(hs, Whh, WhhT, Wb, tmp, rec), 2 * N * H * GH)
    if cell_name == "rnn":
        dh = dhs.copy()
        add("gates / tanh, fwd + bwd", lambda: _rnn_elementwise(hs.copy(), rec, bh, dh, drec), 0)
    elif cell_name == "gru":
        hn, dgx, dprev = f32(T, B, H), f32(T, B, GH), np.zeros((B, H), np.float32)
        args = (rec, bh, bhn, hs.copy(), hn, dhs, drec, dgx, dg, dprev)
        add("gates, fwd + bwd", lambda: _gru_elementwise(gates.copy(), *args), 0)
    else:
        cs, tcs, dc = f32(T + 1, B, H), f32(T, B, H), np.zeros((B, H), np.float32)
        args = (rec, bh, cs, hs.copy(), tcs, dhs, drec, dc, dg)
        add("gates, fwd + bwd", lambda: _lstm_elementwise(gates.copy(), *args), 0)
    if square:
        products = lambda: _backward_products_square(dg, WhhT, Whh, WbT, tmpT, drec)  # noqa: E731
    else:
        products = lambda: _backward_products(dg, WhhT, Whh, gtmp, part, drec)  # noqa: E731
    add("bwd: dg Whh^T, step by step", products, 2 * N * H * GH)
    G2 = dg.reshape(N, GH)
    dWxh, dWhh, dx = np.empty_like(Wxh), np.empty_like(Whh), np.empty((N, E), np.float32)
    add("bwd: dWxh = x^T dg", lambda: np.dot(x.reshape(N, E).T, G2, dWxh), 2 * N * E * GH)
    add("bwd: dWhh = h^T dg", lambda: np.dot(hs[:-1].reshape(N, H).T, G2, dWhh), 2 * N * H * GH)
    add("bwd: dx = dg Wxh^T", lambda: np.dot(G2, np.ascontiguousarray(Wxh.T), dx), 2 * N * GH * E)

    model = RNN.initialised(ModelConfig(vocab_size=V, embed=E, hidden=H, cell=cell_name), rng)
    model.parts = 1
    tokens = rng.integers(0, V, (T + 1, B)).astype(np.int32)
    h0 = model.zero_state(B)
    step = best_ms(lambda: model.loss_and_grads(tokens, h0), repeats)
    flops = sum(f for _, _, f in out) + 3 * 2 * N * H * V / 1e9
    out.append(
        ("rest: output layer, softmax, ...", step - sum(ms for _, ms, _ in out), 3 * 2 * N * H * V / 1e9)
    )
    out.append(("step (RNN.loss_and_grads)", step, flops))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", default="rnn,gru,lstm")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--rows", type=int, default=16, help="one thread's share of the batch")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)
    warn_openblas_env()
    print(f"OpenBLAS: {openblas_cores()}")
    T, E, V = 64, 64, 80
    with threadpool_limits(1):
        ceiling = one_thread_ceiling(5)
        print(f"one thread, 2048^3 float32 product: {ceiling:.0f} GFLOP/s")
        for name in args.cells.split(","):
            print(f"\n{name}  H={args.hidden}  rows={args.rows}  T={T}  E={E}  V={V}")
            print(f"  {'part':34s} {'ms':>7s} {'share':>6s} {'GFLOP/s':>8s} {'of ceiling':>10s}")
            rows = parts(name, args.hidden, args.rows, T, E, V, args.repeats)
            total = rows[-1][1]
            for part, ms, gflop in rows:
                rate = f"{gflop / ms * 1e3:8.0f}" if gflop else f"{'-':>8s}"
                frac = f"{gflop / ms * 1e3 / ceiling:10.0%}" if gflop else f"{'-':>10s}"
                print(f"  {part:34s} {ms:7.2f} {ms / total:6.0%} {rate} {frac}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
