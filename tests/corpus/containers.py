"""Builders of real container files the sample generator does not ship: an MSI (an OLE2
compound file with the installer CLSID) and an ACE archive (stored members). Test data
only: nothing here runs."""

from __future__ import annotations

import importlib.util
import struct
import sys
from pathlib import Path
from types import ModuleType

from mailpolicy.corpus.archives.msi import FILE_TABLE

SAMPLES = Path(__file__).resolve().parents[2] / "corpus" / "samples"


def generator() -> ModuleType:
    """The sample generator (``make_samples.py``, with its container builders), loaded
    once under one name (its dataclasses look their module up)."""
    name = "mailpolicy_make_samples"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SAMPLES / "make_samples.py")
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


END, FREE, FATSECT = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
MSI_CLSID = bytes.fromhex("84100c00000000000c00000000000046")


def _dir_entry(name: str, kind: int, start: int, size: int, child: int, right: int) -> bytes:
    raw = name.encode("utf-16-le") + b"\0\0"
    e = bytearray(128)
    e[: len(raw)] = raw
    struct.pack_into("<HBBIII", e, 64, len(raw), kind, 1, FREE, right, child)
    if kind == 5:
        e[80:96] = MSI_CLSID
    struct.pack_into("<II", e, 116, start, size)
    return bytes(e)


def cfb(streams: list[tuple[str, bytes]]) -> bytes:
    """A version-3 compound file whose streams (each under 4096 bytes) live in the mini
    stream: sector 0 the FAT, 1 the mini FAT, then the directory, then the mini stream."""
    mini = b""
    minifat: list[int] = []
    starts = []
    for _, data in streams:
        assert len(data) < 4096
        n = max(1, (len(data) + 63) // 64)
        first = len(minifat)
        starts.append(first)
        minifat += [first + i + 1 if i + 1 < n else END for i in range(n)]
        mini += data.ljust(n * 64, b"\0")
    ndir = (len(streams) + 1 + 3) // 4
    nmini = max(1, (len(mini) + 511) // 512)
    first_mini = 2 + ndir
    fat = [FATSECT, END] + [2 + i + 1 if i + 1 < ndir else END for i in range(ndir)]
    fat += [first_mini + i + 1 if i + 1 < nmini else END for i in range(nmini)]
    assert len(fat) <= 128 and len(minifat) <= 128
    entries = [_dir_entry("Root Entry", 5, first_mini, len(mini), 1, FREE)]
    for i, ((name, data), first) in enumerate(zip(streams, starts, strict=True), 1):
        right = i + 1 if i < len(streams) else FREE
        entries.append(_dir_entry(name, 2, first, len(data), FREE, right))
    while len(entries) % 4:
        e = bytearray(128)
        struct.pack_into("<III", e, 68, FREE, FREE, FREE)
        entries.append(bytes(e))
    hdr = bytearray(512)
    hdr[0:8] = bytes.fromhex("D0CF11E0A1B11AE1")
    struct.pack_into("<HHHHH", hdr, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIIII", hdr, 44, 1, 2, 0, 0x1000, 1, 1, END, 0, 0)
    struct.pack_into("<109I", hdr, 76, 0, *([FREE] * 108))

    def sector(values: list[int]) -> bytes:
        return struct.pack(f"<{len(values)}I", *values) + struct.pack("<I", FREE) * (
            128 - len(values)
        )

    return (
        bytes(hdr)
        + sector(fat)
        + sector(minifat)
        + b"".join(entries)
        + mini.ljust(nmini * 512, b"\0")
    )


def msi_stream_name(name: str) -> str:
    """The packed stream name Windows Installer gives ``name`` (the inverse of msi_name)."""
    b64 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._"
    out, i = [], 0
    if name.startswith("!"):
        out.append(chr(0x4840))
        name = name[1:]
    while i < len(name):
        a = b64.find(name[i])
        nxt = b64.find(name[i + 1]) if i + 1 < len(name) else -1
        if a < 0:
            out.append(name[i])
            i += 1
        elif nxt >= 0:
            out.append(chr(0x3800 + a + (nxt << 6)))
            i += 2
        else:
            out.append(chr(0x4800 + a))
            i += 1
    return "".join(out)


def msi(cab: bytes, file_names: list[str]) -> bytes:
    """An installer: an embedded cabinet stream and a File table naming ``file_names``."""
    strings = [""]
    for i, n in enumerate(file_names):
        strings += [f"f{i}", "Main", f"F{i}~1.EXE|{n}"]
    pool = struct.pack("<L", 1252) + b"".join(
        struct.pack("<HH", len(s.encode("cp1252")), 1) for s in strings[1:]
    )
    data = "".join(strings[1:]).encode("cp1252")
    rows = len(file_names)
    cols = [
        [1 + 3 * r for r in range(rows)],
        [2 + 3 * r for r in range(rows)],
        [3 + 3 * r for r in range(rows)],
    ]
    table = b"".join(struct.pack("<H", v) for col in cols for v in col)
    table += b"".join(struct.pack("<L", 0x80000000 | 100) for _ in range(rows))
    table += b"".join(struct.pack("<H", 0) for _ in range(rows)) * 2  # Version, Language
    table += b"".join(struct.pack("<H", 0x8000) for _ in range(rows)) * 2  # Attributes, Sequence
    return cfb(
        [
            (msi_stream_name("!_StringPool"), pool),
            (msi_stream_name("!_StringData"), data),
            (FILE_TABLE, table),
            (msi_stream_name("Data1.cab"), cab),
        ]
    )


def ace_of(files: list[tuple[str, bytes]]) -> bytes:
    """An ACE 2.0 archive of stored members (acefile's CRCs)."""
    import acefile  # type: ignore[import-untyped]

    def header(body: bytes) -> bytes:
        return struct.pack("<HH", acefile.ace_crc16(body), len(body)) + body

    main = header(
        struct.pack("<BH", 0, 0) + b"**ACE**" + struct.pack("<BBBBL", 20, 20, 2, 0, 0) + bytes(8)
    )
    out = main
    for name, data in files:
        raw = name.replace("/", "\\").encode("ascii")
        body = struct.pack("<BH", 1, 1) + struct.pack("<LL", len(data), len(data))
        body += (
            struct.pack("<LLLBBHHH", 0, 0x20, acefile.ace_crc32(data), 0, 0, 0, 0, len(raw)) + raw
        )
        out += header(body) + data
    return out
