"""Write the bundled, labelled sample corpus (the SirCam scenario of July 2001).

Run ``python corpus/samples/make_samples.py [OUTDIR]``; it writes next to itself unless
OUTDIR is given, replacing ``maildir/``, ``mbox/`` and ``README.md`` there:

- ``maildir/benign/`` and ``maildir/malicious/``: two Maildirs (``cur/``, ``new/``,
  ``tmp/``); the messages are in ``cur/`` as ``TIMESTAMP.Pn.samples.mailpolicy.example:2,S``.
- ``mbox/benign/sircam.mbox`` and ``mbox/malicious/sircam.mbox``: the same messages, byte
  for byte, as mboxrd (body lines matching ``>*From `` get one more ``>``).
- ``README.md``: what every message tests and what a good policy does with it.

Every byte is written by this script: fixed dates, boundaries and Message-IDs, no
randomness, gzip headers without a time stamp. Executables are harmless stubs (a PE or
ELF header and nothing that runs). Labels are about intent, as an administrator judges
it: a trusted partner's installer is benign; an encrypted zip from a stranger is not.

The only outside dependency of the output is zlib's deflate (zip members, gzip): the
bytes are stable across zlib 1.2.x/1.3.x, but a Python built on zlib-ng would differ.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import dataclasses
import gzip
import io
import shutil
import struct
import sys
import tarfile
import urllib.parse
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
JST = timezone(timedelta(hours=9))
DOMAIN = "samples.mailpolicy.example"
SIRCAM_EN = (
    "Hi! How are you?\n\nI send you this file in order to have your advice\n\n"
    "See you later. Thanks\n"
)
SIRCAM_ES = (
    "Hola como estas ?\n\nTe mando este archivo para que me des tu punto de vista\n\n"
    "Nos vemos pronto, gracias.\n"
)
ZIP_TIME = (2001, 7, 16, 9, 0, 0)
TAR_MTIME = 995241600  # 2001-07-16 00:00:00 UTC


# -- harmless content ------------------------------------------------------------------


def pe_stub() -> bytes:
    """An MZ/PE header with zero sections: file(1) says "PE32 executable", nothing runs."""
    dos = bytearray(b"MZ" + bytes(0x3A) + struct.pack("<I", 0x80))
    dos += b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21"  # print, exit(1)
    dos += b"This program cannot be run in DOS mode.\r\r\n$"
    dos += bytes(0x80 - len(dos))
    coff = b"PE\0\0" + struct.pack("<HHIIIHH", 0x14C, 0, 995241600, 0, 0, 0xE0, 0x0102)
    opt = bytearray(0xE0)
    struct.pack_into("<HBB", opt, 0, 0x10B, 6, 0)  # PE32, linker 6.0
    struct.pack_into("<H", opt, 68, 2)  # subsystem: Windows GUI
    return bytes(dos + coff + opt)


def elf_stub() -> bytes:
    """A 64-byte ELF header (x86-64 executable) with no program headers."""
    ident = b"\x7fELF\x02\x01\x01" + bytes(9)
    return ident + struct.pack(
        "<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000, 64, 0, 0, 64, 56, 0, 64, 0, 0
    )


def lnk_stub() -> bytes:
    """A Windows shell link header (ShellLinkHeader) that points nowhere."""
    clsid = bytes.fromhex("0114020000000000C000000000000046")
    return struct.pack("<I", 0x4C) + clsid + bytes(56)


def ole_stub() -> bytes:
    """An empty but well-formed OLE2 compound file (what .doc/.xls are): header, FAT, root."""
    end, free, fat = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
    hdr = bytearray(512)
    hdr[0:8] = bytes.fromhex("D0CF11E0A1B11AE1")
    struct.pack_into("<HHHHH", hdr, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIIII", hdr, 44, 1, 1, 0, 0x1000, end, 0, end, 0, 0)
    struct.pack_into("<109I", hdr, 76, 0, *([free] * 108))
    fat_sector = struct.pack("<128I", fat, end, *([free] * 126))
    root = "Root Entry".encode("utf-16-le") + b"\0\0"
    entry = bytearray(128)
    entry[0 : len(root)] = root
    struct.pack_into("<HBBIII", entry, 64, len(root), 5, 1, free, free, free)
    struct.pack_into("<II", entry, 116, end, 0)
    empty = bytearray(128)
    struct.pack_into("<III", empty, 68, free, free, free)
    return bytes(hdr) + fat_sector + bytes(entry) + bytes(empty) * 3


def pdf(text: str) -> bytes:
    """A one-page PDF 1.3 with a correct cross-reference table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.3\n%\xe2\xe3\xcf\xd3\n"), []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def jpeg_1x1() -> bytes:
    """A baseline 1x1 grey JPEG: one-code Huffman tables, one DC=0 block, EOB."""

    def seg(marker: int, body: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body

    one_code = bytes([1] + [0] * 15) + b"\x00"  # a single 1-bit code for symbol 0
    return (
        b"\xff\xd8"
        + seg(0xE0, b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + seg(0xDB, b"\x00" + bytes([1] * 64))
        + seg(0xC0, b"\x08\x00\x01\x00\x01\x01\x01\x11\x00")
        + seg(0xC4, b"\x00" + one_code)
        + seg(0xC4, b"\x10" + one_code)
        + seg(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x3f"  # DC category 0 ('0'), EOB ('0'), padded with ones
        + b"\xff\xd9"
    )


GIF_1X1 = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


def macbinary(name: str, data_fork: bytes) -> bytes:
    """MacBinary II: a 128-byte header (type SITD, creator SIT!) and the data fork."""
    hdr = bytearray(128)
    hdr[1] = len(name)
    hdr[2 : 2 + len(name)] = name.encode("mac-roman")
    hdr[65:73] = b"SITDSIT!"
    mac_time = TAR_MTIME + 2082844800  # seconds since 1904
    struct.pack_into(">IIII", hdr, 83, len(data_fork), 0, mac_time, mac_time)
    hdr[122], hdr[123] = 129, 129
    struct.pack_into(">H", hdr, 124, binascii.crc_hqx(bytes(hdr[:124]), 0))
    pad = bytes(-len(data_fork) % 128)
    return bytes(hdr) + data_fork + pad


STUFFIT = b"SIT!" + struct.pack(">HI", 0, 22) + b"rLau\x01" + bytes(7)
BAT = b"@echo off\r\nrem mailpolicy sample: a harmless batch file\r\necho Hello from mailpolicy\r\n"
HTA = (
    b'<html>\r\n<head>\r\n<title>Greeting</title>\r\n<hta:application id="greeting" />\r\n'
    b"</head>\r\n<body>mailpolicy sample: a harmless HTML application</body>\r\n</html>\r\n"
)
VBS = b'\' mailpolicy sample: a harmless script\r\nWScript.Echo "Hello from mailpolicy"\r\n'


# -- archives --------------------------------------------------------------------------


def zip_of(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.create_system, info.external_attr, info.compress_type = 0, 0x20, method
            zf.writestr(info, data, compresslevel=9)
    return buf.getvalue()


def tar_of(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), TAR_MTIME, 0o644
            info.uname = info.gname = "user"
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def encrypted_zip(name: str, data: bytes, password: bytes) -> bytes:
    """One stored member under traditional PKWARE encryption (zipfile can read, not write it)."""
    keys = [0x12345678, 0x23456789, 0x34567890]

    def crc_byte(crc: int, b: int) -> int:
        return zlib.crc32(bytes([b]), crc ^ 0xFFFFFFFF) ^ 0xFFFFFFFF

    def update(b: int) -> None:
        keys[0] = crc_byte(keys[0], b)
        keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = crc_byte(keys[2], keys[1] >> 24)

    for b in password:
        update(b)
    crc = zlib.crc32(data)
    out = bytearray()
    for b in bytes(range(0x41, 0x4C)) + bytes([crc >> 24]) + data:  # fixed 12-byte header
        t = keys[2] | 2
        out.append(b ^ (((t * (t ^ 1)) >> 8) & 0xFF))
        update(b)
    dos_time, dos_date = (9 << 11), ((2001 - 1980) << 9) | (7 << 5) | 16
    fname = name.encode("ascii")
    common = struct.pack("<HHHHHIII", 20, 1, 0, dos_time, dos_date, crc, len(out), len(data))
    local = b"PK\x03\x04" + common + struct.pack("<HH", len(fname), 0) + fname + bytes(out)
    central = (
        b"PK\x01\x02"
        + struct.pack("<H", 20)
        + common
        + struct.pack("<HHHHHII", len(fname), 0, 0, 0, 0, 0x20, 0)
        + fname
    )
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, len(central), len(local), 0)
    return local + central + end


def docx() -> bytes:
    ct = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns='
        '"http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
        "</Types>"
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns='
        '"http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="word/document.xml"/></Relationships>'
    )
    doc = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w='
        '"http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r>'
        "<w:t>Minutes of the network committee, 16 July 2001.</w:t></w:r></w:p></w:body></w:document>"
    )
    return zip_of(
        [
            ("[Content_Types].xml", ct.encode()),
            ("_rels/.rels", rels.encode()),
            ("word/document.xml", doc.encode()),
        ]
    )


# -- containers (disk images, OneNote, CAB, MSI, ACE, damaged zips) -----------------------
#: Fixed time for every container's own time stamps (2001-07-16 00:00:00 UTC).
EPOCH = TAR_MTIME


def iso_of(files: list[tuple[str, bytes]]) -> bytes:
    """An ISO 9660 + Joliet image (pycdlib), its clock pinned so the bytes never change."""
    import time
    from unittest import mock

    import pycdlib

    with (
        mock.patch("time.time", return_value=float(EPOCH)),
        mock.patch("time.localtime", time.gmtime),
    ):
        iso = pycdlib.PyCdlib()
        iso.new(joliet=3, vol_ident="SAMPLE")
        for name, data in files:
            stem, _, ext = name.upper().rpartition(".")
            short = "".join(c if c.isalnum() else "_" for c in stem)[:8]
            iso.add_fp(io.BytesIO(data), len(data), f"/{short}.{ext[:3]};1", joliet_path=f"/{name}")
        out = io.BytesIO()
        iso.write_fp(out)
        iso.close()
    return out.getvalue()


def _lfn_checksum(short: bytes) -> int:
    s = 0
    for c in short:
        s = (((s & 1) << 7) + (s >> 1) + c) & 0xFF
    return s


def _dir_entries(name: str, attr: int, cluster: int, size: int, n: int) -> bytes:
    """A FAT directory entry for ``name``, behind its long-name entries."""
    stem, _, ext = name.rpartition(".") if "." in name else (name, "", "")
    short = (f"{stem.upper()[:6]}~{n}".ljust(8)[:8] + ext.upper()[:3].ljust(3)).encode("ascii")
    entry = short + struct.pack("<BBBHHHHHHHL", attr, 0, 0, 0, 0, 0, 0, 0, 0, cluster, size)
    chars = name.encode("utf-16-le")
    units = [chars[i : i + 2] for i in range(0, len(chars), 2)] + [b"\0\0"]
    pieces = [units[i : i + 13] for i in range(0, len(units), 13)]
    lfn = b""
    for seq, piece in enumerate(pieces, 1):
        piece += [b"\xff\xff"] * (13 - len(piece))
        flag = 0x40 if seq == len(pieces) else 0
        body = b"".join(piece)
        e = bytes([seq | flag]) + body[:10] + bytes([0x0F, 0, _lfn_checksum(short)])
        lfn = e + body[10:22] + b"\0\0" + body[22:26] + lfn
    return lfn + entry


def fat12(files: list[tuple[str, bytes]], sectors: int = 48) -> bytes:
    """A FAT12 volume (512-byte sectors, one sector a cluster) holding ``files``; a name
    with one ``/`` puts the file in that folder."""
    data_start = 1 + 2 + 1  # boot, two FATs, a 16-entry root folder
    clusters: list[bytes] = []
    fat = {0: 0xFF8, 1: 0xFFF}

    def alloc(blob: bytes) -> int:
        first = len(clusters) + 2
        pieces = [blob[i : i + 512] for i in range(0, max(len(blob), 1), 512)]
        for i, piece in enumerate(pieces):
            clusters.append(piece.ljust(512, b"\0"))
            fat[first + i] = first + i + 1 if i + 1 < len(pieces) else 0xFFF
        return first

    folders: dict[str, list[tuple[str, bytes]]] = {}
    root = b""
    n = 1
    for name, data in files:
        if "/" in name:
            folder, leaf_name = name.split("/", 1)
            folders.setdefault(folder, []).append((leaf_name, data))
        else:
            root += _dir_entries(name, 0x20, alloc(data), len(data), n)
            n += 1
    for folder, inner in folders.items():
        first = len(clusters) + 2
        alloc(bytes(512))  # reserve the folder's cluster, filled below
        body = b"".join(
            _dir_entries(leaf_name, 0x20, alloc(data), len(data), i)
            for i, (leaf_name, data) in enumerate(inner, 1)
        )
        clusters[first - 2] = body.ljust(512, b"\0")
        root += _dir_entries(folder, 0x10, first, 0, n)
        n += 1
    boot = bytearray(512)
    boot[0:3] = b"\xeb\x3c\x90"
    boot[3:11] = b"MAILPOL "
    struct.pack_into("<HBHBHHBHHHLL", boot, 11, 512, 1, 1, 2, 16, sectors, 0xF8, 1, 32, 2, 0, 0)
    boot[38] = 0x29
    boot[43:54] = b"SAMPLES    "
    boot[54:62] = b"FAT12   "
    boot[510:512] = b"\x55\xaa"
    table = bytearray(512)
    for c, v in fat.items():
        off = c + c // 2
        cur = int.from_bytes(table[off : off + 2], "little")
        cur = (cur & 0x000F) | (v << 4) if c & 1 else (cur & 0xF000) | v
        table[off : off + 2] = cur.to_bytes(2, "little")
    image = bytes(boot) + bytes(table) * 2 + root.ljust(512, b"\0") + b"".join(clusters)
    assert len(image) <= sectors * 512 and data_start == 4
    return image.ljust(sectors * 512, b"\0")


def vhd_fixed(volume: bytes) -> bytes:
    """A fixed VHD: an MBR with one FAT12 partition at sector 1, the volume, the footer."""
    mbr = bytearray(512)
    mbr[446:462] = struct.pack("<B3sB3sLL", 0, b"\0\x02\0", 0x01, b"\0\0\0", 1, len(volume) // 512)
    mbr[510:512] = b"\x55\xaa"
    disk = bytes(mbr) + volume
    footer = bytearray(512)
    footer[0:8] = b"conectix"
    struct.pack_into(
        ">LLQL4sLL",
        footer,
        8,
        2,
        0x00010000,
        0xFFFFFFFFFFFFFFFF,
        0,
        b"mpol",
        0x00010000,
        0x5769326B,
    )
    struct.pack_into(">QQHBBL", footer, 40, len(disk), len(disk), 1, 4, len(disk) // 2048 or 1, 2)
    footer[68:84] = bytes(range(16))
    struct.pack_into(">L", footer, 64, ~sum(footer) & 0xFFFFFFFF)
    return disk + bytes(footer)


ONE_SECTION = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")
ONE_FILE_DATA = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")
ONE_FOOTER = bytes.fromhex("22a7fb71790f0b4abb13899256426b24")


def onenote(files: list[tuple[str, bytes]]) -> bytes:
    """A OneNote section skeleton: the file header GUID, each embedded file's name (UTF-16,
    as the EmbeddedFileName property stores it) and its FileDataStoreObject."""
    out = bytearray(ONE_SECTION + bytes(1008))
    for name, _data in files:
        out += struct.pack("<L", len(name) * 2) + name.encode("utf-16-le") + bytes(4)
    for _name, data in files:
        out += ONE_FILE_DATA + struct.pack("<QLQ", len(data), 0, 0) + data
        out += bytes(-len(data) % 8) + ONE_FOOTER
    return bytes(out)


def cab_of(files: list[tuple[str, bytes]]) -> bytes:
    """A cabinet with one MSZIP folder (one CFDATA block per 32 KiB) holding ``files``."""
    stream = b"".join(data for _, data in files)
    blocks, window = [], b""
    for i in range(0, max(len(stream), 1), 32768):
        piece = stream[i : i + 32768]
        c = (
            zlib.compressobj(9, zlib.DEFLATED, -15, zdict=window)
            if window
            else zlib.compressobj(9, zlib.DEFLATED, -15)
        )
        packed = b"CK" + c.compress(piece) + c.flush()
        blocks.append(struct.pack("<LHH", 0, len(packed), len(piece)) + packed)
        window = (window + piece)[-32768:]
    names = [n.replace("/", "\\").encode("ascii") + b"\0" for n, _ in files]
    files_at = 36 + 8
    data_at = files_at + sum(16 + len(n) for n in names)
    entries, offset = b"", 0
    for (_, data), raw in zip(files, names, strict=True):
        entries += struct.pack("<LLHHHH", len(data), offset, 0, 0x2AF0, 0x4800, 0x20) + raw
        offset += len(data)
    body = b"".join(blocks)
    total = data_at + len(body)
    header = struct.pack(
        "<4sLLLLLBBHHHHH", b"MSCF", 0, total, 0, files_at, 0, 3, 1, 1, len(files), 0, 0, 0
    )
    folder = struct.pack("<LHH", data_at, len(blocks), 1)
    return header + folder + entries + body


def concatenated_zip(first: list[tuple[str, bytes]], second: list[tuple[str, bytes]]) -> bytes:
    """Two whole zips, one after the other (7-Zip lists the first, zipfile the second)."""
    return zip_of(first) + zip_of(second)


def zip_without_directory(members: list[tuple[str, bytes]]) -> bytes:
    """A zip cut before its central directory: local headers and data only."""
    data = zip_of(members)
    return data[: data.index(b"PK\x01\x02")]


def deflate64_zip(name: str, data: bytes) -> bytes:
    """One member compressed with Deflate64 (method 9), as 7-Zip writes for big files."""
    import inflate64

    d = inflate64.Deflater()
    packed: bytes = d.deflate(data) + d.flush()
    raw = name.encode("ascii")
    dos_time, dos_date = (9 << 11), ((2001 - 1980) << 9) | (7 << 5) | 16
    common = struct.pack(
        "<HHHHHIII", 21, 0, 9, dos_time, dos_date, zlib.crc32(data), len(packed), len(data)
    )
    local = b"PK\x03\x04" + common + struct.pack("<HH", len(raw), 0) + raw + packed
    central = (
        b"PK\x01\x02"
        + struct.pack("<H", 21)
        + common
        + struct.pack("<HHHHHII", len(raw), 0, 0, 0, 0, 0x20, 0)
        + raw
    )
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, len(central), len(local), 0)
    return local + central + end


# -- MIME ------------------------------------------------------------------------------


def b(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("ascii")


def ew(text: str, charset: str = "ISO-2022-JP", enc: str = "B") -> str:
    """One RFC 2047 encoded-word."""
    raw = text.encode(charset)
    if enc == "B":
        return f"=?{charset}?B?{base64.b64encode(raw).decode()}?="
    q = "".join(chr(c) if c < 128 and chr(c).isalnum() else f"={c:02X}" for c in raw)
    return f"=?{charset}?Q?{q}?="


def rfc2231(key: str, pieces: list[str], charset: str = "UTF-8") -> str:
    """``key*=`` (one piece) or ``key*0*=`` continuations; a piece starting with '=' is sent
    unencoded (``key*N=``), as RFC 2231 section 4.1 allows."""

    def pct(s: str) -> str:
        return urllib.parse.quote(s.encode(charset), safe="")

    if len(pieces) == 1:
        return f"{key}*={charset}''{pct(pieces[0])}"
    out = []
    for i, piece in enumerate(pieces):
        if piece.startswith("="):
            out.append(f"{key}*{i}={piece[1:]}")
        else:
            out.append(f"{key}*{i}*=" + (f"{charset}''" if i == 0 else "") + pct(piece))
    return ";\n\t".join(out)


def leaf(
    ctype: str | bytes,
    payload: bytes,
    cte: str = "base64",
    disposition: str | bytes | None = None,
    extra: tuple[str | bytes, ...] = (),
) -> bytes:
    """One MIME leaf: header lines as given (str must be ASCII, bytes go raw), then the body."""
    head = [b"Content-Type: " + b(ctype)]
    if disposition is not None:
        head.append(b"Content-Disposition: " + b(disposition))
    head += [b(x) for x in extra]
    head.append(b"Content-Transfer-Encoding: " + b(cte))
    body = base64.encodebytes(payload) if cte == "base64" else payload
    return b"\n".join(head) + b"\n\n" + body


def attach(name: str, data: bytes, ctype: str = "application/octet-stream") -> bytes:
    """The common case: an ASCII name sent both as CT ``name=`` and CD ``filename=``."""
    return leaf(f'{ctype}; name="{name}"', data, disposition=f'attachment; filename="{name}"')


def text(body: str, charset: str = "us-ascii", cte: str = "7bit") -> bytes:
    return leaf(f"text/plain; charset={charset}", body.encode(charset), cte)


def multipart(parts: list[bytes], boundary: str, subtype: str = "mixed") -> bytes:
    out = [
        f'Content-Type: multipart/{subtype};\n\tboundary="{boundary}"\n\n'
        "This is a multi-part message in MIME format.\n".encode()
    ]
    for p in parts:
        out.append(f"\n--{boundary}\n".encode() + p.rstrip(b"\n"))
    out.append(f"\n--{boundary}--\n".encode())
    return b"".join(out)


def uuencode(name: str, data: bytes) -> str:
    lines = [f"begin 644 {name}"]
    lines += [
        binascii.b2a_uu(data[i : i + 45], backtick=True).decode().rstrip("\n")
        for i in range(0, len(data), 45)
    ]
    return "\n".join(lines + ["`", "end", ""])


def header_text(value: str) -> str:
    """ASCII as is; anything else as one RFC 2047 word (ISO-2022-JP where it fits)."""
    if value.isascii():
        return value
    try:
        return ew(value)
    except UnicodeEncodeError:
        return ew(value, "UTF-8")


def envelope(
    *,
    key: str,
    sender: str,
    rcpt: str,
    when: datetime,
    subject: str,
    body: bytes,
    from_: str | None = None,
    ip: str = "192.0.2.1",
    stored: bool = True,
    auth: str = "",
) -> bytes:
    """A whole message: trace headers (when ``stored``), RFC 5322 headers, then the MIME body.

    ``auth``: what the border MTA's authentication checks found (RFC 8601 results), written
    as the ``Authentication-Results`` field it adds under its authserv-id."""
    domain = sender.rpartition("@")[2] or "example.net"
    mta_id = f"{zlib.crc32(key.encode()):08X}"
    head = (
        [
            f"Return-Path: <{sender}>",
            f"Delivered-To: {rcpt}",
            f"Received: from mail.{domain} (mail.{domain} [{ip}])\n\tby mx.example.ac.jp (Postfix)"
            f" with ESMTP id {mta_id}\n\tfor <{rcpt}>; {format_datetime(when + timedelta(seconds=4))}",
        ]
        if stored
        else []
    )
    if stored and auth:
        head.append(f"Authentication-Results: mx.example.ac.jp;\n\t{auth}")
    head += [
        f"Date: {format_datetime(when)}",
        f"From: {from_ or sender}",
        f"To: {rcpt}",
        f"Subject: {header_text(subject)}",
        f"Message-ID: <{key}@{DOMAIN}>",
        "MIME-Version: 1.0",
    ]
    return "\n".join(head).encode() + b"\n" + body


def sircam_mail(key: str, when: datetime, name_param: str) -> bytes:
    """What a SirCam-infected machine sent: the worm under a document name."""
    part = leaf("application/octet-stream", pe_stub(), disposition=f"attachment;\n\t{name_param}")
    body = multipart([text(SIRCAM_EN), part], f"=_sircam_{key}")
    return envelope(
        key=key,
        sender="friend@example.net",
        rcpt="tanaka@example.ac.jp",
        when=when,
        subject="Inbox",
        body=body,
        stored=False,
    )


# -- the samples -----------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    key: str  # Message-ID local part, unique
    label: str  # "benign" or "malicious"
    tests: str  # what the message exercises
    policy: str  # what a good policy does with it
    sender: str  # envelope sender (Return-Path)
    subject: str
    parts: tuple[bytes, ...]  # MIME parts of a multipart/mixed body; one part: the whole body
    names: tuple[str, ...] = ()  # every decoded attachment name (rfc822 and uuencode included)
    members: tuple[str, ...] = ()  # archive member paths, any depth
    tricks: tuple[str, ...] = ()  # names.TRICKS codes the names must show
    rcpt: str = "tanaka@example.ac.jp"
    from_: str | None = None
    #: the border MTA's authentication results (``Authentication-Results``), or ""
    auth: str = ""


def signed(sender: str) -> str:
    """The results a partner's mail gets at the border: DKIM, SPF and DMARC pass."""
    domain = sender.rpartition("@")[2]
    return (
        f"dkim=pass header.d={domain} header.s=mail2001;\n\tspf=pass smtp.mailfrom={sender};"
        f"\n\tdmarc=pass header.from={domain}"
    )


def S(  # noqa: N802
    key: str,
    label: str,
    tests: str,
    policy: str,
    sender: str,
    subject: str,
    *parts: bytes,
    **kw: Any,
) -> Sample:
    return Sample(key, label, tests, policy, sender, subject, tuple(parts), **kw)


JA = "text/plain; charset=ISO-2022-JP"


def ja_text(body: str) -> bytes:
    return leaf(JA, body.encode("iso-2022-jp"), "7bit")


SJIS_LIST = "名簿.xls".encode("shift_jis")
SJIS_SIRCAM = "同窓会名簿.xls.lnk".encode("shift_jis")
RLO_NAME = "invoice\u202egpj.exe"
PAD_NAME = "document.pdf" + " " * 26 + ".exe"
CLSID_NAME = "file.txt.{3050F4D8-98B5-11CF-BB82-00AA00BDCE0B}"
BOMB = zip_of([("report.txt", bytes(50 * 1024 * 1024))])
INBOX = (
    b"From friend@example.net Tue Jul 17 00:00:00 2001\n"
    + sircam_mail(
        "sircam-in-inbox",
        datetime(2001, 7, 17, 9, 0, tzinfo=JST),
        rfc2231("filename", ["書類名3.doc.pif"]),
    )
    + b"\n"
)
FORWARD_PDF = envelope(
    key="agenda-original",
    sender="sato@example.co.jp",
    rcpt="suzuki@example.ac.jp",
    when=datetime(2001, 7, 13, 15, 30, tzinfo=JST),
    subject="Agenda for Monday",
    stored=False,
    body=multipart(
        [text("The agenda is attached.\n"), attach("agenda.pdf", pdf("Agenda"), "application/pdf")],
        "=_inner_agenda",
    ),
)
FORWARD_BAT = envelope(
    key="fwd-original-runbat",
    sender="unknown@example.net",
    rcpt="someone@example.org",
    when=datetime(2001, 7, 16, 23, 12, tzinfo=JST),
    subject="cool tool",
    stored=False,
    body=multipart(
        [text("run this, it speeds up your PC\n"), attach("run.bat", BAT)], "=_inner_runbat"
    ),
)
PLAIN = """Hello Suzuki-san,

Notes from the meeting, as promised.
From now on the mail server rejects attachments named *.pif, see the postmaster notice.
>From the old list archive: "test.tar.gz is fine, it is a compressed tar file".
From Monday, please send large files as test.tar.gz or zip archives.

Tanaka
"""
NOTICE = """To all users of example.ac.jp,

The SirCam worm is spreading. It sends mail with a random subject and this text:

  "Hi! How are you? I send you this file in order to have your advice"

with an attachment such as 書類名1.doc.bat. Do not open such attachments. From today
the mail server removes attachments ending in .pif, .bat, .lnk, .com, .scr and .vbs.

Postmaster, example.ac.jp
"""
ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mailpolicy//samples//EN\r\nBEGIN:VEVENT\r\n"
    b"UID:network-committee-20010723@example.ac.jp\r\nDTSTAMP:20010716T000000Z\r\n"
    b"DTSTART:20010723T010000Z\r\nDTEND:20010723T020000Z\r\nSUMMARY:Network committee\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n"
)
VCARD = (
    b"BEGIN:VCARD\r\nVERSION:2.1\r\nN:Tanaka;Hiroshi\r\nEMAIL:tanaka@example.ac.jp\r\nEND:VCARD\r\n"
)
CSV = b"name,email,room\r\nTanaka,tanaka@example.ac.jp,301\r\nSuzuki,suzuki@example.ac.jp,302\r\n"
LOG = b"".join(b"2001-01-01 %02d:00:00 backup: ok\n" % h for h in range(24))
ALLOW = "allow: deliver"

SAMPLES: tuple[Sample, ...] = (
    # -- benign: what the naive rules of 2001 blocked or might block ---------------------
    S(
        "benign-01",
        "benign",
        "plain text, no attachment; body lines starting 'From ' and '>From ' (mboxrd quoting)",
        ALLOW,
        "tanaka@example.ac.jp",
        "Meeting notes",
        text(PLAIN),
        rcpt="suzuki@example.ac.jp",
    ),
    S(
        "benign-02",
        "benign",
        "double extension that is a real tar.gz",
        ALLOW + "; '*.*.*' and naive double-extension rules hit it",
        "sato@example.co.jp",
        "test files",
        text("The test data, as a tar.gz.\n"),
        attach(
            "test.tar.gz",
            gz(tar_of([("test/notes.txt", b"Test data for the lab.\n")])),
            "application/x-gzip",
        ),
        names=("test.tar.gz",),
        members=("test/notes.txt",),
    ),
    S(
        "benign-03",
        "benign",
        "Mac double extension (MacBinary of a StuffIt archive), not a PE",
        ALLOW + "; the extension 'bin' is not executable",
        "mac-user@example.edu",
        "archive from my Mac",
        text("Here is the StuffIt archive.\n"),
        attach("archive.sit.bin", macbinary("archive.sit", STUFFIT), "application/x-macbinary"),
        names=("archive.sit.bin",),
    ),
    S(
        "benign-04",
        "benign",
        "dotted date as extensions: a text log",
        ALLOW,
        "ops@example.ac.jp",
        "backup log",
        text("The log of New Year's Day.\n"),
        attach("test.2001.01.01", LOG, "text/plain"),
        names=("test.2001.01.01",),
    ),
    S(
        "benign-05",
        "benign",
        "a minimal real PDF",
        ALLOW,
        "sato@example.co.jp",
        "report",
        text("The report.\n"),
        attach("report.pdf", pdf("Quarterly report"), "application/pdf"),
        names=("report.pdf",),
    ),
    S(
        "benign-06",
        "benign",
        "a real 1x1 JPEG",
        ALLOW,
        "yamada@example.ne.jp",
        "photo",
        text("A photo.\n"),
        attach("photo.jpg", jpeg_1x1(), "image/jpeg"),
        names=("photo.jpg",),
    ),
    S(
        "benign-07",
        "benign",
        "version numbers as extensions; zip with README.txt",
        ALLOW,
        "release@example.org",
        "setup v2.1",
        text("Version 2.1.\n"),
        attach(
            "setup.v2.1.zip",
            zip_of([("README.txt", b"Unpack and read INSTALL.\n")]),
            "application/zip",
        ),
        names=("setup.v2.1.zip",),
        members=("README.txt",),
    ),
    S(
        "benign-08",
        "benign",
        "tar.bz2 with two text files",
        ALLOW,
        "tanaka@example.ac.jp",
        "backup",
        text("My backup.\n"),
        attach(
            "backup.tar.bz2",
            bz2.compress(
                tar_of([("backup/addresses.txt", CSV), ("backup/notes.txt", b"Notes.\n")]), 9
            ),
            "application/x-bzip2",
        ),
        names=("backup.tar.bz2",),
        members=("backup/addresses.txt", "backup/notes.txt"),
    ),
    S(
        "benign-09",
        "benign",
        "OOXML document (a zip by content)",
        ALLOW + "; 'type archive' rules must not hit it",
        "sato@example.co.jp",
        "minutes",
        text("Minutes attached.\n"),
        attach(
            "minutes.docx",
            docx(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        names=("minutes.docx",),
        members=("[Content_Types].xml", "_rels/.rels", "word/document.xml"),
    ),
    S(
        "benign-10",
        "benign",
        "Japanese name, RFC 2047 ISO-2022-JP inside quoted params (Outlook habit)",
        ALLOW,
        "sato@example.co.jp",
        "議事録",
        ja_text("議事録を送ります。\n"),
        leaf(
            f'application/msword; name="{ew("議事録.doc")}"',
            ole_stub(),
            disposition=f'attachment; filename="{ew("議事録.doc")}"',
        ),
        names=("議事録.doc",),
    ),
    S(
        "benign-11",
        "benign",
        "Japanese name in raw 8-bit Shift_JIS",
        ALLOW,
        "yamada@example.ne.jp",
        "名簿",
        leaf("text/plain; charset=Shift_JIS", "名簿です。\n".encode("shift_jis"), "8bit"),
        leaf(
            b'application/vnd.ms-excel; name="' + SJIS_LIST + b'"',
            ole_stub(),
            disposition=b'attachment; filename="' + SJIS_LIST + b'"',
        ),
        names=("名簿.xls",),
    ),
    S(
        "benign-12",
        "benign",
        "Japanese name, RFC 2231 UTF-8 with continuations (one unencoded)",
        ALLOW,
        "kato@example.jp",
        "報告書",
        leaf("text/plain; charset=UTF-8", "報告書です。\n".encode(), "8bit"),
        leaf(
            "application/pdf",
            pdf("Report"),
            disposition="attachment;\n\t" + rfc2231("filename", ["報告", "書", "=.pdf"]),
        ),
        names=("報告書.pdf",),
    ),
    S(
        "benign-13",
        "benign",
        "Japanese name in raw 8-bit EUC-JP",
        ALLOW,
        "kimura@example.ac.jp",
        "予定",
        leaf("text/plain; charset=EUC-JP", "予定表です。\n".encode("euc_jp"), "8bit"),
        leaf(
            b'text/plain; charset=EUC-JP; name="' + "予定.txt".encode("euc_jp") + b'"',
            "7月23日 委員会\n".encode("euc_jp"),
            "8bit",
            disposition=b'attachment; filename="' + "予定.txt".encode("euc_jp") + b'"',
        ),
        names=("予定.txt",),
    ),
    S(
        "benign-14",
        "benign",
        "Japanese name, RFC 2047 Shift_JIS B inside quoted params",
        ALLOW,
        "ito@example.co.jp",
        "見積書",
        ja_text("見積書を添付します。\n"),
        leaf(
            f'application/pdf; name="{ew("見積書.pdf", "Shift_JIS")}"',
            pdf("Estimate"),
            disposition=f'attachment; filename="{ew("見積書.pdf", "Shift_JIS")}"',
        ),
        names=("見積書.pdf",),
    ),
    S(
        "benign-15",
        "benign",
        "forwarded message (message/rfc822) holding a PDF",
        ALLOW,
        "suzuki@example.ac.jp",
        "Fwd: Agenda for Monday",
        text("Forwarding the agenda.\n"),
        leaf("message/rfc822", FORWARD_PDF, "7bit", disposition="inline"),
        names=("agenda.pdf",),
    ),
    S(
        "benign-16",
        "benign",
        "executable from a trusted partner (envelope sender *@partner.example.com)",
        "allow: the trusted-partner exception; tag at most",
        "build@partner.example.com",
        "Nightly installer",
        text("The nightly build of the client installer.\n"),
        attach("installer.exe", pe_stub(), "application/x-msdownload"),
        names=("installer.exe",),
        from_="Build Robot <build@partner.example.com>",
        auth=signed("build@partner.example.com"),
    ),
    S(
        "benign-17",
        "benign",
        "calendar invitation (.ics)",
        ALLOW,
        "secretary@example.ac.jp",
        "Network committee",
        text("Invitation attached.\n"),
        attach("meeting.ics", ICS, "text/calendar"),
        names=("meeting.ics",),
    ),
    S(
        "benign-18",
        "benign",
        "CSV data",
        ALLOW,
        "tanaka@example.ac.jp",
        "room list",
        text("Rooms.\n"),
        attach("addresses.csv", CSV, "text/csv"),
        names=("addresses.csv",),
    ),
    S(
        "benign-19",
        "benign",
        "postmaster notice that quotes the SirCam body text and names",
        "allow: sender postmaster@example.ac.jp is trusted; a bare 'body contains' SirCam rule hits it",
        "postmaster@example.ac.jp",
        "SirCam warning",
        ja_text(NOTICE),
        attach("blocked-extensions.txt", b"pif\nbat\nlnk\ncom\nscr\nvbs\n", "text/plain"),
        names=("blocked-extensions.txt",),
        auth="auth=pass smtp.auth=postmaster",
    ),
    S(
        "benign-20",
        "benign",
        "single gzip file with a double extension",
        ALLOW,
        "lab@example.edu",
        "data",
        text("Measurements.\n"),
        attach("data.csv.gz", gz(CSV), "application/x-gzip"),
        names=("data.csv.gz",),
    ),
    S(
        "benign-21",
        "benign",
        "zip of dotted log names",
        ALLOW,
        "ops@example.ac.jp",
        "logs",
        text("Logs.\n"),
        attach(
            "logs.zip", zip_of([("access.log.1", LOG), ("test.2001.01.01", LOG)]), "application/zip"
        ),
        names=("logs.zip",),
        members=("access.log.1", "test.2001.01.01"),
    ),
    S(
        "benign-22",
        "benign",
        "HTML newsletter: multipart/alternative inside multipart/related, inline GIF",
        ALLOW,
        "news@example.org",
        "July newsletter",
        multipart(
            [
                multipart(
                    [
                        text("July news.\n"),
                        leaf(
                            "text/html; charset=us-ascii",
                            b'<p>July news.</p><img src="cid:logo@example.org">\n',
                            "7bit",
                        ),
                    ],
                    "=_alt_22",
                    "alternative",
                ),
                leaf(
                    'image/gif; name="logo.gif"',
                    GIF_1X1,
                    disposition='inline; filename="logo.gif"',
                    extra=("Content-ID: <logo@example.org>",),
                ),
            ],
            "=_rel_22",
            "related",
        ),
        names=("logo.gif",),
    ),
    S(
        "benign-23",
        "benign",
        "spaces and parentheses in a name, not padding",
        ALLOW,
        "sato@example.co.jp",
        "Q3 report",
        text("Final version.\n"),
        attach("Q3 report (final).pdf", pdf("Q3"), "application/pdf"),
        names=("Q3 report (final).pdf",),
    ),
    S(
        "benign-24",
        "benign",
        "Latin-1 name in RFC 2231 (iso-8859-1)",
        ALLOW,
        "garcia@example.es",
        "CV",
        text("My CV.\n"),
        leaf(
            "text/plain; charset=ISO-8859-1",
            b"Curriculum vitae\n",
            "7bit",
            disposition="attachment; " + rfc2231("filename", ["résumé.txt"], "iso-8859-1"),
        ),
        names=("résumé.txt",),
    ),
    S(
        "benign-25",
        "benign",
        "a name without any extension",
        ALLOW,
        "dev@example.org",
        "README",
        text("See README.\n"),
        attach("README", b"Read me first.\n", "text/plain"),
        names=("README",),
    ),
    S(
        "benign-26",
        "benign",
        "vCard",
        ALLOW,
        "tanaka@example.ac.jp",
        "my card",
        text("My card.\n"),
        attach("tanaka.vcf", VCARD, "text/x-vcard"),
        names=("tanaka.vcf",),
    ),
    # -- malicious: SirCam itself ------------------------------------------------------
    S(
        "benign-27",
        "benign",
        "an ISO 9660 image of plain documents (Joliet names)",
        "allow: deliver, or quarantine every disk image by site policy (type disk-image)",
        "tanaka@example.ac.jp",
        "conference proceedings",
        text("The proceedings, as a CD image.\n"),
        attach(
            "proceedings.iso",
            iso_of([("report.pdf", pdf("Proceedings")), ("notes.txt", b"Session notes.\r\n")]),
        ),
        names=("proceedings.iso",),
        members=("report.pdf", "notes.txt"),
        auth="auth=pass smtp.auth=tanaka",
    ),
    S(
        "benign-28",
        "benign",
        "a source release: folders, Python and reST files, a configure script (no path-in-name, no script)",
        ALLOW,
        "release@example.org",
        "mailtool 1.0 released",
        text("The release tarball is attached.\n"),
        attach(
            "mailtool-1.0.tar.gz",
            gz(
                tar_of(
                    [
                        ("mailtool-1.0/configure", b"#!/bin/sh\necho configuring mailtool\n"),
                        (
                            "mailtool-1.0/src/mailtool.py",
                            b"#!/usr/bin/env python3\nprint('mailtool')\n",
                        ),
                        ("mailtool-1.0/docs/index.rst", b"mailtool\n========\n\nA sample.\n"),
                    ]
                )
            ),
            "application/gzip",
        ),
        names=("mailtool-1.0.tar.gz",),
        members=(
            "mailtool-1.0/configure",
            "mailtool-1.0/src/mailtool.py",
            "mailtool-1.0/docs/index.rst",
        ),
    ),
    S(
        "benign-29",
        "benign",
        "one stray space before the extension is not padding",
        ALLOW,
        "suzuki@example.ac.jp",
        "final report",
        text("Here is the final report.\n"),
        attach(
            "Final Report .docx",
            docx(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        names=("Final Report .docx",),
        members=("[Content_Types].xml", "_rels/.rels", "word/document.xml"),
    ),
    S(
        "benign-30",
        "benign",
        "a cabinet (MSZIP) of documents",
        ALLOW,
        "support@partner.example.com",
        "printer documentation",
        text("The documentation cabinet.\n"),
        attach(
            "printer-docs.cab",
            cab_of([("readme.txt", b"Printer setup notes.\r\n"), ("data/addresses.csv", CSV)]),
            "application/vnd.ms-cab-compressed",
        ),
        names=("printer-docs.cab",),
        members=("readme.txt", "data/addresses.csv"),
        auth=signed("support@partner.example.com"),
    ),
    S(
        "malicious-01",
        "malicious",
        "SirCam: double extension, RFC 2047 ISO-2022-JP in quoted params",
        "block: double extension in executable; type executable",
        "friend@example.net",
        "書類名1",
        text(SIRCAM_EN),
        leaf(
            f'application/octet-stream; name="{ew("書類名1.doc.bat")}"',
            pe_stub(),
            disposition=f'attachment; filename="{ew("書類名1.doc.bat")}"',
        ),
        names=("書類名1.doc.bat",),
    ),
    S(
        "malicious-02",
        "malicious",
        "SirCam: .xls.lnk in raw 8-bit Shift_JIS",
        "block: extension lnk; type executable",
        "old-classmate@example.ne.jp",
        "同窓会名簿",
        text(SIRCAM_EN),
        leaf(
            b'application/octet-stream; name="' + SJIS_SIRCAM + b'"',
            pe_stub(),
            disposition=b'attachment; filename="' + SJIS_SIRCAM + b'"',
        ),
        names=("同窓会名簿.xls.lnk",),
    ),
    S(
        "malicious-03",
        "malicious",
        "SirCam: .zip.com in RFC 2231 UTF-8",
        "block: extension com; type executable",
        "colleague@example.com",
        "書類名2",
        text(SIRCAM_EN),
        leaf(
            "application/octet-stream",
            pe_stub(),
            disposition="attachment;\n\t" + rfc2231("filename", ["書類名2.zip.com"]),
        ),
        names=("書類名2.zip.com",),
    ),
    S(
        "malicious-04",
        "malicious",
        "SirCam: upper-case double extension",
        "block: extension pif (case-insensitive)",
        "accounts@example.com",
        "BUDGET2001",
        text(SIRCAM_EN),
        attach("BUDGET2001.XLS.PIF", pe_stub()),
        names=("BUDGET2001.XLS.PIF",),
    ),
    S(
        "malicious-05",
        "malicious",
        "SirCam: Spanish body variant",
        "block: double extension in executable",
        "amigo@example.es",
        "curriculum",
        text(SIRCAM_ES, "iso-8859-1"),
        attach("curriculum.doc.com", pe_stub()),
        names=("curriculum.doc.com",),
    ),
    # -- malicious: executables by name and by content ---------------------------------
    S(
        "malicious-06",
        "malicious",
        "Content-Type name= only, no Content-Disposition",
        "block: extension pif",
        "billing@example.biz",
        "Invoice",
        text("Please find the invoice attached.\n"),
        leaf('application/octet-stream; name="invoice.pif"', pe_stub()),
        names=("invoice.pif",),
    ),
    S(
        "malicious-07",
        "malicious",
        "renamed executable: photo.jpg whose bytes are a PE",
        "block: type executable (names-only filters miss it)",
        "stranger@example.net",
        "my photo",
        text("Look at this photo.\n"),
        attach("photo.jpg", pe_stub(), "image/jpeg"),
        names=("photo.jpg",),
    ),
    S(
        "malicious-08",
        "malicious",
        "renamed executable: readme.txt whose bytes are an ELF header",
        "block: type executable / type mismatch",
        "stranger@example.net",
        "readme",
        text("Read this.\n"),
        attach("readme.txt", elf_stub(), "text/plain"),
        names=("readme.txt",),
    ),
    S(
        "malicious-09",
        "malicious",
        "zip holding an executable",
        "block: archive contains extension in executable",
        "docs@example.biz",
        "documents",
        text("The documents you asked for.\n"),
        attach("docs.zip", zip_of([("document.exe", pe_stub())]), "application/zip"),
        names=("docs.zip",),
        members=("document.exe",),
    ),
    S(
        "malicious-10",
        "malicious",
        "tar.gz holding a batch file",
        "block: archive contains extension in executable",
        "admin@example.net",
        "scripts",
        text("Run the script inside.\n"),
        attach("scripts.tar.gz", gz(tar_of([("scripts/run.bat", BAT)])), "application/x-gzip"),
        names=("scripts.tar.gz",),
        members=("scripts/run.bat",),
    ),
    S(
        "malicious-11",
        "malicious",
        "zip inside a zip holding a screensaver",
        "block: archive contains (recursively) extension scr",
        "fun@example.net",
        "screensaver",
        text("Nice screensaver.\n"),
        attach(
            "package.zip",
            zip_of([("inner.zip", zip_of([("payload.scr", pe_stub())]))]),
            "application/zip",
        ),
        names=("package.zip",),
        members=("inner.zip", "payload.scr"),
    ),
    # -- malicious: evasive names ------------------------------------------------------
    S(
        "malicious-12",
        "malicious",
        "right-to-left override: shows as invoiceexe.jpg",
        "block: evasive name; extension exe",
        "billing@example.biz",
        "invoice",
        text("Invoice attached.\n"),
        leaf(
            "application/octet-stream",
            pe_stub(),
            disposition="attachment; " + rfc2231("filename", [RLO_NAME]),
        ),
        names=(RLO_NAME,),
        tricks=("bidi-control",),
    ),
    S(
        "malicious-13",
        "malicious",
        "whitespace padding before the real extension",
        "block: evasive name; extension exe",
        "hr@example.biz",
        "document",
        text("The document.\n"),
        attach(PAD_NAME, pe_stub()),
        names=(PAD_NAME,),
        tricks=("padding",),
    ),
    S(
        "malicious-14",
        "malicious",
        "trailing dot (Windows drops it)",
        "block: extension exe after normalisation",
        "it@example.net",
        "setup",
        text("Install this.\n"),
        attach("setup.exe.", pe_stub()),
        names=("setup.exe.",),
        tricks=("trailing-dot",),
    ),
    S(
        "malicious-15",
        "malicious",
        "trailing spaces (Windows drops them)",
        "block: extension exe after normalisation",
        "it@example.net",
        "setup again",
        text("Install this.\n"),
        attach("setup.exe   ", pe_stub()),
        names=("setup.exe   ",),
        tricks=("trailing-space",),
    ),
    S(
        "malicious-16",
        "malicious",
        "CLSID extension (HTML Application) hiding behind .txt",
        "block: evasive name",
        "stranger@example.net",
        "text file",
        text("A text file.\n"),
        attach(CLSID_NAME, HTA),
        names=(CLSID_NAME,),
        tricks=("clsid-extension",),
    ),
    S(
        "malicious-17",
        "malicious",
        'CT name="evil.bat" vs CD filename="innocent.txt"',
        "block: matched under each name (Exim and rspamd see one)",
        "mallory@example.net",
        "notes",
        text("Notes.\n"),
        leaf(
            'application/octet-stream; name="evil.bat"',
            BAT,
            disposition='attachment; filename="innocent.txt"',
        ),
        names=("innocent.txt", "evil.bat"),
        tricks=("name-disagreement",),
    ),
    S(
        "malicious-18",
        "malicious",
        "filename=\"innocent.txt\" then filename*=UTF-8''evil.bat",
        "block: matched under each name (rspamd takes the first)",
        "mallory@example.net",
        "notes 2",
        text("Notes.\n"),
        leaf(
            "application/octet-stream",
            BAT,
            disposition="attachment; filename=\"innocent.txt\"; filename*=UTF-8''evil.bat",
        ),
        names=("innocent.txt", "evil.bat"),
        tricks=("name-disagreement",),
    ),
    S(
        "malicious-19",
        "malicious",
        "filename*=UTF-8''evil.bat then filename=\"innocent.txt\"",
        "block: matched under each name (Exim takes the last)",
        "mallory@example.net",
        "notes 3",
        text("Notes.\n"),
        leaf(
            "application/octet-stream",
            BAT,
            disposition="attachment; filename*=UTF-8''evil.bat; filename=\"innocent.txt\"",
        ),
        names=("innocent.txt", "evil.bat"),
        tricks=("name-disagreement",),
    ),
    S(
        "malicious-20",
        "malicious",
        "two Content-Disposition headers: innocent.txt, then evil.bat",
        "block: matched under each name",
        "mallory@example.net",
        "notes 4",
        text("Notes.\n"),
        leaf(
            "application/octet-stream",
            BAT,
            disposition='attachment; filename="innocent.txt"',
            extra=('Content-Disposition: attachment; filename="evil.bat"',),
        ),
        names=("innocent.txt", "evil.bat"),
        tricks=("name-disagreement",),
    ),
    S(
        "malicious-21",
        "malicious",
        "name split over two RFC 2047 encoded-words",
        "block: extension bat",
        "mallory@example.net",
        "split",
        text("Here.\n"),
        leaf(
            'application/octet-stream; name="=?UTF-8?Q?evil=2Eb?= =?UTF-8?Q?at?="',
            BAT,
            disposition='attachment; filename="=?UTF-8?Q?evil=2Eb?= =?UTF-8?Q?at?="',
        ),
        names=("evil.bat",),
    ),
    S(
        "malicious-22",
        "malicious",
        "HTML application",
        "block or strip: extension hta",
        "stranger@example.net",
        "greeting card",
        text("A greeting card for you.\n"),
        attach("greeting.hta", HTA, "application/hta"),
        names=("greeting.hta",),
    ),
    S(
        "malicious-23",
        "malicious",
        "VBScript behind a text double extension (ILOVEYOU style)",
        "block: extension vbs",
        "friend@example.net",
        "ILOVEYOU",
        text("kindly check the attached LOVELETTER\n"),
        attach("LOVE-LETTER-FOR-YOU.TXT.vbs", VBS, "application/octet-stream"),
        names=("LOVE-LETTER-FOR-YOU.TXT.vbs",),
    ),
    S(
        "malicious-24",
        "malicious",
        "encrypted zip (password in the body) holding an executable",
        "quarantine: archive encrypted (the member name is still visible: statement.exe)",
        "bank@example.biz",
        "Your statement",
        text("Your statement. The password is 2001.\n"),
        attach(
            "secure-docs.zip", encrypted_zip("statement.exe", pe_stub(), b"2001"), "application/zip"
        ),
        names=("secure-docs.zip",),
        members=("statement.exe",),
    ),
    S(
        "malicious-25",
        "malicious",
        "zip bomb: one member of 50 MB of zeros, ratio above 1000:1",
        "quarantine: archive exceeds limits (in milliseconds, without expanding it)",
        "stranger@example.net",
        "data",
        text("The data.\n"),
        attach("data.zip", BOMB, "application/zip"),
        names=("data.zip",),
        members=("report.txt",),
    ),
    S(
        "malicious-26",
        "malicious",
        "uuencoded executable inside a text body",
        "block: extension exe; type executable",
        "support@example.net",
        "update",
        text("Save the file below and run it.\n\n" + uuencode("update.exe", pe_stub())),
        names=("update.exe",),
    ),
    S(
        "malicious-27",
        "malicious",
        "forwarded message (message/rfc822) holding run.bat",
        "block: extension bat (attachments of attached messages count)",
        "forwarder@example.net",
        "Fwd: cool tool",
        text("FYI\n"),
        leaf("message/rfc822", FORWARD_BAT, "7bit", disposition="inline"),
        names=("run.bat",),
    ),
    S(
        "malicious-28",
        "malicious",
        "compressed mail folder (zip of an mbox) holding a SirCam mail",
        "quarantine: archive contains a mail folder (members are not parsed as mail)",
        "friend@example.net",
        "my old mail",
        text("My mail folder, please keep it.\n"),
        attach("mail.zip", zip_of([("Inbox.mbx", INBOX)]), "application/zip"),
        names=("mail.zip",),
        members=("Inbox.mbx",),
    ),
    S(
        "malicious-29",
        "malicious",
        "RFC 2047 UTF-8 base64: the extensions are inside the encoding",
        "block: extension exe (Postfix's raw regex misses it)",
        "billing@example.biz",
        "請求書",
        text("Please see the invoice.\n"),
        leaf(
            f'application/octet-stream; name="{ew("請求書.pdf.exe", "UTF-8")}"',
            pe_stub(),
            disposition=f'attachment; filename="{ew("請求書.pdf.exe", "UTF-8")}"',
        ),
        names=("請求書.pdf.exe",),
    ),
    S(
        "malicious-30",
        "malicious",
        "RFC 2231 with a percent-encoded dot",
        "block: extension bat",
        "mallory@example.net",
        "update script",
        text("Run this.\n"),
        leaf(
            "application/octet-stream", BAT, disposition="attachment; filename*=UTF-8''update%2Ebat"
        ),
        names=("update.bat",),
    ),
    S(
        "malicious-31",
        "malicious",
        "ISO image with a shortcut and a program (files inside lose Mark-of-the-Web)",
        "block: archive contains extension in executable; type disk-image",
        "invoice@example.biz",
        "Invoice 2001-0716",
        text("Open the invoice on the disk.\n"),
        attach("invoice.iso", iso_of([("Invoice.pdf.lnk", lnk_stub()), ("data.exe", pe_stub())])),
        names=("invoice.iso",),
        members=("Invoice.pdf.lnk", "data.exe"),
    ),
    S(
        "malicious-32",
        "malicious",
        "fixed VHD: MBR, FAT12 partition, a shortcut and a program in a folder",
        "block: archive contains extension in executable; type disk-image",
        "scanner@example.biz",
        "scanned documents",
        text("Your scanned documents.\n"),
        attach(
            "scan.vhd",
            vhd_fixed(fat12([("Scan 2001.pdf.lnk", lnk_stub()), ("bin/update.exe", pe_stub())])),
        ),
        names=("scan.vhd",),
        members=("Scan 2001.pdf.lnk", "bin/update.exe"),
    ),
    S(
        "malicious-33",
        "malicious",
        "OneNote section with an embedded HTML application",
        "block: archive contains extension in executable; archive contains type script",
        "notes@example.biz",
        "shared notebook",
        text("Double-click the button in the notebook.\n"),
        attach("notebook.one", onenote([("open.hta", HTA)]), "application/onenote"),
        names=("notebook.one",),
        members=("open.hta",),
    ),
    S(
        "malicious-34",
        "malicious",
        "concatenated zips: a benign one, then one with a program (7-Zip shows one, zipfile the other)",
        "block: archive contains evasive name (concatenated-archive); archive contains extension exe",
        "mallory@example.net",
        "the report",
        text("Report attached.\n"),
        attach(
            "report.zip",
            concatenated_zip([("report.txt", b"Quarterly report.\r\n")], [("evil.exe", pe_stub())]),
            "application/zip",
        ),
        names=("report.zip",),
        members=("report.txt", "evil.exe"),
    ),
    S(
        "malicious-35",
        "malicious",
        "zip without its central directory: local headers only (7-Zip still extracts)",
        "block: attachment unscannable; archive contains extension exe (read from local headers)",
        "mallory@example.net",
        "documents",
        text("Documents attached.\n"),
        attach(
            "documents.zip",
            zip_without_directory([("readme.txt", b"Read me.\r\n"), ("evil.exe", pe_stub())]),
            "application/zip",
        ),
        names=("documents.zip",),
        members=("readme.txt", "evil.exe"),
    ),
    S(
        "malicious-36",
        "malicious",
        "renamed program (photo.jpg) compressed with Deflate64",
        "block: archive contains type executable",
        "mallory@example.net",
        "holiday photo",
        text("A photo from the trip.\n"),
        attach("photos.zip", deflate64_zip("photo.jpg", pe_stub()), "application/zip"),
        names=("photos.zip",),
        members=("photo.jpg",),
    ),
    S(
        "malicious-37",
        "malicious",
        "homoglyph extension: Cyrillic 'ехе' that reads as exe",
        "block: evasive name (homoglyph); extension exe on the skeleton",
        "billing@example.biz",
        "invoice",
        text("Invoice attached.\n"),
        leaf(
            f'application/octet-stream; name="{ew("invoice.ехе", "UTF-8")}"',
            pe_stub(),
            disposition=f'attachment; filename="{ew("invoice.ехе", "UTF-8")}"',
        ),
        names=("invoice.ехе",),
        tricks=("homoglyph",),
    ),
)

# The samples of ambiguous MIME and of active content live beside this file, in modules of
# their own; they use this module's helpers (``content_samples``) or mirror its ``Sample``
# (``mime_samples``), so this module is registered under its file name first.
sys.modules.setdefault("make_samples", sys.modules[__name__])
sys.path.insert(0, str(HERE))
from content_samples import CONTENT_SAMPLES  # type: ignore[import-not-found]  # noqa: E402
from mime_samples import MIME_SAMPLES  # type: ignore[import-not-found]  # noqa: E402

SAMPLES += tuple(Sample(**dataclasses.asdict(m)) for m in MIME_SAMPLES)
SAMPLES += tuple(CONTENT_SAMPLES)


# -- writing ---------------------------------------------------------------------------


def when(sample: Sample) -> datetime:
    n = int(sample.key.rsplit("-", 1)[1])
    day = 16 if sample.label == "benign" else 17
    return datetime(2001, 7, day, 8, 0, tzinfo=JST) + timedelta(minutes=37 * n)


def render(sample: Sample) -> bytes:
    n = int(sample.key.rsplit("-", 1)[1])
    body = (
        sample.parts[0]
        if len(sample.parts) == 1
        else multipart(list(sample.parts), f"=_mp_{sample.key}")
    )
    net = "192.0.2" if sample.label == "benign" else "198.51.100"
    return envelope(
        key=sample.key,
        sender=sample.sender,
        rcpt=sample.rcpt,
        when=when(sample),
        subject=sample.subject,
        body=body,
        from_=sample.from_,
        ip=f"{net}.{n}",
        auth=sample.auth,
    )


#: Delivered but not yet seen by a mail client: in ``new/``, without the ``:2,`` info.
UNREAD = ("benign-26", "malicious-30")


def maildir_name(sample: Sample) -> str:
    """``cur/TIME.Pn.HOST:2,S`` (seen), or ``new/TIME.Pn.HOST`` for the ``UNREAD`` ones."""
    n = int(sample.key.rsplit("-", 1)[1])
    base = f"{int(when(sample).timestamp())}.P{n}.{DOMAIN}"
    return f"new/{base}" if sample.key in UNREAD else f"cur/{base}:2,S"


def mboxrd_entry(sample: Sample, raw: bytes) -> bytes:
    """``From `` line, the message with ``>*From `` lines quoted once more, a blank line."""
    stamp = when(sample).astimezone(UTC).strftime("%a %b %d %H:%M:%S %Y")
    lines = raw.split(b"\n")
    quoted = [b">" + ln if ln.lstrip(b">").startswith(b"From ") else ln for ln in lines]
    return f"From {sample.sender} {stamp}\n".encode() + b"\n".join(quoted) + b"\n"


def shown(name: str) -> str:
    """A name as a Markdown code span; Python repr when it hides characters or spaces."""
    plain = name.isprintable() and name == name.strip() and "  " not in name
    return f"`{name}`" if plain else f"`{name!r}`"


def readme() -> str:
    out = [README_HEAD]
    out.append(
        "| key (Message-ID) | label | tests | attachments (decoded) | members | a good policy |"
    )
    out.append("|---|---|---|---|---|---|")
    for s in SAMPLES:
        names = ", ".join(shown(n) for n in s.names) or "(none)"
        members = ", ".join(f"`{m}`" for m in s.members) or ""
        cells = [f"`{s.key}`", s.label, s.tests, names, members, s.policy]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    nb = sum(s.label == "benign" for s in SAMPLES)
    out.append(
        f"\n{nb} benign and {len(SAMPLES) - nb} malicious messages, the same in both forms.\n"
    )
    return "\n".join(out)


README_HEAD = """# Sample corpus: the SirCam scenario (July 2001) and today's mail

Written entirely by this project (no third-party messages) and **generated**: do not edit
the files by hand. `make_samples.py` holds every message as a row of a table (the 2001
scenario, the containers of today's mail: disk images, OneNote, CAB, corrupt and
concatenated zips); `mime_samples.py` adds ambiguous MIME and `content_samples.py`
active content (macros, PDF actions, external links, HTML smuggling) with their benign
look-alikes (keys from 101). Change them there and run

    python corpus/samples/make_samples.py

which rewrites `maildir/`, `mbox/` and this README deterministically (fixed dates,
boundaries and Message-IDs, no randomness, gzip without time stamps). The test
`tests/corpus/test_samples.py` regenerates into a temporary folder and compares bytes.

| path | form | label |
|---|---|---|
| `maildir/benign/`, `maildir/malicious/` | Maildir: `cur/` (seen) and `new/` (one unread message each); `tmp/.keep` only keeps the empty `tmp/` in git | the folder name |
| `mbox/benign/sircam.mbox`, `mbox/malicious/sircam.mbox` | mboxrd, LF line ends | the folder name |

Both forms hold the same messages byte for byte. Each message has `Return-Path` (the
envelope sender), `Delivered-To`, `Received` (with the delivery time), `Date`, `From`,
`To`, `Subject`, `Message-ID` (`<KEY@samples.mailpolicy.example>`) and MIME headers; Maildir
files are named `cur/TIMESTAMP.Pn.samples.mailpolicy.example:2,S` with `n` the key's number
(`new/TIMESTAMP.Pn.samples.mailpolicy.example` for the unread `benign-26` and `malicious-30`).

Labels are about intent, as an administrator judges it: the partner's installer
(`benign-16`) is an executable but was wanted, and a good policy trusts the senders
`*@partner.example.com` and `postmaster@example.ac.jp` (the `trusted` list of the language
sketch) so that `benign-16` and `benign-19` pass. Executables are harmless
stubs: a PE header with no sections, an ELF header, a shell-link header, a two-line batch
file, a one-line VBScript; nothing runs and nothing is a real virus (no EICAR either).
The zip bomb (`malicious-25`) is 50 MB of zeros deflated to about 50 KB (ratio 1028:1).
`malicious-24` uses traditional PKWARE encryption, password `2001`. Deflate output
(zip members, gzip) comes from zlib: stable across zlib 1.2.x/1.3.x, but a Python built
on zlib-ng would write different bytes and the determinism test would say so.

Names below are the decoded names a reader must report (Python `repr` where a name has
invisible characters or padding). Where one part carries two names, both are listed.
"""


def write(out: Path) -> None:
    for sub in ("maildir", "mbox"):
        shutil.rmtree(out / sub, ignore_errors=True)
    for label in ("benign", "malicious"):
        box = out / "maildir" / label
        for d in ("cur", "new", "tmp"):
            (box / d).mkdir(parents=True)
        (box / "tmp" / ".keep").write_bytes(b"")
        entries = []
        for s in (s for s in SAMPLES if s.label == label):
            raw = render(s)
            (box / maildir_name(s)).write_bytes(raw)
            entries.append(mboxrd_entry(s, raw))
        (out / "mbox" / label).mkdir(parents=True)
        (out / "mbox" / label / "sircam.mbox").write_bytes(b"".join(entries))
    (out / "README.md").write_text(readme(), encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
