"""Generation and start-up speed: autocomplete latency, sampling rate, command start-up.

    PYTHONPATH=. python benchmarks/bench_generate.py            # prints, and adds a section to BENCHMARKS.md
    PYTHONPATH=. python benchmarks/bench_generate.py --no-write

  autocomplete  per keystroke: feed the typed character (one step), then propose up to 20
                characters greedily from a copy of the memory (20 more steps); p50/p99 over
                keystrokes typed from the Republic, char level, H = 256
  beam          on the shipped model (rnntui/data/republic.npz: trained, char level, H = 512), at every
                keystroke of the same text: the beam of width 4 that finishes the word being typed
                (generate.finish_word), alone; and the whole keystroke as the playground does it
                (feed the character, then generate.complete: the beam's word and two more words
                greedily, up to 40 characters); p50/p99, and how often the beam's word differs from
                width 1's
  sampling      tokens/s of generate.sample_text (temperature 1), char level, H = 256
  lenses        (--lenses: these alone, printed) per keystroke on the shipped model, the text growing
                to --lens-chars characters of the Republic: the nucleus (top-p 0.9) of the next-token
                panel (on the UI thread), and the work each lens hands its worker: copies
                (copies.check_text of the whole text), counting (ngram.bits of it), connectivity
                (fading_memory with a target, K = 40, once typing pauses) and match (the units on
                across the last 10 tokens, matched over 30,000 validation tokens whose off-counts
                are kept per threshold)
  start-up      wall time of `rnntui --help`, of `rnntui sample CKPT --length 100` with a warm Numba
                cache, and of the same with an empty cache (NUMBA_CACHE_DIR set to a new folder);
                of `rnntui train CORPUS --steps 1` with an empty cache (every training kernel
                compiled) and then warm

The autocomplete and sampling model is a freshly initialised one (trained weights cost the same
per step); the beam's cost depends on what the model predicts, so it runs on the trained one.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnntui import checkpoint  # noqa: E402
from rnntui.cli import SHIPPED_MODEL  # noqa: E402
from rnntui.generate import Generator, complete, finish_word, sample_text, word_ends  # noqa: E402
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


def beam_latencies(model, vocab, text: str) -> tuple[list[float], list[float], dict[str, float]]:
    """Seconds per keystroke of (a) the width-4 beam alone and (b) feed + the whole suggestion; and
    how the words compare: how often width 4 and width 1 differ, and how often each is the rest of
    the word actually typed (counted at keystrokes inside or at the end of a word)."""
    gen = Generator(model, vocab)
    gen.feed(vocab.encode("\n"))
    ends = word_ends(vocab)
    beam, keystroke = [], []
    differ = inside = right4 = right1 = 0
    for i, tid in enumerate(vocab.encode(text)):
        t0 = time.perf_counter()
        gen.feed([tid])
        complete(gen, max_chars=40, extra_words=2, width=4)
        keystroke.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        word = finish_word(model, gen.h, gen.logits, ends, 4)
        beam.append(time.perf_counter() - t0)
        greedy = finish_word(model, gen.h, gen.logits, ends, 1)
        differ += word.ids != greedy.ids
        if text[i].isalnum():
            inside += 1
            rest = re.match(r"[A-Za-z0-9]*", text[i + 1 :]).group(0)
            right4 += vocab.decode(word.ids) == rest
            right1 += vocab.decode(greedy.ids) == rest
    n = len(beam)
    stats = {"differ": 100 * differ / n, "right4": 100 * right4 / inside, "right1": 100 * right1 / inside}
    return beam, keystroke, stats


def lens_latencies(ckpt, text: str) -> dict[str, list[float]]:
    """Seconds per keystroke of each lens's work, the text growing one character at a time."""
    from rnntui import copies, inspect, match, ngram
    from rnntui.generate import Trace, nucleus, probabilities

    ref = copies.reference_of(ckpt)
    counting, _ = ngram.baseline_of(ckpt)
    val = np.asarray(inspect.training_corpus_ids(ckpt)[1][:30_000], np.int64)
    val_hs = inspect.hidden_trace(ckpt.model.params, val)[:, 0]  # (T, H): computed once, as the view does
    val_off = match.off_counts(val_hs, 0.3)  # once per layer and threshold, as the lens keeps it
    trace = Trace(ckpt.model, ckpt.vocab)
    out: dict[str, list[float]] = {k: [] for k in ("nucleus", "copies", "counting", "connectivity", "match")}
    nl = ckpt.vocab.id_of("\n")
    for i in range(1, len(text) + 1):
        trace.set_text(text[:i])
        ids = np.array([nl] + trace.ids, np.int64)
        t0 = time.perf_counter()
        nucleus(probabilities(trace.gen.logits, 0.7), 0.9)
        out["nucleus"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        copies.check_text(ref, text[:i])
        out["copies"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ngram.bits(counting, ids)
        out["counting"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        inspect.fading_memory(ckpt.model.params, ids, K=min(40, len(ids) - 1), target=0)
        out["connectivity"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        w = min(10, len(trace.ids))
        pattern = match.on_across(trace.activations(0)[-w:], w, 0.3)[0]
        match.best_matches(pattern, val_hs, w, 0.3, off=val_off)
        out["match"].append(time.perf_counter() - t0)
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
    ap.add_argument("--lenses", action="store_true", help="only the lenses' per-keystroke work, printed")
    ap.add_argument("--lens-chars", type=int, default=400)
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = ap.parse_args(argv)

    corpus = ROOT / "corpora" / "republic.txt"
    if args.lenses:
        shipped = checkpoint.load(SHIPPED_MODEL)
        text = corpus.read_text(encoding="utf-8")[20000 : 20000 + args.lens_chars]
        lens_latencies(shipped, text[:30])  # compile / warm, and build or read the caches
        for name, lat in lens_latencies(shipped, text).items():
            p50, p99 = 1e3 * percentile(lat, 50), 1e3 * percentile(lat, 99)
            print(
                f"{name:<13} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  max {1e3 * max(lat):7.2f} ms"
                f"  ({len(lat)} keystrokes)"
            )
        return 0
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
        shipped = checkpoint.load(SHIPPED_MODEL)
        beam_latencies(shipped.model, shipped.vocab, text[:50])  # compile / warm
        beam, keystroke, words = beam_latencies(shipped.model, shipped.vocab, text)
        results["beam-4 word p50 (ms)"] = 1e3 * percentile(beam, 50)
        results["beam-4 word p99 (ms)"] = 1e3 * percentile(beam, 99)
        results["beam-4 word max (ms)"] = 1e3 * max(beam)
        results["keystroke + beam suggestion p50 (ms)"] = 1e3 * percentile(keystroke, 50)
        results["keystroke + beam suggestion p99 (ms)"] = 1e3 * percentile(keystroke, 99)
        results["beam word differs from width 1's (% of keystrokes)"] = words["differ"]
        results["typed word finished right, beam 4 (% of keystrokes in a word)"] = words["right4"]
        results["typed word finished right, width 1 (% of keystrokes in a word)"] = words["right1"]
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
        # the first training run compiles every training kernel of its cell: `rnntui train --steps 1`,
        # each cell from its own empty cache (so it compiles only what that cell needs)
        for cell in ("rnn", "gru", "lstm"):
            train_cmd = cli + ["train", str(corpus), "--steps", "1", "--no-tui", "--out", tmp, "--cell", cell,
                               "--name"]  # fmt: skip
            name = "" if cell == "rnn" else f" --cell {cell}"
            with tempfile.TemporaryDirectory() as cache:
                own = {**env, "NUMBA_CACHE_DIR": cache}
                results[f"rnntui train{name} --steps 1, cold cache (s)"] = wall(
                    train_cmd + [f"cold-{cell}"], own, repeats=1
                )
                results[f"rnntui train{name} --steps 1, warm cache (s)"] = wall(
                    train_cmd + [f"warm-{cell}"], own, repeats=1
                )
        results["python -c pass (s)"] = wall([sys.executable, "-c", "pass"], env)

    print(f"char level, H = {args.hidden}, V = {len(vocab)}; {args.keystrokes} keystrokes, "
          f"{PROPOSE} chars proposed each")  # fmt: skip
    width = max(len(k) for k in results)
    for k, v in results.items():
        print(f"{k:<{width}}  {v:,.2f}" if v < 1000 else f"{k:<{width}}  {v:,.0f}")
    if not args.no_write:
        write_markdown(args, results, len(vocab), shipped.model.cfg.hidden)
        print(f"\nwrote {args.out}")
    return 0


# how the figures were taken: both OPENBLAS_* unset in the benchmark's own command (see bench_train.py)
_UNSET = "" if "OPENBLAS_CORETYPE" in os.environ else "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "


def write_markdown(args, results, V: int, shipped_hidden: int) -> None:
    lines = [
        "## Generation and start-up",
        "",
        f"Command: `{_UNSET}PYTHONPATH=. python benchmarks/bench_generate.py`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ",
        f"Char level, H = {args.hidden}, V = {V}. A keystroke = feed one character, then propose "
        f"{PROPOSE} characters greedily from a copy of the memory. The beam rows use the shipped model "
        f"(trained, H = {shipped_hidden}): the width-4 beam that finishes the word being typed, alone, "
        f"and a whole playground keystroke (feed + the beam's word + two greedy words, up to 40 characters).",
        "",
        "| measure | value |",
        "|---|---:|",
    ]
    for k, v in results.items():
        lines.append(f"| {k} | {v:,.2f} |" if v < 1000 else f"| {k} | {v:,.0f} |")
    section = "\n".join(lines) + "\n"
    old = args.out.read_text() if args.out.exists() else "# Benchmarks\n"
    marker = "## Generation and start-up"
    if marker in old:  # replace the section where it stands
        before, after = old.split(marker, 1)
        nxt = after.find("\n## ")
        rest = after[nxt:] if nxt >= 0 else ""
        args.out.write_text(before + section + rest)
    else:
        args.out.write_text(old.rstrip("\n") + "\n\n" + section)


if __name__ == "__main__":
    sys.exit(main())
