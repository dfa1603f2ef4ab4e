"""Windows Installer packages (.msi, .msp, .mst): their streams and their File table.

Contract:
- Recognised as an OLE2 compound file whose root storage has an installer CLSID
  (``filekind.ole_kind``), or whose root entry lies beyond the sniffed head (then the
  whole file decides); other OLE files (Word, Excel) are documents, not containers
  (``level.document``, no members).
- Every stream is a member, named as Windows Installer names it (the stream names are
  packed two characters to a code point in 0x3800-0x4840; ``msi_name`` unpacks them, a
  table's name starting with ``!``). Embedded cabinets (``Data1.cab``) and binaries are
  streams, so the files of a package are listed inside its cabinet, nested.
- The ``File`` table's long file names (``SHORT~1.EXE|Long name.exe``) are listed too,
  as ``File/<name>`` members with no content (their bytes are in the cabinet), so a name
  rule sees what the installer will write.
- olefile errors are the reader's errors; a File table it cannot decode is a note.

Why olefile: the maintained pure-Python OLE2 reader (BSD licence) that oletools and
msoffcrypto-tool build on; it reads stream sizes before the data.

Limits of this module: olefile reads a stream whole when it is opened (the member's size
is checked against the limits first); the File table is decoded with the standard
column layout (no ``_Columns`` lookup); transforms are not applied.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from typing import Any

from mailpolicy.corpus.archives.protocol import Item, Level
from mailpolicy.corpus.archives.streams import Chunks, stored
from mailpolicy.corpus.filekind import ole_kind

OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _root_beyond(head: bytes) -> bool:
    shift = int.from_bytes(head[0x1E:0x20], "little")
    first = int.from_bytes(head[0x30:0x34], "little")
    return 7 <= shift <= 16 and (first + 1) * (1 << shift) + 0x60 > len(head)


_B64 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._"
#: Stream names of the tables read, as stored (see ``msi_name``).
STRING_POOL = "\u4840\u3f3f\u4577\u446c\u3e6a\u44b2\u482f"
STRING_DATA = "\u4840\u3f3f\u4577\u446c\u3b6a\u45e4\u4824"
FILE_TABLE = "\u4840\u430f\u422f"


def msi_name(name: str) -> str:
    """A stream name as Windows Installer means it.

    >>> msi_name(FILE_TABLE)
    '!File'
    """
    out: list[str] = []
    for ch in name:
        c = ord(ch)
        if 0x3800 <= c < 0x4800:
            c -= 0x3800
            out += (_B64[c & 0x3F], _B64[(c >> 6) & 0x3F])
        elif 0x4800 <= c < 0x4840:
            out.append(_B64[c - 0x4800])
        elif c == 0x4840:
            out.append("!")
        else:
            out.append(ch)
    return "".join(out)


def _strings(ole: Any) -> list[str]:
    pool = ole.openstream(STRING_POOL).read()
    blob = ole.openstream(STRING_DATA).read()
    codepage = struct.unpack_from("<L", pool, 0)[0] & 0x7FFFFFFF
    enc = f"cp{codepage}" if codepage not in (0, 65001) else "utf-8"
    out = [""]
    pos, i = 0, 4
    while i + 4 <= len(pool):
        size, refs = struct.unpack_from("<HH", pool, i)
        i += 4
        if size == 0 and refs and i + 4 <= len(pool):  # a long string: size in the next entry
            size = struct.unpack_from("<L", pool, i)[0]
            i += 4
        out.append(blob[pos : pos + size].decode(enc, "replace"))
        pos += size
    return out


def file_names(ole: Any) -> list[str]:
    """The long names of the ``File`` table (standard columns: File, Component_,
    FileName, FileSize, Version, Language, Attributes, Sequence)."""
    strings = _strings(ole)
    pool = ole.openstream(STRING_POOL).read()
    width = 3 if struct.unpack_from("<L", pool, 0)[0] & 0x80000000 else 2
    table = ole.openstream(FILE_TABLE).read()
    for seq in (2, 4):
        row = 5 * width + 4 + 2 + seq
        if len(table) % row == 0:
            break
    else:
        raise ValueError("File table of an unexpected size")
    rows = len(table) // row
    names = []
    for r in range(rows):
        at = 2 * rows * width + r * width
        ref = int.from_bytes(table[at : at + width], "little")
        name = strings[ref] if ref < len(strings) else ""
        names.append(name.split("|")[-1])
    return names


class MsiReader:
    """Windows Installer packages, through olefile."""

    def recognises(self, head: bytes) -> bool:
        if not head.startswith(OLE):
            return False
        # the root entry may lie beyond the head: then ``items`` decides
        return ole_kind(head) == "application/x-msi" or _root_beyond(head)

    def items(self, data: bytes, level: Level) -> Iterator[Item]:
        import olefile  # type: ignore[import-untyped]

        if ole_kind(data) != "application/x-msi":
            level.document = True  # an OLE document (Word, Excel): not a container
            return
        level.budget.check_time()
        ole = olefile.OleFileIO(io.BytesIO(data))
        for path in ole.listdir(streams=True, storages=False):
            level.budget.check_time()
            name = "/".join(msi_name(p) for p in path)
            size = int(ole.get_size(path))

            def opener(p: list[str] = path) -> Chunks:
                return stored(memoryview(ole.openstream(p).read()))

            yield Item(name=name, size=size, csize=size, open=opener)
        if ole.exists(FILE_TABLE):
            try:
                names = file_names(ole)
            except Exception as exc:  # noqa: BLE001 a table we cannot decode is a note
                level.note(f"MSI File table not decoded: {type(exc).__name__}: {exc}")
                names = []
            for n in names:
                yield Item(name=f"File/{n}", size=None)
