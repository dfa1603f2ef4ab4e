"""ISO 9660 and UDF images, read with pycdlib.

Contract:
- Recognised by a volume descriptor at 32 KiB: ``CD001`` (ISO 9660) or ``BEA01`` (the
  UDF volume recognition sequence) at offset 32769 (``formats.sniff`` hands readers
  ``SNIFF_BYTES``, enough to see it).
- The tree listed is the one Windows shows when it mounts the image: UDF when present,
  else Joliet, else Rock Ridge, else plain ISO 9660 names (``;1`` versions dropped).
  Members are read lazily through pycdlib's file objects in ``streams.OUT`` chunks.
- When the image carries a UDF and a Joliet tree that name different files (a Joliet
  tree of documents beside a UDF tree with a program), the names only in the Joliet tree
  are listed too, with no content and the ``directory-mismatch`` trick.
- pycdlib errors are the reader's errors (``expand`` makes them an unscannable reason);
  the time budget is checked before and after pycdlib parses the image and per chunk.

Why pycdlib: it is the maintained pure-Python reader of ISO 9660, Joliet, Rock Ridge,
El Torito and UDF 2.60 (LGPL-2.1, a licence an MIT project may depend on), it streams
file contents, and writing our own UDF reader would be several hundred lines.

Limits of this module: pycdlib parses the whole directory tree when it opens an image
(its cost is bounded by the image, not by our member limit, and the time budget cannot
interrupt it); multi-session images show their last session; hidden files are listed;
the 8.3 ISO 9660 tree is not compared with the others (its names are truncated copies).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from mailpolicy.corpus.archives.protocol import Item, Level
from mailpolicy.corpus.archives.streams import OUT, Chunks

_FACADES = ("udf_path", "joliet_path", "rr_path", "iso_path")


def _open(data: bytes) -> Any:
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    return iso


def _trees(iso: Any) -> list[str]:
    have = {
        "udf_path": iso.has_udf(),
        "joliet_path": iso.has_joliet(),
        "rr_path": iso.has_rock_ridge(),
        "iso_path": True,
    }
    return [f for f in _FACADES if have[f]]


def _files(iso: Any, facade: str, level: Level) -> Iterator[tuple[str, str]]:
    """(shown name, path in the facade) of every file and folder of one tree."""
    for top, dirs, files in iso.walk(**{facade: "/"}):
        level.budget.check_time()
        base = top.strip("/")
        for d in dirs:
            yield f"{base}/{d}/".lstrip("/"), ""
        for f in files:
            shown = f.rsplit(";", 1)[0] if facade == "iso_path" else f
            yield f"{base}/{shown}".lstrip("/"), f"{top.rstrip('/')}/{f}"


def _content(iso: Any, facade: str, path: str, level: Level) -> Chunks:
    with iso.open_file_from_iso(**{facade: path}) as f:
        got = 0
        while True:
            level.budget.check_time()
            chunk = f.read(OUT)
            if not chunk:
                return
            got += len(chunk)
            yield chunk, got


def _size(iso: Any, facade: str, path: str) -> int:
    return int(iso.get_record(**{facade: path}).get_data_length())


class IsoReader:
    """ISO 9660 / Joliet / Rock Ridge / UDF images."""

    def recognises(self, head: bytes) -> bool:
        return head[32769:32774] in (b"CD001", b"BEA01")

    def items(self, data: bytes, level: Level) -> Iterator[Item]:
        level.budget.check_time()
        iso = _open(data)
        level.budget.check_time()
        trees = _trees(iso)
        shown = trees[0]
        names: set[str] = set()
        for name, path in _files(iso, shown, level):
            names.add(name.lower())
            if not path:
                yield Item(name=name, size=None, is_file=False)
                continue

            def opener(p: str = path) -> Chunks:
                return _content(iso, shown, p, level)

            size = _size(iso, shown, path)
            yield Item(name=name, size=size, csize=size, open=opener)
        for other in trees[1:]:
            if other in ("rr_path", "iso_path"):
                continue  # 8.3 names and Rock Ridge renames of the same files
            extra = [(n, p) for n, p in _files(iso, other, level) if p and n.lower() not in names]
            if extra:
                level.trick(
                    "directory-mismatch",
                    f"ISO image: the {other.split('_')[0]} tree names files the "
                    f"{shown.split('_')[0]} tree does not",
                )
                for n, _p in extra:
                    names.add(n.lower())
                    yield Item(name=n, size=None, tricks=("directory-mismatch",))
