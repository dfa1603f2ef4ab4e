"""The reader table: every container format, and the one reader that reads it.

Contract:
- ``READERS`` maps a format name to its ``Reader``; it is the only place a format is
  named. Its order is the order formats are tried in: a header that fits two formats is
  the first (a zip whose bytes at 257 spell ``ustar`` is a zip).
- ``sniff(head)`` is the first format whose reader recognises ``head`` (the first
  ``SNIFF_BYTES`` of the content: an ISO's volume descriptor is at 32 KiB), or None.
  Recognition is by content only, never by name.

Limits of this module: recognition reads the first ``SNIFF_BYTES`` only, so an archive
whose signature is beyond them (a self-extracting executable, a zip behind other data)
is not recognised; there is no recognition by name or declared type.

Adding a format: write a module with a class that follows ``protocol.Reader`` and a
docstring stating its contract and limits, then add one entry here. ``expand`` needs no
change; the limits apply to the new format as they are.
"""

from __future__ import annotations

from mailpolicy.corpus.archives import streams
from mailpolicy.corpus.archives.ace import AceReader
from mailpolicy.corpus.archives.cab import CabReader
from mailpolicy.corpus.archives.compressed import (
    CompressedReader,
    gzip_fname,
    is_bzip2,
    is_gzip,
    is_xz,
)
from mailpolicy.corpus.archives.diskimage import DiskImageReader
from mailpolicy.corpus.archives.iso import IsoReader
from mailpolicy.corpus.archives.msi import MsiReader
from mailpolicy.corpus.archives.onenote import OneNoteReader
from mailpolicy.corpus.archives.protocol import Reader
from mailpolicy.corpus.archives.rar import RarReader
from mailpolicy.corpus.archives.sevenzip import SevenZipReader
from mailpolicy.corpus.archives.smuggling import SmugglingReader
from mailpolicy.corpus.archives.tar import TarReader
from mailpolicy.corpus.archives.zip import ZipReader

#: Bytes of content ``sniff`` looks at (ISO 9660 and UDF descriptors start at 32 KiB).
SNIFF_BYTES = 36 * 1024


def sniff(head: bytes) -> str | None:
    """The archive format of content starting with ``head``, or None.

    >>> sniff(b"PK\\x03\\x04...")
    'zip'
    """
    return next((fmt for fmt, reader in READERS.items() if reader.recognises(head)), None)


def _is_archive(head: bytes) -> bool:
    return sniff(head) is not None


def _is_tar(head: bytes) -> bool:
    return sniff(head) == "tar"


READERS: dict[str, Reader] = {
    "zip": ZipReader(),
    "gzip": CompressedReader(is_gzip, streams.gunzip, _is_tar, fname=gzip_fname),
    "bzip2": CompressedReader(is_bzip2, streams.bunzip2, _is_tar),
    "xz": CompressedReader(is_xz, streams.unxz, _is_tar),
    "7z": SevenZipReader(_is_archive),
    "rar": RarReader(),
    "cab": CabReader(),
    "ace": AceReader(),
    "msi": MsiReader(),
    "onenote": OneNoteReader(),
    "iso": IsoReader(),
    "tar": TarReader(),
    # a boot sector or partition table is the weakest binary signature
    "disk-image": DiskImageReader(),
    # last: markup is text, and must never win over a binary format; its members are the
    # files an HTML or SVG page would assemble in the browser (HTML smuggling)
    "html": SmugglingReader(),
}
