"""The message model: every fact a policy can see of one mail.

Contract:
- ``Message`` is what the readers produce and what the evaluator, the compiled matcher
  and the simulator consume. Nothing in ``policy/`` reads MIME itself.
- ``Attachment`` facts that cost work (the decoded bytes, the detected type, the hash,
  archive members) are computed on first use and cached, so a policy that only looks at
  names never decodes a body: the reader hands each attachment a ``loader`` that decodes
  its payload when (and only when) a fact needs it.
- ``Message.attachments`` is flat: attachments of attached messages (message/rfc822) and
  uuencoded files found in text bodies are attachments of the message too. Archive
  members hang below their archive in ``Attachment.members``.

Limits: the model holds no raw MIME; ``body`` is a bounded text snippet (``BODY_LIMIT``).
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from mailpolicy.corpus import names as _names

#: Characters of decoded body text kept for ``body contains``.
BODY_LIMIT = 256 * 1024
#: Bytes of an attachment read for type detection.
HEAD_BYTES = 8192


class Attachment:
    """One attachment (or archive member) and its facts.

    ``raw_names`` are the names as they appear on the wire (before RFC 2047/2231
    decoding), ``names`` every distinct decoded name, primary first (Content-Disposition
    ``filename`` before Content-Type ``name``). Everything else derives from those and from
    the payload, lazily.
    """

    def __init__(
        self,
        *,
        names: tuple[str, ...] = (),
        raw_names: tuple[str, ...] = (),
        declared_type: str = "application/octet-stream",
        loader: Callable[[], bytes] | None = None,
        data: bytes | None = None,
        size: int | None = None,
        part: str = "",
        extra_tricks: tuple[str, ...] = (),
        member_loader: Callable[[Attachment], ArchiveListing] | None = None,
        in_archive: bool = False,
        unscannable: tuple[str, ...] = (),
    ) -> None:
        self.names = tuple(dict.fromkeys(n for n in names if n is not None))
        self.raw_names = tuple(dict.fromkeys(raw_names)) or self.names
        self.declared_type = declared_type.lower()
        self.part = part
        self.in_archive = in_archive
        self._loader = loader
        self._data = data
        self._size = size
        self._extra_tricks = extra_tricks
        self._member_loader = member_loader
        self._unscannable = unscannable

    # -- names -------------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        """The decoded name as sent (the primary one), or None for a nameless part."""
        return self.names[0] if self.names else None

    @cached_property
    def normalized_names(self) -> tuple[str, ...]:
        """Every distinct name as Windows would treat it (see ``names.normalize``)."""
        return tuple(dict.fromkeys(_names.normalize(n) for n in self.names))

    @property
    def normalized_name(self) -> str | None:
        return self.normalized_names[0] if self.normalized_names else None

    @cached_property
    def extensions(self) -> tuple[str, ...]:
        """Extensions of the primary normalised name, lower case, in order."""
        return _names.extensions(self.normalized_name or "")

    @property
    def extension(self) -> str | None:
        """The last extension of the primary normalised name (what Windows runs by)."""
        return self.extensions[-1] if self.extensions else None

    @cached_property
    def tricks(self) -> tuple[str, ...]:
        """Evasion tricks the names use (``names.TRICKS``), and those its container's reader
        gave it (``extra_tricks``: a member hidden by a container trick carries the trick,
        see ``container_tricks``), sorted, no duplicates. Reads names only, never the
        payload."""
        found = set(self._extra_tricks)
        for n in self.names:
            found.update(_names.tricks(n, in_archive=self.in_archive))
        if len(self.normalized_names) > 1:
            found.add("name-disagreement")
        return tuple(sorted(found))

    # -- content -----------------------------------------------------------------------
    @property
    def data(self) -> bytes:
        """The decoded payload (decoded on first use, then kept)."""
        if self._data is None:
            self._data = self._loader() if self._loader is not None else b""
            self._loader = None
        return self._data

    @property
    def loaded(self) -> bool:
        return self._data is not None

    @property
    def size(self) -> int:
        if self._size is None:
            self._size = len(self.data)
        return self._size

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @cached_property
    def _detected(self) -> tuple[str, str]:
        from mailpolicy.corpus import types

        return types.detect(self.data, self.extension, self.in_archive)

    @property
    def detected_type(self) -> str:
        """The MIME type detected from the content (magic bytes)."""
        return self._detected[0]

    @property
    def type_class(self) -> str:
        """executable, script, archive, document, image, text, or other."""
        return self._detected[1]

    @cached_property
    def type_mismatch(self) -> bool:
        """True when the name's extension disagrees with the detected content."""
        from mailpolicy.corpus import types

        return types.mismatch(self.extension, self.detected_type, self.type_class)

    # -- archives ----------------------------------------------------------------------
    @cached_property
    def _listing(self) -> ArchiveListing:
        if self._member_loader is None:  # the archive readers, imported late: they import this
            listing: Callable[[Attachment], ArchiveListing]
            listing = importlib.import_module("mailpolicy.corpus.archives").listing
            return listing(self)
        return self._member_loader(self)

    @property
    def members(self) -> tuple[Attachment, ...]:
        """Archive members, recursively, within the archive limits (empty if no archive)."""
        return self._listing.members

    @property
    def encrypted(self) -> bool:
        """This archive, or one nested inside it, has encrypted members."""
        return self._listing.encrypted

    @property
    def exceeds_limits(self) -> bool:
        """Expanding this archive hit a limit (depth, members, bytes, ratio)."""
        return self._listing.exceeds_limits

    @property
    def is_archive(self) -> bool:
        """The content is an archive (an Office document's zip container is not)."""
        return self._listing.is_archive

    @property
    def container_tricks(self) -> tuple[str, ...]:
        """Tricks of this container's structure (``names.CONTAINER_TRICKS``: a concatenated
        archive, overlapping entries, a directory that disagrees with the local headers).
        The members they concern carry them in ``tricks`` too, so ``archive contains
        evasive name`` sees them without opening anything twice."""
        return self._listing.tricks

    @property
    def archive_problems(self) -> tuple[str, ...]:
        return self._listing.problems

    @property
    def unscannable(self) -> tuple[str, ...]:
        """Why this part could not be read completely, each reason once: what its reader
        said (a corrupt structure, an unsupported method, a reader error, the time budget)
        and what its container listing said. Members carry their own (see ``walk``)."""
        return tuple(dict.fromkeys((*self._unscannable, *self._listing.unscannable)))

    def walk(self) -> tuple[Attachment, ...]:
        """This attachment and every archive member below it, depth first."""
        out: list[Attachment] = [self]
        for m in self.members:
            out.extend(m.walk())
        return tuple(out)

    def __repr__(self) -> str:
        return f"Attachment(part={self.part!r}, names={self.names!r}, type={self.declared_type!r})"


@dataclass(frozen=True, slots=True)
class ArchiveListing:
    """What looking into an archive found."""

    members: tuple[Attachment, ...] = ()
    encrypted: bool = False
    exceeds_limits: bool = False
    problems: tuple[str, ...] = ()
    is_archive: bool = False
    #: what kept this container from being read completely, other than a limit (a
    #: corrupt directory, a member's unsupported compression method, a reader error)
    unscannable: tuple[str, ...] = ()
    #: tricks of the container's structure (``names.CONTAINER_TRICKS``: a concatenated
    #: archive, overlapping entries, a directory that disagrees with the local headers);
    #: they reach ``Attachment.tricks`` of the container itself
    tricks: tuple[str, ...] = ()
    #: the container format (a key of ``archives.formats.READERS``), or None
    kind: str | None = None


@dataclass(slots=True, kw_only=True)
class Message:
    """One mail as a policy sees it."""

    path: str = ""
    #: where inside ``path`` (mbox byte offset, Maildir key), or None for a one-message file
    key: str | None = None
    message_id: str | None = None
    label: str | None = None
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    time: datetime | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    size: int = 0
    attachments: tuple[Attachment, ...] = ()
    defects: tuple[str, ...] = field(default=())
    #: why the message itself could not be read completely (a MIME limit, a scan window,
    #: the time budget): ``message unscannable``
    unscannable: tuple[str, ...] = ()
    #: tricks of its MIME structure (readers that would see it differently):
    #: ``evasive mime``
    tricks: tuple[str, ...] = ()
    #: the SMTP AUTH identity the MTA reported for this message (the milter's
    #: ``{auth_authen}`` macro); None when unknown, as for every recorded message
    smtp_auth: str | None = None

    def header(self, name: str) -> tuple[str, ...]:
        """Every decoded value of header ``name`` (case-insensitive), in order."""
        low = name.lower()
        return tuple(v for k, v in self.headers if k.lower() == low)

    @property
    def subject(self) -> str:
        return next(iter(self.header("subject")), "")

    @property
    def from_(self) -> str:
        return next(iter(self.header("from")), "")

    @property
    def location(self) -> str:
        """``path`` plus ``:key`` where the file holds many messages."""
        return f"{self.path}:{self.key}" if self.key is not None else self.path
