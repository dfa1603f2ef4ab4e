"""Microsoft Cabinet (.cab) files, read by a parser of our own.

Contract:
- Recognised by ``MSCF``, a zero reserved field and version 1.3 (``[MS-CAB]`` 2.1).
- The CFFOLDER and CFFILE records are walked one by one (names UTF-8 when the file's
  attribute says so, else CP437), the member count checked as they are yielded.
- Folders stored uncompressed or with MSZIP (each CFDATA block ``CK`` + a deflate block
  whose window is the previous block's output) are read: a member's content is its slice
  of its folder's stream, decompressed block by block under the ``Meter`` with the time
  budget checked per block. Members of LZX and Quantum folders are listed by name with an
  unscannable reason naming the method.
- Why our own reader: ``cabarchive`` (LGPL) reads MSZIP too but decompresses a whole
  cabinet at once into memory, out of reach of the per-member limits.

Limits of this module: LZX and Quantum are not decompressed; cabinets split over several
files (the "previous/next cabinet" flags) are listed as far as this file goes; checksums
are not checked; reading one member decompresses its folder from the start.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from mailpolicy.corpus.archives.protocol import Item, Level
from mailpolicy.corpus.archives.streams import Chunks

_METHODS = {0: "none", 1: "MSZIP", 2: "Quantum", 3: "LZX"}
#: Folders and files a cabinet may declare (the format's own 16-bit counts).
_MAX = 65535


def _cstring(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.find(b"\0", pos, pos + 257)
    if end < 0:
        raise ValueError(f"CAB name at offset {pos} not terminated")
    return data[pos:end], end + 1


class _Folder:
    def __init__(self, data: bytes, start: int, blocks: int, method: int, reserve: int) -> None:
        self.data, self.start, self.blocks = data, start, blocks
        self.method, self.reserve = method, reserve

    def stream(self, level: Level) -> Iterator[bytes]:
        """The folder's uncompressed bytes, one CFDATA block at a time."""
        pos, window = self.start, b""
        for _ in range(self.blocks):
            level.budget.check_time()
            if pos + 8 > len(self.data):
                raise EOFError("CAB data block outside the file")
            csize, usize = struct.unpack_from("<HH", self.data, pos + 4)
            pos += 8 + self.reserve
            block = self.data[pos : pos + csize]
            pos += csize
            if self.method == 0:
                out = block
            else:
                if block[:2] != b"CK":
                    raise ValueError("MSZIP block without its CK signature")
                d = (
                    zlib.decompressobj(-zlib.MAX_WBITS, zdict=window)
                    if window
                    else (zlib.decompressobj(-zlib.MAX_WBITS))
                )
                out = d.decompress(block[2:], max(usize, 1))
            if len(out) != usize:
                raise ValueError(f"CAB block gives {len(out)} bytes, says {usize}")
            window = (window + out)[-32768:]
            yield out

    def slice(self, offset: int, size: int, level: Level) -> Chunks:
        at = 0
        got = 0
        for block in self.stream(level):
            lo, hi = max(offset - at, 0), min(offset + size - at, len(block))
            at += len(block)
            if lo < hi:
                got += hi - lo
                yield block[lo:hi], got
            if at >= offset + size:
                return
        if got < size:
            raise EOFError(f"CAB folder ends after {got} of {size} bytes")


def _folders(data: bytes, level: Level) -> tuple[list[_Folder], int, int]:
    """The folders, the offset of the first CFFILE, and the number of files."""
    (_sig, _r1, _size, _r2, files_at, _r3, _minor, _major, nfolders, nfiles, flags) = (
        struct.unpack_from("<4sLLLLLBBHHH", data, 0)
    )
    pos = 36
    folder_reserve = data_reserve = 0
    if flags & 0x4:
        header_reserve, folder_reserve, data_reserve = struct.unpack_from("<HBB", data, pos)
        pos += 4 + header_reserve
    for flag in (0x1, 0x2):  # previous / next cabinet: two names each
        if flags & flag:
            _name, pos = _cstring(data, pos)
            _disk, pos = _cstring(data, pos)
            level.cannot("CAB spans several cabinet files: only this one is read")
    folders: list[_Folder] = []
    for _ in range(min(nfolders, _MAX)):
        start, blocks, method = struct.unpack_from("<LHH", data, pos)
        folders.append(_Folder(data, start, blocks, method & 0xF, data_reserve))
        pos += 8 + folder_reserve
    return folders, files_at, nfiles


class CabReader:
    """Cabinet files (MSZIP and stored folders read; LZX and Quantum listed)."""

    def recognises(self, head: bytes) -> bool:
        return head.startswith(b"MSCF\0\0\0\0") and head[24:26] == b"\x03\x01"

    def items(self, data: bytes, level: Level) -> Iterator[Item]:
        folders, pos, nfiles = _folders(data, level)
        for _ in range(nfiles):
            size, offset, index, _date, _time, attrs = struct.unpack_from("<LLHHHH", data, pos)
            raw, pos = _cstring(data, pos + 16)
            name = raw.decode("utf-8" if attrs & 0x80 else "cp437", "replace").replace("\\", "/")
            folder = folders[index] if index < len(folders) else None
            why: tuple[str, ...] = ()
            if folder is None:
                why = (f"CAB folder {index} of member {name} is not in this cabinet",)
            elif folder.method not in (0, 1):
                method = _METHODS.get(folder.method, str(folder.method))
                why = (f"CAB compression {method} not supported",)
                level.note(f"member {name}: CAB compression {method} not supported")

            def opener(f: _Folder | None = folder, o: int = offset, n: int = size) -> Chunks:
                assert f is not None
                return f.slice(o, n, level)

            yield Item(name=name, size=size, open=None if why else opener, unscannable=why)
