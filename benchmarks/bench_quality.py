"""Learning per second: rnntui and PyTorch train the same model for the same wall time.

    PYTHONPATH=. python benchmarks/bench_quality.py                # 10 minutes each (the issue's setting)
    PYTHONPATH=. python benchmarks/bench_quality.py --minutes 2    # a shorter run

Char level, tiny-shakespeare (../shared/corpora/tinyshakespeare.txt unless --corpus), H = 512,
1 layer, B = 32, T = 64, Adam lr 2e-3, gradient clipping at 5, both on 2 threads. The two train in
interleaved slices of --slice seconds, so a slow patch of a shared machine hits both; each is
evaluated on the same validation split (the last 5% of the text, read as parallel streams from a
zero memory) whenever its own training time passes a whole minute. Evaluation time is not counted.
Prints, per minute of training, each one's validation loss (nats/char), the best validation loss
so far (what a run that keeps its best checkpoint, as rnntui does with best.npz, ends with) and
the mean training loss over that minute.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_train import make_torch  # noqa: E402

from rnntui.train import TrainConfig, Trainer  # noqa: E402


def torch_val_loss(step_fn, ids: np.ndarray, batch: int, seq: int) -> float:
    """The same streams and the same averaging as rnntui.train.mean_loss, for the torch model."""
    import torch

    model = step_fn.model
    b = max(1, min(batch, (len(ids) - 1) // seq))
    n = (len(ids) - 1) // b
    grid = np.stack([ids[i * n : i * n + n + 1] for i in range(b)], axis=1).astype(np.int64)
    h = torch.zeros(1, b, model.rnn.hidden_size)
    total = 0.0
    with torch.no_grad():
        for t in range(0, n, seq):
            chunk = torch.from_numpy(grid[t : t + seq + 1])
            logits, h = model(chunk[:-1], h)
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), chunk[1:].reshape(-1), reduction="sum"
            )
            total += float(loss)
    return total / (n * b)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="training time for each implementation")
    ap.add_argument("--slice", type=float, default=15.0, help="seconds each trains before the other's turn")
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "tinyshakespeare.txt")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--lr-decay", type=float, default=1.0, help="both: lr x this every --decay-every steps")
    ap.add_argument("--decay-every", type=int, default=1000)
    args = ap.parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("PyTorch is not installed (pip install -e '.[bench]'); nothing to compare against")
        return 1

    cfg = TrainConfig(hidden=args.hidden, batch=32, seq=64, lr=2e-3, clip=5.0, seed=0,
                      lr_decay=args.lr_decay, decay_every=args.decay_every)  # fmt: skip
    budget = args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer.start(args.corpus, cfg, Path(tmp) / "run")
        torch_step = make_torch(trainer)
        evaluate = {
            "rnntui": trainer.evaluate,
            "torch": lambda: torch_val_loss(torch_step, trainer.val_ids, cfg.batch, cfg.seq),
        }

        def torch_scheduled_step() -> float:  # the same step-based schedule rnntui's Trainer follows
            for group in torch_step.optimizer.param_groups:
                group["lr"] = cfg.lr_at(steps["torch"])
            return torch_step()

        step = {"rnntui": lambda: trainer.train_step()[0], "torch": torch_scheduled_step}
        used = {"rnntui": 0.0, "torch": 0.0}
        steps = {"rnntui": 0, "torch": 0}
        curve: dict[str, list[float]] = {"rnntui": [evaluate["rnntui"]()], "torch": [evaluate["torch"]()]}
        # mean training loss over each minute: with val loss beside it, shows when a model overfits
        minute_losses: dict[str, list[float]] = {"rnntui": [], "torch": []}
        train_curve: dict[str, list[float]] = {"rnntui": [float("nan")], "torch": [float("nan")]}
        print(f"{args.corpus.name}: {len(trainer.train_ids):,} train / {len(trainer.val_ids):,} val chars, "
              f"H = {args.hidden}, B = 32, T = 64; {args.minutes:g} min each; lr 2e-3 x {args.lr_decay:g} "
              f"every {args.decay_every} steps")  # fmt: skip
        print(f"minute 0: rnntui {curve['rnntui'][0]:.3f}  torch {curve['torch'][0]:.3f}", flush=True)
        printed = 0
        while min(used.values()) < budget:
            for name in ("rnntui", "torch"):
                end = min(used[name] + args.slice, budget)
                while used[name] < end:
                    t0 = time.perf_counter()
                    minute_losses[name].append(float(step[name]()))
                    used[name] += time.perf_counter() - t0
                    steps[name] += 1
                    if used[name] >= 60 * len(curve[name]):  # a whole minute passed: evaluate
                        curve[name].append(evaluate[name]())
                        train_curve[name].append(float(np.mean(minute_losses[name])))
                        minute_losses[name] = []
            done = min(len(curve["rnntui"]), len(curve["torch"])) - 1
            for minute in range(printed + 1, done + 1):
                print(f"minute {minute}: rnntui {curve['rnntui'][minute]:.3f}  "
                      f"torch {curve['torch'][minute]:.3f}", flush=True)  # fmt: skip
            printed = max(printed, done)

    print(
        f"\nsteps in {args.minutes:g} min: rnntui {steps['rnntui']}, torch {steps['torch']} "
        f"({steps['rnntui'] / max(steps['torch'], 1):.2f}x)"
    )
    print(
        "\n| minute | rnntui val | PyTorch val | rnntui best val so far | PyTorch best val so far "
        "| rnntui train (mean over the minute) | PyTorch train (mean over the minute) |"
        "\n|---:|---:|---:|---:|---:|---:|---:|"
    )
    for minute in range(min(len(curve["rnntui"]), len(curve["torch"]))):
        cells = [curve[name][minute] for name in ("rnntui", "torch")]
        cells += [min(curve[name][: minute + 1]) for name in ("rnntui", "torch")]
        cells += [train_curve[name][minute] for name in ("rnntui", "torch")]
        print(f"| {minute} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
