"""HTML and SVG pages: scripts, and the files they would assemble (smuggling).

Contract:
- ``read(data, found, limits)`` adds to ``javascript`` each kind of script the page
  holds, with where: ``<script>`` elements (counted, the first line named), event handler
  attributes (``onload``, ``onerror``...), ``javascript:`` URLs; and to ``smuggling``
  every blob the page carries that would be a file (``archives.smuggling.files``: what it
  decodes to and from where) and, when the script both makes bytes (``new Blob``) and
  hands them over (``createObjectURL``, ``msSaveOrOpenBlob``, a download link), that
  script with the words it uses, even when the blob itself could not be decoded.
- Blobs are decoded under ``Limits.max_member_bytes``; past it, ``unscannable`` says so.

Limits of this module: scripts loaded from elsewhere (``<script src>``) are reported as
scripts, not read; UTF-16 pages are not read.
"""

from __future__ import annotations

import re

from mailpolicy.corpus.archives import smuggling
from mailpolicy.corpus.archives.limits import Limits, mb
from mailpolicy.corpus.content.model import Found

EXTENSIONS = frozenset({"html", "htm", "shtml", "xhtml", "svg", "svgz", "hta", "xht"})
_SCRIPT = re.compile(rb"<script\b", re.IGNORECASE)
_HANDLER = re.compile(rb"<[A-Za-z][^<>]{0,4096}?\s(on[a-z]{3,24})\s*=", re.IGNORECASE)
_JS_URL = re.compile(rb"""(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.I)


def _line(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def read(data: bytes, found: Found, limits: Limits) -> None:
    """Add the scripts and smuggled files of the page ``data`` to ``found``."""
    scripts = [m.start() for m in _SCRIPT.finditer(data)]
    if scripts:
        n = len(scripts)
        found.add(
            "javascript",
            f"{n} <script> element{'s' if n > 1 else ''}, the first at line "
            f"{_line(data, scripts[0])}",
        )
    handlers = list(dict.fromkeys(m.group(1).lower().decode() for m in _HANDLER.finditer(data)))
    if handlers:
        found.add("javascript", f"event handler attributes: {', '.join(handlers[:8])}")
    js_url = _JS_URL.search(data)
    if js_url is not None:
        found.add("javascript", f"a javascript: URL at line {_line(data, js_url.start())}")
    files, cut = smuggling.files(data, limits.max_member_bytes)
    for name, blob in files:
        found.add("smuggling", f"{name}: {blob.describe()}")
    makes, saves = smuggling.saves_a_file(data)
    if makes and saves:
        found.add("smuggling", f"its script saves a file it builds ({', '.join(makes + saves)})")
    if cut:
        found.add(
            "unscannable", f"blobs larger than {mb(limits.max_member_bytes)}: not all decoded"
        )
