"""Where a zip's entries are: every central directory in the file, and the local headers.

Contract:
- ``entries(data, level)`` returns every entry of every zip in ``data``, in file order,
  as ``Entry`` records with absolute offsets, and says what it found on ``level``:
  - every end-of-central-directory record whose directory checks out is a zip; one
    found inside another entry's data is a stored nested zip (left to the nesting), not
    a second archive. Two or more archives in one file are the ``concatenated-archive``
    trick (7-Zip shows the first, Python's zipfile the last): all are listed and every
    member carries the trick;
  - a local header that no directory names (and that lies inside no entry's data) is a
    hidden member, read from its local header, with the ``directory-mismatch`` trick;
    so is an entry whose local header names another file;
  - no usable directory at all (missing, truncated, garbage, absurd offsets): every
    member is read from the local headers, walking them in order (7-Zip recovers such
    files), with an unscannable reason and the ``directory-mismatch`` trick;
  - entries whose bytes overlap (the overlap zip bomb, CVE-2024-0450, that CPython's
    zipfile refuses only from 3.11.8) carry the ``overlapping-entries`` trick and are not
    read.
- Scans check the time budget (``Budget.check_time``) and stop at the member limit.

Limits of this module: a member read from its local header with a data descriptor
(flag bit 3, sizes zero) ends at the next zip signature, as 7-Zip guesses too, so a
stored member that contains zip signatures is cut there; split archives are not joined.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass

from mailpolicy.corpus.archives.protocol import Level

CD = struct.Struct("<4s6H3L5H2L")
LOCAL = struct.Struct("<4s5H3L2H")
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
#: End records looked at, at most (a comment full of fake records costs no more).
MAX_DIRECTORIES = 64


@dataclass(slots=True)
class Entry:
    """One zip entry: where its local header is and what its directory says."""

    raw: bytes
    flags: int
    method: int
    csize: int
    usize: int
    offset: int  # absolute offset of the local header
    archive: int  # which zip of the file (0, 1, ... in file order)
    first: bool = False  # the first entry of its archive (ODF's ``mimetype``)
    tricks: tuple[str, ...] = ()
    note: str | None = None  # why it cannot be read (overlap)

    def end(self, data: bytes) -> int:
        """Where this entry's data ends (its local header read, if it is there)."""
        start = self.offset + LOCAL.size
        if data[self.offset : self.offset + 4] == b"PK\x03\x04" and start <= len(data):
            nlen, xlen = struct.unpack_from("<2H", data, self.offset + 26)
            start += nlen + xlen
        return min(start + self.csize, len(data))


def zip64(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
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


def _directory_at(data: bytes, eocd: int) -> tuple[int, int, int] | None:
    """(first entry, end, shift of every offset) of the directory ``eocd`` ends, or None."""
    if eocd + _EOCD.size > len(data):
        return None
    _sig, _d, _cd, _n, total, cd_size, cd_offset, _cl = _EOCD.unpack_from(data, eocd)
    cd_end = eocd
    loc = eocd - 20
    if loc >= 0 and data[loc : loc + 4] == b"PK\x06\x07":
        rec: int = struct.unpack_from("<Q", data, loc + 8)[0]
        if rec + _EOCD64.size <= len(data) and data[rec : rec + 4] == b"PK\x06\x06":
            _s, _sz, _v1, _v2, _d1, _d2, _n1, total, cd_size, cd_offset = _EOCD64.unpack_from(
                data, rec
            )
            cd_end = rec
    start = cd_end - cd_size
    if start < 0 or (cd_size and data[start : start + 4] != b"PK\x01\x02"):
        return None
    if not cd_size and total:
        return None
    # data prepended to the zip (concatenation, a stub) shifts every offset
    return start, cd_end, start - cd_offset


def _walk(data: bytes, start: int, end: int, shift: int, archive: int, level: Level) -> list[Entry]:
    out: list[Entry] = []
    pos = start
    while pos < end:
        level.budget.check_time()
        if data[pos : pos + 4] != b"PK\x01\x02" or pos + CD.size > len(data):
            level.cannot(f"zip central directory damaged at offset {pos}")
            break
        (_s, _vm, _vn, flags, method, _t, _dt, _crc, csize, usize, nlen, xlen, clen) = (
            CD.unpack_from(data, pos)[:13]
        )
        offset: int = CD.unpack_from(data, pos)[16]
        raw = data[pos + CD.size : pos + CD.size + nlen]
        extra = data[pos + CD.size + nlen : pos + CD.size + nlen + xlen]
        pos += CD.size + nlen + xlen + clen
        usize, csize, offset = zip64(extra, usize, csize, offset)
        out.append(Entry(raw, flags, method, csize, usize, offset + shift, archive, not out))
        if len(out) > level.budget.limits.max_members:
            break  # the expansion's member count stops it at the same point
    return out


def _local_at(data: bytes, pos: int, archive: int) -> Entry | None:
    if pos + LOCAL.size > len(data):
        return None
    _sig, _v, flags, method, _t, _d, _crc, csize, usize, nlen, xlen = LOCAL.unpack_from(data, pos)
    raw = data[pos + LOCAL.size : pos + LOCAL.size + nlen]
    extra = data[pos + LOCAL.size + nlen : pos + LOCAL.size + nlen + xlen]
    usize, csize, _ = zip64(extra, usize, csize, 0)
    start = pos + LOCAL.size + nlen + xlen
    if flags & 0x8 and csize == 0:  # sizes in a data descriptor after the data
        ends = [i for i in (data.find(s, start) for s in (b"PK\x07\x08", b"PK\x03\x04")) if i >= 0]
        ends.append(data.find(b"PK\x01\x02", start) if b"PK\x01\x02" in data[start:] else len(data))
        end = min(ends)
        csize = end - start
        if data[end : end + 4] == b"PK\x07\x08" and end + 16 <= len(data):
            usize = struct.unpack_from("<L", data, end + 12)[0]
        else:
            usize = 0
    return Entry(raw, flags, method, min(csize, len(data) - start), usize, pos, archive)


class _Cover:
    """The byte ranges of entries seen so far: is an offset inside one's data?"""

    def __init__(self) -> None:
        self.spans: list[tuple[int, int]] = []
        self._starts: list[int] = []
        self._reach: list[int] = []  # the furthest end of the spans up to each start

    def add(self, spans: list[tuple[int, int]]) -> None:
        self.spans = sorted([*self.spans, *spans])
        self._starts = [a for a, _ in self.spans]
        reach, far = [], -1
        for _, b in self.spans:
            far = max(far, b)
            reach.append(far)
        self._reach = reach

    def inside(self, pos: int) -> bool:
        i = bisect.bisect_left(self._starts, pos) - 1  # spans starting strictly before pos
        return i >= 0 and self._reach[i] > pos


def _local_headers(data: bytes, level: Level) -> list[int]:
    found: list[int] = []
    pos = data.find(b"PK\x03\x04")
    while pos >= 0 and len(found) <= level.budget.limits.max_members:
        level.budget.check_time()
        found.append(pos)
        pos = data.find(b"PK\x03\x04", pos + 4)
    return found


def _mark_overlaps(data: bytes, entries: list[Entry], level: Level) -> None:
    spans = sorted((e.offset, e.end(data), i) for i, e in enumerate(entries))
    hit: set[int] = set()
    for (a0, a1, i), (b0, _b1, j) in zip(spans, spans[1:], strict=False):
        if b0 < a1 and b0 >= a0:
            hit.update((i, j))
    for i in hit:
        e = entries[i]
        e.tricks = (*e.tricks, "overlapping-entries")
        e.note = "zip entries overlap (the data of one is inside another's): not read"
    if hit:
        level.trick("overlapping-entries", f"zip: {len(hit)} entries share their bytes")


def entries(data: bytes, level: Level) -> list[Entry]:
    """Every entry of every zip in ``data`` (see the module docstring)."""
    dirs: list[tuple[int, int, int]] = []
    cover = _Cover()
    found: list[list[Entry]] = []
    end = len(data)
    for _ in range(MAX_DIRECTORIES):
        eocd = data.rfind(b"PK\x05\x06", 0, end)
        if eocd < 0:
            break
        end = eocd
        level.budget.check_time()
        d = _directory_at(data, eocd)
        if d is None or cover.inside(eocd) or any(d[0] == x[0] for x in dirs):
            continue
        walked = _walk(data, d[0], d[1], d[2], len(dirs), level)
        dirs.append(d)
        found.append(walked)
        cover.add([(e.offset, e.end(data)) for e in walked])
    out = [e for walked in reversed(found) for e in walked]  # file order
    known = {e.offset for e in out}
    hidden: list[Entry] = []
    reach = -1  # the end of the last hidden entry (they are found in file order)
    for pos in _local_headers(data, level):
        if pos in known or pos < reach or cover.inside(pos):
            continue
        e = _local_at(data, pos, len(dirs))
        if e is None:
            continue
        hidden.append(e)
        reach = e.end(data)
    if not found:
        level.cannot(
            "zip central directory missing or unreadable: members read from local headers"
            if hidden
            else "zip central directory missing or unreadable, and no readable local header"
        )
    if hidden:
        if found:
            level.note(f"zip: {len(hidden)} local entries that no central directory lists")
        level.trick("directory-mismatch", "zip: members read from local headers")
        for i, e in enumerate(hidden):
            e.tricks, e.first = ("directory-mismatch",), not found and i == 0
        out = sorted([*out, *hidden], key=lambda e: e.offset)
    for e in out:
        lo = e.offset
        if data[lo : lo + 4] == b"PK\x03\x04" and lo + LOCAL.size <= len(data):
            nlen = struct.unpack_from("<H", data, lo + 26)[0]
            local = data[lo + LOCAL.size : lo + LOCAL.size + nlen]
            if local != e.raw and "directory-mismatch" not in e.tricks:
                e.tricks = (*e.tricks, "directory-mismatch")
                level.trick("directory-mismatch", "zip: a local header names another file")
    if len(dirs) > 1:
        level.trick("concatenated-archive", f"zip: {len(dirs)} archives in one file")
        for e in out:
            e.tricks = (*e.tricks, "concatenated-archive")
    _mark_overlaps(data, out, level)
    return out
