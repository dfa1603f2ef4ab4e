"""ACE archives (1.0 and 2.0), read with acefile.

Contract:
- Recognised by ``**ACE**`` at offset 7 of the main header.
- Every member is listed with its sizes; content is decompressed block by block
  (``AceArchive.readblocks``) under the ``Meter``. Encrypted members are listed by
  name with no content; a solid or multi-volume archive's members are read as acefile
  can (a multi-volume one only as far as this file goes, with an unscannable reason).

Why acefile: the only maintained pure-Python ACE reader (BSD-2-Clause); the unace
binary is proprietary and not packaged for Debian main.

Limits of this module: acefile's decompressor is pure Python and slow (about 1 MB/s):
the time budget, checked per block, is what bounds a large member; acefile parses
every header when it opens an archive.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from mailpolicy.corpus.archives.protocol import Item, Level
from mailpolicy.corpus.archives.streams import Chunks


def _blocks(archive: Any, member: Any, level: Level) -> Chunks:
    got = 0
    for block in archive.readblocks(member):
        level.budget.check_time()
        got += len(block)
        yield block, max(1, got * member.packsize // max(member.size, 1))


class AceReader:
    """ACE archives, through acefile."""

    def recognises(self, head: bytes) -> bool:
        return head[7:14] == b"**ACE**"

    def items(self, data: bytes, level: Level) -> Iterator[Item]:
        import acefile  # type: ignore[import-untyped]

        level.budget.check_time()
        archive = acefile.open(io.BytesIO(data), search=0)
        if archive.is_multivolume():
            level.cannot("ACE archive spans several volumes: only this one is read")
        for m in archive.getmembers():
            name = str(m.filename).replace("\\", "/")

            def opener(member: Any = m) -> Chunks:
                return _blocks(archive, member, level)

            yield Item(
                name=name,
                size=int(m.size),
                csize=int(m.packsize),
                encrypted=bool(m.is_enc()),
                is_file=not m.is_dir(),
                open=opener,
            )
