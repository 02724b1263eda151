"""Generation and start-up speed: autocomplete latency, sampling rate, command start-up.

    PYTHONPATH=. python benchmarks/bench_generate.py            # prints, and adds a section to BENCHMARKS.md
    PYTHONPATH=. python benchmarks/bench_generate.py --no-write

  autocomplete  per keystroke: feed the typed character (one step), then propose up to 20
                characters greedily from a copy of the memory (20 more steps); p50/p99 over
                keystrokes typed from the Republic, char level, H = 256
  sampling      tokens/s of generate.sample_text (temperature 1), char level, H = 256
  start-up      wall time of `rnntui --help`, of `rnntui sample CKPT --length 100` with a warm Numba
                cache, and of the same with an empty cache (NUMBA_CACHE_DIR set to a new folder)

The model is a freshly initialised one (trained weights cost the same per step).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnntui import checkpoint  # noqa: E402
from rnntui.generate import sample_text  # noqa: E402
from rnntui.train import TrainConfig, Trainer  # noqa: E402

PROPOSE = 20  # characters proposed per keystroke


def percentile(xs, q) -> float:
    return float(np.percentile(np.asarray(xs), q))


def autocomplete_latencies(model, vocab, text: str) -> list[float]:
    """Seconds per keystroke: one step for the typed character + PROPOSE greedy steps on a copy."""
    h = np.zeros((model.cfg.layers, model.cfg.hidden), model.dtype)
    logits = np.zeros(model.cfg.vocab_size, model.dtype)
    h2, logits2 = h.copy(), logits.copy()
    ids = vocab.encode(text)
    out = []
    for tid in ids:
        t0 = time.perf_counter()
        model.step(int(tid), h, logits)
        h2[...] = h
        logits2[...] = logits
        proposal = []
        for _ in range(PROPOSE):
            nxt = int(np.argmax(logits2))
            proposal.append(nxt)
            model.step(nxt, h2, logits2)
        vocab.decode(proposal)
        out.append(time.perf_counter() - t0)
    return out


def sampling_rate(model, vocab, n: int) -> float:
    sample_text(model, vocab, length=50, seed=0)  # warm
    t0 = time.perf_counter()
    sample_text(model, vocab, length=n, seed=1, temperature=1.0)
    return n / (time.perf_counter() - t0)


def wall(cmd: list[str], env=None, repeats: int = 3) -> float:
    """Best wall time (s) of a command, which must succeed."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--keystrokes", type=int, default=2000)
    ap.add_argument("--sample-tokens", type=int, default=20000)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = ap.parse_args(argv)

    corpus = ROOT / "corpora" / "republic.txt"
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer.start(corpus, TrainConfig(hidden=args.hidden, steps=1), Path(tmp) / "run")
        trainer.train_step()
        ckpt_path = trainer.save()
        ck = checkpoint.load(ckpt_path)
        model, vocab = ck.model, ck.vocab
        text = corpus.read_text(encoding="utf-8")[20000 : 20000 + args.keystrokes]

        autocomplete_latencies(model, vocab, text[:50])  # compile / warm
        lat = autocomplete_latencies(model, vocab, text)
        results["keystroke p50 (ms)"] = 1e3 * percentile(lat, 50)
        results["keystroke p99 (ms)"] = 1e3 * percentile(lat, 99)
        results["keystroke max (ms)"] = 1e3 * max(lat)
        results["sampling (tokens/s)"] = sampling_rate(model, vocab, args.sample_tokens)

        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        launcher = "import sys; from rnntui.cli import main; sys.argv[0] = 'rnntui'; main()"
        cli = [sys.executable, "-c", launcher]
        results["rnntui --help (s)"] = wall(cli + ["--help"], env)
        sample_cmd = cli + ["sample", str(ckpt_path), "--length", "100", "--seed", "0"]
        subprocess.run(sample_cmd, check=True, capture_output=True, env=env)  # fill the cache
        results["rnntui sample 100, warm cache (s)"] = wall(sample_cmd, env)
        cold = []
        for _ in range(2):
            with tempfile.TemporaryDirectory() as cache:
                cold.append(wall(sample_cmd, {**env, "NUMBA_CACHE_DIR": cache}, repeats=1))
        results["rnntui sample 100, cold cache (s)"] = min(cold)
        results["python -c pass (s)"] = wall([sys.executable, "-c", "pass"], env)

    print(f"char level, H = {args.hidden}, V = {len(vocab)}; {args.keystrokes} keystrokes, "
          f"{PROPOSE} chars proposed each")  # fmt: skip
    width = max(len(k) for k in results)
    for k, v in results.items():
        print(f"{k:<{width}}  {v:,.2f}" if v < 1000 else f"{k:<{width}}  {v:,.0f}")
    if not args.no_write:
        write_markdown(args, results, len(vocab))
        print(f"\nwrote {args.out}")
    return 0


def write_markdown(args, results, V) -> None:
    lines = [
        "## Generation and start-up",
        "",
        "Command: `PYTHONPATH=. python benchmarks/bench_generate.py`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ",
        f"Char level, H = {args.hidden}, V = {V}. A keystroke = feed one character, then propose "
        f"{PROPOSE} characters greedily from a copy of the memory.",
        "",
        "| measure | value |",
        "|---|---:|",
    ]
    for k, v in results.items():
        lines.append(f"| {k} | {v:,.2f} |" if v < 1000 else f"| {k} | {v:,.0f} |")
    section = "\n".join(lines) + "\n"
    old = args.out.read_text() if args.out.exists() else "# Benchmarks\n"
    marker = "## Generation and start-up"
    if marker in old:
        before, after = old.split(marker, 1)
        nxt = after.find("\n## ")
        old = before.rstrip("\n") + "\n" + (after[nxt:] if nxt >= 0 else "")
    args.out.write_text(old.rstrip("\n") + "\n\n" + section)


if __name__ == "__main__":
    sys.exit(main())
