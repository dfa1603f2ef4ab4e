"""What a file in a mail spool is, from its first bytes: compressed, a tar, or mail.

Contract:
- ``compression(head)``: ``"gzip"``, ``"bzip2"`` or ``"xz"`` by magic bytes, else None.
- ``is_tar(head)``: a POSIX tar header (``ustar`` at offset 257).
- ``not_mail_reason(head)``: None when ``head`` starts like an RFC 5322 message, else a
  sentence saying why not, naming what the bytes look like when that is recognisable
  (an image, an executable, an Outlook .msg, JSON, ...), for the ``Unreadable`` report.

Limits of this module: it judges from the bytes given (the readers pass ``SNIFF_BYTES``);
a header block longer than that is judged by its first 500 lines, and a message whose
header fields are all unknown to ``_MAIL_FIELDS`` and not ``X-`` is not mail.
"""

from __future__ import annotations

import re

_COMPRESSION = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)
_FIELD = re.compile(rb"([A-Za-z0-9][!-9;-~]*)[ \t]*:")
#: Header fields that say "this is mail" (any ``X-`` field counts too).
_MAIL_FIELDS = frozenset(
    b"from to cc bcc subject date message-id received return-path mime-version content-type "
    b"content-transfer-encoding content-disposition content-description content-id "
    b"delivered-to x-original-to envelope-to reply-to sender references in-reply-to "
    b"dkim-signature authentication-results arc-seal list-id list-unsubscribe user-agent "
    b"path newsgroups organization importance thread-topic thread-index resent-from "
    b"resent-to resent-date comments keywords received-spf precedence errors-to".split()
)
_DESCRIBE = (
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive"),
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "an ELF executable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE2/CFB file (such as an Outlook .msg)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
    (b"Rar!", "a rar archive"),
    (b"{", "JSON or other structured text"),
    (b"[", "JSON or other structured text"),
    (b"<", "XML/HTML markup"),
)


def compression(head: bytes) -> str | None:
    for magic, name in _COMPRESSION:
        if head.startswith(magic):
            return name
    return None


def is_tar(head: bytes) -> bool:
    return len(head) >= 512 and head[257:262] == b"ustar"


def _describe(head: bytes) -> str:
    for magic, what in _DESCRIBE:
        if head.startswith(magic):
            return f"; it looks like {what}"
    return ""


def not_mail_reason(head: bytes) -> str | None:
    """None when ``head`` starts like an RFC 5322 message, else why it does not.

    Leading blank or whitespace-only lines are tolerated (they occur in real files); then
    the first line must be a header field, the header block must consist of fields and
    their continuation lines (a few stray lines are tolerated as defects), and at least
    one field must be one that mail carries.
    """
    if not head:
        return "empty file"
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    block = head.lstrip(b" \t\r\n")
    if not block:
        return "only whitespace"
    end = block.find(b"\n\n")
    end_crlf = block.find(b"\r\n\r\n")
    ends = [e for e in (end, end_crlf) if e != -1]
    block = block[: min(ends)] if ends else block
    lines = block.split(b"\n")
    if not ends and len(lines) > 1:
        lines.pop()  # no end of header in sight: the last line may be cut by the sniff
    first = lines[0]
    if not _FIELD.match(first):
        shown = first[:40].decode("latin-1").encode("unicode_escape").decode("ascii")
        return f"not mail: the first line is not a header field ({shown!r}){_describe(block)}"
    if b"\x00" in block:
        return "not mail: binary data (NUL bytes) in the header block"
    fields = 0
    bad = 0
    mail_like = False
    for line in lines[:500]:
        m = _FIELD.match(line)
        if m:
            fields += 1
            name = m.group(1).lower()
            if name in _MAIL_FIELDS or name.startswith(b"x-"):
                mail_like = True
        elif line[:1] not in (b" ", b"\t") and line.strip():
            bad += 1
    if bad > max(2, fields // 5):
        return f"not mail: {bad} of the first {len(lines)} lines are not header fields"
    if not mail_like:
        return "not mail: header fields but none that mail carries (From, Received, ...)"
    return None


# ---- containers and formats libmagic misses or misnames (``types.detect`` asks first) ----

#: How far into a file the signatures below look (an ISO's volume descriptors start at
#: 32 KiB, a UDF's NSR descriptor at 34 KiB or beyond).
SIGNATURE_BYTES = 40 * 1024

_ONENOTE = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")  # {7B5C52E4-D88C-4DA7-...}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: Root-storage CLSIDs of the OLE kinds (as stored: the first three fields little-endian).
_OLE_KINDS = {
    bytes.fromhex("84100c00000000000c00000000000046"): "application/x-msi",
    bytes.fromhex("86100c00000000000c00000000000046"): "application/x-msi",  # .msp
    bytes.fromhex("82100c00000000000c00000000000046"): "application/x-msi",  # .mst
    bytes.fromhex("06090200000000000c00000000000046"): "application/msword",
    bytes.fromhex("20080200000000000c00000000000046"): "application/vnd.ms-excel",
    bytes.fromhex("108d81649b4fcf1186ea00aa00b929e8"): "application/vnd.ms-powerpoint",
}
_PKCS7 = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07"  # OID 1.2.840.113549.1.7.x
_FAT_TYPES = (b"FAT12   ", b"FAT16   ", b"FAT     ", b"FAT32   ")
_PARTITION_TYPES = frozenset({0x01, 0x04, 0x06, 0x07, 0x0B, 0x0C, 0x0E, 0xEE})


def ole_kind(data: bytes) -> str | None:
    """The MIME type an OLE2 file's root CLSID names (MSI, Word, Excel, PowerPoint)."""
    if not data.startswith(_OLE) or len(data) < 512:
        return None
    shift = int.from_bytes(data[0x1E:0x20], "little")
    if not 7 <= shift <= 16:
        return None
    size = 1 << shift
    first = int.from_bytes(data[0x30:0x34], "little")
    root = (first + 1) * size
    if root + 0x60 > len(data):
        return None
    return _OLE_KINDS.get(data[root + 0x50 : root + 0x60])


def is_fat_boot(sector: bytes) -> bool:
    """A FAT boot sector (BIOS parameter block with a FAT type label, or sane BPB)."""
    if len(sector) < 512 or sector[510:512] != b"\x55\xaa" or sector[0] not in (0xEB, 0xE9):
        return False
    label_ok = sector[54:62] in _FAT_TYPES or sector[82:90] in _FAT_TYPES
    bps = int.from_bytes(sector[11:13], "little")
    return label_ok and bps in (512, 1024, 2048, 4096) and sector[13] != 0


def is_mbr(sector: bytes) -> bool:
    """A master boot record with at least one partition of a type we know, sane flags."""
    if len(sector) < 512 or sector[510:512] != b"\x55\xaa":
        return False
    entries = [sector[446 + 16 * i : 462 + 16 * i] for i in range(4)]
    if any(e[0] not in (0, 0x80) for e in entries):
        return False
    return any(e[4] in _PARTITION_TYPES and int.from_bytes(e[12:16], "little") for e in entries)


def signature_type(data: bytes) -> str | None:
    """The MIME type of the container or format ``data`` is, by signatures libmagic does
    not read (a fixed VHD's footer is at the end) or misnames; None to ask libmagic.

    >>> signature_type(b"vhdxfile" + bytes(100))
    'application/x-vhdx'
    """
    head, tail = data[:1024], data[-512:]
    if head.startswith(b"vhdxfile"):
        return "application/x-vhdx"
    if head.startswith(b"conectix") or (len(data) >= 1024 and tail.startswith(b"conectix")):
        return "application/x-vhd"
    if head.startswith(b"KDMV") or head.startswith(b"# Disk DescriptorFile"):
        return "application/x-vmdk"
    if len(data) >= 1024 and tail.startswith(b"koly"):
        return "application/x-apple-diskimage"
    for at in (32769, 34817, 36865):
        if data[at : at + 5] == b"CD001":
            return "application/x-iso9660-image"
        if data[at : at + 5] in (b"BEA01", b"NSR02", b"NSR03"):
            return "application/x-udf-image"
    if head.startswith(_ONENOTE):
        return "application/onenote"
    if head.startswith(b"MSCF\0\0\0\0") and len(head) >= 36 and head[24:26] == b"\x03\x01":
        return "application/vnd.ms-cab-compressed"
    if head[:2] == b"\x60\xea" and 0 < int.from_bytes(head[2:4], "little") <= 2600:
        return "application/x-arj"
    if head.startswith(_OLE):
        return ole_kind(data)
    if head[:1] == b"\x30" and _PKCS7 in head[:32]:
        kind = head[head.find(_PKCS7) + len(_PKCS7)]
        return {2: "application/pkcs7-signature", 3: "application/pkcs7-mime"}.get(kind)
    if is_fat_boot(head) or is_mbr(head):
        return "application/x-raw-disk-image"
    return None
