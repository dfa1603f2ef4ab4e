"""OneNote sections (.one): the files embedded in them.

Contract:
- Recognised by the OneNote section file GUID ``{7B5C52E4-D88C-4DA7-AEB1-5378D02996D3}``
  at offset 0.
- Every FileDataStoreObject (``[MS-ONESTORE]`` 2.6.13: the header GUID
  ``{BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC}``, on disk ``e716e3bd...``, a 64-bit length,
  12 reserved bytes, then the file's bytes) is a member, its content sliced straight
  from the section. An object whose length runs past the end of the file is listed with
  what is there and an unscannable reason.
- Names: the embedded file names OneNote stores (``EmbeddedFileName`` property, UTF-16)
  are found as UTF-16LE file names outside the file data; when there are exactly as many
  as there are embedded files they are paired in order, else each member is named
  ``embedded-N`` (its true type still says what it is) and a note says so.
- The scan checks the time budget per object found.

Limits of this module: it does not parse the revision store (no object graph): names
are paired by order, which is how OneNote writes them; ink, images inside pages and
printouts that are not FileDataStoreObjects are not listed.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

from mailpolicy.corpus.archives.protocol import Item, Level
from mailpolicy.corpus.archives.streams import stored

SECTION = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")
FILE_DATA = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")
_HEADER = 16 + 8 + 4 + 8
#: A UTF-16LE file name with an extension: printable characters, a dot, 1-10 letters.
_NAME = re.compile(
    rb"(?:[\x20-\x2d\x30-\x7e]\x00|[^\x00][\x01-\xff]){1,128}"
    rb"(?:\.\x00(?:[A-Za-z0-9]\x00){1,10})+(?![A-Za-z0-9]\x00)"
)


def _names(data: bytes, spans: list[tuple[int, int]]) -> list[str]:
    out: list[str] = []
    pos = 0
    for start, end in [*spans, (len(data), len(data))]:
        for m in _NAME.finditer(data, pos, start):
            text = m.group().decode("utf-16-le", "replace")
            name = re.split(r"[\\/]", text)[-1].strip()
            if name and name.isprintable():
                out.append(name)
        pos = end
    return out


class OneNoteReader:
    """OneNote 2010+ sections and their embedded files."""

    def recognises(self, head: bytes) -> bool:
        return head.startswith(SECTION)

    def items(self, data: bytes, level: Level) -> Iterator[Item]:
        view = memoryview(data)
        spans: list[tuple[int, int]] = []
        pos = data.find(FILE_DATA)
        while pos >= 0 and len(spans) <= level.budget.limits.max_members:
            level.budget.check_time()
            if pos + _HEADER <= len(data):
                length = struct.unpack_from("<Q", data, pos + 16)[0]
                start = pos + _HEADER
                spans.append((start, start + length))
                pos = data.find(FILE_DATA, min(start + length, len(data)))
            else:
                pos = -1
        names = _names(data, spans)
        if len(names) != len(spans):
            if spans:
                level.note(f"OneNote: {len(spans)} embedded files, {len(names)} names found")
            names = [f"embedded-{i}" for i in range(1, len(spans) + 1)]
        for name, (start, end) in zip(names, spans, strict=True):
            why: tuple[str, ...] = ()
            if end > len(data):
                why = (f"embedded file {name} runs past the end of the section",)
                level.cannot(f"OneNote: embedded file {name} truncated")
            size = min(end, len(data)) - start

            def opener(a: int = start, b: int = start + size) -> Iterator[tuple[bytes, int]]:
                return stored(view[a:b])

            yield Item(name=name, size=size, csize=size, open=opener, unscannable=why)
