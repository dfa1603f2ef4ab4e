"""Bounded decompression: every codec as a generator of small chunks.

Contract:
- A ``Decompress`` turns compressed bytes into ``Chunks``: (output chunk, compressed bytes
  consumed so far) pairs, no chunk larger than ``OUT``, input fed ``IN`` bytes at a time,
  so a caller can stop after any chunk having spent a bounded amount (the limits in
  ``limits`` are applied by the caller, chunk by chunk).
- ``gunzip``, ``bunzip2`` and ``unxz`` read concatenated streams one after the other
  (``cat a.gz b.gz`` is one file to gzip(1)); ``stored`` slices uncompressed bytes.
- A stream that ends early raises ``EOFError`` after yielding what it decoded.
- ``bounded`` and ``loader`` read at most ``cap`` bytes and never raise: they back the
  lazy ``Attachment.data`` of members, which a policy reads long after the listing.

Limits of this module: deflate, bzip2, xz/LZMA only; no checksum is verified (a member's
CRC is not checked: the listing wants names and heads, not integrity).
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable, Iterator

#: Output size of one decompression step, and input fed per step.
OUT = 64 << 10
IN = 64 << 10

Chunks = Iterator[tuple[bytes, int]]
Decompress = Callable[[memoryview], Chunks]


def stored(src: memoryview) -> Chunks:
    for i in range(0, len(src), OUT):
        yield bytes(src[i : i + OUT]), min(i + OUT, len(src))


def inflate(src: memoryview, wbits: int) -> Chunks:
    """zlib/deflate/gzip; concatenated gzip members are read one after the other."""
    start = 0
    while True:
        d = zlib.decompressobj(wbits)
        pos, tail = start, b""
        while not d.eof:
            if not tail:
                if pos >= len(src):
                    break
                tail, pos = bytes(src[pos : pos + IN]), pos + IN
            out = d.decompress(tail, OUT)
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


def unpack(
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
                piece, pos = bytes(src[pos : pos + IN]), pos + IN
            else:
                piece = b""
            out = d.decompress(piece, OUT)
            if out:
                yield out, pos
        start = min(pos, len(src)) - len(d.unused_data)
        while start < len(src) and src[start] == 0:  # xz stream padding
            start += 1
        if not magic or bytes(src[start : start + len(magic)]) != magic:
            return


def gunzip(src: memoryview) -> Chunks:
    return inflate(src, 16 + zlib.MAX_WBITS)


def bunzip2(src: memoryview) -> Chunks:
    return unpack(src, bz2.BZ2Decompressor, b"BZh")


def unxz(src: memoryview) -> Chunks:
    return unpack(src, lzma.LZMADecompressor, b"\xfd7zXZ\x00")


def bounded(opener: Callable[[], Chunks], cap: int) -> bytes:
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


def loader(opener: Callable[[], Chunks], cap: int) -> Callable[[], bytes]:
    return lambda: bounded(opener, cap)
