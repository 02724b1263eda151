"""Which defaults: candidate settings for `rnntui train CORPUS` with nothing else given, on both
bundled texts, within the default budget (5000 steps).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=. python benchmarks/bench_defaults.py
    PYTHONPATH=. python benchmarks/bench_defaults.py --steps 200 --candidate "schedule=cosine"  # a trial

Each candidate is today's defaults (TrainConfig()) with the given key=value settings changed
(``bench_quality.parse_run``'s syntax, without the cell: it is the vanilla cell's default), trained
from the same seed on corpora/republic.txt and corpora/shakespeare.txt with each text's default 5%
held out. Prints, per text and candidate, the best validation loss (what best.npz keeps), the last
one, the mean training loss over the last evaluation interval (with dropout, if any), and the wall
time. A setting earns its place as a default if it lowers the best validation loss on both texts and
the run still fits a 2-minute first run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_quality import parse_run  # noqa: E402

from rnntui.cli import DEFAULT_STEPS  # noqa: E402
from rnntui.train import Trainer  # noqa: E402

TEXTS = [ROOT / "corpora" / "republic.txt", ROOT / "corpora" / "shakespeare.txt"]
CANDIDATES = [
    "",
    "schedule=cosine",
    "schedule=cosine warmup=200",
    "schedule=cosine dropout=0.1",
    "schedule=cosine dropout=0.25",
    "schedule=cosine dropout=0.1 weight_decay=0.1",
    "schedule=cosine hidden=512 dropout=0.1",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    ap.add_argument("--candidate", action="append", help="key=value settings (repeatable); default: a set")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    candidates = args.candidate if args.candidate is not None else CANDIDATES
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for text in TEXTS:
            for spec in candidates:
                cfg = replace(parse_run(f"rnn {spec}"), steps=args.steps, seed=args.seed)
                cfg.validate()
                start = time.perf_counter()
                trainer = Trainer.start(text, cfg, Path(tmp) / f"{text.stem}-{len(rows)}")
                trainer.run()
                seconds = time.perf_counter() - start
                vals = [v for _, v in trainer.val_history]
                train = float(np.mean(trainer.train_history[-cfg.eval_every :]))
                row = (text.name, spec or "(today's defaults)", min(vals), vals[-1], train, seconds)
                rows.append(row)
                print(
                    "{:<16} {:<48} best {:.4f}  last {:.4f}  train {:.4f}  {:5.1f} s".format(*row), flush=True
                )
    print(f"\n{args.steps} steps, seed {args.seed}; nats/char on each text's last 5%\n")
    print("| text | settings | best val | last val | train (last interval) | seconds |")
    print("|---|---|---:|---:|---:|---:|")
    for name, spec, best, last, train, seconds in rows:
        print(f"| {name} | {spec} | {best:.4f} | {last:.4f} | {train:.4f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
