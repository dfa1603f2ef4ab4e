"""Tar archives, plain or inside one compressed stream (.tar.gz, .tar.bz2, .tar.xz).

Contract:
- Recognised by the POSIX ``ustar`` magic at offset 257, or, for a pre-POSIX (v7)
  header without magic, by a valid header checksum.
- ``TarReader(decompress)`` reads the archive through ``tarfile`` in stream mode over a
  bounded decompression (``streams``): nothing is buffered whole, and the whole stream's
  compression ratio is checked as it is read (``Budget.stream``), so a .tar.gz bomb stops
  even when every header declares small sizes. Regular files are members; directories,
  links and devices are counted against the member limit but not listed.
- A member is read during the listing from the stream in hand; its lazy content later
  decompresses the stream again and skips to the member's offset.
- Names are bytes: UTF-8 where valid, else CP932, else Latin-1.

Limits of this module: tarfile's own header checks decide what is corrupt (errorlevel 1);
a sparse file is listed with its apparent size; reading a member late in a large
compressed tar decompresses everything before it again.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from functools import partial
from typing import IO, TYPE_CHECKING, Protocol, cast

from mailpolicy.corpus.archives.protocol import Item, Level
from mailpolicy.corpus.archives.streams import OUT, Chunks, Decompress, stored

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


def checksum_ok(block: bytes) -> bool:
    """A pre-POSIX (v7) tar header: no magic, but a valid header checksum."""
    if len(block) < 512 or block[0] == 0:
        return False
    field_ = block[148:156].replace(b"\x00", b" ").strip()
    if not field_ or any(c not in b"01234567" for c in field_):
        return False
    want = int(field_, 8)
    total = sum(block[:148]) + 8 * 32 + sum(block[156:512])
    return want == total


def recognises_tar(head: bytes) -> bool:
    return head[257:262] == b"ustar" or checksum_ok(head[:512])


class _ChunkFile(io.RawIOBase):
    """A read-only file over a chunk stream that enforces the stream-wide ratio."""

    def __init__(self, chunks: Chunks, level: Level) -> None:
        self._chunks = chunks
        self._level = level
        self._buf = b""
        self._out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        if not self._buf:
            try:
                chunk, consumed = next(self._chunks)
            except StopIteration:
                return 0
            self._out += len(chunk)
            self._level.budget.stream(self._out, consumed, self._level.name or "tar")
            self._buf = chunk
        with memoryview(buffer) as view:
            n = min(len(view), len(self._buf))
            view[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _member_at(decompress: Decompress, view: memoryview, offset: int, size: int) -> Chunks:
    """Decompress again and skip to one member (for the lazy loader)."""
    skipped = 0
    for chunk, consumed in decompress(view):
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


def _read_now(f: IO[bytes] | None) -> Chunks:
    while f is not None:
        piece = f.read(OUT)
        if not piece:
            return
        yield piece, 0


class _StreamState(Protocol):
    """The list a ``TarFile`` in stream mode keeps of every header read (not in typeshed)."""

    members: list[tarfile.TarInfo]


class TarReader:
    """Tar, read through ``decompress`` (``stored`` for a plain tar)."""

    def __init__(self, decompress: Decompress = stored) -> None:
        self.decompress = decompress

    def recognises(self, head: bytes) -> bool:
        return recognises_tar(head)

    def items(self, data: bytes, level: Level) -> Iterator[Item]:
        view = memoryview(data)
        stream = io.BufferedReader(_ChunkFile(self.decompress(view), level), buffer_size=OUT)
        with tarfile.open(
            fileobj=stream, mode="r|", errorlevel=1, encoding="utf-8", errors="surrogateescape"
        ) as tf:
            for ti in tf:
                # stream mode keeps every TarInfo; the budget counts them instead
                cast(_StreamState, tf).members = []
                yield Item(
                    name=_fix_name(ti.name),
                    size=ti.size,
                    is_file=ti.isreg(),
                    open=partial(_read_now, tf.extractfile(ti) if ti.isreg() else None),
                    reopen=partial(_member_at, self.decompress, view, ti.offset_data, ti.size),
                )
