"""How many browser tabs one machine serves: keystroke latency of `rnntui serve` against tabs typing.

    python benchmarks/bench_serve.py                      # 1, 2, 4, 6, 8, 10, 12 tabs, 20 s each
    python benchmarks/bench_serve.py --tabs 4,8 --seconds 30

Needs the serve extra (pip install -e '.[serve]'). Starts `rnntui serve` on the shipped model on a
free loopback port, then for each number of tabs N opens N tabs the way the page's script does (the
page, which holds a seat, then its websocket, 140×40 cells like a laptop's browser window) and makes
every tab type the Republic at a typist's pace (5 keys/s on average, each gap drawn from 0.5–1.5× the
mean, tabs out of step). No browser runs: the students' browsers are on their own machines, so only
the server and its apps load this one.

For each key, from sending it to the screen changes that come back before the next key (the app's
frames of 1 kB or more; the cursor's blink sends a few hundred bytes):
  echo     the first frame: the text area redrawn with the key and the model's ghost text
  settled  the last frame: the next-token panel, the lens and the memory heatmap redrawn too
A key answered by nothing before the next key counts as the whole gap (at least that long).
Prints p50/p99 of both per N, the CPU that the server and its apps used while the tabs typed (in
cores: 1.00 is one core busy all the time), and the 1-minute load average before each N (other work
on the machine slows the tabs down too).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RATE = 5.0  # keys per second per tab
BIG = 1000  # bytes: a frame this large is a redraw, not the cursor blinking


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(server_pid: int) -> float:
    """CPU time (user + system) used so far by the server and the tab apps it runs now."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry.name) == server_pid or int(fields[1]) == server_pid:
                total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


async def one_tab(session, url: str, text: str, seconds: float, seed: int, ready: asyncio.Barrier,
                  done: asyncio.Barrier) -> list[tuple[float, float]]:  # fmt: skip
    """Open a tab, type ``text`` for ``seconds``; (echo, settled) seconds of every key. Waits at
    ``ready`` once its first screen is drawn, and at ``done`` after its last key."""
    import aiohttp

    async with session.get(url) as response:
        page = await response.text()
    ws_url = re.search(r'data-session-websocket-url="([^"]+)"', page).group(1)
    ws = await session.ws_connect(f"{ws_url}?width=140&height=40", max_msg_size=0)
    frames: list[tuple[float, int]] = []  # (arrival, bytes)

    async def read() -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                frames.append((time.perf_counter(), len(message.data)))

    reader = asyncio.create_task(read())
    while sum(size for _, size in frames) < 20_000:  # the first screen
        await asyncio.sleep(0.05)
    rng = random.Random(seed)
    await ready.wait()
    await asyncio.sleep(rng.uniform(0.0, 1.0) / RATE)  # tabs out of step
    sent: list[float] = []
    end = time.perf_counter() + seconds
    i = rng.randrange(len(text) - 2000)
    while time.perf_counter() < end:
        char = text[i]
        i += 1
        sent.append(time.perf_counter())
        await ws.send_str(json.dumps(["stdin", "\r" if char == "\n" else char]))
        await asyncio.sleep(rng.uniform(0.5, 1.5) / RATE)
    await asyncio.sleep(0.5)
    await done.wait()
    await ws.close()
    reader.cancel()
    latencies = []
    for k, t0 in enumerate(sent):
        t1 = sent[k + 1] if k + 1 < len(sent) else t0 + 0.5
        answers = [t for t, size in frames if t0 <= t < t1 and size >= BIG]
        latencies.append((answers[0] - t0, answers[-1] - t0) if answers else (t1 - t0, t1 - t0))
    return latencies


async def level(url: str, tabs: int, seconds: float, text: str, server_pid: int) -> tuple[np.ndarray, float]:
    """(echo, settled) milliseconds of every key; CPU the server and its apps used while typing,
    in cores (1.0 = one core busy all the time)."""
    import aiohttp

    ready, done = asyncio.Barrier(tabs + 1), asyncio.Barrier(tabs + 1)
    async with aiohttp.ClientSession() as session:
        typing = [asyncio.create_task(one_tab(session, url, text, seconds, seed, ready, done))
                  for seed in range(tabs)]  # fmt: skip
        await ready.wait()
        cpu0, t0 = cpu_seconds(server_pid), time.perf_counter()
        await done.wait()
        cores = (cpu_seconds(server_pid) - cpu0) / (time.perf_counter() - t0)
        results = await asyncio.gather(*typing)
    return np.array([pair for result in results for pair in result]) * 1000, cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tabs", default="1,2,4,6,8,10,12", help="comma-separated numbers of tabs")
    parser.add_argument("--seconds", type=float, default=20.0, help="typing time per number of tabs")
    args = parser.parse_args()
    counts = [int(n) for n in args.tabs.split(",")]
    text = (ROOT / "corpora" / "republic.txt").read_text(encoding="utf-8")
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="rnntui-bench-serve-")) / "server.log"
    with log.open("w") as out:  # a file, not a pipe: nothing the server writes can block it
        command = ["rnntui", "serve", "--port", str(port), "--max-sessions", str(max(counts))]
        server = subprocess.Popen([sys.executable, "-m", "rnntui.cli", *command[1:]], stdout=out,
                                  stderr=subprocess.STDOUT)  # fmt: skip
    while "Ctrl-C" not in log.read_text():
        if server.poll() is not None:
            sys.exit(log.read_text())
        time.sleep(0.1)
    url = f"http://127.0.0.1:{port}/"
    print(f"{'tabs':>4}  {'load':>5}  {'keys':>5}  {'echo p50':>8}  {'echo p99':>8}  "
          f"{'settled p50':>11}  {'settled p99':>11}  (ms)  {'CPU':>5} (cores)", flush=True)  # fmt: skip
    try:
        for tabs in counts:
            load = os.getloadavg()[0]
            ms, cores = asyncio.run(level(url, tabs, args.seconds, text, server.pid))
            echo, settled = np.percentile(ms[:, 0], [50, 99]), np.percentile(ms[:, 1], [50, 99])
            print(f"{tabs:>4}  {load:>5.2f}  {len(ms):>5}  {echo[0]:>8.1f}  {echo[1]:>8.1f}  "
                  f"{settled[0]:>11.1f}  {settled[1]:>11.1f}        {cores:>5.2f}", flush=True)  # fmt: skip
            time.sleep(3)  # the closed tabs' apps end
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
        print(f"server log: {log}")


if __name__ == "__main__":
    main()
