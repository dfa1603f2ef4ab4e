"""Disk images: raw (IMG), VHD (fixed and dynamic), and the formats only recognised.

Contract:
- Recognised (from the first 512 bytes) by a FAT boot sector, a master boot record with a
  known partition type, a VHD footer copy (``conectix``), VHDX (``vhdxfile``) or VMDK
  (``KDMV``, or a descriptor). A fixed VHD is a raw disk plus a 512-byte footer
  (``conectix`` at the end), so it is recognised by its MBR or boot sector and its
  footer is dropped; a dynamic VHD's blocks are mapped through its block allocation
  table (``_DynamicVhd``).
- The disk is read as a superfloppy (a FAT boot sector at 0) or through its partition
  table (MBR, or GPT behind a protective MBR); every FAT partition is listed by ``fat``
  (names prefixed ``partN/`` when there are several).
- What is not read is an unscannable reason, never a silent pass: NTFS and exFAT
  partitions, extended partitions, VHDX, VMDK, differencing VHDs. The image is still an
  archive (``is_archive``), so ``attachment unscannable`` and ``type disk-image`` see it.

Limits of this module: NTFS, exFAT, VHDX and VMDK contents are not listed; a dynamic VHD
whose blocks overlap is read as it says; Apple DMG is typed (``types``) but not opened.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from mailpolicy.corpus.archives import fat
from mailpolicy.corpus.archives.protocol import Item, Level
from mailpolicy.corpus.filekind import is_fat_boot, is_mbr

_GPT_BASIC_DATA = bytes.fromhex("a2a0d0ebe5b9334487c068b6b72699c7")
_EXTENDED = (0x05, 0x0F, 0x85)
MAX_PARTITIONS = 128


class _Raw:
    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size = data, size

    def read(self, offset: int, n: int) -> bytes:
        end = min(offset + n, self.size)
        return self.data[offset:end] if 0 <= offset < end else b""


class _DynamicVhd:
    """A dynamic VHD: the disk's blocks where its allocation table puts them."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        dyn = struct.unpack_from(">Q", data, 16)[0]
        if data[dyn : dyn + 8] != b"cxsparse":
            raise ValueError("dynamic VHD header missing")
        self.table = struct.unpack_from(">Q", data, dyn + 16)[0]
        self.entries, self.block = struct.unpack_from(">LL", data, dyn + 28)
        if not self.block or self.block % 512:
            raise ValueError("dynamic VHD with an impossible block size")
        self.bitmap = ((self.block // 512 // 8) + 511) // 512 * 512
        self.size = min(struct.unpack_from(">Q", data, 48)[0], self.entries * self.block)

    def read(self, offset: int, n: int) -> bytes:
        out = bytearray()
        n = max(0, min(n, self.size - offset))
        while n > 0:
            blk, within = divmod(offset, self.block)
            take = min(n, self.block - within)
            at = self.table + 4 * blk
            sector = struct.unpack(">L", self.data[at : at + 4].ljust(4, b"\xff"))[0]
            if sector == 0xFFFFFFFF:
                out += bytes(take)
            else:
                start = sector * 512 + self.bitmap + within
                out += self.data[start : start + take].ljust(take, b"\0")
            offset, n = offset + take, n - take
        return bytes(out)


def _gpt(disk: fat.Disk, level: Level) -> list[int]:
    head = disk.read(512, 92)
    if head[:8] != b"EFI PART":
        level.cannot("GPT header missing behind the protective MBR")
        return []
    first_lba, count, size = struct.unpack_from("<QLL", head, 72)
    starts = []
    for i in range(min(count, MAX_PARTITIONS)):
        e = disk.read(first_lba * 512 + i * size, 48)
        if len(e) == 48 and e[:16] != bytes(16):
            starts.append(struct.unpack_from("<Q", e, 32)[0] * 512)
    return starts


def _partitions(disk: fat.Disk, level: Level) -> list[int]:
    mbr = disk.read(0, 512)
    if is_fat_boot(mbr):
        return [0]
    starts: list[int] = []
    for i in range(4):
        e = mbr[446 + 16 * i : 462 + 16 * i]
        kind, lba = e[4], struct.unpack_from("<L", e, 8)[0]
        if kind == 0xEE:
            return _gpt(disk, level)
        if kind in _EXTENDED:
            level.cannot(f"extended partition {i + 1} not read")
        elif kind and lba:
            starts.append(lba * 512)
    return starts


def _file_systems(disk: fat.Disk, level: Level) -> Iterator[Item]:
    starts = _partitions(disk, level)
    for n, base in enumerate(starts, 1):
        boot = disk.read(base, 512)
        prefix = f"part{n}/" if len(starts) > 1 else ""
        if is_fat_boot(boot):
            try:
                yield from fat.walk(disk, base, prefix, level)
            except ValueError as exc:
                level.cannot(f"partition {n}: {exc}")
        elif boot[3:11] in (b"NTFS    ", b"EXFAT   "):
            level.cannot(f"partition {n}: {boot[3:11].decode().strip()} file system not read")
        else:
            level.cannot(f"partition {n}: unknown file system")


class DiskImageReader:
    """Raw disk images and VHD: the FAT file systems inside them."""

    def recognises(self, head: bytes) -> bool:
        sector = head[:512]
        return (
            is_fat_boot(sector)
            or is_mbr(sector)
            or sector.startswith((b"conectix", b"vhdxfile", b"KDMV", b"# Disk DescriptorFile"))
        )

    def items(self, data: bytes, level: Level) -> Iterator[Item]:
        if data.startswith(b"vhdxfile"):
            level.cannot("VHDX disk image: contents not read")
            return
        if data.startswith((b"KDMV", b"# Disk DescriptorFile")):
            level.cannot("VMDK disk image: contents not read")
            return
        footer = data[-512:] if data[-512:].startswith(b"conectix") else data[:512]
        disk: fat.Disk = _Raw(data, len(data))
        if footer.startswith(b"conectix"):
            kind = struct.unpack_from(">L", footer, 60)[0]
            if kind == 2:
                disk = _Raw(data, len(data) - 512)
            elif kind == 3 and data.startswith(b"conectix"):
                disk = _DynamicVhd(data)
            else:
                level.cannot(f"VHD of disk type {kind} (differencing or unknown): not read")
                return
        yield from _file_systems(disk, level)
