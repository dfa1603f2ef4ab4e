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
