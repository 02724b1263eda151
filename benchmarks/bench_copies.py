"""Copies from the training text: how long the suffix array takes to build, and a sample's check.

    PYTHONPATH=. python benchmarks/bench_copies.py                 # the bundled corpora only
    PYTHONPATH=. python benchmarks/bench_copies.py --synthetic 200  # and a 200 M-token corpus

  build    copies.suffix_array over every token id of each bundled corpus (char and word level),
           best of 3; with --synthetic M, over M million character tokens made by shuffling the
           Republic's lines again and again (natural text, each line repeated ~M/1.2 times: a hard
           case for prefix doubling, whose rounds grow with the longest repeat), once
  check    copies.matching_lengths of 1,000 tokens against it: a stretch of the corpus itself (every
           match as long as it can be) and 1,000 uniformly random tokens; median of 5

Prints; nothing is written. Peak memory of the build is about 48 bytes a token (copies.build_need).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnntui import copies  # noqa: E402
from rnntui.tokencache import tokenize  # noqa: E402


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def check_times(ids: np.ndarray, sa: np.ndarray, V: int) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    start = len(ids) // 3
    copied = np.asarray(ids[start : start + 1000], np.int64)
    random = rng.integers(0, V, 1000)
    copies.matching_lengths(ids, sa, copied[:10])  # compile / load the jitted search
    out = []
    for q in (copied, random):
        times = [timed(lambda q=q: copies.matching_lengths(ids, sa, q))[0] for _ in range(5)]
        out.append(float(np.median(times)))
    return out[0], out[1]


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--synthetic", type=int, default=0, help="also build over this many million tokens")
    args = parser.parse_args()
    print(f"{'corpus':<28} {'tokens':>12} {'build':>9} {'check copy':>11} {'check random':>13}")
    for name in ("republic.txt", "shakespeare.txt"):
        for level in ("char", "word"):
            tok = tokenize(ROOT / "corpora" / name, level)
            ids = np.asarray(tok.ids)
            seconds, sa = timed(lambda ids=ids, tok=tok: copies.suffix_array(ids, len(tok.vocab)), 3)
            c, r = check_times(ids, sa, len(tok.vocab))
            row = f"{name + ' ' + level:<28} {len(ids):>12,} {seconds:>8.2f}s"
            print(f"{row} {c * 1e3:>9.2f}ms {r * 1e3:>11.2f}ms")
    if args.synthetic:
        tok = tokenize(ROOT / "corpora" / "republic.txt", "char")
        ids = np.asarray(tok.ids)
        nl = tok.vocab.id_of("\n")
        cuts = np.flatnonzero(ids == nl) + 1
        lines = np.split(ids, cuts)
        rng = np.random.default_rng(0)
        target = args.synthetic * 1_000_000
        parts, total = [], 0
        while total < target:
            for i in rng.permutation(len(lines)):
                parts.append(lines[i])
                total += len(lines[i])
        big = np.concatenate(parts)[:target]
        del parts
        seconds, sa = timed(lambda: copies.suffix_array(big, len(tok.vocab)))
        c, r = check_times(big, sa, len(tok.vocab))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        label = f"synthetic {args.synthetic} M char"
        print(f"{label:<28} {len(big):>12,} {seconds:>8.1f}s {c * 1e3:>9.2f}ms {r * 1e3:>11.2f}ms"
              f"   peak RSS {peak:.1f} GB")  # fmt: skip


if __name__ == "__main__":
    main()
