"""``rnntui serve``: the playground in browser tabs, for a classroom.

Built on textual-serve (the Textual project's own server, the optional extra ``serve``):
each tab that connects gets its own app process (``rnntui.tui.tab``), drawn in the page through a
websocket. On top of textual-serve this module adds:

1) seats: at most ``max_sessions`` tabs at once. Serving the page reserves a seat for the
   websocket that the page opens a moment later; when every seat is taken the next visitor gets a
   page that says so and tries again by itself, instead of a stall;
2) a clean stop: Ctrl-C (or SIGTERM) asks every app to quit, kills one that does not within a few
   seconds, and returns only when every app process has ended; an app also dies with the server
   if the server is killed outright (``tab.py`` asks the kernel for that);
3) page links built from the address the browser used (textual-serve builds them from ``--host``,
   which breaks for ``0.0.0.0``: a student's browser cannot connect to 0.0.0.0).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import secrets
import shlex
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp_jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

RESERVE_SECONDS = 30.0  # a served page holds its seat this long for its websocket to arrive
RETRY_SECONDS = 10  # the "room is full" page reloads itself this often
QUIT_SECONDS = 3.0  # an app asked to quit gets this long before it is killed
# textual-serve's page loads a font from the web before it draws anything: offline (or behind a
# school's filter) every tab then waits for that request to time out. The page uses local fonts.
OUTSIDE_STYLESHEET = re.compile(r'<link\s+rel="stylesheet"\s+href="https?://[^"]*"\s*/?>')


def say(line: str) -> None:
    """One line on the server's terminal (flushed: it is often a pipe)."""
    print(line, flush=True)


def reach_note(host: str, port: int) -> str | None:
    """One line saying who can open the playground when ``host`` is not a loopback address, else None."""
    name = host.strip("[]")
    if name in ("", "0.0.0.0", "::"):
        return (f"Listening on every address of this machine ({host or '*'}): anyone who can reach this "
                f"machine on port {port} can open the playground. There is no password.")  # fmt: skip
    try:
        if ipaddress.ip_address(name).is_loopback:
            return None
    except ValueError:  # a host name
        if name == "localhost":
            return None
    return (f"Listening on {host}: anyone who can reach {host} on port {port} can open the playground. "
            "There is no password.")  # fmt: skip


def open_url(host: str, port: int) -> str:
    """The address to give to people: for a wildcard host, this machine's name."""
    name = host.strip("[]")
    if name in ("", "0.0.0.0", "::"):
        name = socket.gethostname()
    elif ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}/"


def tab_command(checkpoint: Path, label: str) -> str:
    """The shell command of one tab's app process. ``exec`` makes the app the server's own child
    (no shell in between), so stopping it stops the app and the kernel's parent-death signal works."""
    args = [sys.executable, "-m", "rnntui.tui.tab", "--server-pid", str(os.getpid()), str(checkpoint), label]
    return "exec " + shlex.join(args)


def full_page(max_sessions: int) -> str:
    """The page for a visitor who finds every seat taken."""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{RETRY_SECONDS}">
<title>rnntui: the room is full</title>
<style>body {{ background: #0c181f; color: #e6edf3; font: 18px/1.5 monospace; display: flex;
  align-items: center; justify-content: center; height: 90vh; }} div {{ max-width: 40em; }}</style>
</head><body><div id="full">
<h1>The room is full</h1>
<p>All {max_sessions} seats of this rnntui playground are taken.</p>
<p>This page tries again every {RETRY_SECONDS} seconds and lets you in as soon as someone closes
their tab. Ask your teacher if it takes long.</p>
</div></body></html>
"""


class TabService(AppService):
    """One tab's app process; ``stop`` always ends with the process gone, and may be called from
    several places at once (the tab closing, the server stopping)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stopping: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def stop(self) -> None:
        running = self._process is not None and self._process.returncode is None
        if self._stopping is None or (self._stopping.done() and running):  # again if it started since
            self._stopping = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(Exception):
                await self._download_manager.cancel_app_downloads(app_service_id=self.app_service_id)
            await self.send_meta({"type": "quit"})
        for ending in (None, process.terminate, process.kill):
            if process.returncode is not None:
                break
            if ending is not None:
                with contextlib.suppress(ProcessLookupError):
                    ending()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), QUIT_SECONDS)
        if self._task is not None:  # the reader ends at the end of the app's output
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._task, QUIT_SECONDS)


class ClassroomServer(Server):
    """textual-serve's server with seats, a clean stop and links that follow the browser's address."""

    def __init__(self, checkpoint: Path, label: str, *, host: str, port: int, max_sessions: int) -> None:
        super().__init__(tab_command(checkpoint, label), host=host, port=port, title=f"rnntui · {label}")
        self.label = label
        self.max_sessions = max_sessions
        self.reserved: dict[str, float] = {}  # seat → deadline (time.monotonic) for its websocket
        self.tabs: dict[str, tuple[web.WebSocketResponse, TabService]] = {}  # seat → its tab
        self.stopping = False

    # -- seats ---------------------------------------------------------------------------------------

    def seats_taken(self) -> int:
        now = time.monotonic()
        self.reserved = {seat: end for seat, end in self.reserved.items() if end > now}
        return len(self.reserved) + len(self.tabs)

    def claim(self, seat: str) -> bool:
        """Turn the page's reservation into a tab; a seat without one (it ran out) only if one is free."""
        if self.stopping or seat in self.tabs:
            return False
        if self.reserved.pop(seat, None) is not None and seat:
            return True
        return self.seats_taken() < self.max_sessions

    def app_pids(self) -> list[int]:
        """The process ids of the apps running now (for tests and the stop)."""
        return [pid for _, service in self.tabs.values() if (pid := service.pid) is not None]

    # -- the web application ------------------------------------------------------------------------

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.router.add_get("/ws/{seat}", self.handle_websocket)
        return app

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        if self.seats_taken() >= self.max_sessions or self.stopping:
            headers = {"Retry-After": str(RETRY_SECONDS), "Cache-Control": "no-store"}
            return web.Response(text=full_page(self.max_sessions), content_type="text/html", status=503,
                                headers=headers)  # fmt: skip
        seat = secrets.token_urlsafe(12)
        self.reserved[seat] = time.monotonic() + RESERVE_SECONDS
        ws_scheme = "wss" if request.secure else "ws"
        context = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{ws_scheme}://{request.host}/ws/{seat}",
            "config": {"static": {"url": "/static/"}},
            "application": {"name": self.title},  # the template escapes it
        }
        page = aiohttp_jinja2.render_string("app_index.html", request, context)
        page = OUTSIDE_STYLESHEET.sub("", page)
        # no-store: a reload must ask for a new seat
        return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """One tab: start its app, pass keys in and the screen out, stop the app when the tab goes."""
        seat = request.match_info.get("seat", "")
        websocket = web.WebSocketResponse(heartbeat=15)
        await websocket.prepare(request)
        if not self.claim(seat):
            await websocket.close(code=1013, message=b"every seat is taken")  # 1013: try again later
            return websocket
        service = TabService(self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                             close=websocket.close, download_manager=self.download_manager)  # fmt: skip
        self.tabs[seat] = (websocket, service)
        try:
            await service.start(to_int(request.query.get("width", "80"), 80),
                                to_int(request.query.get("height", "24"), 24))  # fmt: skip
            if not self.stopping:  # the server may have begun to stop while the app started
                await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            pass
        except Exception as error:  # a broken tab must not take the server down
            say(f"a tab ended by an error: {error!r}")
        finally:
            await service.stop()
            self.tabs.pop(seat, None)
            with contextlib.suppress(Exception):
                await websocket.close()
        return websocket

    async def on_startup(self, app: web.Application) -> None:
        """Nothing (textual-serve prints its logo here): ``announce`` speaks once the port is open."""

    def announce(self, _aiohttp_line: str = "") -> None:
        """Where to point the browsers, who else can reach them, the cap, how to stop."""
        url = open_url(self.host, self.port)
        say(f"Serving the rnntui playground ({self.label}) at {url}")
        if note := reach_note(self.host, self.port):
            say(note)
        tabs = f"{self.max_sessions} tab{'s' if self.max_sessions != 1 else ''}"
        say(f"At most {tabs} at once. Ctrl-C stops the server and every app it started.")

    async def on_shutdown(self, app: web.Application) -> None:
        """Stop every app (quit, then terminate, then kill) and close every tab's websocket."""
        self.stopping = True
        tabs = list(self.tabs.values())
        await asyncio.gather(*(service.stop() for _, service in tabs), return_exceptions=True)
        for websocket, _ in tabs:
            with contextlib.suppress(Exception):
                await websocket.close(code=1001, message=b"the server stopped")  # 1001: going away
        say(f"Stopped; {len(tabs)} app{'s' if len(tabs) != 1 else ''} ended.")

    def serve(self, debug: bool = False) -> None:
        """Run until Ctrl-C or SIGTERM; return once every app process has ended."""
        self.initialize_logging()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.request_exit)
        web.run_app(self._make_app(), host=self.host, port=self.port, handle_signals=False, loop=loop,
                    print=self.announce, shutdown_timeout=QUIT_SECONDS, access_log=None)  # fmt: skip


def serve(checkpoint: Path, label: str, *, host: str, port: int, max_sessions: int) -> None:
    """Serve the playground on ``checkpoint`` (shown as ``label``) until Ctrl-C."""
    ClassroomServer(checkpoint, label, host=host, port=port, max_sessions=max_sessions).serve()
