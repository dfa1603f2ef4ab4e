"""PDF actions: JavaScript, Launch, embedded files, and what runs them on opening.

A scanner of our own rather than pdfid or pypdf. pdfid (Didier Stevens' tool, in a
library port) counts keywords and undoes ``#xx`` name escapes, which is the right idea,
but it does not look inside compressed object streams (``/ObjStm``), where PDF 1.5+
files, and attackers, keep their dictionaries; and it gives counts, not the object
numbers a trace should name. pypdf builds the whole object graph, which is more than a
filter needs and more code to trust with hostile input. This module does what pdfid does
(every name token, escapes undone) plus object numbers and object streams, in a linear
scan.

Contract:
- ``read(data, found, limits)`` adds ``/JavaScript`` and ``/JS`` to ``javascript``,
  ``/Launch`` to ``launch``, ``/EmbeddedFile(s)`` to ``embedded_files``, ``/OpenAction``
  and ``/AA`` to ``triggers``, each with the object it is in (``object 5``, or ``object 12
  in object stream 9``). Names are read as PDF tokens with ``#xx`` escapes undone, so
  ``/J#61vaScript`` is ``/JavaScript``; ``/URI`` (ordinary links) is ignored.
- Object streams (``/Type /ObjStm``) compressed with ``/FlateDecode`` alone are
  decompressed under the limits (``max_member_bytes`` and the ratio) and scanned the
  same way; one that cannot be read (another filter, damaged data, an encrypted file)
  adds a reason to ``unscannable``: what it hides is unknown.

Limits of this module: names inside other streams (page content, fonts) are not actions
and are not read; an action hidden in an object stream of an encrypted PDF is reported
as unscannable, not found (decryption is not implemented); XFA forms' scripts are
reported by the ``/XFA`` entry only when ``/JavaScript`` also appears.
"""

from __future__ import annotations

import bisect
import re
import zlib

from mailpolicy.corpus.archives.limits import Limits, check_time, mb
from mailpolicy.corpus.content.model import Found

#: An object header, ``N G obj`` (``\d{1,10}\s+\d{1,5}\s+obj\b``): found by its keyword
#: (a literal, which the regular expression engine finds quickly), then read backwards on
#: the reversed data. The forward pattern, starting with ``\d``, tries every byte: 10 ns
#: a byte, most of the time spent on a large PDF.
_KEYWORD = re.compile(rb"obj\b")
_HEADER_REVERSED = re.compile(rb"\s+\d{1,5}\s+(\d{1,10})")
_NAME = re.compile(rb"/([^\s/\[\]()<>{}%]{1,127})")
_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_OBJSTM = re.compile(rb"/Type\s*/ObjStm\b")
_STREAM = re.compile(rb"stream\r?\n")
_STREAM_START = re.compile(rb">>\s*stream\r?\n")
_WANTED = {
    b"JavaScript": "javascript",
    b"JS": "javascript",
    b"Launch": "launch",
    b"EmbeddedFile": "embedded_files",
    b"EmbeddedFiles": "embedded_files",
    b"OpenAction": "triggers",
    b"AA": "triggers",
}


def is_pdf(head: bytes) -> bool:
    return b"%PDF-" in head[:1024]


def _names(chunk: bytes) -> list[tuple[int, bytes]]:
    out = []
    for m in _NAME.finditer(chunk):
        raw = m.group(1)
        name = _ESCAPE.sub(lambda e: bytes([int(e.group(1), 16)]), raw) if b"#" in raw else raw
        if name in _WANTED:
            out.append((m.start(), name))
    return out


def _outside_streams(data: bytes) -> list[tuple[int, bytes]]:
    """The parts of ``data`` that are not stream contents (binary data may spell ``/JS``
    by chance), each with its offset."""
    out, pos = [], 0
    for m in _STREAM_START.finditer(data):
        if m.start() < pos:
            continue
        out.append((pos, data[pos : m.end()]))
        end = data.find(b"endstream", m.end())
        pos = len(data) if end < 0 else end
    out.append((pos, data[pos:]))
    return out


def objects(data: bytes) -> list[tuple[int, int]]:
    """The start and number of every ``N G obj`` header in ``data``, the matches of the
    forward pattern (a property test holds the two equal)."""
    out: list[tuple[int, int]] = []
    reverse = data[::-1]
    end = len(data)
    for m in _KEYWORD.finditer(data):
        h = _HEADER_REVERSED.match(reverse, end - m.start())
        if h is not None:
            out.append((end - h.end(), int(h.group(1)[::-1])))
    return out


def read(data: bytes, found: Found, limits: Limits) -> None:
    """Add the actions of the PDF ``data`` to ``found`` (see the module docstring)."""
    objs = objects(data)
    starts = [s for s, _n in objs]
    hits = [(base + p, n) for base, chunk in _outside_streams(data) for p, n in _names(chunk)]
    for pos, name in hits:
        i = bisect.bisect_right(starts, pos) - 1
        where = f"object {objs[i][1]}" if i >= 0 else "the trailer or an unnumbered part"
        found.add(_WANTED[name], f"/{name.decode()} in {where}")
    encrypted = b"/Encrypt" in data
    budget = [limits.max_member_bytes]
    for k, (start, number) in enumerate(objs):
        end = starts[k + 1] if k + 1 < len(starts) else len(data)
        body = data[start:end]
        if not _OBJSTM.search(body[:4096]):
            continue
        check_time()
        try:
            inner = _objstm(body, budget, limits)
        except Exception as exc:  # noqa: BLE001 what it hides is unknown: fail closed
            why = "the PDF is encrypted" if encrypted else str(exc)
            found.add("unscannable", f"PDF object stream {number} not read: {why}")
            continue
        _scan_objstm(inner, number, found)


def _objstm(body: bytes, budget: list[int], limits: Limits) -> bytes:
    m = _STREAM.search(body)
    if m is None:
        raise ValueError("no stream data")
    head, raw = body[: m.start()], body[m.end() :]
    raw = raw[: raw.rfind(b"endstream")] if b"endstream" in raw else raw
    filters = re.findall(rb"/(\w+Decode|Fl|AHx|A85|LZW|RL|Crypt)\b", head)
    if filters != [b"FlateDecode"] and filters != [b"Fl"]:
        shown = b", ".join(filters).decode() or "none"
        if filters:
            raise ValueError(f"filters {shown} not read")
        return raw
    out = _inflate(raw, min(budget[0], max(limits.ratio_floor, limits.max_ratio * len(raw))))
    budget[0] -= len(out)
    return out


def _inflate(raw: bytes, cap: int) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(raw, cap + 1)
    if len(out) > cap:
        raise ValueError(f"decompresses past {mb(cap)} (the limits)")
    return out


def _scan_objstm(inner: bytes, number: int, found: Found) -> None:
    """Names in an object stream, each attributed to its object by the stream's header
    (pairs of object number and offset)."""
    nums = re.match(rb"\s*((?:\d+\s+\d+\s+)+)", inner)
    pairs: list[tuple[int, int]] = []
    if nums is not None:
        values = [int(v) for v in nums.group(1).split()]
        pairs = [(values[i + 1], values[i]) for i in range(0, len(values) - 1, 2)]
    base = nums.end() if nums is not None else 0
    offsets = [base + off for off, _n in pairs]
    for pos, name in _names(inner):
        i = bisect.bisect_right(offsets, pos) - 1
        obj = f"object {pairs[i][1]} in " if i >= 0 else ""
        found.add(_WANTED[name], f"/{name.decode()} in {obj}object stream {number}")
