"""Training speed: rnntui vs PyTorch vs plain NumPy, side by side in one process.

    PYTHONPATH=. python benchmarks/bench_train.py            # the full grid, writes BENCHMARKS.md
    PYTHONPATH=. python benchmarks/bench_train.py --quick    # H=256,512 x B=32 char + word level
    PYTHONPATH=. python benchmarks/bench_train.py --cells rnn,gru,lstm --quick   # every cell

This machine's environment sets OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (older OpenBLAS builds
miscompute on its CPU); with today's wheels they make NumPy/SciPy's OpenBLAS pick an older core's
kernels and halve its speed, and so rnntui's, but not PyTorch's (which does not use that BLAS). A
user's machine sets neither. The published figures unset both in the benchmark's own command only:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=. python benchmarks/bench_train.py ...
The script prints the OpenBLAS core it runs on (threadpoolctl) and warns when either is set.

Three implementations of the same model and update train on the same chunks of the same corpus:

  rnntui   the real code path: ``Trainer.train_step`` (forward, backward, clip, Adam)
  torch    nn.Embedding -> nn.RNN(tanh) / nn.GRU / nn.LSTM -> nn.Linear, cross-entropy,
           clip_grad_norm_, Adam (torch.set_num_threads(2); PyTorch comes from the ``bench`` extra)
  numpy    a plain batched NumPy version (Python loop over T, matrix products over B; vanilla only)

Each configuration is measured in interleaved rounds (rnntui, torch, numpy, rnntui, ...) so a
slow patch of a shared machine hurts all three alike; the figure is the median round. Only the
ratios measured in one run mean much on a noisy machine.

FLOPs per token (matrix products only; element-wise work and the softmax are not counted), with
G the cell's stacked gates (rnn 1, gru 3, lstm 4):
    forward  2 (E GH + H GH + H V)     input, recurrent and output products
    backward 4 (E GH + H GH + H V)     each product's weight gradient and input gradient
    total    6 (E GH + H GH + H V)
The GEMM ceiling is a large float32 ``np.matmul`` (2048^3) timed in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnntui.train import TrainConfig, Trainer  # noqa: E402

CHAR_H = (128, 256, 512, 1024)
CHAR_B = (1, 32, 128)
T = 64
LR, CLIP = 2e-3, 5.0


GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def flops_per_token(E: int, H: int, V: int, cell: str = "rnn") -> int:
    G = GATES[cell]
    return 6 * (E * G * H + H * G * H + H * V)


def gemm_ceiling(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of an n^3 np.matmul."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b, c = a.copy(), np.empty_like(a)
    np.matmul(a, b, out=c)
    best = min(_timed(lambda: np.matmul(a, b, out=c)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# -- the three implementations: each is make(trainer) -> step() ------------------------------------


def make_rnntui(trainer: Trainer):
    return trainer.train_step


def make_rnntui_1t(trainer: Trainer):
    """rnntui on one thread (its own Trainer and model): shows what the second core buys."""
    tr = Trainer.start(trainer.corpus_files, trainer.cfg, trainer.run_dir.parent / "run-1t")
    tr.model.parts = 1
    return tr.train_step


def make_numpy(trainer: Trainer):
    """A plain batched NumPy RNN LM with Adam and clipping, starting from rnntui's initial weights."""
    p = {k: v.copy() for k, v in trainer.model.params.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    cfg = trainer.cfg
    state = {"pos": 0, "t": 0, "h": np.zeros((cfg.batch, cfg.hidden), np.float32)}
    streams = trainer.streams

    def step():
        if not streams.fits(state["pos"]):
            state["pos"] = 0
        tokens = streams.chunk(state["pos"])
        state["pos"] += cfg.seq
        inputs, targets = tokens[:-1], tokens[1:]
        Tn, B = inputs.shape
        x = p["embed"][inputs]  # (T, B, E)
        hs = np.empty((Tn + 1, B, cfg.hidden), np.float32)
        hs[0] = state["h"]
        pre = x @ p["Wxh0"] + p["bh0"]
        for t in range(Tn):
            hs[t + 1] = np.tanh(pre[t] + hs[t] @ p["Whh0"])
        top = hs[1:].reshape(Tn * B, -1)
        logits = top @ p["Why"] + p["by"]
        logits -= logits.max(1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(1, keepdims=True)
        flat_t = targets.reshape(-1)
        N = len(flat_t)
        loss = -np.log(logits[np.arange(N), flat_t]).mean()
        logits[np.arange(N), flat_t] -= 1.0
        logits /= N
        g = {"Why": top.T @ logits, "by": logits.sum(0)}
        dh = (logits @ p["Why"].T).reshape(Tn, B, -1)
        da = np.empty_like(dh)
        dnext = np.zeros((B, cfg.hidden), np.float32)
        for t in range(Tn - 1, -1, -1):
            da[t] = (dh[t] + dnext) * (1.0 - hs[t + 1] ** 2)
            dnext = da[t] @ p["Whh0"].T
        da2 = da.reshape(Tn * B, -1)
        g["Whh0"] = hs[:-1].reshape(Tn * B, -1).T @ da2
        g["Wxh0"] = x.reshape(Tn * B, -1).T @ da2
        g["bh0"] = da2.sum(0)
        dx = da2 @ p["Wxh0"].T
        g["embed"] = np.zeros_like(p["embed"])
        np.add.at(g["embed"], inputs.reshape(-1), dx)
        norm = np.sqrt(sum(float(np.sum(gi * gi, dtype=np.float64)) for gi in g.values()))
        scale = CLIP / norm if norm > CLIP else 1.0
        state["t"] += 1
        t_ = state["t"]
        for k in p:
            gk = g[k] * scale
            m[k] = 0.9 * m[k] + 0.1 * gk
            v2[k] = 0.999 * v2[k] + 0.001 * gk * gk
            p[k] -= LR * (m[k] / (1 - 0.9**t_)) / (np.sqrt(v2[k] / (1 - 0.999**t_)) + 1e-8)
        state["h"] = hs[-1]
        return loss

    return step


def make_torch(trainer: Trainer):
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    cfg, mcfg = trainer.cfg, trainer.model.cfg

    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(mcfg.vocab_size, mcfg.embed)
            kind = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[mcfg.cell]
            self.rnn = kind(mcfg.embed, mcfg.hidden)
            self.out = torch.nn.Linear(mcfg.hidden, mcfg.vocab_size)

        def forward(self, x, h):
            y, h = self.rnn(self.embed(x), h)
            return self.out(y), h

    model = LM()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    h0 = torch.zeros(1, cfg.batch, mcfg.hidden)
    state = {"pos": 0, "h": (h0, h0.clone()) if mcfg.cell == "lstm" else h0}
    streams = trainer.streams

    def step():
        if not streams.fits(state["pos"]):
            state["pos"] = 0
        tokens = torch.from_numpy(streams.chunk(state["pos"]).astype(np.int64))
        state["pos"] += cfg.seq
        logits, h = model(tokens[:-1], state["h"])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, mcfg.vocab_size), tokens[1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        state["h"] = tuple(x.detach() for x in h) if isinstance(h, tuple) else h.detach()
        return loss.item()

    step.model = model  # for bench_quality's evaluation and learning-rate schedule
    step.optimizer = opt
    return step


# -- measuring --------------------------------------------------------------------------------------


def measure(makers: dict, trainer_for, rounds: int, round_seconds: float) -> dict[str, list[float]]:
    """Seconds per step of each implementation, one figure per round, rounds interleaved."""
    steps = {}
    for name, make in makers.items():
        steps[name] = make(trainer_for(name))
    per_round = {}
    for name, step in steps.items():  # warm up (compile, caches) and size a round
        step()
        dt = _timed(step)
        dt = min(dt, _timed(step))
        per_round[name] = max(1, int(round_seconds / dt))
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            k = per_round[name]
            t0 = time.perf_counter()
            for _ in range(k):
                step()
            times[name].append((time.perf_counter() - t0) / k)
    return times


def machine_description() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numba

    parts = [f"{cpu}, {os.cpu_count()} cores", f"Python {platform.python_version()}",
             f"NumPy {np.__version__}", f"Numba {numba.__version__}"]  # fmt: skip
    try:
        import torch

        parts.append(f"PyTorch {torch.__version__}")
    except ImportError:
        parts.append("PyTorch absent")
    try:
        from threadpoolctl import threadpool_info

        blas = {f"{d['internal_api']} {d.get('version') or ''} ({d.get('architecture') or '-'}, "
                f"{d['num_threads']} threads)" for d in threadpool_info()}  # fmt: skip
        parts.append("; ".join(sorted(blas)))
    except ImportError:
        pass
    return ", ".join(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a subset: char H=256,512 at B=32, and word level")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--round-seconds", type=float, default=1.0, help="time per implementation per round")
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpora" / "republic.txt")
    ap.add_argument("--no-numpy", action="store_true", help="skip the NumPy peer")
    ap.add_argument("--one-thread", action="store_true", help="also time rnntui on a single thread")
    ap.add_argument("--no-write", action="store_true", help="do not write BENCHMARKS.md")
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    ap.add_argument("--cells", default="rnn", help="comma-separated cells to time: rnn,gru,lstm")
    args = ap.parse_args(argv)
    cells = args.cells.split(",")
    if set(cells) - set(GATES):
        ap.error(f"--cells: choose from {', '.join(GATES)}")
    warn_openblas_env()

    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        have_torch = False
        print("PyTorch is not installed: skipping it (pip install -e '.[bench]' installs torch==2.13.0, CPU)")

    if args.quick:
        sizes = [("char", 256, 32), ("char", 512, 32), ("word", 256, 32)]
    else:
        sizes = [("char", H, B) for H in CHAR_H for B in CHAR_B] + [("word", 256, 32)]
    grid = [(cell, *size) for size in sizes for cell in cells]

    ceiling = gemm_ceiling()
    print(f"float32 GEMM ceiling (np.matmul 2048^3): {ceiling:.0f} GFLOP/s; rnntui threads: {_parts()}")
    print(f"OpenBLAS: {openblas_cores()}")
    print("FLOPs/token = 6 (E GH + H GH + H V); T = 64, Adam, clip 5, 2 threads\n")
    header = (f"{'cell':4} {'level':5} {'V':>6} {'E':>4} {'H':>5} {'B':>4} | {'rnntui tok/s':>12} "
              f"{'torch tok/s':>11} {'numpy tok/s':>11} | {'vs torch':>8} {'vs numpy':>8} | "
              f"{'rnntui GF/s':>11} {'ceiling':>7} {'% ceil':>6}")  # fmt: skip
    print(header)
    print("-" * len(header))
    rows = []
    ceilings = [ceiling]
    with tempfile.TemporaryDirectory() as tmp:
        trainers: dict[tuple, Trainer] = {}
        for cell, level, H, B in grid:
            cfg = TrainConfig(level=level, hidden=H, batch=B, seq=T, lr=LR, clip=CLIP, seed=0, cell=cell)
            key = (cell, level, H, B)

            def trainer_for(name, cfg=cfg, key=key):
                # one Trainer per configuration: rnntui trains it; the peers read its chunks and copy
                # its initial weights (NumPy) when they are made, before any step
                if key not in trainers:
                    trainers[key] = Trainer.start(args.corpus, cfg, Path(tmp) / "run")
                return trainers[key]

            makers = {"rnntui": make_rnntui}
            if args.one_thread:
                makers["rnntui1"] = make_rnntui_1t
            if have_torch:
                makers["torch"] = make_torch
            if not args.no_numpy and cell == "rnn":
                makers["numpy"] = make_numpy
            times = measure(makers, trainer_for, args.rounds, args.round_seconds)
            # the ceiling again, right after this configuration: a shared machine's load drifts
            local_ceiling = max(gemm_ceiling(repeats=3), 1e-9)
            ceilings.append(local_ceiling)
            mcfg = trainers[key].model.cfg
            tps = {name: B * T / statistics.median(ts) for name, ts in times.items()}
            gf = tps["rnntui"] * flops_per_token(mcfg.embed, H, mcfg.vocab_size, cell) / 1e9
            row = dict(cell=cell, level=level, V=mcfg.vocab_size, E=mcfg.embed, H=H, B=B, gflops=gf,
                       ceiling=local_ceiling, share=gf / local_ceiling,
                       **{f"tps_{k}": v for k, v in tps.items()})  # fmt: skip
            rows.append(row)
            extra = f"   rnntui 1 thread: {tps['rnntui1']:,.0f} tok/s" if "rnntui1" in tps else ""
            print(_format_row(row) + extra, flush=True)

    print(f"GEMM ceiling over the run: {min(ceilings):.0f} .. {max(ceilings):.0f} GFLOP/s")
    if not args.no_write:
        write_markdown(args, rows, ceilings)
        print(f"\nwrote {args.out}")
    return 0


def warn_openblas_env() -> None:
    """Say loudly when the environment makes OpenBLAS pick another core's kernels."""
    set_vars = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ]
    if set_vars:
        print("!" * 100)
        print(
            f"!! {' and '.join(f'{v}={os.environ[v]}' for v in set_vars)} set: NumPy/SciPy's OpenBLAS runs "
            "another core's kernels,"
        )
        print(
            "!! about half speed on this CPU, and rnntui with it (PyTorch is not affected). For the figures"
        )
        print("!! a user would see: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=. python ...")
        print("!" * 100)


def openblas_cores() -> str:
    """Each OpenBLAS this process loaded, with the core type it runs (threadpoolctl)."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's, the one the kernels call)
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl missing)"
    found = [f"{Path(d['filepath']).parent.name}: core {d.get('architecture') or '?'}"
             for d in threadpool_info() if d["internal_api"] == "openblas"]  # fmt: skip
    env = {v: os.environ[v] for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ}
    return "; ".join(found) + (f"  (environment: {env})" if env else "  (OPENBLAS_CORETYPE/L2_SIZE unset)")


def _parts() -> int:
    from rnntui.model import default_parts

    return default_parts()


def _ratio(row, other) -> str:
    v = row.get(f"tps_{other}")
    return f"{row['tps_rnntui'] / v:.2f}x" if v else "-"


def _tps(row, name) -> str:
    v = row.get(f"tps_{name}")
    return f"{v:,.0f}" if v else "-"


def _format_row(r) -> str:
    return (f"{r['cell']:4} {r['level']:5} {r['V']:>6} {r['E']:>4} {r['H']:>5} {r['B']:>4} | "
            f"{_tps(r, 'rnntui'):>12} "
            f"{_tps(r, 'torch'):>11} {_tps(r, 'numpy'):>11} | {_ratio(r, 'torch'):>8} "
            f"{_ratio(r, 'numpy'):>8} | {r['gflops']:>11.1f} {r['ceiling']:>7.0f} "
            f"{100 * r['share']:>5.0f}%")  # fmt: skip


def write_markdown(args, rows, ceilings) -> None:
    flags = [flag for flag, on in (("--quick", args.quick), ("--one-thread", args.one_thread)) if on]
    if args.cells != "rnn":
        flags.append(f"--cells {args.cells}")
    if args.rounds != 3:
        flags.append(f"--rounds {args.rounds}")
    unset = "" if "OPENBLAS_CORETYPE" in os.environ else "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
    cmd = unset + " ".join(["PYTHONPATH=. python benchmarks/bench_train.py", *flags])
    lines = [
        "# Benchmarks",
        "",
        "## Training speed",
        "",
        f"Command: `{cmd}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ",
        f"Machine: {machine_description()}  ",
        f"OpenBLAS: {openblas_cores()}  ",
        f"float32 GEMM ceiling (np.matmul 2048^3, timed after each configuration in the same run): "
        f"{min(ceilings):.0f} .. {max(ceilings):.0f} GFLOP/s",
        "",
        "Tokens per second of one training step (forward, backward, gradient clipping at 5, Adam),",
        "T = 64, median of interleaved rounds. FLOPs/token = 6 (E GH + H GH + H V) (matrix products only;",
        "G = the cell's gates: rnn 1, gru 3, lstm 4). PyTorch runs nn.RNN / nn.GRU / nn.LSTM, same sizes.",
        "The Republic (corpora/republic.txt); word level uses its full vocabulary.",
        "",
        "| cell | level | V | E | H | B | rnntui tok/s | PyTorch tok/s | NumPy tok/s | vs PyTorch | vs NumPy "
        "| rnntui GFLOP/s | GEMM ceiling GFLOP/s | % of ceiling | rnntui on 1 thread tok/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['cell']} | {r['level']} | {r['V']} | {r['E']} | {r['H']} | {r['B']} | "
            f"{_tps(r, 'rnntui')} | "
            f"{_tps(r, 'torch')} | {_tps(r, 'numpy')} | {_ratio(r, 'torch')} | {_ratio(r, 'numpy')} | "
            f"{r['gflops']:.1f} | {r['ceiling']:.0f} | {100 * r['share']:.0f}% | {_tps(r, 'rnntui1')} |"
        )
    text = "\n".join(lines) + "\n"
    old = args.out.read_text() if args.out.exists() else ""
    # keep other sections (e.g. generation) that other scripts wrote
    marker = "## Training speed"
    rest = ""
    if marker in old:
        after = old.split(marker, 1)[1]
        nxt = after.find("\n## ")
        rest = after[nxt:] if nxt >= 0 else ""
    elif old.startswith("# Benchmarks"):
        rest = "\n" + old.split("\n", 1)[1].lstrip("\n")
    args.out.write_text(text + rest)


if __name__ == "__main__":
    sys.exit(main())
