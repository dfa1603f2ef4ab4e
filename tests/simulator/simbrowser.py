"""Headless chromium driven over the Chrome DevTools protocol on a pipe.

``--remote-debugging-pipe``: NUL-separated JSON on file descriptors 3 and 4, so no
websocket client, no driver binary and no network port are needed. ``open_in_chromium``
loads one file in a window ``width`` CSS pixels wide and returns what the page shows,
every console error or warning, how the page laid out (``LAYOUT``: every table cell's
words that the browser split across lines, cells whose content overflows, every chart and
its legend, every rule cell) and, when asked, a PNG screenshot of the whole page with
what it holds (``PIXELS``: its size, the share of pixels that are not white, its colours;
counted by the browser from the PNG itself, so no imaging library is needed).
"""

from __future__ import annotations

import base64
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

#: JavaScript run after load: how the page laid out. A word is a run of letters and digits;
#: it is split when its text range has boxes on more than one line (``Range.getClientRects``);
#: a cell's ``lines`` are the lines its text occupies.
LAYOUT = r"""JSON.stringify((() => {
  const word = /[\p{L}\p{N}]+/gu;
  const heading = el => {
    for (let e = el.closest('.scroll') || el.closest('table'); e; e = e.previousElementSibling)
      if (e.tagName === 'H2') return e.textContent;
    return '';
  };
  const cells = Array.from(document.querySelectorAll('td, th')).map(cell => {
    const split = [], tops = [];
    const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const all = document.createRange();
      all.selectNodeContents(n);
      for (const b of all.getClientRects()) if (b.width > 0) tops.push(b.top);
      for (const m of n.data.matchAll(word)) {
        const r = document.createRange();
        r.setStart(n, m.index);
        r.setEnd(n, m.index + m[0].length);
        const tops = new Set(Array.from(r.getClientRects())
          .filter(b => b.width > 0).map(b => Math.round(b.top)));
        if (tops.size > 1) split.push(m[0]);
      }
    }
    const cs = getComputedStyle(cell);
    // Lines: text boxes whose tops lie more than 8px apart (a smaller font on the same
    // line sits a few pixels lower).
    tops.sort((a, b) => a - b);
    const lines = tops.filter((t, i) => i === 0 || t - tops[i - 1] > 8).length;
    return {text: cell.innerText, split: split, lines: lines, wordBreak: cs.wordBreak,
            overflows: cell.scrollWidth > cell.clientWidth + 1};
  });
  const charts = Array.from(document.querySelectorAll('svg')).map(svg => {
    const fig = svg.closest('figure');
    const legend = fig ? fig.querySelector('.legend') : null;
    return {title: svg.getAttribute('aria-label'),
            legend: legend ? Array.from(legend.querySelectorAll('i'))
              .map(i => i.parentElement.textContent.trim()) : null,
            legendVisible: !!legend && legend.getBoundingClientRect().height > 0};
  });
  const rules = Array.from(document.querySelectorAll('[data-rule]')).map(e => ({
    id: e.getAttribute('data-rule'), text: e.innerText, section: heading(e)}));
  const rows = Array.from(document.querySelectorAll('tr')).filter(tr => tr.querySelector('td'))
    .map(tr => ({section: heading(tr), cells: Array.from(tr.children).map(td => td.innerText)}));
  return {cells: cells, charts: charts, rules: rules, rows: rows,
          pageOverflows: document.documentElement.scrollWidth > window.innerWidth,
          scrolled: Array.from(document.querySelectorAll('.scroll'))
            .filter(e => e.scrollWidth > e.clientWidth).length,
          width: window.innerWidth};
})())"""


@dataclass
class Page:
    """What the browser saw: figures by name, visible text, and every console error."""

    figures: dict[str, str]
    text: str
    scripts: int
    svgs: int
    title: str
    errors: list[str] = field(default_factory=list)
    layout: dict[str, Any] = field(default_factory=dict)
    png: bytes = b""
    pixels: dict[str, Any] = field(default_factory=dict)


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


#: JavaScript that decodes the screenshot (``DATA``: its base64) in the page and counts what
#: it holds; an image from a ``data:`` URL does not taint the canvas.
PIXELS = """new Promise((ok, fail) => {
  const img = new Image();
  img.onerror = () => fail('the screenshot is not an image');
  img.onload = () => {
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let other = 0;
    const colours = new Set();
    for (let i = 0; i < d.length; i += 4) {
      const v = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
      if (v !== 0xffffff) other++;
      if (colours.size < 10000) colours.add(v);
    }
    ok(JSON.stringify({width: c.width, height: c.height,
                       nonWhite: other / (c.width * c.height), colours: colours.size}));
  };
  img.src = 'data:image/png;base64,DATA';
})"""


def _screenshot(cdp: _Cdp, session: str) -> tuple[str, str]:
    """The whole page as a base64 PNG, and what ``PIXELS`` counts in it (JSON)."""
    size = cdp.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot: str = cdp.call(
        "Page.captureScreenshot",
        {"format": "png", "clip": clip, "captureBeyondViewport": True},
        session=session,
    )["data"]
    pixels: str = cdp.call(
        "Runtime.evaluate",
        {"expression": PIXELS.replace("DATA", shot), "awaitPromise": True, "returnByValue": True},
        session=session,
        timeout=60,
    )["result"]["value"]
    return shot, pixels


def open_in_chromium(
    path: Path, chromium: str, width: int = 1100, screenshot: bool = False
) -> Page:
    """Load ``path`` in headless chromium in a window ``width`` CSS pixels wide; return what
    the page shows, its console errors, its layout and (``screenshot``) a PNG of the whole
    page with its pixel counts."""
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
        cdp.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        cdp.events.clear()
        cdp.call("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        cdp.wait_event("Page.loadEventFired")
        time.sleep(0.3)  # let late console messages (CSP reports) arrive
        value = cdp.call(
            "Runtime.evaluate", {"expression": PROBE, "returnByValue": True}, session=session
        )["result"]["value"]
        layout = cdp.call(
            "Runtime.evaluate", {"expression": LAYOUT, "returnByValue": True}, session=session
        )["result"]["value"]
        shot, pixels = _screenshot(cdp, session) if screenshot else ("", "{}")
        cdp.call("Runtime.evaluate", {"expression": "1"}, session=session)  # flush events
        doc = json.loads(value)
        page = Page(
            **doc,
            errors=_errors(cdp.events),
            layout=json.loads(layout),
            png=base64.b64decode(shot),
            pixels=json.loads(pixels),
        )
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
