"""RAR archives (v4 and v5), through rarfile, which lists without the unrar tool.

Contract:
- Recognised by the signature ``Rar! 1a 07``.
- Every entry is listed with its declared and compressed sizes. An archive with encrypted
  headers is one problem entry (``rar: file names are encrypted``) and ``encrypted``; a
  member that needs a password is listed by name with no content and sets ``encrypted``.
- Stored members (method 0) are read by rarfile itself.

Limits of this module: compressed members are listed by name only, because reading them
needs the external unrar tool, which is never run; the archive is then ``unscannable``
(a renamed program in such a member could not be typed), so a policy fails closed on it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from functools import partial

import rarfile

from mailpolicy.corpus.archives.protocol import Item, Level
from mailpolicy.corpus.archives.streams import OUT, Chunks


def _stored(archive: rarfile.RarFile, info: rarfile.RarInfo) -> Chunks:
    with archive.open(info) as f:
        while piece := f.read(OUT):
            yield piece, 0


class RarReader:
    def recognises(self, head: bytes) -> bool:
        return head[:6] == b"Rar!\x1a\x07"

    def items(self, data: bytes, level: Level) -> Iterator[Item]:
        try:
            archive = rarfile.RarFile(io.BytesIO(data))
        except rarfile.PasswordRequired:
            level.names_encrypted("rar")
            return
        for info in archive.infolist():
            encrypted = info.needs_password()
            is_stored = info.compress_type == rarfile.RAR_M0
            if not is_stored and not encrypted and not info.is_dir():
                # a renamed program in a compressed member could not be typed: fail closed
                level.cannot(
                    "rar: compressed members listed by name only (reading them needs the "
                    "external unrar tool)"
                )
            yield Item(
                name=info.filename,
                size=info.file_size,
                csize=info.compress_size,
                encrypted=encrypted,
                is_file=not info.is_dir(),
                open=partial(_stored, archive, info) if is_stored and not encrypted else None,
            )
