"""OLE2 compound files (``.doc``, ``.xls``, ``.ppt``, ``vbaProject.bin``, embedded objects).

Read with olefile (the structure parser oletools itself is built on, pure Python, kept up
to date) and a small VBA reader of our own (``vba.py``), rather than oletools' olevba:
olevba pulls in pyparsing, colorclass, easygui and pcodedmp, prints and logs as it goes,
and has open crash reports on malformed files, while what a policy needs (which modules,
which auto-run procedures) is the ``dir`` stream and the module source, both small and
fully specified (MS-OVBA).

Contract:
- ``read(data, found, limits)``: every VBA project in the file (a ``VBA`` storage with a
  ``dir`` stream: Word's ``Macros``, Excel's ``_VBA_PROJECT_CUR``, a bare
  ``vbaProject.bin``) adds its modules to ``macros`` and its auto-run procedures to
  ``auto_run``; a ``Workbook``/``Book`` stream's BIFF records add Excel 4.0 macro sheets
  (BoundSheet type 1) to ``macros`` and an ``Auto_Open`` name to ``auto_run``; an OLE
  package (``\\x01Ole10Native``) adds the file it carries to ``embedded_files``; an
  encrypted Office file (``EncryptionInfo``) is ``unscannable``.
- A project whose ``dir`` stream or a module cannot be decompressed still counts as
  macros, and says why in ``unscannable`` (its auto-run procedures are unknown).
- Raises on a file olefile cannot open; ``content.facts`` turns that into a reason.

Limits of this module: p-code is not read (VBA stomping leaves modules without source);
XLM formulas are not decoded (a macro sheet is reported by name, its ``Auto_Open`` by the
defined name only); PowerPoint and Publisher event macros are covered by name only.
"""

from __future__ import annotations

import importlib
import struct
from typing import Any

from mailpolicy.corpus.archives.limits import Limits, check_time
from mailpolicy.corpus.content import vba
from mailpolicy.corpus.content.model import Found

MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# olefile ships no type information (types-olefile is a separate stub package): reached
# through Any here, so mypy --strict holds with or without those stubs installed
olefile: Any = importlib.import_module("olefile")

_BIFF = struct.Struct("<HH")
_BOUNDSHEET, _LABEL, _FILEPASS = 0x0085, 0x0018, 0x002F
_SHEET_KINDS = {1: "Excel 4.0 macro sheet", 6: "Excel VBA module sheet"}


def is_ole(head: bytes) -> bool:
    return head.startswith(MAGIC)


def read(data: bytes, found: Found, limits: Limits) -> None:
    """Add what the OLE file ``data`` holds to ``found`` (see the module docstring)."""
    ole = olefile.OleFileIO(data)
    try:
        paths = ole.listdir(streams=True, storages=False)
        names = {"/".join(p) for p in paths}
        if "EncryptionInfo" in names and "EncryptedPackage" in names:
            found.add("unscannable", "encrypted Office document: its content cannot be read")
        for p in paths:
            check_time()
            if p[-1] == "dir" and len(p) >= 2 and p[-2].upper() == "VBA":
                _project(ole, p[:-1], found, limits)
            elif p[-1] in ("Workbook", "Book") and len(p) == 1:
                _biff(_stream(ole, p, limits), found)
            elif p[-1] == "\x01Ole10Native":
                _package(_stream(ole, p, limits), "/".join(p).replace("\x01", "\\x01"), found)
    finally:
        ole.close()


def _stream(ole: Any, path: list[str], limits: Limits) -> bytes:
    size = ole.get_size(path)
    if size > limits.max_member_bytes:
        raise ValueError(f"stream {'/'.join(path)} is {size} bytes, over the member limit")
    data: bytes = ole.openstream(path).read()
    return data


def _project(ole: Any, storage: list[str], found: Found, limits: Limits) -> None:
    where = "/".join(storage)
    cap = limits.max_member_bytes
    try:
        mods = vba.modules(vba.decompress(_stream(ole, [*storage, "dir"], limits), cap))
    except Exception as exc:  # noqa: BLE001 a broken project is still macros: say why
        found.add("macros", f"VBA project in {where}")
        found.add("unscannable", f"VBA project in {where}: dir stream unreadable: {exc}")
        return
    if not mods:
        found.add("macros", f"VBA project in {where}")
    for name, stream, offset in mods:
        check_time()
        found.add("macros", f"VBA module {name} in {where}")
        try:
            raw = _stream(ole, [*storage, stream], limits)
            source = vba.decompress(raw[offset:], cap).decode("latin-1")
        except Exception as exc:  # noqa: BLE001
            found.add("unscannable", f"VBA module {name} in {where}: source unreadable: {exc}")
            continue
        for proc in vba.entry_points(source):
            found.add("auto_run", f"{proc} in VBA module {name} ({where})")


def _biff(stream: bytes, found: Found) -> None:
    """Excel 4.0 macro sheets and their Auto_Open names, from BIFF8 records."""
    pos = 0
    while pos + _BIFF.size <= len(stream):
        rid, size = _BIFF.unpack_from(stream, pos)
        body = stream[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if rid == _FILEPASS:
            found.add("unscannable", "encrypted Excel workbook: its sheets cannot be read")
            return
        if rid == _BOUNDSHEET and len(body) >= 8:
            kind, hidden = body[5], body[4] & 3
            what = _SHEET_KINDS.get(kind)
            if what is not None:
                name = _short_string(body[6:])
                state = {1: " (hidden)", 2: " (very hidden)"}.get(hidden, "")
                found.add("macros", f"{what} {name!r}{state}")
        elif rid == _LABEL and len(body) >= 16:
            builtin = bool(int.from_bytes(body[0:2], "little") & 0x20)
            cch = body[3]
            raw = body[15 : 15 + cch] if body[14] == 0 else body[15 : 15 + 2 * cch]
            text = raw.decode("latin-1" if body[14] == 0 else "utf-16-le", "replace")
            if (builtin and text[:1] == "\x01") or text.lower().startswith("auto_open"):
                found.add("auto_run", "Auto_Open name of an Excel 4.0 macro sheet")


def _short_string(raw: bytes) -> str:
    if len(raw) < 2:
        return ""
    cch, high = raw[0], raw[1] & 1
    body = raw[2 : 2 + cch * (2 if high else 1)]
    return body.decode("utf-16-le" if high else "latin-1", "replace")


def _package(stream: bytes, where: str, found: Found) -> None:
    """An OLE package: (size, flags, label\\0, source path\\0, ...): name the file it holds."""
    label = stream[6:].split(b"\0", 1)[0].decode("latin-1", "replace") if len(stream) > 6 else ""
    found.add("embedded_files", f"packaged file {label or '(unnamed)'!r} in {where}")
