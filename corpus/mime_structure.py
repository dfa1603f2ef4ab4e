"""MIME structure at byte level: header blocks, multipart delimiters, names past a limit.

Contract:
- ``read_headers`` returns the header fields of one entity and the offset of its body.
  It reads at most ``MAX_HEADER_LINES`` lines of the block (a run of folded continuation
  lines is consumed by one regular-expression match and counts as one line; a long line
  is found by one ``bytes.find``) and draws on the message's ``Budget`` of header lines;
  past either it skips to the blank line that ends the block and says so in ``hits``
  (the words become ``Message.unscannable`` reasons). Each value keeps at most
  ``HEADER_LIMIT`` bytes, so what is kept is never more than the input; a cut
  ``Content-*`` value is a hit too (a name may be lost).
- ``split_multipart`` finds the delimiter lines of a multipart body with one compiled
  pattern (no Python loop over false candidates) and returns at most ``limit`` part spans,
  with the offset where the parts it did not return begin.
- ``names_beyond`` lists, cheaply, the names in the ``Content-Type`` and
  ``Content-Disposition`` lines of a region that is not walked (the parts past the part
  limit, the body of an entity nested past the depth limit): one pattern search, values
  cut at 4 KB, at most ``Budget.names_beyond`` blocks.

Every function here is linear in the bytes it is given and never raises on any input.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from mailpolicy.corpus.mime_limits import (
    HEADER_LIMIT,
    MAX_HEADER_LINES,
    MAX_HEADERS,
    Budget,
)

_HEADER_NAME = re.compile(rb"^[!-9;-~]+[ \t]*$")
_RUN_END = re.compile(rb"\n(?![ \t])")  # the end of a run of folded lines
_EOL = re.compile(rb"\r*\n")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_MESSAGE_HEADER_LINES = 300_000  #: header lines read per message, all entities together


class _Field:
    __slots__ = ("joined_at", "name", "pieces", "size")

    def __init__(self, name: str, first: bytes) -> None:
        self.name = name
        self.pieces = [first[:HEADER_LIMIT]]
        self.size = len(self.pieces[0])
        self.joined_at = 0  #: pieces before the first line without a colon joined to it

    def values(self) -> list[tuple[str, bytes]]:
        """The value; and, when a line without a colon was joined to it, the value without
        that line too (where the standard parser ends the field), as a second field."""
        whole = (self.name, b"".join(self.pieces).strip())
        if not self.joined_at:
            return [whole]
        return [whole, (self.name, b"".join(self.pieces[: self.joined_at]).strip())]

    def add(self, piece: bytes) -> bool:
        """Append a continuation; False when the value is full and ``piece`` was cut."""
        room = HEADER_LIMIT - self.size
        if room <= 0:
            return not piece
        self.pieces.append(piece[:room])
        self.size += len(self.pieces[-1])
        return len(piece) <= room


def read_headers(
    buf: bytes,
    start: int,
    end: int,
    defects: list[str] | None = None,
    hits: list[str] | None = None,
    budget: Budget | None = None,
) -> tuple[list[tuple[str, bytes]], int]:
    """Header fields of the entity at ``buf[start:end]`` and the offset of its body.

    Values are unfolded (CRLF removed, the folding white space kept: RFC 5322 section
    2.2.3). A line without a colon between header lines is taken as a continuation (the
    mistake some generators make), and the value without it is kept as a second field
    (where the standard parser ends it); otherwise the line starts the body.
    """
    fields: list[_Field] = []
    cut: set[str] = set()
    lines = 0
    line_budget = MAX_HEADER_LINES
    if budget is not None:
        line_budget = min(line_budget, max(0, _MESSAGE_HEADER_LINES - budget.header_lines))
    pos = start
    first = True

    def note(code: str) -> None:
        if defects is not None:
            defects.append(code)

    def finish(body: int) -> tuple[list[tuple[str, bytes]], int]:
        if budget is not None:
            budget.header_lines += lines
        if hits is not None:
            hits.extend(f"{name} header longer than {HEADER_LIMIT // 1024} KB" for name in cut)
        return [v for f in fields for v in f.values()], body

    while pos < end and lines < line_budget:
        lines += 1
        if buf[pos : pos + 1] in (b" ", b"\t"):
            m = _RUN_END.search(buf, pos, end)
            run_end = m.start() + 1 if m is not None else end
            if fields:
                chunk = buf[pos : min(run_end, pos + HEADER_LIMIT + 2)]
                if not fields[-1].add(_EOL.sub(b"", chunk)) or run_end - pos > HEADER_LIMIT + 2:
                    note("header-too-long")
                    if fields[-1].name.lower().startswith("content-"):
                        cut.add(fields[-1].name)
            else:
                note("continuation-without-header")
            pos = run_end
            first = False
            continue
        nl = buf.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        line = buf[pos : min(line_end, pos + HEADER_LIMIT)].rstrip(b"\r\n")
        if line_end - pos > HEADER_LIMIT:
            note("header-too-long")
        if not line:
            return finish(line_end)
        colon = line.find(b":")
        if colon > 0 and _HEADER_NAME.match(line[:colon]):
            name = line[:colon].rstrip().decode("latin-1")
            if len(fields) < MAX_HEADERS or name.lower().startswith("content-"):
                fields.append(_Field(name, line[colon + 1 :]))
                if line_end - pos > HEADER_LIMIT and name.lower().startswith("content-"):
                    cut.add(name)
            elif len(fields) == MAX_HEADERS:
                note("too-many-headers")
                fields.append(_Field("X-Mailpolicy-Truncated", b""))
        elif first and line.startswith(b"From "):
            pass  # mbox envelope line
        elif first and (
            _next_is_header(buf, line_end, end, strict=True) or buf.startswith(b"From ", line_end)
        ):
            note("junk-before-headers")  # the standard parser reads the headers after it
            pos = line_end
            continue
        elif fields and not line.startswith(b"--") and _next_is_header(buf, line_end, end):
            note("header-line-without-colon")
            fields[-1].joined_at = fields[-1].joined_at or len(fields[-1].pieces)
            fields[-1].add(b" " + line)
        else:
            if fields:
                note("missing-header-body-separator")
            return finish(pos)
        first = False
        pos = line_end
    if pos >= end:
        return finish(end)
    # A limit stopped the reading inside the block: skip to the blank line that ends it.
    if hits is not None:
        hits.append(f"header block of more than {line_budget} lines")
    m = _BLANK_LINE.search(buf, max(start, pos - 1), end)
    return finish(m.end() if m is not None else end)


def _next_is_header(buf: bytes, pos: int, end: int, strict: bool = False) -> bool:
    """The line at ``pos`` continues a header block: a field, a folded line, or (unless
    ``strict``, which asks for a field) the blank line that ends the block."""
    nl = buf.find(b"\n", pos, min(end, pos + 4096))
    line = buf[pos : (min(end, pos + 200) if nl < 0 else nl)][:200].rstrip(b"\r")
    if not line or line[:1] in (b" ", b"\t"):
        return not strict
    colon = line.find(b":")
    return colon > 0 and bool(_HEADER_NAME.match(line[:colon]))


def values(fields: list[tuple[str, bytes]], name: str) -> list[bytes]:
    """Every value of header ``name`` (lower case), in order."""
    return [v for k, v in fields if k.lower() == name]


@lru_cache(maxsize=256)
def _delimiter(boundary: bytes) -> re.Pattern[bytes]:
    # A delimiter line: "--boundary" then transport padding, or "--boundary--" then
    # anything (the close delimiter). The newline after it is left for the next match.
    return re.compile(rb"\n--" + re.escape(boundary) + rb"(?:(--)[^\n]*|[ \t\r]*)(?=\n|\Z)")


def split_multipart(
    buf: bytes, start: int, end: int, boundary: bytes, limit: int = 1 << 62
) -> tuple[list[tuple[int, int]], bool, int | None]:
    """Body spans of at most ``limit`` parts of a multipart body, whether it ended with a
    close delimiter, and the offset of the first part not returned (None if all were).

    A delimiter is ``--boundary`` at the start of a line followed by optional white space
    (RFC 2046 section 5.1.1) or by ``--`` (the close delimiter); ``--boundaryX`` is a
    different, longer boundary (nested multiparts often extend the outer one). Delimiters
    after a close delimiter still start parts: a nested multipart that reuses its parent's
    boundary closes it early, and parts hidden in the epilogue must not escape a filter.
    """
    marks: list[tuple[int, int, bool]] = []  # (line start, line end, is close) per delimiter
    pattern = _delimiter(boundary)
    beyond: int | None = None
    # The body may begin with a delimiter that has no newline before it.
    first = pattern.match(b"\n" + buf[start : start + len(boundary) + 300])
    if first is not None:
        line_end = start + first.end() - 1
        marks.append((start, min(end, line_end + 1), first.group(1) is not None))
    for m in pattern.finditer(buf, max(start, start + (first.end() - 2 if first else 0)), end):
        if len(marks) > limit:
            beyond = marks[-1][1]
            break
        marks.append((m.start() + 1, min(end, m.end() + 1), m.group(1) is not None))
    spans = []
    for (_, body_start, close), (next_start, _, _) in zip(marks, marks[1:], strict=False):
        if close:
            continue
        e = next_start
        if e > body_start and buf[e - 1] == 0x0A:
            e -= 1
            if e > body_start and buf[e - 1] == 0x0D:
                e -= 1
        spans.append((body_start, max(body_start, e)))
    closed = bool(marks) and marks[-1][2]
    if marks and not closed and beyond is None:
        spans.append((marks[-1][1], end))
    if len(marks) == 1 and closed:
        spans = []  # only a close delimiter: no parts at all
    if len(spans) > limit:
        beyond = spans[limit][0]
        spans = spans[:limit]
    return spans, closed, beyond


_CONTENT_LINE = re.compile(
    rb"^[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-([A-Za-z]{4,11})[ \t]*:([^\n]{0,4096})"
    rb"((?:\n[ \t][^\n]{0,4096}){0,32})",
    re.MULTILINE,
)


def names_beyond(
    buf: bytes,
    start: int,
    end: int,
    budget: Budget,
    names_of: Callable[[list[tuple[str, bytes]]], list[tuple[str, str]]],
) -> list[tuple[list[tuple[str, str]], str]]:
    """(names, declared type) of each header block in ``buf[start:end]`` whose
    ``Content-*`` lines carry a name, without walking the structure."""
    out: list[tuple[list[tuple[str, str]], str]] = []
    block: list[tuple[str, bytes]] = []
    last = start

    def flush() -> None:
        if not block or budget.names_beyond <= 0:
            return
        names = names_of(block)
        if names:
            budget.names_beyond -= 1
            ctypes = values(block, "content-type")
            ctype = ctypes[0].split(b";")[0].strip().decode("latin-1").lower() if ctypes else ""
            out.append((names, ctype if "/" in ctype else "application/octet-stream"))
        block.clear()

    for m in _CONTENT_LINE.finditer(buf, start, end):
        if budget.names_beyond <= 0:
            break
        if _BLANK_LINE.search(buf, last, m.start()) is not None:
            flush()
        value = m.group(2) + _EOL.sub(b"", m.group(3))
        block.append(("content-" + m.group(1).decode("latin-1").lower(), value.strip()))
        last = m.end()
    flush()
    return out
