"""Scale: tokenising speed and peak memory when training on a large corpus.

    PYTHONPATH=. python benchmarks/bench_scale.py             # prints, and adds a section to BENCHMARKS.md
    PYTHONPATH=. python benchmarks/bench_scale.py --mb 50 --no-write

1) Writes a corpus of about --mb MB (the Republic repeated) into a temporary folder.
2) Times `rnntui.tokencache.tokenize` on it in a child process with an empty cache: MB/s of
   corpus tokenised (both passes: count + hash, then encode + write the .npy).
3) Runs `rnntui train BIG --steps 20 --no-tui` twice in child processes: cold (no token cache) and
   warm (cache beside the corpus). Validation is a small tail (--val-frac 0.0002) evaluated once at
   the end. Reports the wall time and the peak RSS of each child (os.wait4's ru_maxrss); the same
   run on the 1.2 MB Republic shows what a run costs whatever the corpus size (Numba, LLVM, ...).
4) The bound: 2 x (token array + model + optimiser) bytes, from the cache's .npy and the run's
   checkpoint. For context, the peak RSS of a child that only imports rnntui.train and numba.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REPUBLIC = ROOT / "corpora" / "republic.txt"
STEPS = 20
VAL_FRAC = "0.0002"  # 40k validation tokens of 200 MB, evaluated once at the end


def run_child(argv: list[str], log: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process; its output goes to ``log``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(log, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (ru_maxrss in KiB)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed:\n{log.read_text()}")
    return wall, usage.ru_maxrss / 1024


def make_corpus(path: Path, mb: float) -> int:
    chunk = REPUBLIC.read_bytes()
    with open(path, "wb") as f:
        for _ in range(max(1, round(mb * 1e6 / len(chunk)))):
            f.write(chunk)
    return path.stat().st_size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=200, help="corpus size in MB")
    ap.add_argument("--dir", type=Path, help="work in this folder (default: a temporary one, removed)")
    ap.add_argument("--no-write", action="store_true", help="do not write BENCHMARKS.md")
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rnntui-scale-", dir=args.dir))
    try:
        return measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(args, work: Path) -> int:
    py = sys.executable
    big = work / "big.txt"
    size = make_corpus(big, args.mb)
    print(f"corpus: {big} ({size / 1e6:,.1f} MB, the Republic repeated)")
    results: dict[str, str] = {"corpus size (MB)": f"{size / 1e6:,.1f}"}

    # 1) baseline: the interpreter with the engine and Numba imported
    _, base_rss = run_child([py, "-c", "import numba, rnntui.train, rnntui.cli"], work / "base.log")

    # 2) tokenising alone, empty cache, in a child (its own cache folder, removed afterwards)
    probe = (
        "import sys, time; from rnntui.tokencache import tokenize; t0 = time.perf_counter(); "
        "tok = tokenize(sys.argv[1]); print(time.perf_counter() - t0, tok.cache, len(tok.ids), tok.ids.dtype)"
    )
    _, tok_rss = run_child([py, "-c", probe, str(big)], work / "tok.log")
    secs, cache, n_tokens, dtype = (work / "tok.log").read_text().split()
    tok_secs = float(secs)
    shutil.rmtree(Path(cache).parent)  # the training below starts cold again

    # 3) training, cold then warm
    train = [py, "-m", "rnntui.cli", "train", str(big), "--steps", str(STEPS), "--no-tui",
             "--eval-every", "1000000", "--save-every", "1000000", "--val-frac", VAL_FRAC,
             "--out", str(work / "runs")]  # fmt: skip
    cold_wall, cold_rss = run_child([*train, "--name", "cold"], work / "cold.log")
    warm_wall, warm_rss = run_child([*train, "--name", "warm"], work / "warm.log")
    cold_log, warm_log = (work / "cold.log").read_text(), (work / "warm.log").read_text()
    if "tokenising" not in cold_log or "tokenising" in warm_log:  # the note only a cold start prints
        raise SystemExit("expected the cold run to tokenise and the warm one to use the cache")
    small = work / "republic.txt"  # the same run on the 1.2 MB Republic: the fixed cost of a run
    shutil.copyfile(REPUBLIC, small)
    train[train.index(str(big))] = str(small)
    run_child([*train, "--name", "small"], work / "small-cold.log")
    _, small_rss = run_child([*train, "--name", "small2"], work / "small.log")

    # 4) the bound, from the files themselves
    npy = Path(cache)
    ids = np.load(npy, mmap_mode="r", allow_pickle=False)
    token_bytes = ids.nbytes
    with np.load(work / "runs" / "warm" / "latest.npz", allow_pickle=False) as z:
        model_bytes = sum(z[k].nbytes for k in z.files if k.startswith("param/"))
        opt_bytes = sum(z[k].nbytes for k in z.files if k.startswith("opt/"))
    bound = 2 * (token_bytes + model_bytes + opt_bytes) / 2**20
    del ids

    results |= {
        "tokens": f"{int(n_tokens):,} ({dtype})",
        "tokenising, empty cache (s)": f"{tok_secs:.2f}",
        "tokenising (MB/s)": f"{size / 1e6 / tok_secs:,.0f}",
        "peak RSS while tokenising (MiB)": f"{tok_rss:,.0f}",
        f"train --steps {STEPS}, cold cache: wall (s)": f"{cold_wall:.2f}",
        f"train --steps {STEPS}, warm cache: wall (s)": f"{warm_wall:.2f}",
        "train, cold cache: peak RSS (MiB)": f"{cold_rss:,.0f}",
        "train, warm cache: peak RSS (MiB)": f"{warm_rss:,.0f}",
        "token array (MiB)": f"{token_bytes / 2**20:,.1f}",
        "model + optimiser (MiB)": f"{(model_bytes + opt_bytes) / 2**20:,.2f}",
        "bound: 2 x (tokens + model + optimiser) (MiB)": f"{bound:,.0f}",
        "baseline: python -c 'import numba, rnntui.train, rnntui.cli' peak RSS (MiB)": f"{base_rss:,.0f}",
        "baseline: the same training on the 1.2 MB Republic, warm: peak RSS (MiB)": f"{small_rss:,.0f}",
        "within the bound": "yes" if max(cold_rss, warm_rss, tok_rss) < bound else "NO",
    }
    width = max(map(len, results))
    for k, v in results.items():
        print(f"{k:<{width}}  {v:>16}")
    if not args.no_write:
        write_markdown(args, results)
        print(f"\nwrote {args.out}")
    return 0


def write_markdown(args, results) -> None:
    lines = [
        "## Scale",
        "",
        f"Command: `PYTHONPATH=. python benchmarks/bench_scale.py --mb {args.mb:g}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), "
        f"Python {platform.python_version()}, NumPy {np.__version__}  ",
        f"Char level, H = 256, B = 32, T = 64, Adam; `rnntui train BIG --steps {STEPS} --no-tui "
        f"--val-frac {VAL_FRAC}` (validated once, at the end), each in a fresh process; cold = no token "
        "cache yet (tokenises, writes the cache), warm = memory-maps the cache. Peak RSS from os.wait4.",
        "",
        "| measure | value |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v} |" for k, v in results.items()]
    lines += [
        "",
        "Peak RSS hardly depends on the corpus's size: most of it is what any run costs (Python, NumPy,",
        "Numba and LLVM, the kernels' workspaces; the Republic line). The rest is pages of the",
        "memory-mapped ids that training has touched (file-backed, read ahead by the kernel), which can",
        "never exceed the token array itself, so the bound holds however long the run.",
    ]
    section = "\n".join(lines) + "\n"
    old = args.out.read_text() if args.out.exists() else "# Benchmarks\n"
    marker = "## Scale"
    if marker in old:
        before, after = old.split(marker, 1)
        nxt = after.find("\n## ")
        old = before.rstrip("\n") + "\n" + (after[nxt:] if nxt >= 0 else "")
    args.out.write_text(old.rstrip("\n") + "\n\n" + section)


if __name__ == "__main__":
    sys.exit(main())
