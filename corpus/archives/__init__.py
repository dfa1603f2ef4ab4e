"""Archive inspection with limits: what is inside an attachment, without being buried by it.

Contract:
- ``listing(attachment)`` returns an ``ArchiveListing``; it never raises. The format is
  recognised by content (magic bytes), never by name: zip, tar (plain, gzip, bzip2, xz),
  a single gzip/bzip2/xz file (one member, named by the gzip FNAME field or the attachment
  name minus its extension), 7z (py7zr), rar (rarfile), CAB, ACE (acefile), MSI
  (olefile), OneNote embedded files, ISO 9660/UDF (pycdlib), and disk images (raw FAT,
  MBR/GPT, fixed and dynamic VHD; VHDX and VMDK recognised, unscannable). Anything else
  is ``ArchiveListing(is_archive=False)``.
- One module per format (``zip`` with ``zipdir``, ``tar``, ``compressed``, ``sevenzip``,
  ``rar``, ``cab``, ``ace``, ``msi``, ``onenote``, ``iso``, ``diskimage`` with ``fat``),
  each a ``protocol.Reader``, all in one table (``formats.READERS``); one expansion
  (``expand``) lists every format's members, nests, and applies one shared set of
  ``limits``. Archived mail folders are opened by ``mailfolder``.
- **Limits** (``Limits``, default ``LIMITS``): depth, members in total, expanded bytes in
  total, compression ratio per member (above a floor), and the largest member read for
  nested expansion. Exceeding a limit **stops the whole expansion at once**: the listing
  keeps the members seen so far (the member that broke the limit included, so its name
  stays visible), ``exceeds_limits`` is set and a problem says which limit
  (``"depth > 8"``, ``"ratio 1032:1 for member x"``).
- **Encrypted** members (zip flag bit 0, 7z with a password, rar ``needs_password``) are
  listed by name with empty content and set ``encrypted``. Encryption is not a limit:
  ``exceeds_limits`` stays False (a policy's ``archive exceeds limits`` may choose to
  include ``encrypted``). A corrupt or truncated archive is a problem entry, never an
  exception; members read before the damage stay listed.
- **Fail closed**: what a reader cannot read becomes ``ArchiveListing.unscannable``
  reasons (a corrupt directory, a file system not read) or, on a member, the member's own
  reasons (an unsupported compression method), never an exception. Structures that
  readers see differently are ``ArchiveListing.tricks`` (``names.CONTAINER_TRICKS``:
  ``concatenated-archive``, ``overlapping-entries``, ``directory-mismatch``) and the
  members they concern carry them in ``Attachment.tricks``, so ``archive contains
  evasive name`` stops them. A deadline set with ``limits.deadline`` stops any
  expansion as a limit.
- **Office documents** (OOXML: a zip with ``[Content_Types].xml``; ODF: a zip whose first
  member is ``mimetype``) are documents, not archives: ``is_archive`` is False, but their
  parts are still listed as members, within the same limits, so a ``.docx`` that smuggles
  an ``.exe`` part is visible to ``archive contains extension in executable`` while a
  normal one (``.xml``, ``.rels``, images) does not match it. A policy that wants "real
  archives only" tests ``is_archive``.

Limits of this package: each format module states what it does not read (compressed rar
members, zip methods other than stored/deflate/bzip2/LZMA, 7z members over the member
limit). Split archives and self-extracting executables are not opened.
"""

from __future__ import annotations

from mailpolicy.corpus.archives.expand import expand
from mailpolicy.corpus.archives.formats import READERS, sniff
from mailpolicy.corpus.archives.limits import LIMITS, Budget, Limits
from mailpolicy.corpus.archives.mailfolder import MAX_FOLDER_MESSAGES
from mailpolicy.corpus.archives.protocol import Item, Level, Reader
from mailpolicy.corpus.message import ArchiveListing, Attachment

__all__ = [
    "LIMITS",
    "MAX_FOLDER_MESSAGES",
    "READERS",
    "Item",
    "Level",
    "Limits",
    "Reader",
    "listing",
    "sniff",
]


def listing(attachment: Attachment, limits: Limits = LIMITS) -> ArchiveListing:
    """Everything inside ``attachment`` within ``limits`` (see the package docstring)."""
    try:
        data = attachment.data
    except Exception as exc:  # noqa: BLE001 a failing loader must not break a policy
        return ArchiveListing(problems=(f"content not readable: {type(exc).__name__}: {exc}",))
    return expand(data, attachment.name, attachment.part, 1, Budget(limits))
