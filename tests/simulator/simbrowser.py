"""Headless chromium driven over the Chrome DevTools protocol on a pipe.

``--remote-debugging-pipe``: NUL-separated JSON on file descriptors 3 and 4, so no
websocket client, no driver binary and no network port are needed. ``open_in_chromium``
loads one file and returns what the page shows and every console error or warning.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--remote-debugging-pipe",
]

#: JavaScript run in the page after load: every ``data-figure`` cell and the visible text.
PROBE = """JSON.stringify({
  figures: Object.fromEntries(Array.from(document.querySelectorAll('[data-figure]'))
    .map(e => [e.getAttribute('data-figure'), e.textContent.trim()])),
  text: document.body.innerText,
  scripts: document.querySelectorAll('script').length,
  svgs: document.querySelectorAll('svg').length,
  title: document.title
})"""


@dataclass
class Page:
    """What the browser saw: figures by name, visible text, and every console error."""

    figures: dict[str, str]
    text: str
    scripts: int
    svgs: int
    title: str
    errors: list[str] = field(default_factory=list)


class _Cdp:
    def __init__(self, proc: subprocess.Popen[bytes], to_browser: int, from_browser: int) -> None:
        self.proc, self.wfd, self.rfd = proc, to_browser, from_browser
        self.next_id = 0
        self.buf = b""
        self.events: list[dict[str, Any]] = []

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self.rfd, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        doc: dict[str, Any] = json.loads(msg)
        return doc

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        self.next_id += 1
        cmd: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            cmd["sessionId"] = session
        os.write(self.wfd, json.dumps(cmd).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline)
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 30) -> dict[str, Any]:
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline)
            if msg.get("method") == method:
                return msg
            self.events.append(msg)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.exceptionThrown":
            out.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:300])
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
            out.append(f"console.{p['type']}: " + json.dumps(p.get("args", []))[:300])
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
            entry = p["entry"]
            out.append(f"log {entry.get('source')}: {entry.get('text')} {entry.get('url', '')}")
    return out


def open_in_chromium(path: Path, chromium: str) -> Page:
    """Load ``path`` in headless chromium; return what the page shows and its console errors."""
    profile = tempfile.mkdtemp(prefix="mailpolicy-chromium-")
    to_r, to_w = os.pipe()  # we write commands, chromium reads fd 3
    from_r, from_w = os.pipe()  # chromium writes fd 4, we read
    # Above 4, so that placing them on 3 and 4 in the child cannot clobber one another.
    hi_r = fcntl.fcntl(to_r, fcntl.F_DUPFD_CLOEXEC, 10)
    hi_w = fcntl.fcntl(from_w, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(to_r)
    os.close(from_w)

    def child_fds() -> None:
        os.dup2(hi_r, 3)  # dup2 clears close-on-exec on the copies only
        os.dup2(hi_w, 4)

    proc = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=False,
        preexec_fn=child_fds,  # noqa: PLW1509
    )
    os.close(hi_r)
    os.close(hi_w)
    cdp = _Cdp(proc, to_w, from_r)
    try:
        target = cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            cdp.call(domain, session=session)
        cdp.events.clear()
        cdp.call("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        cdp.wait_event("Page.loadEventFired")
        time.sleep(0.3)  # let late console messages (CSP reports) arrive
        value = cdp.call(
            "Runtime.evaluate", {"expression": PROBE, "returnByValue": True}, session=session
        )["result"]["value"]
        cdp.call("Runtime.evaluate", {"expression": "1"}, session=session)  # flush events
        doc = json.loads(value)
        page = Page(**doc, errors=_errors(cdp.events))
        try:
            cdp.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError):
            pass
        return page
    finally:
        os.close(to_w)
        os.close(from_r)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
