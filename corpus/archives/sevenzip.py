"""7z archives, through py7zr.

Contract:
- Recognised by the signature ``7z bc af 27 1c``.
- The directory is listed by py7zr. An archive with encrypted names is one problem entry
  (``7z: file names are encrypted``) and ``encrypted``; an archive that needs a password
  for its content lists every name with no content and sets ``encrypted``.
- The declared sizes must pass the limits (``Budget.would_exceed``) before anything is
  decompressed; then one pass extracts every member (a solid archive decompresses its
  members in order anyway), keeping a member's head, or all of it when it is itself an
  archive, up to ``Limits.max_member_bytes``. The lazy content of a member extracts it
  again on its own.

Limits of this module: py7zr holds a whole member in memory while extracting it, so
content is read only when every member's declared size is within ``max_member_bytes``
and the total within the budget; otherwise the names are listed with a problem entry. A
damaged 7z lists its names with a problem entry and no content.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from functools import partial

import py7zr
from py7zr.io import Py7zIO, WriterFactory

from mailpolicy.corpus.archives.limits import Limits
from mailpolicy.corpus.archives.protocol import Item, Level
from mailpolicy.corpus.archives.streams import Chunks


class _Head(Py7zIO):
    """Keeps a member's head, or all of it (up to ``want``) when it is an archive."""

    def __init__(
        self, want: int, whole: bool, limits: Limits, is_archive: Callable[[bytes], bool]
    ) -> None:
        self.parts: list[bytes] = []
        self.n = 0
        self.want = want
        self.whole = whole
        self.limits = limits
        self.is_archive = is_archive

    def write(self, s: bytes | bytearray) -> int:
        if self.n == 0 and not self.whole and not self.is_archive(bytes(s[:512])):
            self.want = min(self.want, self.limits.head_bytes)
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
    def __init__(self, whole: bool, limits: Limits, is_archive: Callable[[bytes], bool]) -> None:
        self.out: dict[str, _Head] = {}
        self.whole = whole
        self.limits = limits
        self.is_archive = is_archive

    def create(self, filename: str) -> Py7zIO:
        self.out[filename] = _Head(
            self.limits.max_member_bytes, self.whole, self.limits, self.is_archive
        )
        return self.out[filename]


class SevenZipReader:
    """7z; ``is_archive`` tells a member worth keeping whole (a nested archive)."""

    def __init__(self, is_archive: Callable[[bytes], bool]) -> None:
        self.is_archive = is_archive

    def recognises(self, head: bytes) -> bool:
        return head[:6] == b"7z\xbc\xaf\x27\x1c"

    def _extract(self, data: bytes, targets: list[str] | None, limits: Limits) -> dict[str, bytes]:
        factory = _Factory(targets is not None, limits, self.is_archive)
        py7zr.SevenZipFile(io.BytesIO(data)).extract(targets=targets, factory=factory)
        return {k: b"".join(v.parts) for k, v in factory.out.items()}

    def _reopen(self, data: bytes, limits: Limits, name: str) -> Chunks:
        yield self._extract(data, [name], limits).get(name, b""), len(data)

    def items(self, data: bytes, level: Level) -> Iterator[Item]:
        try:
            archive = py7zr.SevenZipFile(io.BytesIO(data))
        except py7zr.PasswordRequired:
            level.names_encrypted("7z")
            return
        encrypted = archive.needs_password()
        infos = archive.list()
        lim = level.budget.limits
        files = [fi for fi in infos if not fi.is_directory]
        total = sum(fi.uncompressed or 0 for fi in files)
        readable = not encrypted and all(
            (fi.uncompressed or 0) <= lim.max_member_bytes for fi in files
        )
        # the declared sizes must pass the limits before anything is decompressed
        if level.budget.would_exceed(total, len(data)):
            readable = False
        if not readable and not encrypted:
            level.note("7z: member content not read (declared sizes over the limits)")
        heads: dict[str, bytes] = {}
        if readable and files:
            # one pass: a solid archive decompresses its members in order anyway
            try:
                heads = self._extract(data, None, lim)
            except Exception as exc:  # noqa: BLE001 damaged data: list the names anyway
                level.note(f"7z: member content not read: {type(exc).__name__}: {exc}")
                readable = False
        for fi in infos:
            yield Item(
                name=fi.filename,
                size=fi.uncompressed,
                csize=fi.compressed,
                encrypted=encrypted,
                is_file=not fi.is_directory,
                content=heads.get(fi.filename) if readable else None,
                reopen=partial(self._reopen, data, lim, fi.filename) if readable else None,
            )
