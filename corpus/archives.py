"""Archive inspection with limits: what is inside an attachment, without being buried by it.

Contract:
- ``listing(attachment)`` returns an ``ArchiveListing``; it never raises. The format is
  recognised by content (magic bytes), never by name: zip, tar (plain, gzip, bzip2, xz),
  a single gzip/bzip2/xz file (one member, named by the gzip FNAME field or the attachment
  name minus its extension), 7z (py7zr) and rar (rarfile). Anything else is
  ``ArchiveListing(is_archive=False)``.
- Members are ``Attachment`` objects (``in_archive=True``, ``part`` = parent part + ``/`` +
  member name, ``size`` = the uncompressed size) whose content is read lazily and bounded
  (at most the member's declared size and ``Limits.max_member_bytes``). Nested archives
  are expanded during the listing, depth first, under one shared budget, so the top
  listing knows about everything below it: ``encrypted`` and ``exceeds_limits`` propagate
  upwards and ``problems`` collects every problem of the tree.
- **Limits** (``Limits``, default ``LIMITS``): depth, members in total, expanded bytes in
  total, compression ratio per member (above a floor), and the largest member read for
  nested expansion. Declared sizes are checked first (a zip bomb's directory gives it
  away), and every decompression runs in bounded chunks that re-check the actual bytes, so
  a member that lies about its size is caught too. Exceeding a limit **stops the whole
  expansion at once**: the listing keeps the members seen so far (the member that broke
  the limit included, so its name stays visible), ``exceeds_limits`` is set and a problem
  says which limit (``"depth > 8"``, ``"ratio 1032:1 for member x"``).
- **Encrypted** members (zip flag bit 0, 7z with a password, rar ``needs_password``) are
  listed by name with empty content and set ``encrypted``. Encryption is not a limit:
  ``exceeds_limits`` stays False (a policy's ``archive exceeds limits`` may choose to
  include ``encrypted``). A corrupt or truncated archive is a problem entry, never an
  exception; members read before the damage stay listed.
- **Office documents** (OOXML: a zip with ``[Content_Types].xml``; ODF: a zip whose first
  member is ``mimetype``) are documents, not archives: ``is_archive`` is False, but their
  parts are still listed as members, within the same limits, so a ``.docx`` that smuggles
  an ``.exe`` part is visible to ``archive contains extension in executable`` while a
  normal one (``.xml``, ``.rels``, images) does not match it. A policy that wants "real
  archives only" tests ``is_archive``.

Limits of this module: zip members compressed with methods other than stored, deflate,
bzip2 and LZMA (deflate64, zstd, PPMd) are listed but not read; rar members are read only
when stored (method 0: reading compressed rar needs the external unrar tool, which is never
run); 7z members are extracted by py7zr, which holds a whole member in memory, so 7z
content is only read when each member's declared size is within ``max_member_bytes``.
Split archives, self-extracting executables and zip files with a prefix other than
concatenated data are not opened.
"""

from __future__ import annotations

import bz2
import io
import lzma
import struct
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import IO

from mailpolicy.corpus.message import HEAD_BYTES, ArchiveListing, Attachment


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one attachment's expansion (all members at all depths together)."""

    max_depth: int = 8
    max_members: int = 10_000
    max_total_bytes: int = 200 << 20
    #: uncompressed:compressed ratio allowed per member ...
    max_ratio: int = 100
    #: ... once the member is larger than this
    ratio_floor: int = 1 << 20
    #: bytes of each member read during the listing to recognise nested archives
    head_bytes: int = HEAD_BYTES
    #: largest member read whole (nested archives, and the lazy content of any member)
    max_member_bytes: int = 64 << 20


LIMITS = Limits()

#: Output size of one decompression step, and input fed per step.
_OUT = 64 << 10
_IN = 64 << 10

_NOT_ARCHIVE = ArchiveListing()
_NO_MEMBERS = ArchiveListing()


def _mb(n: int) -> str:
    return f"{n / (1 << 20):g} MB"


class _Stop(Exception):
    """A limit was hit; the message is the problem entry."""


# -- recognising formats -----------------------------------------------------------------


def _tar_checksum_ok(block: bytes) -> bool:
    """A pre-POSIX (v7) tar header: no magic, but a valid header checksum."""
    if len(block) < 512 or block[0] == 0:
        return False
    field_ = block[148:156].replace(b"\x00", b" ").strip()
    if not field_ or any(c not in b"01234567" for c in field_):
        return False
    want = int(field_, 8)
    total = sum(block[:148]) + 8 * 32 + sum(block[156:512])
    return want == total


def sniff(head: bytes) -> str | None:
    """The archive format of content starting with ``head``, or None.

    >>> sniff(b"PK\\x03\\x04...")
    'zip'
    """
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh" and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:6] == b"7z\xbc\xaf\x27\x1c":
        return "7z"
    if head[:6] == b"Rar!\x1a\x07":
        return "rar"
    if head[257:262] == b"ustar" or _tar_checksum_ok(head[:512]):
        return "tar"
    return None


# -- bounded decompression ---------------------------------------------------------------
# Each generator yields (output chunk, compressed bytes consumed so far); no chunk is
# larger than _OUT, so a caller can stop after any chunk having spent a bounded amount.

Chunks = Iterator[tuple[bytes, int]]


def _stored(src: memoryview) -> Chunks:
    for i in range(0, len(src), _OUT):
        yield bytes(src[i : i + _OUT]), min(i + _OUT, len(src))


def _inflate(src: memoryview, wbits: int) -> Chunks:
    """zlib/deflate/gzip; concatenated gzip members are read one after the other."""
    start = 0
    while True:
        d = zlib.decompressobj(wbits)
        pos, tail = start, b""
        while not d.eof:
            if not tail:
                if pos >= len(src):
                    break
                tail, pos = bytes(src[pos : pos + _IN]), pos + _IN
            out = d.decompress(tail, _OUT)
            tail = d.unconsumed_tail
            if out:
                yield out, pos - len(tail)
        if not d.eof:
            rest = d.flush()
            if rest:
                yield rest, len(src)
            raise EOFError("compressed data ended before the end of the stream")
        start = min(pos, len(src)) - len(d.unused_data)
        if wbits < 16 or bytes(src[start : start + 2]) != b"\x1f\x8b":
            return


def _unpack(
    src: memoryview,
    factory: Callable[[], bz2.BZ2Decompressor | lzma.LZMADecompressor],
    magic: bytes,
) -> Chunks:
    """bzip2/xz/lzma with ``needs_input``; concatenated streams are read in turn."""
    start = 0
    while True:
        d = factory()
        pos = start
        while not d.eof:
            if d.needs_input:
                if pos >= len(src):
                    raise EOFError("compressed data ended before the end of the stream")
                piece, pos = bytes(src[pos : pos + _IN]), pos + _IN
            else:
                piece = b""
            out = d.decompress(piece, _OUT)
            if out:
                yield out, pos
        start = min(pos, len(src)) - len(d.unused_data)
        while start < len(src) and src[start] == 0:  # xz stream padding
            start += 1
        if not magic or bytes(src[start : start + len(magic)]) != magic:
            return


def _stream(fmt: str, src: memoryview) -> Chunks:
    if fmt == "gzip":
        return _inflate(src, 16 + zlib.MAX_WBITS)
    if fmt == "bzip2":
        return _unpack(src, bz2.BZ2Decompressor, b"BZh")
    if fmt == "xz":
        return _unpack(src, lzma.LZMADecompressor, b"\xfd7zXZ\x00")
    return _stored(src)


def _bounded(opener: Callable[[], Chunks], cap: int) -> bytes:
    """At most ``cap`` bytes of ``opener()``; errors end the read (what was read is kept)."""
    out: list[bytes] = []
    got = 0
    chunks: Chunks | None = None
    try:
        chunks = opener()
        for chunk, _ in chunks:
            out.append(chunk[: cap - got])
            got += len(out[-1])
            if got >= cap:
                break
    except Exception:  # noqa: BLE001 a lazy loader must not raise into a policy
        pass
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return b"".join(out)


def _loader(opener: Callable[[], Chunks], cap: int) -> Callable[[], bytes]:
    return lambda: _bounded(opener, cap)


# -- one archive level -------------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    """One directory entry of an archive, as a format reader reports it."""

    name: str
    size: int | None  # declared uncompressed size, None when the format does not say
    csize: int | None = None  # compressed size, when known
    raw_name: str | None = None
    encrypted: bool = False
    is_file: bool = True
    #: decompresses this member now, during the listing (None: content not readable)
    open: Callable[[], Chunks] | None = None
    #: decompresses it again later, for the lazy loader (defaults to ``open``)
    reopen: Callable[[], Chunks] | None = None
    #: content already in hand (7z), instead of ``open``
    content: bytes | None = None


class _Budget:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.members = 0
        self.expanded = 0
        self.stopped = False

    def trip(self, problem: str) -> _Stop:
        self.stopped = True
        return _Stop(problem)


class _Meter:
    """Reads one member's chunks under the limits, continuing where the last take stopped.

    Raises ``_Stop`` when the member outgrows its declared size, the ratio, or (for a
    member of unknown size) the total budget.
    """

    def __init__(self, item: _Item, chunks: Chunks, budget: _Budget) -> None:
        self.item = item
        self.chunks = chunks
        self.budget = budget
        self.got = 0
        self.done = False
        self._pending = b""

    def _next(self) -> bytes:
        try:
            chunk, consumed = next(self.chunks)
        except StopIteration:
            self.done = True
            return b""
        b, lim, item = self.budget, self.budget.limits, self.item
        self.got += len(chunk)
        if item.size is not None and self.got > item.size:
            raise b.trip(f"member {item.name} larger than its declared {item.size} bytes")
        if item.size is None:
            b.expanded += len(chunk)
            if b.expanded > lim.max_total_bytes:
                raise b.trip(f"expanded size > {_mb(lim.max_total_bytes)}")
        base = item.csize if item.csize is not None else consumed
        if self.got > lim.ratio_floor and self.got > lim.max_ratio * max(base, 1):
            raise b.trip(f"ratio > {lim.max_ratio}:1 for member {item.name}")
        return chunk

    def take(self, n: int) -> bytes:
        out = [self._pending[:n]]
        have = len(out[0])
        self._pending = self._pending[n:]
        while have < n and not self.done:
            chunk = self._next()
            out.append(chunk[: n - have])
            self._pending = chunk[n - have :]
            have += len(out[-1])
        if not self._pending and not self.done and have == n:
            # peek: is there anything left? (so a member of exactly n bytes is complete)
            self._pending = self._next()
        return b"".join(out)

    def skip(self) -> None:
        self._pending = b""
        while not self.done:
            self._next()

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


@dataclass(slots=True)
class _Level:
    """The listing of one archive being built."""

    budget: _Budget
    name: str | None
    part: str
    depth: int
    members: list[Attachment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    encrypted: bool = False
    document: bool = False

    def note(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def add(self, item: _Item) -> None:
        """Count, check and list one member; expand it when it is an archive itself."""
        b, lim = self.budget, self.budget.limits
        b.members += 1
        if b.members > lim.max_members:
            raise b.trip(f"members > {lim.max_members}")
        if not item.is_file:
            return
        part = f"{self.part}/{item.name}"
        self.encrypted = self.encrypted or item.encrypted
        problem: str | None = None
        if item.size is not None:
            b.expanded += item.size
            if b.expanded > lim.max_total_bytes:
                problem = f"expanded size > {_mb(lim.max_total_bytes)}"
            elif (
                item.csize is not None
                and item.size > lim.ratio_floor
                and item.size > lim.max_ratio * max(item.csize, 1)
            ):
                problem = f"ratio {item.size // max(item.csize, 1)}:1 for member {item.name}"
        opener = item.reopen or item.open
        readable = not item.encrypted and (opener is not None or item.content is not None)
        if problem is not None or not readable:
            # listed by name only: a member over a limit is never read beyond its head
            loader = _loader(opener, lim.head_bytes) if readable and opener else None
            self._append(item, part, loader, None, item.size, _NO_MEMBERS)
            if problem is not None:
                raise b.trip(problem)
            return
        try:
            size, whole, members = self._read(item, part)
        except _Stop:
            self._append(
                item,
                part,
                _loader(opener, lim.head_bytes) if opener else None,
                None,
                item.size,
                _NO_MEMBERS,
            )
            raise
        except Exception as exc:  # noqa: BLE001 a damaged member is a fact, not a crash
            self.note(f"member {item.name}: damaged data: {type(exc).__name__}: {exc}")
            size, whole, members = item.size, None, _NO_MEMBERS
        cap = min(size if size is not None else lim.max_member_bytes, lim.max_member_bytes)
        loader = _loader(opener, cap) if opener is not None and whole is None else None
        self._append(item, part, loader, whole, size, members)

    def _read(self, item: _Item, part: str) -> tuple[int | None, bytes | None, ArchiveListing]:
        """Read ``item`` as far as the listing needs: (size, whole content if in hand,
        nested listing). Raises ``_Stop`` at a limit."""
        b, lim = self.budget, self.budget.limits
        size = item.size
        if item.content is not None:
            meter = None
            whole = item.content if size is None or len(item.content) >= size else None
            head = item.content[: lim.head_bytes]
        else:
            assert item.open is not None
            meter = _Meter(item, item.open(), b)
            head = meter.take(lim.head_bytes)
            whole = head if meter.done else None
        try:
            members = _NO_MEMBERS
            if sniff(head[:512]) is not None:
                if whole is None and meter is not None:
                    if size is not None and size > lim.max_member_bytes:
                        raise b.trip(
                            f"archive member {item.name} larger than "
                            f"{_mb(lim.max_member_bytes)}: not expanded"
                        )
                    whole = head + meter.take(lim.max_member_bytes - len(head))
                    if not meter.done:
                        raise b.trip(
                            f"archive member {item.name} larger than "
                            f"{_mb(lim.max_member_bytes)}: not expanded"
                        )
                if whole is not None:
                    members = _expand(whole, item.name, part, self.depth + 1, b)
                    self.encrypted = self.encrypted or members.encrypted
                    for p in members.problems:
                        self.note(p)
            elif _looks_like_mail(head):
                if whole is None and meter is not None:
                    whole = head + meter.take(lim.max_member_bytes - len(head))
                    if not meter.done:
                        raise b.trip(
                            f"mail folder {item.name} larger than "
                            f"{_mb(lim.max_member_bytes)}: not opened"
                        )
                if whole is not None:
                    members = _mail_folder(whole, part)
            if meter is not None and size is None:
                meter.skip()  # learn the size (and apply the limits) of a bare stream
                size = meter.got
        finally:
            if meter is not None:
                meter.close()
        if whole is not None and len(whole) > lim.head_bytes and members is _NO_MEMBERS:
            whole = None  # do not keep big leaves in memory: the loader reads them again
        return size, whole, members

    def _append(
        self,
        item: _Item,
        part: str,
        loader: Callable[[], bytes] | None,
        data: bytes | None,
        size: int | None,
        members: ArchiveListing,
    ) -> None:
        self.members.append(
            Attachment(
                names=(item.name,),
                raw_names=(item.raw_name or item.name,),
                declared_type="application/octet-stream",
                loader=loader,
                data=data if data is not None else (None if loader else b""),
                size=size,
                part=part,
                in_archive=True,
                member_loader=_fixed(members),
            )
        )


#: Messages read from one archived mail folder.
MAX_FOLDER_MESSAGES = 1000


def _looks_like_mail(head: bytes) -> bool:
    """An mbox (``From `` envelope line) or a single RFC 5322 message."""
    from mailpolicy.corpus.readers import not_mail_reason

    return head.startswith(b"From ") or not_mail_reason(head) is None


def _mail_folder(data: bytes, part: str) -> ArchiveListing:
    """The attachments of the messages in an archived mail folder (mbox or one message).

    Compressed mail folders were how macro viruses travelled past name filters in 2001:
    their attachments are members of the folder, so ``archive contains`` sees them.
    """
    from mailpolicy.corpus.mime import parse_message
    from mailpolicy.corpus.readers import iter_mbox

    if data.startswith(b"From "):
        messages = [m for _, m in iter_mbox(io.BytesIO(data))]
    else:
        messages = [data]
    found: list[Attachment] = []
    problems = []
    if len(messages) > MAX_FOLDER_MESSAGES:
        problems.append(
            f"mail folder at {part}: only the first {MAX_FOLDER_MESSAGES} messages read"
        )
    for i, raw in enumerate(messages[:MAX_FOLDER_MESSAGES], 1):
        for att in parse_message(raw).attachments:
            att.part = f"{part}/{i}:{att.part}"
            found.append(att)
    return ArchiveListing(
        members=tuple(found),
        problems=tuple(problems),
        exceeds_limits=bool(problems),
        is_archive=False,
    )


def _fixed(listing: ArchiveListing) -> Callable[[Attachment], ArchiveListing]:
    """A member's listing, computed once under the shared budget (never recomputed with a
    fresh budget by ``Attachment``, which would escape the limits)."""

    def member_loader(_attachment: Attachment) -> ArchiveListing:
        return listing

    return member_loader


# -- format readers ----------------------------------------------------------------------


def _decode_name(raw: bytes, utf8_flag: bool) -> tuple[str, str]:
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


_CD = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")


def _zip_member(data: memoryview, offset: int, csize: int, method: int) -> Chunks:
    sig, _v, _f, _m, _t, _d, _crc, _c, _u, nlen, xlen = _LOCAL.unpack_from(data, offset)
    if sig != b"PK\x03\x04":
        raise ValueError(f"bad local header at offset {offset}")
    start = offset + _LOCAL.size + nlen + xlen
    src = data[start : start + csize]
    if method == 0:
        return _stored(src)
    if method == 8:
        return _inflate(src, -zlib.MAX_WBITS)
    if method == 12:
        return _unpack(src, bz2.BZ2Decompressor, b"")
    if method == 14:  # 2+2 byte header, LZMA properties, raw LZMA1 stream
        psize = struct.unpack_from("<H", src, 2)[0]
        props = bytes(src[4 : 4 + psize])
        # the same private helper zipfile itself uses to read LZMA members
        decode = lzma._decode_filter_properties  # type: ignore[attr-defined]
        filt = decode(lzma.FILTER_LZMA1, props)
        return _unpack(
            src[4 + psize :], partial(lzma.LZMADecompressor, lzma.FORMAT_RAW, filters=[filt]), b""
        )
    raise ValueError(f"compression method {method} not supported")


def _zip64(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    i = 0
    while i + 4 <= len(extra):
        tag, n = struct.unpack_from("<2H", extra, i)
        if tag == 1:
            vals = list(struct.unpack_from(f"<{min(n // 8, 3)}Q", extra, i + 4))
            if usize == 0xFFFFFFFF and vals:
                usize = vals.pop(0)
            if csize == 0xFFFFFFFF and vals:
                csize = vals.pop(0)
            if offset == 0xFFFFFFFF and vals:
                offset = vals.pop(0)
            break
        i += 4 + n
    return usize, csize, offset


def _zip_items(data: bytes, level: _Level) -> Iterator[_Item]:
    """Walk the central directory entry by entry (never all at once: a directory of a
    million entries costs only as many entries as the member limit lets through)."""
    view = memoryview(data)
    eocd = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if eocd < 0 or eocd + _EOCD.size > len(data):
        raise ValueError("no end of central directory record (truncated zip?)")
    _sig, _d, _cd, _n, _total, cd_size, cd_offset, _cl = _EOCD.unpack_from(data, eocd)
    cd_end = eocd
    loc = eocd - 20
    if loc >= 0 and data[loc : loc + 4] == b"PK\x06\x07":
        rec = struct.unpack_from("<Q", data, loc + 8)[0]
        if rec + _EOCD64.size <= len(data) and data[rec : rec + 4] == b"PK\x06\x06":
            _s, _sz, _v1, _v2, _d1, _d2, _n1, _n2, cd_size, cd_offset = _EOCD64.unpack_from(
                data, rec
            )
            cd_end = rec
    # data prepended to the zip (concatenation) shifts every offset
    shift = cd_end - cd_size - cd_offset
    if shift < 0:
        raise ValueError("central directory outside the file")
    pos = cd_offset + shift
    first = True
    while pos < cd_end:
        if data[pos : pos + 4] != b"PK\x01\x02" or pos + _CD.size > len(data):
            raise ValueError(f"bad central directory entry at offset {pos}")
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
        name, raw_name = _decode_name(raw, bool(flags & 0x800))
        if name == "[Content_Types].xml" or (first and name == "mimetype"):
            level.document = True
        first = False
        encrypted = bool(flags & 0x1)
        opener = partial(_zip_member, view, offset + shift, csize, method)
        readable = method in (0, 8, 12, 14)
        if not readable and not encrypted:
            level.note(f"member {name}: compression method {method} not supported")
        yield _Item(
            name=name,
            raw_name=raw_name,
            size=usize,
            csize=csize,
            encrypted=encrypted,
            is_file=not name.endswith("/"),
            open=opener if readable and not encrypted else None,
        )


class _ChunkFile(io.RawIOBase):
    """A read-only file over a chunk stream that enforces the stream-wide ratio (tar)."""

    def __init__(self, chunks: Chunks, level: _Level) -> None:
        self._chunks = chunks
        self._level = level
        self._buf = b""
        self._out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._buf:
            try:
                chunk, consumed = next(self._chunks)
            except StopIteration:
                return 0
            self._out += len(chunk)
            lim = self._level.budget.limits
            if self._out > lim.ratio_floor and self._out > lim.max_ratio * max(consumed, 1):
                raise self._level.budget.trip(
                    f"ratio > {lim.max_ratio}:1 in {self._level.name or 'tar'} stream"
                )
            self._buf = chunk
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _tar_member_at(fmt: str, view: memoryview, offset: int, size: int) -> Chunks:
    """Decompress again and skip to one member (for the lazy loader)."""
    skipped = 0
    for chunk, consumed in _stream(fmt, view):
        if skipped + len(chunk) <= offset:
            skipped += len(chunk)
            continue
        chunk = chunk[max(0, offset - skipped) :]
        skipped = offset
        if len(chunk) >= size:
            yield chunk[:size], consumed
            return
        size -= len(chunk)
        yield chunk, consumed


def _fix_name(name: str) -> str:
    """Tar names are bytes; tarfile gave surrogates where they are not UTF-8."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        raw = name.encode("utf-8", "surrogateescape")
        for enc in ("cp932", "latin-1"):
            try:
                return raw.decode(enc)
            except UnicodeDecodeError:
                continue
        return name  # unreachable: latin-1 decodes anything


def _tar_items(data: bytes, fmt: str, level: _Level) -> Iterator[_Item]:
    view = memoryview(data)
    stream = io.BufferedReader(_ChunkFile(_stream(fmt, view), level), buffer_size=_OUT)
    with tarfile.open(
        fileobj=stream, mode="r|", errorlevel=1, encoding="utf-8", errors="surrogateescape"
    ) as tf:
        for ti in tf:
            # stream mode keeps every TarInfo; the budget counts them instead
            tf.members = []  # type: ignore[attr-defined]
            current = tf.extractfile(ti) if ti.isreg() else None

            def now(f: IO[bytes] | None = current) -> Chunks:
                while f is not None:
                    piece = f.read(_OUT)
                    if not piece:
                        return
                    yield piece, 0

            yield _Item(
                name=_fix_name(ti.name),
                size=ti.size,
                is_file=ti.isreg(),
                open=now,
                reopen=partial(_tar_member_at, fmt, view, ti.offset_data, ti.size),
            )


def _single_items(data: bytes, fmt: str, level: _Level) -> Iterator[_Item]:
    name = None
    if fmt == "gzip" and len(data) > 10 and data[3] & 0x08:  # FNAME
        i = 10
        if data[3] & 0x04:  # FEXTRA
            i += 2 + int.from_bytes(data[10:12], "little")
        end = data.find(b"\x00", i, i + 1024)
        if end > i:
            name = data[i:end].decode("latin-1")
    if name is None:
        parent = level.name or ""
        stem, dot, ext = parent.rpartition(".")
        lower = ext.lower()
        if dot and lower in ("gz", "gzip", "z", "bz2", "bz", "xz", "lzma"):
            name = stem
        elif dot and lower in ("tgz", "tbz", "tbz2", "txz"):
            name = stem + ".tar"
        else:
            name = parent or "data"
    view = memoryview(data)
    yield _Item(name=name, size=None, open=partial(_stream, fmt, view))


def _sevenzip_items(data: bytes, level: _Level) -> Iterator[_Item]:
    import py7zr
    from py7zr.io import Py7zIO, WriterFactory

    try:
        archive = py7zr.SevenZipFile(io.BytesIO(data))
    except py7zr.PasswordRequired:
        level.encrypted = True
        level.note("7z: file names are encrypted")
        return
    encrypted = archive.needs_password()
    infos = archive.list()
    lim = level.budget.limits
    files = [fi for fi in infos if not fi.is_directory]
    total = sum(fi.uncompressed or 0 for fi in files)
    readable = not encrypted and all((fi.uncompressed or 0) <= lim.max_member_bytes for fi in files)
    # the declared sizes must pass the limits before anything is decompressed
    if total > lim.max_total_bytes - level.budget.expanded or (
        total > lim.ratio_floor and total > lim.max_ratio * len(data)
    ):
        readable = False
    if not readable and not encrypted:
        level.note("7z: member content not read (declared sizes over the limits)")

    class _Head(Py7zIO):
        """Keeps a member's head, or all of it (up to ``want``) when it is an archive."""

        def __init__(self, want: int, whole: bool) -> None:
            self.parts: list[bytes] = []
            self.n = 0
            self.want = want
            self.whole = whole

        def write(self, s: bytes | bytearray) -> int:
            if self.n == 0 and not self.whole and sniff(bytes(s[:512])) is None:
                self.want = min(self.want, lim.head_bytes)
            if self.n < self.want:
                self.parts.append(bytes(s[: self.want - self.n]))
            self.n += len(s)
            return len(s)

        def read(self, size: int | None = None) -> bytes:
            return b""

        def seek(self, offset: int, whence: int = 0) -> int:
            return 0

        def flush(self) -> None:
            return None

        def size(self) -> int:
            return self.n

    class _Factory(WriterFactory):
        def __init__(self, whole: bool) -> None:
            self.out: dict[str, _Head] = {}
            self.whole = whole

        def create(self, filename: str) -> Py7zIO:
            self.out[filename] = _Head(lim.max_member_bytes, self.whole)
            return self.out[filename]

    def extract(targets: list[str] | None) -> dict[str, bytes]:
        factory = _Factory(whole=targets is not None)
        py7zr.SevenZipFile(io.BytesIO(data)).extract(targets=targets, factory=factory)
        return {k: b"".join(v.parts) for k, v in factory.out.items()}

    heads: dict[str, bytes] = {}
    if readable and files:
        # one pass: a solid archive decompresses its members in order anyway
        try:
            heads = extract(None)
        except Exception as exc:  # noqa: BLE001 damaged data: list the names anyway
            level.note(f"7z: member content not read: {type(exc).__name__}: {exc}")
            readable = False

    def reopen(name: str) -> Chunks:
        yield extract([name]).get(name, b""), len(data)

    for fi in infos:
        yield _Item(
            name=fi.filename,
            size=fi.uncompressed,
            csize=fi.compressed,
            encrypted=encrypted,
            is_file=not fi.is_directory,
            content=heads.get(fi.filename) if readable else None,
            reopen=partial(reopen, fi.filename) if readable else None,
        )


def _rar_items(data: bytes, level: _Level) -> Iterator[_Item]:
    import rarfile

    try:
        archive = rarfile.RarFile(io.BytesIO(data))
    except rarfile.PasswordRequired:
        level.encrypted = True
        level.note("rar: file names are encrypted")
        return

    def stored(info: rarfile.RarInfo) -> Chunks:
        with archive.open(info) as f:
            while piece := f.read(_OUT):
                yield piece, 0

    for info in archive.infolist():
        encrypted = info.needs_password()
        is_stored = info.compress_type == rarfile.RAR_M0
        if not is_stored and not encrypted and not info.is_dir():
            level.note(
                "rar: compressed members listed by name only (reading them needs the "
                "external unrar tool)"
            )
        yield _Item(
            name=info.filename,
            size=info.file_size,
            csize=info.compress_size,
            encrypted=encrypted,
            is_file=not info.is_dir(),
            open=partial(stored, info) if is_stored and not encrypted else None,
        )


# -- entry points ------------------------------------------------------------------------


def _items(fmt: str, data: bytes, level: _Level) -> Iterator[_Item]:
    if fmt == "zip":
        return _zip_items(data, level)
    if fmt == "7z":
        return _sevenzip_items(data, level)
    if fmt == "rar":
        return _rar_items(data, level)
    if fmt == "tar":
        return _tar_items(data, "tar", level)
    # gzip, bzip2, xz: a compressed tar, or one compressed file
    head = _bounded(partial(_stream, fmt, memoryview(data)[:_IN]), 512)
    if len(head) == 512 and sniff(head) == "tar":
        return _tar_items(data, fmt, level)
    return _single_items(data, fmt, level)


def _expand(
    data: bytes, name: str | None, part: str, depth: int, budget: _Budget
) -> ArchiveListing:
    fmt = sniff(data[:512])
    if fmt is None:
        return _NOT_ARCHIVE
    lim = budget.limits
    if depth > lim.max_depth:
        budget.stopped = True
        return ArchiveListing(
            exceeds_limits=True, is_archive=True, problems=(f"depth > {lim.max_depth} at {part}",)
        )
    level = _Level(budget, name, part, depth)
    try:
        for item in _items(fmt, data, level):
            level.add(item)
            if budget.stopped:
                break
    except _Stop as stop:
        level.note(str(stop))
    except Exception as exc:  # noqa: BLE001 a corrupt archive is a fact, not a crash
        if budget.stopped:  # a _Stop raised inside tarfile may come back wrapped
            level.note(str(exc))
        else:
            level.note(f"corrupt {fmt} at {part or 'attachment'}: {type(exc).__name__}: {exc}")
    return ArchiveListing(
        members=tuple(level.members),
        encrypted=level.encrypted,
        exceeds_limits=budget.stopped,
        problems=tuple(level.problems),
        is_archive=not level.document,
    )


def listing(attachment: Attachment, limits: Limits = LIMITS) -> ArchiveListing:
    """Everything inside ``attachment`` within ``limits`` (see the module docstring)."""
    try:
        data = attachment.data
    except Exception as exc:  # noqa: BLE001 a failing loader must not break a policy
        return ArchiveListing(problems=(f"content not readable: {type(exc).__name__}: {exc}",))
    return _expand(data, attachment.name, attachment.part, 1, _Budget(limits))
