"""Reading files safely: regular files only, never further than their size, never blocking;
decompressing streams that keep what came before a corruption.

``open_regular(path)`` is how every file the tool reads is opened (messages, labels, list
files): a FIFO, a device or a ``/proc`` entry is refused or read as the empty file it
claims to be, never waited on. ``Chain``, ``Salvage``, ``read_up_to`` and ``decompressor``
are the pieces the corpus readers stream a file or standard input through.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import io
import lzma
import os
import stat
import zlib
from typing import Any, BinaryIO, Protocol, cast

#: Bytes read per ``read`` call.
CHUNK = 1 << 20


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


class _AsStatted(io.RawIOBase):
    """A regular file read no further than the size ``fstat`` gave when it was opened: a
    ``/proc`` entry (``/proc/kmsg`` waits for data, and reading it consumes the kernel log)
    reads as the empty file it claims to be; a read that would wait raises instead."""

    def __init__(self, fd: int, size: int) -> None:
        super().__init__()
        self._f = io.FileIO(fd, "rb")
        self._size = size
        self._left = size

    def readable(self) -> bool:
        return True

    seekable = readable

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._left)
        if n <= 0:
            return 0
        got = self._f.readinto(memoryview(buffer)[:n])
        if got is None:
            raise BlockingIOError(errno.EAGAIN, "no data without waiting")
        self._left -= got
        return got

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        where = self._f.seek(pos, whence)
        self._left = max(0, self._size - where)
        return where

    def fileno(self) -> int:
        return self._f.fileno()

    def close(self) -> None:
        self._f.close()
        super().close()


def open_regular(path: str) -> BinaryIO:
    """``path`` opened for reading if, once open, it is a regular file; else ``OSError``
    (``IsADirectoryError``; ``ENODEV`` "not a regular file ..."; ``ELOOP`` for a link loop).

    Opened non-blocking and judged by ``fstat`` on the open descriptor, so a FIFO (even
    one swapped in after a ``stat``) never blocks and a device is never read; read no
    further than its size then (``_AsStatted``)."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "it is a directory", path)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.ENODEV, "not a regular file (FIFO, socket or device)", path)
        raw = _AsStatted(fd, st.st_size)
    except BaseException:
        os.close(fd)
        raise
    return io.BufferedReader(raw)


class Chain:
    """A read-only stream that returns ``head`` first, then the rest of ``rest``."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1, /) -> bytes:
        if self._head:
            if size < 0:
                out, self._head = self._head + self._rest.read(), b""
                return out
            out, self._head = self._head[:size], self._head[size:]
            return out
        return self._rest.read(size)


class Salvage:
    """Reads a decompressing stream so that the data before a corruption is not lost.

    ``GzipFile.read(n)`` raises at a truncation and drops what it had decompressed for that
    call; this reads with ``read1`` and raises the error only on the call after.
    """

    def __init__(self, stream: gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile) -> None:
        self._stream = stream
        self._error: Exception | None = None

    def read(self, size: int = -1, /) -> bytes:
        if self._error is not None:
            raise self._error
        pieces: list[bytes] = []
        got = 0
        want = size if size >= 0 else 1 << 62
        while got < want:
            try:
                piece = self._stream.read1(min(want - got, CHUNK))
            except CORRUPT as exc:
                self._error = exc
                if not pieces:
                    raise
                break
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
        return b"".join(pieces)


def read_up_to(stream: Readable, limit: int) -> bytes:
    pieces: list[bytes] = []
    got = 0
    while got < limit:
        piece = stream.read(min(CHUNK, limit - got))
        if not piece:
            break
        pieces.append(piece)
        got += len(piece)
    return b"".join(pieces)


def decompressor(kind: str, f: Readable) -> gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile:
    fileobj = cast(BinaryIO, f)  # the decompressors only ever call read()
    if kind == "gzip":
        return gzip.GzipFile(fileobj=fileobj, mode="rb")
    if kind == "bzip2":
        return bz2.BZ2File(fileobj, "rb")
    return lzma.LZMAFile(fileobj, "rb")


CORRUPT = (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError)
