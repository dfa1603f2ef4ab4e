"""Zip archives, read by a parser of our own rather than ``zipfile``.

Contract:
- Recognised by a local header, an empty archive's end record or a spanning marker at
  offset 0 (``PK\\x03\\x04``, ``PK\\x05\\x06``, ``PK\\x07\\x08``).
- Where the entries are is ``zipdir``'s job: every central directory in the file
  (concatenated zips are all listed, with the ``concatenated-archive`` trick), local
  headers no directory names (``directory-mismatch``), members read from the local
  headers when the directory is missing or unreadable (an unscannable reason), and
  overlapping entries (``overlapping-entries``, not read), with zip64 sizes and offsets
  and data prepended to the zip allowed for.
- Names: UTF-8 when flagged or valid, else CP932 (Japanese Windows archivers), else
  CP437, the zip default; the raw name is the CP437 reading.
- Members with the encryption flag (bit 0) are listed by name with no content.
- **Office documents** (OOXML: a ``[Content_Types].xml`` member; ODF: a first member named
  ``mimetype``) set ``level.document``: listed within the same limits, not an archive.

- Deflate64 (method 9) is read with ``inflate64`` (LGPL-2.1+, the library py7zr uses,
  fed 1 KiB at a time so each chunk stays small under the ``Meter``).

Limits of this module: members compressed with methods other than stored, deflate,
Deflate64, bzip2 and LZMA (zstd, PPMd, Implode, AES) are listed by name, with no
content and an unscannable reason on the member naming the method; CRCs are not
checked; split archives are not joined.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from collections.abc import Iterator
from functools import partial
from typing import Protocol, cast

import inflate64

from mailpolicy.corpus.archives import zipdir
from mailpolicy.corpus.archives.protocol import Item, Level
from mailpolicy.corpus.archives.streams import Chunks, inflate, stored, unpack

#: Compression methods read: stored, deflate, Deflate64, bzip2, LZMA.
READABLE_METHODS = (0, 8, 9, 12, 14)
#: Names of the methods a reason may name (APPNOTE 4.4.5).
METHOD_NAMES = {
    1: "1 (Shrink)",
    6: "6 (Implode)",
    9: "9 (Deflate64)",
    93: "93 (Zstandard)",
    95: "95 (XZ)",
    96: "96 (JPEG)",
    97: "97 (WavPack)",
    98: "98 (PPMd)",
    99: "99 (AES)",
}
#: Deflate64 input fed at a time: its output per call is unbounded by the library, so
#: small inputs keep each chunk small (at most about 1 MB from 1 KiB).
_DEFLATE64_IN = 1024


def _deflate64(src: memoryview) -> Chunks:
    d = inflate64.Inflater()
    for i in range(0, len(src), _DEFLATE64_IN):
        out = d.inflate(bytes(src[i : i + _DEFLATE64_IN]))
        if out:
            yield out, min(i + _DEFLATE64_IN, len(src))
        if d.eof:
            return
    raise EOFError("Deflate64 data ended before the end of the stream")


class _LzmaInternals(Protocol):
    """The private helper ``zipfile`` itself uses to read LZMA members (typeshed omits it)."""

    def _decode_filter_properties(
        self, filter_id: int, encoded_props: bytes, /
    ) -> dict[str, int]: ...


_lzma = cast(_LzmaInternals, lzma)


def decode_name(raw: bytes, utf8_flag: bool) -> tuple[str, str]:
    """(name, raw name): UTF-8 when flagged or valid, else CP932 (Japanese Windows
    archivers), else CP437, the zip default. The raw name is the CP437 reading."""
    if utf8_flag:
        name = raw.decode("utf-8", "replace")
        return name, name
    raw_name = raw.decode("cp437")
    for enc in ("utf-8", "cp932"):
        try:
            return raw.decode(enc), raw_name
        except UnicodeDecodeError:
            continue
    return raw_name, raw_name


def _member(data: memoryview, offset: int, csize: int, method: int) -> Chunks:
    sig, _v, _f, _m, _t, _d, _crc, _c, _u, nlen, xlen = zipdir.LOCAL.unpack_from(data, offset)
    if sig != b"PK\x03\x04":
        raise ValueError(f"bad local header at offset {offset}")
    start = offset + zipdir.LOCAL.size + nlen + xlen
    src = data[start : start + csize]
    if method == 0:
        return stored(src)
    if method == 8:
        return inflate(src, -zlib.MAX_WBITS)
    if method == 9:
        return _deflate64(src)
    if method == 12:
        return unpack(src, bz2.BZ2Decompressor, b"")
    if method == 14:  # 2+2 byte header, LZMA properties, raw LZMA1 stream
        psize: int = struct.unpack_from("<H", src, 2)[0]
        props = bytes(src[4 : 4 + psize])
        filt = _lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)
        return unpack(
            src[4 + psize :], partial(lzma.LZMADecompressor, lzma.FORMAT_RAW, filters=[filt]), b""
        )
    raise ValueError(f"compression method {method} not supported")


class ZipReader:
    """Zip, and the Office documents (OOXML, ODF) that are zips underneath."""

    def recognises(self, head: bytes) -> bool:
        return head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")

    def items(self, data: bytes, level: Level) -> Iterator[Item]:
        view = memoryview(data)
        for e in zipdir.entries(data, level):
            name, raw_name = decode_name(e.raw, bool(e.flags & 0x800))
            if name == "[Content_Types].xml" or (e.first and name == "mimetype"):
                level.document = True
            encrypted = bool(e.flags & 0x1)
            why: tuple[str, ...] = ()
            if e.note is not None:
                why = (e.note,)
            elif e.offset + zipdir.LOCAL.size > len(data) or e.offset < 0:
                why = (f"local header at offset {e.offset} is outside the file",)
            elif e.method not in READABLE_METHODS and not encrypted:
                method = METHOD_NAMES.get(e.method, str(e.method))
                why = (f"compression method {method} not supported",)
                level.note(f"member {name}: compression method {e.method} not supported")
            readable = not why and not encrypted
            opener = partial(_member, view, e.offset, e.csize, e.method)
            yield Item(
                name=name,
                raw_name=raw_name,
                size=e.usize,
                csize=e.csize,
                encrypted=encrypted,
                is_file=not name.endswith("/"),
                open=opener if readable else None,
                unscannable=why,
                tricks=e.tricks,
            )
