"""Single-stream compressors: gzip, bzip2, xz. A compressed tar, or one compressed file.

Contract:
- Each ``CompressedReader`` is recognised by its magic (gzip ``1f 8b``; bzip2 ``BZh``, a
  block size digit and a block or end-of-stream magic; xz ``fd 37 7a 58 5a 00``).
- When the first 512 decompressed bytes are a tar header (and nothing the table ranks
  before tar), the stream is a compressed tar and ``tar.TarReader`` lists it.
- Otherwise it is one member of unknown size (``Item.size`` None: the limits meter the
  actual bytes as they are decompressed). Its name is the gzip FNAME field when present,
  else the attachment's name minus its compression extension (``.tgz`` and friends
  become ``.tar``), else the attachment's name, else ``data``.

Limits of this module: a plain ``.Z`` (compress) or ``.lz``/``.zst`` stream is not
recognised; only the first 1 KiB after the gzip header is searched for FNAME.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from mailpolicy.corpus.archives.protocol import Item, Level
from mailpolicy.corpus.archives.streams import IN, Decompress, bounded
from mailpolicy.corpus.archives.tar import TarReader

#: Extensions a compressor adds to one file's name, and those that stand for ``.tar.*``.
_SINGLE = ("gz", "gzip", "z", "bz2", "bz", "xz", "lzma")
_TAR = ("tgz", "tbz", "tbz2", "txz")


def is_gzip(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b"


def is_bzip2(head: bytes) -> bool:
    return head[:3] == b"BZh" and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90")


def is_xz(head: bytes) -> bool:
    return head[:6] == b"\xfd7zXZ\x00"


def gzip_fname(data: bytes) -> str | None:
    """The original file name a gzip header records (FNAME), if any."""
    if len(data) > 10 and data[3] & 0x08:  # FNAME
        i = 10
        if data[3] & 0x04:  # FEXTRA
            i += 2 + int.from_bytes(data[10:12], "little")
        end = data.find(b"\x00", i, i + 1024)
        if end > i:
            return data[i:end].decode("latin-1")
    return None


def _no_fname(data: bytes) -> str | None:
    return None


def _name_from(parent: str) -> str:
    stem, dot, ext = parent.rpartition(".")
    lower = ext.lower()
    if dot and lower in _SINGLE:
        return stem
    if dot and lower in _TAR:
        return stem + ".tar"
    return parent or "data"


class CompressedReader:
    """One compressor: its magic, its decompression, and where it records a name."""

    def __init__(
        self,
        magic: Callable[[bytes], bool],
        decompress: Decompress,
        is_tar: Callable[[bytes], bool],
        fname: Callable[[bytes], str | None] = _no_fname,
    ) -> None:
        self.magic = magic
        self.decompress = decompress
        self.is_tar = is_tar
        self.fname = fname
        self.tar = TarReader(decompress)

    def recognises(self, head: bytes) -> bool:
        return self.magic(head)

    def items(self, data: bytes, level: Level) -> Iterator[Item]:
        head = bounded(partial(self.decompress, memoryview(data)[:IN]), 512)
        if len(head) == 512 and self.is_tar(head):
            return self.tar.items(data, level)
        return self._single(data, level)

    def _single(self, data: bytes, level: Level) -> Iterator[Item]:
        name = self.fname(data)
        if name is None:
            name = _name_from(level.name or "")
        yield Item(name=name, size=None, open=partial(self.decompress, memoryview(data)))
