"""FAT12/16/32 file systems, read straight from a disk's bytes.

Contract:
- ``walk(disk, base, prefix, level)`` yields an ``Item`` for every file and folder of
  the FAT file system whose boot sector is at byte ``base`` of ``disk`` (a ``Disk``:
  anything with ``size`` and ``read(offset, n)``), depth first, names joined with ``/``
  under ``prefix``, long (VFAT) names preferred over 8.3 names, deleted entries and the
  volume label skipped. A file's content is its cluster chain, read lazily cluster by
  cluster (``Chunks``), at most its declared size.
- Damage is a fact: a boot sector with impossible numbers, a cluster out of range or a
  chain that loops is an unscannable reason on the level; the entries read before it stay
  listed. Folders deeper than ``MAX_FOLDER_DEPTH`` are not entered (a reason says so).
- The time budget is checked per folder cluster and per file cluster read.

Limits of this module: exFAT and NTFS are not read (``diskimage`` says so as a reason);
the FAT is read one entry at a time from the first copy only; timestamps and attributes
other than "folder" are ignored.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Protocol

from mailpolicy.corpus.archives.protocol import Item, Level
from mailpolicy.corpus.archives.streams import Chunks

MAX_FOLDER_DEPTH = 32


class Disk(Protocol):
    size: int

    def read(self, offset: int, n: int) -> bytes: ...


class _Fs:
    def __init__(self, disk: Disk, base: int) -> None:
        b = disk.read(base, 512)
        self.disk, self.base = disk, base
        self.bps = struct.unpack_from("<H", b, 11)[0]
        self.spc = b[13]
        reserved, nfats, root_entries, total16 = struct.unpack_from("<HBHH", b, 14)
        fatsz16 = struct.unpack_from("<H", b, 22)[0]
        total32, fatsz32 = struct.unpack_from("<LL", b, 32)
        if self.bps not in (512, 1024, 2048, 4096) or not self.spc or not nfats or not reserved:
            raise ValueError("FAT boot sector with impossible numbers")
        fatsz = fatsz16 or fatsz32
        root_sectors = (root_entries * 32 + self.bps - 1) // self.bps
        self.fat = base + reserved * self.bps
        self.root = self.fat + nfats * fatsz * self.bps
        self.root_size = root_sectors * self.bps
        self.data = self.root + self.root_size
        total = total16 or total32
        self.clusters = max(0, (total - reserved - nfats * fatsz - root_sectors) // self.spc)
        self.bits = 12 if self.clusters < 4085 else 16 if self.clusters < 65525 else 32
        self.root_cluster = struct.unpack_from("<L", b, 44)[0] if self.bits == 32 else 0
        self.csize = self.bps * self.spc

    def next(self, c: int) -> int | None:
        """The cluster after ``c``, or None at the end of the chain."""
        if self.bits == 12:
            v = struct.unpack("<H", self.disk.read(self.fat + c + c // 2, 2).ljust(2, b"\0"))[0]
            v = v >> 4 if c & 1 else v & 0xFFF
            end = v >= 0xFF8
        elif self.bits == 16:
            v = struct.unpack("<H", self.disk.read(self.fat + 2 * c, 2).ljust(2, b"\0"))[0]
            end = v >= 0xFFF8
        else:
            v = struct.unpack("<L", self.disk.read(self.fat + 4 * c, 4).ljust(4, b"\0"))[0]
            v &= 0x0FFFFFFF
            end = v >= 0x0FFFFFF8
        if end or v == 0:
            return None
        if not 2 <= v < self.clusters + 2:
            raise ValueError(f"FAT cluster {v} out of range")
        return int(v)

    def chain(self, first: int, level: Level) -> Iterator[int]:
        """The clusters of a chain from ``first``; raises on a loop or a bad cluster."""
        seen: set[int] = set()
        c: int | None = first
        while c is not None:
            level.budget.check_time()
            if c in seen or not 2 <= c < self.clusters + 2:
                raise ValueError(f"FAT chain from cluster {first} loops or leaves the disk")
            seen.add(c)
            yield c
            c = self.next(c)

    def cluster(self, c: int) -> bytes:
        return self.disk.read(self.data + (c - 2) * self.csize, self.csize)

    def content(self, first: int, size: int, level: Level) -> Chunks:
        got = 0
        if size and first:
            for c in self.chain(first, level):
                piece = self.cluster(c)[: size - got]
                got += len(piece)
                yield piece, got
                if got >= size:
                    return
        if got < size:
            raise EOFError(f"FAT chain ends after {got} of {size} bytes")


def _lfn_part(e: bytes) -> str:
    raw = e[1:11] + e[14:26] + e[28:32]
    return raw.decode("utf-16-le", "replace").split("\0", 1)[0].replace("\uffff", "")


def _short(e: bytes) -> str:
    stem, ext = e[:8].decode("cp437").rstrip(), e[8:11].decode("cp437").rstrip()
    if stem.startswith("\x05"):
        stem = "\xe5" + stem[1:]
    return f"{stem}.{ext}" if ext else stem


def _entries(fs: _Fs, raw: bytes) -> Iterator[tuple[str, int, int, bool]]:
    """(name, first cluster, size, is folder) of the entries of one folder's bytes."""
    lfn: list[str] = []
    for i in range(0, len(raw) - 31, 32):
        e = raw[i : i + 32]
        if e[0] == 0:
            return
        attr = e[11]
        if e[0] == 0xE5:
            lfn = []
            continue
        if attr & 0x3F == 0x0F:
            if e[0] & 0x40:
                lfn = []
            lfn.insert(0, _lfn_part(e))
            continue
        name = "".join(lfn) or _short(e)
        lfn = []
        if attr & 0x08 or name in (".", ".."):
            continue
        hi, lo = struct.unpack_from("<H", e, 20)[0], struct.unpack_from("<H", e, 26)[0]
        size = struct.unpack_from("<L", e, 28)[0]
        yield name, (hi << 16 | lo) if fs.bits == 32 else lo, size, bool(attr & 0x10)


def _folder(fs: _Fs, first: int, level: Level) -> bytes:
    if first == 0 and fs.bits != 32:
        return fs.disk.read(fs.root, fs.root_size)
    out = bytearray()
    for c in fs.chain(first or fs.root_cluster, level):
        out += fs.cluster(c)
        if len(out) > 32 * 65536:  # FAT allows 65536 entries a folder
            raise ValueError("FAT folder larger than the file system allows")
    return bytes(out)


def walk(disk: Disk, base: int, prefix: str, level: Level) -> Iterator[Item]:
    """Every file and folder of the FAT file system at ``base`` (see the module)."""
    fs = _Fs(disk, base)
    stack: list[tuple[int, str, int]] = [(0, prefix, 0)]
    seen: set[int] = set()
    while stack:
        first, path, depth = stack.pop()
        try:
            entries = list(_entries(fs, _folder(fs, first, level)))
        except ValueError as exc:
            level.cannot(f"FAT folder {path or '/'}: {exc}")
            continue
        for name, cluster, size, is_dir in entries:
            full = f"{path}{name}"
            if is_dir:
                yield Item(name=f"{full}/", size=None, is_file=False)
                if depth >= MAX_FOLDER_DEPTH:
                    level.cannot(f"FAT folder {full} deeper than {MAX_FOLDER_DEPTH}: not read")
                elif cluster and cluster not in seen:
                    seen.add(cluster)
                    stack.append((cluster, f"{full}/", depth + 1))
                continue

            def opener(c: int = cluster, n: int = size) -> Chunks:
                return fs.content(c, n, level)

            yield Item(name=full, size=size, csize=size, open=opener)
