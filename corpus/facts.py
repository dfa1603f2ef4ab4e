"""A message's facts as a plain record: everything the policy language reads, without the mail.

A replay that has read a message once keeps its facts (``simulator.factstore``), and the next
replay of the same bytes builds the ``Message`` from them instead of parsing MIME, decoding
payloads, sniffing types, opening archives and reading Office, PDF and HTML content again.

Contract:
- ``watch(msg)``, called on a freshly parsed message before anything reads its facts,
  notes what only the parse knows: the defects the parser found, which sizes were known
  without decoding, and (by wrapping each attachment's loader) the defect each payload adds
  to ``Message.defects`` when it is decoded (bad base64). Nothing is read or decoded.
- ``extract(msg, watched)`` reads every fact (forcing every lazy one: sizes, detected
  types, archive listings and their members, content facts) and returns a record of plain
  JSON values (``dict``/``list``/``str``/``int``/``bool``/``None``), schema ``SCHEMA``.
  Call it after the message was decided: it decodes everything.
- ``from_record(record, path=, key=, label=)`` is the ``Message`` those facts describe:
  every fact the language reads is equal to the parsed message's (tests/corpus/
  test_facts.py compares them), and laziness is kept where it shows: a payload that added
  a defect when decoded adds it when a fact that needs the payload is first read, so a
  decision's ``defects`` are the same as after a parse. A record that does not have the
  expected shape raises ``RecordError``.
- What a stored attachment does not have is its payload: ``data`` (and ``sha256``) raise
  ``RecordError``; no condition of the language reads them.

``EXTRACTION_VERSION`` names the extraction: a store keeps facts under it, and facts kept
under another version are never used. ``readers_digest()`` is a second guard, for what
changes under one version: it hashes this package's sources and names Python's version, the
reader libraries' and libmagic's (and its database's size and time).

Limits: ``Message.time`` keeps its UTC offset, not a zone name; a record holds at most what
the message holds (``BODY_LIMIT`` characters of body).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from functools import cache, cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

from mailpolicy.corpus import content as _content
from mailpolicy.corpus.content.model import ContentFacts
from mailpolicy.corpus.message import ArchiveListing, Attachment, Message

#: The record's layout and the extraction it records. Bump it whenever a record read
#: under the old number could differ from a fresh reading of the same bytes: a field of
#: ``Message``, ``Attachment``, ``ArchiveListing`` or ``ContentFacts`` added or changed, a
#: reader or a limit (``mime_limits``, ``archives.limits``) that reads differently, a new
#: trick or reason, or a change to this module. A new package version invalidates too.
SCHEMA = 1


def _package_version() -> str:
    try:
        return metadata.version("mailpolicy")
    except metadata.PackageNotFoundError:  # run from a checkout that is not installed
        return "0"


#: The package version and ``SCHEMA``: facts stored under another version are not used.
EXTRACTION_VERSION = f"{_package_version()}+facts{SCHEMA}"

_CONTENT_FIELDS = tuple(f.name for f in fields(ContentFacts))


class RecordError(ValueError):
    """A record that does not describe a message (the store then reads the mail), or a
    stored attachment asked for its payload."""


#: The libraries the readers call: a new version of one may read the same bytes differently.
READER_LIBRARIES = (
    "python-magic",
    "py7zr",
    "rarfile",
    "tnefparse",
    "pycdlib",
    "acefile",
    "inflate64",
    "olefile",
    "charset-normalizer",
)
#: Where libmagic's compiled database usually is (``$MAGIC`` first).
MAGIC_DATABASES = (
    "/usr/share/misc/magic.mgc",
    "/usr/lib/file/magic.mgc",
    "/usr/share/file/magic.mgc",
)


@cache
def readers_digest() -> str:
    """A digest of what reads the mail besides ``SCHEMA``: this package's sources (outside
    ``samples``), Python's version, the versions of ``READER_LIBRARIES``, libmagic's and the
    size and time of its database. A checkout whose readers change under one package
    version, or a system whose libraries are upgraded, gets a new one."""
    root = Path(__file__).resolve().parent
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("samples/"):
            continue
        h.update(rel.encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"?")
    h.update(sys.version.encode())
    for lib in READER_LIBRARIES:
        try:
            h.update(f"{lib}={metadata.version(lib)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{lib}=?".encode())
    h.update(_magic_identity().encode())
    return h.hexdigest()


def _magic_identity() -> str:
    try:
        import magic

        version = str(magic.version())  # type: ignore[no-untyped-call]
    except Exception:  # noqa: BLE001 - an old python-magic, or no libmagic: still a value
        version = "?"
    for db in (os.environ.get("MAGIC", ""), *MAGIC_DATABASES):
        try:
            st = os.stat(db) if db else None
        except OSError:
            continue
        if st is not None:
            return f"libmagic {version} {db} {st.st_size} {st.st_mtime_ns}"
    return f"libmagic {version}"


# ---- before the message is read: what only the parse knows ----------------------------------
class Watched:
    """What ``watch`` noted of one parsed message (see the module docstring)."""

    def __init__(self, msg: Message) -> None:
        self.defects = tuple(msg.defects)
        self.sized: list[bool] = []
        self.late: list[tuple[str, ...]] = []


def watch(msg: Message) -> Watched:
    """Note the parse-time facts of ``msg`` and record, per attachment, the defects its
    payload adds when decoded. Call before anything reads the message's facts."""
    seen = Watched(msg)
    for i, a in enumerate(msg.attachments):
        # The model keeps these private: this module is its one other reader.
        seen.sized.append(a._size is not None)
        seen.late.append(())
        if a._loader is not None:
            a._loader = _recording(a._loader, msg, seen, i)
    return seen


def _recording(
    load: Callable[[], bytes], msg: Message, seen: Watched, i: int
) -> Callable[[], bytes]:
    def recorded() -> bytes:
        before = len(msg.defects)
        data = load()
        seen.late[i] = tuple(msg.defects[before:])  # mime appends a late defect at the end
        return data

    return recorded


# ---- after the message is decided: every fact, forced ----------------------------------------
def extract(msg: Message, seen: Watched) -> dict[str, Any]:
    """Every fact of ``msg`` as a record (see the module docstring); decodes everything."""
    atts = []
    for i, a in enumerate(msg.attachments):
        rec = _attachment(a)
        if i < len(seen.sized) and not seen.sized[i]:
            rec["sized"] = False
        if i < len(seen.late) and seen.late[i]:
            rec["late"] = list(seen.late[i])
        atts.append(rec)
    return {
        "schema": SCHEMA,
        "message_id": msg.message_id,
        "sender": msg.sender,
        "recipients": list(msg.recipients),
        "time": msg.time.isoformat() if msg.time is not None else None,
        "headers": [[k, v] for k, v in msg.headers],
        "body": msg.body,
        "size": msg.size,
        "defects": list(seen.defects),
        "unscannable": list(msg.unscannable),
        "tricks": list(msg.tricks),
        "attachments": atts,
    }


def _attachment(a: Attachment) -> dict[str, Any]:
    listing: ArchiveListing = a._listing  # forces the archive (and its members') reading
    rec: dict[str, Any] = {
        "names": list(a.names),
        "declared_type": a.declared_type,
        "part": a.part,
        "size": a.size,
        "type": [a.detected_type, a.type_class],
    }
    if a.raw_names != a.names:
        rec["raw_names"] = list(a.raw_names)
    if a.in_archive:
        rec["in_archive"] = True
    if a.type_mismatch:
        rec["mismatch"] = True
    if a.tricks:
        rec["tricks"] = list(a.tricks)
    if a.unscannable:  # its own reasons and its listing's, as ``Attachment.unscannable``
        rec["unscannable"] = list(a.unscannable)
    own = _content.own(a)
    found = {f: list(getattr(own, f)) for f in _CONTENT_FIELDS if getattr(own, f)}
    if found:
        rec["content"] = found
    archive = _listing(listing)
    if archive:
        rec["archive"] = archive
    return rec


def _listing(listing: ArchiveListing) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if listing.members:
        out["members"] = [_attachment(m) for m in listing.members]
    for flag in ("encrypted", "exceeds_limits", "is_archive"):
        if getattr(listing, flag):
            out[flag] = True
    if listing.problems:
        out["problems"] = list(listing.problems)
    if listing.tricks:
        out["tricks"] = list(listing.tricks)
    if listing.kind is not None:
        out["kind"] = listing.kind
    return out


# ---- back: a Message from its record ---------------------------------------------------------
class StoredAttachment(Attachment):
    """An attachment rebuilt from its record: every fact stated, no payload.

    Reading a fact that needs the payload (the size of a part that was not sized at parse
    time, the detected type, the archive listing, the content) first adds the defects the
    payload added when it was decoded, as the parsed attachment would."""

    def __init__(
        self,
        *,
        detected: tuple[str, str],
        mismatch: bool,
        listing: ArchiveListing,
        sized: bool,
        late: tuple[str, ...],
        owner: Message | None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self._stated = detected
        self._mismatch = mismatch
        self._stored_listing = listing
        self._sized = sized
        self._late = late
        self._owner = owner
        self._touched = False

    def _touch(self) -> None:
        if self._touched:
            return
        self._touched = True
        msg = self._owner
        if msg is not None:
            for text in self._late:
                if text not in msg.defects:
                    msg.defects = (*msg.defects, text)

    @property
    def data(self) -> bytes:
        raise RecordError(f"part {self.part or '?'} was rebuilt from stored facts: no payload")

    @property
    def loaded(self) -> bool:
        return self._touched

    @property
    def size(self) -> int:
        if not self._sized:
            self._touch()
        assert self._size is not None
        return self._size

    @cached_property
    def _detected(self) -> tuple[str, str]:
        self._touch()
        return self._stated

    @cached_property
    def type_mismatch(self) -> bool:
        self._touch()
        return self._mismatch

    @cached_property
    def _listing(self) -> ArchiveListing:
        self._touch()
        return self._stored_listing


def from_record(
    record: Any, *, path: str = "", key: str | None = None, label: str | None = None
) -> Message:
    """The message ``record`` describes, located at ``path``/``key`` with ``label``."""
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise RecordError("not a fact record of this schema")
    try:
        time = record["time"]
        msg = Message(
            path=path,
            key=key,
            label=label,
            message_id=_opt_str(record["message_id"]),
            sender=_opt_str(record["sender"]),
            recipients=_strs(record["recipients"]),
            time=datetime.fromisoformat(time) if time is not None else None,
            headers=tuple((_str(k), _str(v)) for k, v in record["headers"]),
            body=_str(record["body"]),
            size=_int(record["size"]),
            defects=_strs(record["defects"]),
            unscannable=_strs(record["unscannable"]),
            tricks=_strs(record["tricks"]),
        )
        msg.attachments = tuple(_rebuild(a, msg) for a in record["attachments"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordError(f"malformed fact record: {type(exc).__name__}: {exc}") from None
    return msg


def _rebuild(rec: dict[str, Any], owner: Message | None) -> StoredAttachment:
    archive = rec.get("archive", {})
    listing = ArchiveListing(
        members=tuple(_rebuild(m, None) for m in archive.get("members", ())),
        encrypted=bool(archive.get("encrypted", False)),
        exceeds_limits=bool(archive.get("exceeds_limits", False)),
        problems=_strs(archive.get("problems", ())),
        is_archive=bool(archive.get("is_archive", False)),
        tricks=_strs(archive.get("tricks", ())),
        kind=_opt_str(archive.get("kind")),
    )
    detected, cls = rec["type"]
    names = _strs(rec["names"])
    att = StoredAttachment(
        detected=(_str(detected), _str(cls)),
        mismatch=bool(rec.get("mismatch", False)),
        listing=listing,
        sized=bool(rec.get("sized", True)),
        late=_strs(rec.get("late", ())),
        owner=owner,
        names=names,
        raw_names=_strs(rec.get("raw_names", names)),
        declared_type=_str(rec["declared_type"]),
        size=_int(rec["size"]),
        part=_str(rec["part"]),
        in_archive=bool(rec.get("in_archive", False)),
        extra_tricks=_strs(rec.get("tricks", ())),
        unscannable=_strs(rec.get("unscannable", ())),
    )
    content = rec.get("content", {})
    # corpus.content keeps each part's own facts by object; a stored part has no bytes to
    # read, so its facts go straight there (the container's view is built from them).
    _content._OWN[att] = ContentFacts(**{f: _strs(content.get(f, ())) for f in _CONTENT_FIELDS})
    return att


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {type(v).__name__}")
    return v


def _opt_str(v: Any) -> str | None:
    return None if v is None else _str(v)


def _int(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"expected an integer, got {type(v).__name__}")
    return v


def _strs(v: Any) -> tuple[str, ...]:
    if not isinstance(v, (list, tuple)):
        raise TypeError(f"expected a list of strings, got {type(v).__name__}")
    return tuple(_str(x) for x in v)
