"""Zip archives, read by a parser of our own rather than ``zipfile``.

Contract:
- Recognised by a local header, an empty archive's end record or a spanning marker at
  offset 0 (``PK\\x03\\x04``, ``PK\\x05\\x06``, ``PK\\x07\\x08``).
- The central directory is walked entry by entry (never all at once: a directory of a
  million entries costs only as many entries as the member limit lets through), with
  zip64 sizes and offsets, and data prepended to the zip (concatenation) allowed for.
- Names: UTF-8 when flagged or valid, else CP932 (Japanese Windows archivers), else
  CP437, the zip default; the raw name is the CP437 reading.
- Members with the encryption flag (bit 0) are listed by name with no content.
- **Office documents** (OOXML: a ``[Content_Types].xml`` member; ODF: a first member named
  ``mimetype``) set ``level.document``: listed within the same limits, not an archive.

Limits of this module: members compressed with methods other than stored, deflate, bzip2
and LZMA (deflate64, zstd, PPMd) are listed but not read, with a problem entry; CRCs are
not checked; split archives, self-extracting executables and zip files with a prefix
other than concatenated data are not opened (a directory outside the file is corrupt).
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from collections.abc import Iterator
from functools import partial
from typing import Protocol, cast

from mailpolicy.corpus.archives.protocol import Item, Level
from mailpolicy.corpus.archives.streams import Chunks, inflate, stored, unpack

_CD = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")

#: Compression methods read: stored, deflate, bzip2, LZMA.
READABLE_METHODS = (0, 8, 12, 14)


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
    sig, _v, _f, _m, _t, _d, _crc, _c, _u, nlen, xlen = _LOCAL.unpack_from(data, offset)
    if sig != b"PK\x03\x04":
        raise ValueError(f"bad local header at offset {offset}")
    start = offset + _LOCAL.size + nlen + xlen
    src = data[start : start + csize]
    if method == 0:
        return stored(src)
    if method == 8:
        return inflate(src, -zlib.MAX_WBITS)
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


def _zip64(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    i = 0
    while i + 4 <= len(extra):
        tag, n = struct.unpack_from("<2H", extra, i)
        if tag == 1:
            vals: list[int] = list(struct.unpack_from(f"<{min(n // 8, 3)}Q", extra, i + 4))
            if usize == 0xFFFFFFFF and vals:
                usize = vals.pop(0)
            if csize == 0xFFFFFFFF and vals:
                csize = vals.pop(0)
            if offset == 0xFFFFFFFF and vals:
                offset = vals.pop(0)
            break
        i += 4 + n
    return usize, csize, offset


def _directory(data: bytes) -> tuple[int, int, int]:
    """(first entry, end of the directory, shift of every offset) from the end records."""
    eocd = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if eocd < 0 or eocd + _EOCD.size > len(data):
        raise ValueError("no end of central directory record (truncated zip?)")
    cd_size: int
    cd_offset: int
    _sig, _d, _cd, _n, _total, cd_size, cd_offset, _cl = _EOCD.unpack_from(data, eocd)
    cd_end = eocd
    loc = eocd - 20
    if loc >= 0 and data[loc : loc + 4] == b"PK\x06\x07":
        rec: int = struct.unpack_from("<Q", data, loc + 8)[0]
        if rec + _EOCD64.size <= len(data) and data[rec : rec + 4] == b"PK\x06\x06":
            _s, _sz, _v1, _v2, _d1, _d2, _n1, _n2, cd_size, cd_offset = _EOCD64.unpack_from(
                data, rec
            )
            cd_end = rec
    # data prepended to the zip (concatenation) shifts every offset
    shift = cd_end - cd_size - cd_offset
    if shift < 0:
        raise ValueError("central directory outside the file")
    return cd_offset + shift, cd_end, shift


class ZipReader:
    """Zip, and the Office documents (OOXML, ODF) that are zips underneath."""

    def recognises(self, head: bytes) -> bool:
        return head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")

    def items(self, data: bytes, level: Level) -> Iterator[Item]:
        view = memoryview(data)
        pos, cd_end, shift = _directory(data)
        first = True
        while pos < cd_end:
            if data[pos : pos + 4] != b"PK\x01\x02" or pos + _CD.size > len(data):
                raise ValueError(f"bad central directory entry at offset {pos}")
            flags: int
            method: int
            csize: int
            usize: int
            nlen: int
            xlen: int
            clen: int
            offset: int
            (
                _s,
                _vm,
                _vn,
                flags,
                method,
                _t,
                _dt,
                _crc,
                csize,
                usize,
                nlen,
                xlen,
                clen,
                _ds,
                _ia,
                _ea,
                offset,
            ) = _CD.unpack_from(data, pos)
            raw = data[pos + _CD.size : pos + _CD.size + nlen]
            extra = data[pos + _CD.size + nlen : pos + _CD.size + nlen + xlen]
            pos += _CD.size + nlen + xlen + clen
            usize, csize, offset = _zip64(extra, usize, csize, offset)
            name, raw_name = decode_name(raw, bool(flags & 0x800))
            if name == "[Content_Types].xml" or (first and name == "mimetype"):
                level.document = True
            first = False
            encrypted = bool(flags & 0x1)
            opener = partial(_member, view, offset + shift, csize, method)
            readable = method in READABLE_METHODS
            if not readable and not encrypted:
                level.note(f"member {name}: compression method {method} not supported")
            yield Item(
                name=name,
                raw_name=raw_name,
                size=usize,
                csize=csize,
                encrypted=encrypted,
                is_file=not name.endswith("/"),
                open=opener if readable and not encrypted else None,
            )
