"""Which defaults: candidate settings for `rnntui train CORPUS` with nothing else given, on both
bundled texts, within the default budget (5000 steps); and whether weight decay should shrink the
embedding too.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=. python benchmarks/bench_defaults.py
    PYTHONPATH=. python benchmarks/bench_defaults.py --steps 200 --candidate "schedule=constant"  # a trial
    # the embedding under weight decay, at word level (as the shipped word model is trained):
    PYTHONPATH=. python benchmarks/bench_defaults.py --text corpora/republic.txt \\
        --base "level=word lowercase=1 min_count=5 embed=128 dropout=0.5 weight_decay=0.1" \\
        --candidate "" --candidate "decay_embedding=1"

Each candidate is today's defaults (TrainConfig()) with the ``--base`` settings and then its own
key=value settings changed (``bench_quality.parse_run``'s syntax, without the cell: it is the vanilla
cell's default; ``level`` may be set here), trained from the same seed on each ``--text`` (default
corpora/republic.txt and corpora/shakespeare.txt) with the default 5% held out. One setting is the
benchmark's own: ``decay_embedding=1`` has weight decay shrink the embedding matrix as well
(``schedule.decayed_names`` leaves it out). Prints, per text and candidate, the best validation loss
(what best.npz keeps), the last one, the mean training loss over the last evaluation interval (with
dropout, if any), and the wall time. A setting earns its place as a default if it lowers the best
validation loss on both texts and the run still fits a 2-minute first run.
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

from rnntui import schedule  # noqa: E402
from rnntui.cli import DEFAULT_STEPS  # noqa: E402
from rnntui.train import Trainer  # noqa: E402

TEXTS = [ROOT / "corpora" / "republic.txt", ROOT / "corpora" / "shakespeare.txt"]
CANDIDATES = [  # relative to today's defaults, where the cosine is (this script chose it)
    "schedule=constant",
    "",
    "warmup=200",
    "dropout=0.1",
    "dropout=0.25",
    "dropout=0.1 weight_decay=0.1",
    "hidden=512 dropout=0.1",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    ap.add_argument("--candidate", action="append", help="key=value settings (repeatable); default: a set")
    ap.add_argument("--base", default="", help="key=value settings every candidate starts from")
    ap.add_argument("--text", action="append", type=Path, help="a corpus (repeatable); default: both bundled")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    candidates = args.candidate if args.candidate is not None else CANDIDATES
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for text in args.text or TEXTS:
            for spec in candidates:
                words = f"{args.base} {spec}".split()
                decay_embedding = "decay_embedding=1" in words
                settings = " ".join(w for w in words if w != "decay_embedding=1")
                cfg = replace(parse_run(f"rnn {settings}", fixed=("steps", "minutes", "val_frac")),
                              steps=args.steps, seed=args.seed)  # fmt: skip
                cfg.validate()
                start = time.perf_counter()
                trainer = Trainer.start(text, cfg, Path(tmp) / f"{text.stem}-{len(rows)}")
                if decay_embedding:
                    names = [*schedule.decayed_names(trainer.model.shapes), "embed"]
                    trainer.decayed = [trainer.model.params[k] for k in names]
                trainer.run()
                seconds = time.perf_counter() - start
                vals = [v for _, v in trainer.val_history]
                train = float(np.mean(trainer.train_history[-cfg.eval_every :]))
                row = (
                    text.name,
                    spec or ("(the base)" if args.base else "(today's defaults)"),
                    min(vals),
                    vals[-1],
                    train,
                    seconds,
                )
                rows.append(row)
                print(
                    "{:<16} {:<48} best {:.4f}  last {:.4f}  train {:.4f}  {:5.1f} s".format(*row), flush=True
                )
    unit = "word" if "level=word" in args.base else "char"
    base = args.base or "-"
    print(f"\n{args.steps} steps, seed {args.seed}; nats/{unit} on each text's last 5%; base: {base}\n")
    print("| text | settings | best val | last val | train (last interval) | seconds |")
    print("|---|---|---:|---:|---:|---:|")
    for name, spec, best, last, train, seconds in rows:
        print(f"| {name} | {spec} | {best:.4f} | {last:.4f} | {train:.4f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
