"""The learning-quality benchmark: validation loss per minute of training on tiny-shakespeare.

    # the issue's benchmark: 30 minutes per run, on a quiet machine, OPENBLAS_* unset for this command
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=. python benchmarks/bench_quality.py \\
        --run "rnn hidden=512 dropout=0.25 weight_decay=0.1 schedule=cosine warmup=200" \\
        --run "gru hidden=512 dropout=0.25 schedule=cosine warmup=200" \\
        --run "lstm hidden=512 dropout=0.25 schedule=cosine warmup=200"
    # a short trial
    PYTHONPATH=. python benchmarks/bench_quality.py --minutes 1 --eval-seconds 20 --run "rnn hidden=128"

Each ``--run`` is a cell (rnn, gru, lstm) and any TrainConfig fields as key=value (hidden, layers,
embed, lr, dropout, weight_decay, schedule, warmup, lr_decay, decay_every, clip, batch, seq, seed);
the default is today's settings for each cell (H = 512, Adam 2e-3, clip 5, no regularisation). The
first vanilla run gets a PyTorch peer (``--no-torch`` to leave it out): ``nn.RNN`` with the same
sizes, the same dropout (on the embedding, between layers and before the output layer), AdamW with
the same weight decay on the weight matrices only, the same clipping and the same learning rate at
every step (``TrainConfig.lr_at``, a cosine following the peer's own training time).

The split is nanoGPT's for shakespeare_char: the first int(0.9 N) characters train, the rest (the
last 10%) is validation, so the figures compare with published ones; the benchmark checks that
rnntui's split (``corpus.split_train_val``) gives exactly those characters. Validation loss is on
the whole held-out text, read as up to B parallel streams from a zero memory (``train.mean_loss``),
whenever a run's own training time passes another ``--eval-seconds`` (60: every minute); the time
spent evaluating is not counted. All runs train in interleaved slices of ``--slice`` seconds, so a
slow patch of a shared machine hits each alike; each gets ``--minutes`` of training time. A cosine
schedule spends its decay over that budget (it reaches its floor as the run's time runs out).

Prints a line per evaluation, then a markdown table: per minute each run's validation loss, its best
so far, and its mean training loss over the minute (nats/char).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnntui.train import TrainConfig, Trainer  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpora" / "tinyshakespeare.txt"
DEFAULT_RUNS = ["rnn hidden=512", "gru hidden=512", "lstm hidden=512"]
NANOGPT_TRAIN = 0.9  # nanoGPT's data/shakespeare_char/prepare.py: train = data[:int(n * 0.9)]


def parse_run(spec: str, fixed: tuple[str, ...] = ("steps", "minutes", "val_frac", "level")) -> TrainConfig:
    """'gru hidden=256 dropout=0.2' -> TrainConfig(cell='gru', hidden=256, dropout=0.2). The ``fixed``
    fields are the benchmark's own to set (this one is char level, on nanoGPT's split)."""
    words = spec.split()
    if not words:
        raise SystemExit("--run: give a cell and key=value settings, e.g. --run 'rnn hidden=512'")
    kinds = {f.name: f.type for f in fields(TrainConfig)}
    values: dict = {"cell": words[0]}
    for word in words[1:]:
        key, sep, raw = word.partition("=")
        if not sep or key not in kinds or key in fixed:
            raise SystemExit(f"--run {spec!r}: {word!r} is not a key=value setting this benchmark takes")
        kind = kinds[key]
        values[key] = (raw if kind == "str" else int(raw) if kind.startswith("int") else
                       raw.lower() in ("1", "true", "yes") if kind == "bool" else float(raw))  # fmt: skip
    return TrainConfig(**values)


def label(cfg: TrainConfig) -> str:
    """A run's name in the table: the cell and every setting that differs from the default."""
    default = asdict(TrainConfig())
    changed = [f"{k}={v}" for k, v in asdict(cfg).items() if k not in ("cell", "val_frac", "minutes")
               and v != default[k]]  # fmt: skip
    return " ".join([cfg.cell, *changed])


def nanogpt_val_frac(text: str) -> float:
    """The val_frac for which rnntui holds out exactly nanoGPT's last characters."""
    n = len(text)
    return (n - int(n * NANOGPT_TRAIN)) / n


# -- the PyTorch peer ---------------------------------------------------------------------------------


def make_torch_peer(trainer: Trainer, threads: int = 2):
    """nn.RNN (or GRU/LSTM) with the trainer's sizes, dropout, AdamW weight decay on the weight
    matrices, clipping and per-step learning rate; reads the trainer's own streams."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(trainer.cfg.seed)
    cfg, mcfg = trainer.cfg, trainer.model.cfg

    class LM(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(mcfg.vocab_size, mcfg.embed)
            kind = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[mcfg.cell]
            self.rnn = kind(mcfg.embed, mcfg.hidden, num_layers=mcfg.layers,
                            dropout=cfg.dropout if mcfg.layers > 1 else 0.0)  # fmt: skip
            self.drop = torch.nn.Dropout(cfg.dropout)
            self.out = torch.nn.Linear(mcfg.hidden, mcfg.vocab_size)

        def forward(self, x, h):
            y, h = self.rnn(self.drop(self.embed(x)), h)  # (T, B, H)
            return self.out(self.drop(y)), h  # (T, B, V)

    model = LM()
    decay = [p for n, p in model.named_parameters() if n.startswith(("rnn.weight", "out.weight"))]
    rest = [p for n, p in model.named_parameters() if not n.startswith(("rnn.weight", "out.weight"))]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(0.9, 0.999), eps=1e-8)
    zero = torch.zeros(mcfg.layers, cfg.batch, mcfg.hidden)
    state = {"pos": 0, "h": (zero, zero.clone()) if mcfg.cell == "lstm" else zero, "step": 0}
    streams = trainer.streams

    def step(progress: float) -> float:
        """One update at ``progress`` (the share of the budget spent) of the schedule."""
        if not streams.fits(state["pos"]):  # a new epoch from a fresh memory, as rnntui does
            state["pos"] = 0
            state["h"] = tuple(torch.zeros_like(x) for x in state["h"]) if mcfg.cell == "lstm" else zero
        for group in opt.param_groups:
            group["lr"] = cfg.lr_at(state["step"], progress)
        model.train()
        tokens = torch.from_numpy(streams.chunk(state["pos"]).astype(np.int64))
        state["pos"] += cfg.seq
        logits, h = model(tokens[:-1], state["h"])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, mcfg.vocab_size), tokens[1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        state["h"] = tuple(x.detach() for x in h) if isinstance(h, tuple) else h.detach()
        state["step"] += 1
        return loss.item()

    def evaluate(ids: np.ndarray) -> float:
        """The same streams and averaging as rnntui.train.mean_loss, dropout off."""
        b = max(1, min(cfg.batch, (len(ids) - 1) // cfg.seq))
        n = (len(ids) - 1) // b
        grid = np.stack([ids[i * n : i * n + n + 1] for i in range(b)], axis=1).astype(np.int64)
        zero_b = torch.zeros(mcfg.layers, b, mcfg.hidden)
        h = (zero_b, zero_b.clone()) if mcfg.cell == "lstm" else zero_b
        total = 0.0
        model.eval()
        with torch.no_grad():
            for t in range(0, n, cfg.seq):
                chunk = torch.from_numpy(grid[t : t + cfg.seq + 1])
                logits, h = model(chunk[:-1], h)
                total += float(torch.nn.functional.cross_entropy(
                    logits.reshape(-1, mcfg.vocab_size), chunk[1:].reshape(-1), reduction="sum"))  # fmt: skip
        return total / (n * b)

    step.evaluate = evaluate
    step.params = sum(p.numel() for p in model.parameters())
    return step


# -- the benchmark ----------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    step: object  # () -> training loss of one update, at the run's own point of the budget
    evaluate: object  # () -> validation loss
    params: int
    used: float = 0.0  # seconds of training so far
    steps: int = 0
    val: list[float] = field(default_factory=list)  # one per evaluation, the first before training
    train: list[float] = field(default_factory=list)  # mean training loss since the last evaluation
    pending: list[float] = field(default_factory=list)


def rnntui_run(trainer: Trainer, budget: float) -> Run:
    run = Run(label(trainer.cfg), None, trainer.evaluate, trainer.model.flat.size)

    def step() -> float:
        trainer.time_spent = run.used / budget  # the cosine follows this run's own training time
        return float(trainer.train_step()[0])

    run.step = step
    return run


def torch_run(trainer: Trainer, budget: float, threads: int) -> Run:
    """The PyTorch peer of ``trainer``'s run, on its streams and validation text."""
    peer = make_torch_peer(trainer, threads)
    val_ids = np.asarray(trainer.val_ids)
    kind = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}[trainer.cfg.cell]
    run = Run(f"PyTorch nn.{kind} peer", None, lambda: peer.evaluate(val_ids), peer.params)
    run.step = lambda: peer(run.used / budget)
    return run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="training time of each run")
    ap.add_argument("--eval-seconds", type=float, default=60.0, help="evaluate every this much training time")
    ap.add_argument(
        "--slice", type=float, default=15.0, help="seconds each run trains before the next's turn"
    )
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--run", action="append", dest="runs", metavar="'CELL key=value ...'",
                    help=f"a run (repeat for several)  [default: {' | '.join(DEFAULT_RUNS)}]")  # fmt: skip
    ap.add_argument("--torch", action=argparse.BooleanOptionalAction, default=True,
                    help="the PyTorch peer of the first vanilla run")  # fmt: skip
    ap.add_argument("--torch-threads", type=int, default=2,
                    help="the peer's threads (rnntui uses every core it may; on a busy machine 2 OpenMP "
                    "threads wait for each other at every step: use 1 there)")  # fmt: skip
    args = ap.parse_args(argv)
    if not (args.minutes > 0 and args.eval_seconds > 0 and args.slice > 0):
        raise SystemExit("--minutes, --eval-seconds and --slice must be positive")
    try:
        configs = [replace(parse_run(spec), minutes=args.minutes) for spec in args.runs or DEFAULT_RUNS]
        for cfg in configs:
            cfg.validate()
    except ValueError as err:
        raise SystemExit(f"--run: {err}") from None
    if args.torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            raise SystemExit(
                "PyTorch is not installed (pip install -e '.[bench]'), or give --no-torch"
            ) from None

    text = args.corpus.read_text(encoding="utf-8")
    val_frac = nanogpt_val_frac(text)
    budget = args.minutes * 60
    unset = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v not in os.environ]
    held = len(text) - int(len(text) * NANOGPT_TRAIN)
    peer = f"{args.torch_threads} threads" if args.torch else "none"
    print(f"{args.corpus.name}: {len(text):,} chars; nanoGPT's split (the last {held:,} held out); "
          f"{args.minutes:g} min of training per run, evaluated every {args.eval_seconds:g} s; "
          f"slices of {args.slice:g} s; PyTorch peer: {peer}; "
          f"OPENBLAS_* unset: {', '.join(unset) or 'neither'}; "
          f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)  # fmt: skip
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        peer_done = not args.torch
        for i, cfg in enumerate(configs):
            cfg = replace(cfg, val_frac=val_frac)
            trainer = Trainer.start(args.corpus, cfg, Path(tmp) / f"run{i}")
            held_out = "".join(trainer.vocab.tokens[int(t)] for t in trainer.val_ids)
            if held_out != text[int(len(text) * NANOGPT_TRAIN) :]:
                raise SystemExit(
                    "rnntui's validation split is not nanoGPT's last 10%: the figures would not compare"
                )
            runs.append(rnntui_run(trainer, budget))
            if not peer_done and cfg.cell == "rnn":
                runs.append(torch_run(trainer, budget, args.torch_threads))
                peer_done = True
        for run in runs:
            run.val.append(run.evaluate())
            run.train.append(math.nan)
            print(f"  {run.name}: {run.params:,} parameters; before training {run.val[0]:.4f}", flush=True)
        while min(run.used for run in runs) < budget:
            for run in runs:
                end = min(run.used + args.slice, budget)
                while run.used < end:
                    t0 = time.perf_counter()
                    run.pending.append(run.step())
                    run.used += time.perf_counter() - t0
                    run.steps += 1
                    if run.used >= args.eval_seconds * len(run.val) or run.used >= budget:
                        run.val.append(run.evaluate())
                        run.train.append(float(np.mean(run.pending)))
                        run.pending = []
                        print(f"  {run.used / 60:5.1f} min  {run.name}: val {run.val[-1]:.4f}  "
                              f"train {run.train[-1]:.4f}  ({run.steps} steps)", flush=True)  # fmt: skip

    print(f"\nload average {os.getloadavg()[0]:.1f} at the end; steps in {args.minutes:g} min: "
          + ", ".join(f"{run.name} {run.steps}" for run in runs))  # fmt: skip
    print("\n| run | parameters | steps | best val | last val | last train |\n|---|---:|---:|---:|---:|---:|")
    for run in runs:
        print(f"| {run.name} | {run.params:,} | {run.steps:,} | {min(run.val):.4f} | {run.val[-1]:.4f} | "
              f"{run.train[-1]:.4f} |")  # fmt: skip
    evals = min(len(run.val) for run in runs)
    head = " | ".join(f"{run.name}: val / best / train" for run in runs)
    print(f"\n| minute | {head} |\n|---:|" + "---:|" * len(runs))
    for k in range(evals):
        cells = [f"{run.val[k]:.3f} / {min(run.val[: k + 1]):.3f} / {run.train[k]:.3f}" for run in runs]
        print(f"| {min(k * args.eval_seconds, budget) / 60:.2f} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
