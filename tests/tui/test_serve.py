"""``rnntui serve``: the hint without the extra, who can reach it, seats, a clean stop, and the
playground typed into in a real headless Chromium.

The server tests run the real command in a subprocess on a free loopback port; they need the
serve extra (``pip install -e '.[serve]'``), the browser test also Debian's ``chromium``. Each
skips with the reason where those are missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import rnntui
from rnntui import checkpoint
from rnntui.cli import SERVE_EXTRA_HINT, main
from rnntui.generate import Trace, probabilities
from rnntui.tui.widgets.scales import show_token

from .conftest import reference_suggestion

try:
    import aiohttp

    from rnntui import serve
except ModuleNotFoundError as err:
    serve = None
    NO_EXTRA = f"the serve extra is not installed ({err.name} missing): pip install -e '.[serve]'"
else:
    NO_EXTRA = ""

needs_extra = pytest.mark.skipif(serve is None, reason=NO_EXTRA)


# -- without the server --------------------------------------------------------------------------


def test_without_the_extra_serve_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "textual_serve", None)  # importing it now fails, as when absent
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    monkeypatch.delitem(sys.modules, "rnntui.serve", raising=False)
    monkeypatch.delattr(rnntui, "serve", raising=False)  # so ``from rnntui import serve`` imports anew
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {SERVE_EXTRA_HINT}"
    assert "pip install -e '.[serve]'" in result.output


def test_serve_help_names_the_options_and_the_extra():
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for word in ("--model", "--host", "--port", "--max-sessions", "127.0.0.1", "8000", "'.[serve]'"):
        assert word in result.output, word


def test_serve_refuses_a_checkpoint_and_a_model_together_an_unknown_model_and_a_bad_checkpoint(tmp_path):
    result = CliRunner().invoke(main, ["serve", str(tmp_path / "a.npz"), "--model", "republic"])
    assert result.exit_code == 2 and "not both" in result.output
    result = CliRunner().invoke(main, ["serve", "--model", "nosuch"])
    assert result.exit_code == 2 and "the shipped models are republic" in result.output
    # the checkpoint is read before any port is opened, and before the extra is needed
    result = CliRunner().invoke(main, ["serve", str(tmp_path / "missing.npz")])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and "missing.npz" in result.output


@needs_extra
def test_only_a_non_loopback_address_gets_the_who_can_reach_it_line():
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        assert serve.reach_note(host, 8000) is None, host
    everywhere = serve.reach_note("0.0.0.0", 8000)
    assert "every address of this machine" in everywhere and "port 8000" in everywhere
    assert "no password" in everywhere and "\n" not in everywhere
    one = serve.reach_note("192.0.2.7", 9000)
    assert "anyone who can reach 192.0.2.7 on port 9000" in one
    assert serve.open_url("0.0.0.0", 8000) == f"http://{socket.gethostname()}:8000/"
    assert serve.open_url("::1", 8000) == "http://[::1]:8000/"


# -- the server, in a subprocess ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_processes(server_pid: int) -> list[int]:
    """The tab processes the server started (its children running ``rnntui.tui.tab``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == server_pid and b"rnntui.tui.tab" in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
    return pids


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its parent counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


class Served:
    """``rnntui serve CKPT`` running in a subprocess. Its output goes to a file, not a pipe: an app's
    traceback (textual-serve copies it to the server's stdout) can then never block the server."""

    def __init__(self, ckpt: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        command = [sys.executable, "-m", "rnntui.cli", "serve", str(ckpt), "--port", str(self.port), *args]
        self.log = ckpt.parent / f"serve-{self.port}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
        deadline = time.monotonic() + 120
        while not any("Ctrl-C stops the server" in line for line in self.lines):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the server never became ready:\n" + "\n".join(self.lines))
            time.sleep(0.1)

    @property
    def lines(self) -> list[str]:
        """What the server has printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace").splitlines()

    def stop(self, signum: int = signal.SIGINT, timeout: float = 30) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def served(tiny_ckpt):
    servers: list[Served] = []

    def start(*args: str) -> Served:
        servers.append(Served(tiny_ckpt, *args))
        return servers[-1]

    yield start
    for server in servers:
        server.kill()


async def page_and_seat(url: str, session) -> tuple[int, str]:
    async with session.get(url) as response:
        return response.status, await response.text()


async def open_tab(session, page: str, port: int):
    """Connect to the page's websocket as its script would; returns it once the app has drawn."""
    ws_url = re.search(r'data-session-websocket-url="([^"]+)"', page).group(1)
    assert ws_url.startswith(f"ws://127.0.0.1:{port}/ws/")  # the address the browser used
    ws = await session.ws_connect(f"{ws_url}?width=100&height=30")
    drawn = 0
    while drawn < 1000:  # the first screen
        message = await asyncio.wait_for(ws.receive(), 60)
        assert message.type == aiohttp.WSMsgType.BINARY, message
        drawn += len(message.data)
    return ws


@needs_extra
def test_seats_ctrl_c_and_no_app_left_behind(served):
    """The page holds a seat; the next visitor gets the 'room is full' page (503, retrying), and a
    seat again once the tab goes. Ctrl-C ends every app and the server, exit 0."""
    server = served("--max-sessions", "1")
    assert server.lines[0].startswith("Serving the rnntui playground") and server.url in server.lines[0]
    assert not any("anyone who can reach" in line for line in server.lines)  # loopback: no such line

    async def scenario() -> list[int]:
        async with aiohttp.ClientSession() as session:
            status, page = await page_and_seat(server.url, session)
            assert status == 200
            assert "https://" not in page and "http://" not in page.split("<body")[0]  # nothing from outside
            status, full = await page_and_seat(server.url, session)
            assert status == 503 and "The room is full" in full and "All 1 seats" in full
            assert '<meta http-equiv="refresh"' in full
            ws = await open_tab(session, page, server.port)
            (pid,) = app_processes(server.process.pid)
            assert alive(pid)
            await ws.close()  # the tab closes: its app ends and the seat is free again
            await asyncio.to_thread(wait_until, lambda: not alive(pid), 20, "the closed tab's app to end")
            status, page = await page_and_seat(server.url, session)
            assert status == 200
            await open_tab(session, page, server.port)  # left open for Ctrl-C
            return app_processes(server.process.pid)

    pids = asyncio.run(scenario())
    assert len(pids) == 1 and alive(pids[0])
    assert server.stop(signal.SIGINT) == 0
    assert not any(alive(pid) for pid in pids)
    assert "Stopped; 1 app ended." in server.lines


@needs_extra
def test_an_app_dies_with_a_killed_server(served):
    """SIGKILL gives the server no chance to stop its apps: the kernel ends them (parent-death signal)."""
    server = served()

    async def one_tab() -> None:
        async with aiohttp.ClientSession() as session:
            _, page = await page_and_seat(server.url, session)
            await open_tab(session, page, server.port)
            pids.extend(app_processes(server.process.pid))
            server.process.kill()

    pids: list[int] = []
    asyncio.run(one_tab())
    assert len(pids) == 1
    wait_until(lambda: not alive(pids[0]), 20, "the orphaned app to end")


@needs_extra
def test_another_address_prints_who_can_reach_it_and_a_taken_port_is_one_line(served):
    server = served("--host", "0.0.0.0")  # listens everywhere; the test only talks to loopback
    (note,) = [line for line in server.lines if "anyone who can reach" in line]
    assert "every address of this machine" in note and f"port {server.port}" in note
    assert server.stop(signal.SIGTERM) == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "rnntui.cli", "serve", "--port", str(port)],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 1
    expected = f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert result.stderr.strip().splitlines() == [expected]


# -- in a real browser ----------------------------------------------------------------------------------


def panel_rows(rows: list[str]) -> list[tuple[str, str]]:
    """(token, percent) of each row of the next-token panel on the screen, top to bottom."""
    (top,) = [y for y, row in enumerate(rows) if "next token · T=" in row]
    left = rows[top].index("╭", rows[top].index("╮"))  # the panel is the second box on its row
    found = []
    for row in rows[top + 1 :]:
        cells = row[left:]
        if cells.startswith("╰"):
            break
        if match := re.fullmatch(r"│\s*(\S+) [ ▏▎▍▌▋▊▉█]*\s+(\d+\.\d%)│", cells):
            found.append((match.group(1), match.group(2)))
    return found


@needs_extra
async def test_a_browser_tab_types_with_the_model_and_its_app_ends_with_the_tab(tiny_ckpt, tmp_path):
    from .browser import Browser, chromium_missing

    if reason := chromium_missing():
        pytest.skip(reason)
    text = "The just m"
    ckpt = checkpoint.load(tiny_ckpt)
    ghost = reference_suggestion(ckpt.model, ckpt.vocab, text)
    trace = Trace(ckpt.model, ckpt.vocab)
    trace.set_text(text)
    probs = probabilities(trace.gen.logits, 0.7)
    label = min(8, max(len(show_token(t)) for t in ckpt.vocab.tokens))
    expected = [(show_token(ckpt.vocab.tokens[i])[:label], f"{probs[i]:.1%}")
                for i in np.argsort(-probs, kind="stable")[:5]]  # fmt: skip

    server = Served(tiny_ckpt)
    try:
        async with Browser() as browser:
            tab = await browser.open(server.url)
            await tab.wait_screen(lambda rows: any("write here" in row for row in rows))
            (pid,) = app_processes(server.process.pid)
            await tab.focus()
            await tab.type(text)
            # the text area shows what was typed and then the model's ghost text; the next-token panel
            # the model's five likeliest next tokens at T=0.7 (the panel may draw a frame later)
            rows = await tab.wait_screen(lambda rows: any(text + ghost in row for row in rows)
                                         and panel_rows(rows)[:5] == expected, 30)  # fmt: skip
            await tab.screenshot(tmp_path / "playground.png")
            assert text + ghost in next(row for row in rows if text in row)  # the text area, above the lens
            await tab.close()
            await asyncio.to_thread(wait_until, lambda: not alive(pid), 20, "the closed tab's app to end")
    finally:
        code = server.stop()
        print("\n".join(server.lines))  # shown when the test fails: the server's and the app's words
        assert code == 0
