"""Mail folders inside archives: an archived mbox or message is opened like a container.

Compressed mail folders were how macro viruses travelled past name filters in 2001: their
attachments are members of the folder, so ``archive contains`` sees them.

Contract:
- ``looks_like_mail(head)``: an mbox (``From `` envelope line) or a single RFC 5322
  message, as the corpus readers judge one. Only archive *members* are tested: an
  attachment that is itself a mail folder is not opened (it is not a container format in
  the reader table, and mail attached as message/rfc822 is already read by ``mime``).
- ``mail_folder(data, part)``: the attachments of the folder's messages, parsed by
  ``mime.parse_message``, each with ``part`` = folder part + ``/`` + message number + ``:``
  + its own part. The result is not an archive (``is_archive`` False); the attachments
  keep their own lazy facts (their own archives are listed when asked, under fresh limits).

Limits of this module: at most ``MAX_FOLDER_MESSAGES`` messages are read; past that the
listing says so and sets ``exceeds_limits``. The folder must fit ``max_member_bytes``
(checked by the caller before it is read).
"""

from __future__ import annotations

import io

from mailpolicy.corpus.filekind import not_mail_reason
from mailpolicy.corpus.message import ArchiveListing, Attachment
from mailpolicy.corpus.mime import parse_message
from mailpolicy.corpus.readers import iter_mbox

#: Messages read from one archived mail folder.
MAX_FOLDER_MESSAGES = 1000


def looks_like_mail(head: bytes) -> bool:
    """An mbox (``From `` envelope line) or a single RFC 5322 message."""
    return head.startswith(b"From ") or not_mail_reason(head) is None


def mail_folder(data: bytes, part: str) -> ArchiveListing:
    """The attachments of the messages in an archived mail folder (mbox or one message)."""
    if data.startswith(b"From "):
        messages = [m for _, m in iter_mbox(io.BytesIO(data))]
    else:
        messages = [data]
    found: list[Attachment] = []
    problems: list[str] = []
    if len(messages) > MAX_FOLDER_MESSAGES:
        problems.append(
            f"mail folder at {part}: only the first {MAX_FOLDER_MESSAGES} messages read"
        )
    for i, raw in enumerate(messages[:MAX_FOLDER_MESSAGES], 1):
        for att in parse_message(raw).attachments:
            att.part = f"{part}/{i}:{att.part}"
            found.append(att)
    return ArchiveListing(
        members=tuple(found),
        problems=tuple(problems),
        exceeds_limits=bool(problems),
        is_archive=False,
    )
