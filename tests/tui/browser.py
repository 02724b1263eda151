"""A headless Chromium driven through the DevTools protocol, for the tests of ``rnntui serve``.

Debian's ``chromium`` (never a downloaded browser) with a fresh profile, spoken to over its
DevTools websocket with aiohttp (which the serve extra brings), so the browser test needs no
package beyond the serve extra. Only what the tests use: open a page, run JavaScript in it, type,
take a screenshot, close the tab.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import aiohttp

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--remote-debugging-port=0", "--window-size=1280,900"]  # fmt: skip

# Before the page's own script runs: keep every xterm.js Terminal the page makes in
# window.__terminals (textual-serve's script assigns it to ``this.terminal``), so a test can read the
# characters on the screen (WebGL draws them; the DOM holds none).
KEEP_TERMINALS = """
window.__terminals = [];
Object.defineProperty(Object.prototype, 'terminal', {
  configurable: true,
  set(value) {
    window.__terminals.push(value);
    Object.defineProperty(this, 'terminal', {value, writable: true, configurable: true, enumerable: true});
  },
});
"""
SCREEN_TEXT = """(() => {
  const t = window.__terminals[0];
  if (!t) return null;
  const b = t.buffer.active, rows = [];
  for (let y = 0; y < t.rows; y++) rows.push(b.getLine(b.viewportY + y).translateToString(true));
  return rows;
})()"""


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


class Browser:
    """One headless Chromium process; ``async with Browser() as b`` starts and ends it."""

    async def __aenter__(self) -> Browser:
        self.profile = tempfile.mkdtemp(prefix="rnntui-chromium-")
        command = [CHROMIUM, *ARGS, f"--user-data-dir={self.profile}", "about:blank"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = await asyncio.to_thread(self._devtools_url)
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(url, max_msg_size=0)
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future] = {}
        self.reader = asyncio.create_task(self._read())
        return self

    def _devtools_url(self) -> str:
        for line in self.process.stderr:
            if match := re.search(r"DevTools listening on (ws://\S+)", line):
                return match.group(1)
        raise RuntimeError(f"chromium exited ({self.process.wait()}) without a DevTools address")

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            reply = json.loads(message.data)
            future = self.waiting.pop(reply.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(reply)

    async def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """One DevTools command; returns its result, raises on its error."""
        call_id = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.waiting[call_id] = future
        message = {"id": call_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        await self.ws.send_str(json.dumps(message))
        reply = await asyncio.wait_for(future, 30)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    async def open(self, url: str) -> Tab:
        """A new tab on ``url``, with the terminal keeper installed before the page loads."""
        target = (await self.send("Target.createTarget", {"url": "about:blank"}))["targetId"]
        attached = await self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        session = attached["sessionId"]
        tab = Tab(self, target, session)
        await tab.send("Page.enable")
        await tab.send("Page.addScriptToEvaluateOnNewDocument", {"source": KEEP_TERMINALS})
        await tab.send("Page.navigate", {"url": url})
        return tab

    async def __aexit__(self, *exc) -> None:
        self.reader.cancel()
        await self.ws.close()
        await self.http.close()
        self.process.terminate()
        try:
            await asyncio.to_thread(self.process.wait, 10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


class Tab:
    """One page of the browser."""

    def __init__(self, browser: Browser, target: str, session: str) -> None:
        self.browser, self.target, self.session = browser, target, session

    async def send(self, method: str, params: dict | None = None) -> dict:
        return await self.browser.send(method, params, self.session)

    async def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page."""
        result = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 60.0):
        """Poll until ``expression`` is truthy in the page; returns its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if loop.time() > deadline:
                raise TimeoutError(f"the page never made {expression!r} true")
            await asyncio.sleep(0.2)

    async def focus(self) -> None:
        """Put the keyboard in the page's terminal, as a click in it would."""
        await self.evaluate("window.__terminals[0].focus()")

    async def screen(self) -> list[str]:
        """The rows of characters on the page's terminal."""
        return await self.evaluate(SCREEN_TEXT) or []

    async def wait_screen(self, predicate, timeout: float = 60.0) -> list[str]:
        """Poll the terminal's rows until ``predicate(rows)`` holds; returns those rows."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(rows := await self.screen()):
            if loop.time() > deadline:
                raise TimeoutError("the screen never showed what was awaited:\n" + "\n".join(rows))
            await asyncio.sleep(0.2)
        return rows

    async def type(self, text: str) -> None:
        """Key presses, one character at a time, as a person types."""
        for char in text:
            key = {"\n": "Enter"}.get(char, char)
            typed = {"\n": "\r"}.get(char, char)
            await self.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": key, "text": typed})
            await self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": key})

    async def screenshot(self, path: Path) -> Path:
        data = (await self.send("Page.captureScreenshot", {"format": "png"}))["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    async def close(self) -> None:
        await self.browser.send("Target.closeTarget", {"targetId": self.target})
