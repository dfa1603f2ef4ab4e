"""Inline messages: the facts of a test case or an ``eval`` query, built as the policy sees them.

``build_message(spec)`` turns a plain mapping (a ``[[case]]`` table of a tests file, or
the options of ``mailpolicy eval``) into a ``corpus.message.Message`` whose attachments
carry exactly the facts the mapping states; no MIME is written or read. What the mapping
does not state takes the value an ordinary part would have:

- ``type`` unset: the content is what the name promises (``corpus.types.EXPECTED``: an
  ``.exe`` is ``executable``, a ``.pdf`` a ``document``; a Windows script extension is
  ``script``; ``other`` when the extension promises nothing), so ``type mismatch`` is
  false. ``type`` set: a class (``executable``) or a MIME type
  (``application/x-dosexec``, classed by ``corpus.types.classify``), and ``type mismatch``
  is what ``corpus.types.mismatch`` says of it and the name.
- ``size`` unset: 0 bytes. Sizes are integers or the language's numbers (``"10MB"``).
- ``members``: the attachment is an archive holding them (each a name or a table of the
  same keys, nested at will); members are ``in_archive`` as a reader lists them.
- ``facts``: flags the readers would have found, in the language's own words
  (``ATTACHMENT_FACTS``; ``MESSAGE_FACTS`` at message level). Each becomes the same fact a
  reader records (an unscannable reason, an archive listing flag, a name trick, content
  evidence), with the evidence phrase ``stated by the test case``.

Every problem is a ``SpecError`` naming the key (a dotted path such as
``attachments[1].members[0].type``) so that the tests file loader can point at its line.

Limits: the content facts are handed to ``corpus.content`` through its per-attachment
cache (``content._OWN``), as that package has no public way to state them; a part's
``type`` is taken as stated, never sniffed (there are no bytes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from mailpolicy.corpus import content as _content
from mailpolicy.corpus import names as _names
from mailpolicy.corpus import types as _types
from mailpolicy.corpus.content.model import ContentFacts
from mailpolicy.corpus.message import ArchiveListing, Attachment, Message
from mailpolicy.corpus.types import CLASS_MIME
from mailpolicy.policy.parse import parse_size

#: What the test case says, as evidence in traces.
STATED = "stated by the test case"

#: Facts an attachment (or member) may state, and the ``ContentFacts`` fields they fill.
CONTENT_FACTS: dict[str, tuple[str, ...]] = {
    "has macros": ("macros",),
    "has auto-run macros": ("macros", "auto_run"),
    "has javascript": ("javascript",),
    "has launch action": ("launch",),
    "has embedded file": ("embedded_files",),
    "has external link": ("external_links",),
    "smuggles a file": ("smuggling",),
}
ATTACHMENT_FACTS = (
    "unscannable",
    "archive encrypted",
    "archive exceeds limits",
    "evasive name",
    "type mismatch",
    *CONTENT_FACTS,
)
MESSAGE_FACTS = ("message unscannable", "evasive mime")

#: The keys of an attachment table, and of a message (a case adds its own).
ATTACHMENT_KEYS = ("name", "type", "declared_type", "size", "members", "facts")
MESSAGE_KEYS = (
    "attachment",
    "attachments",
    "sender",
    "recipient",
    "subject",
    "headers",
    "body",
    "size",
    "facts",
)


class SpecError(ValueError):
    """A key of an inline message that is unknown or has a value of the wrong kind."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.detail = message


def _class_of_name(name: str) -> str:
    exts = _names.extensions(_names.normalize(name))
    ext = exts[-1] if exts else ""
    if ext in _types.WINDOWS_SCRIPT_EXT:
        return "script"
    return _types.EXPECTED.get(ext, "other")


def detected(type_: str | None, name: str) -> tuple[str, str]:
    """``(MIME type, class)`` of a part whose ``type`` is stated as ``type_`` (a class or a
    MIME type), or left to its ``name`` (None)."""
    if type_ is None:
        cls = _class_of_name(name)
        return CLASS_MIME[cls], cls
    if "/" in type_:
        return type_.lower(), _types.classify(type_.lower())
    return CLASS_MIME[type_], type_


class StatedAttachment(Attachment):
    """An attachment whose detected type and mismatch are stated, not sniffed."""

    def __init__(self, *, stated: tuple[str, str], mismatch: bool | None, **kw: Any) -> None:
        super().__init__(**kw)
        self._stated = stated
        self._mismatch = mismatch

    @cached_property
    def _detected(self) -> tuple[str, str]:
        return self._stated

    @cached_property
    def type_mismatch(self) -> bool:
        if self._mismatch:
            return True
        return _types.mismatch(self.extension, self.detected_type, self.type_class)


def _check_keys(spec: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in spec:
        if key not in allowed:
            raise SpecError(
                _join(where, key), f"unknown key (expected one of: {', '.join(allowed)})"
            )


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def text_of(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise SpecError(key, f"must be a string, not {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", list: "an array"}.get(
        type(value), "a table" if isinstance(value, Mapping) else type(value).__name__
    )


def strings_of(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(key, "must be a string or an array of strings")
    return tuple(value)


def size_of(value: Any, key: str) -> int:
    """A size as an integer or in the language's spelling (``"10MB"``, ``"1.5MiB"``)."""
    if isinstance(value, bool):
        raise SpecError(key, 'must be a number of bytes or a size such as "10MB"')
    if isinstance(value, int):
        if value < 0:
            raise SpecError(key, "must not be negative")
        return value
    if isinstance(value, str):
        try:
            return parse_size(value.strip())[0]
        except ValueError as exc:
            raise SpecError(key, str(exc)) from None
    raise SpecError(key, f'must be a number of bytes or a size such as "10MB", not {_kind(value)}')


def _facts(value: Any, key: str, allowed: Sequence[str]) -> tuple[str, ...]:
    got = strings_of(value, key)
    for fact in got:
        if fact not in allowed:
            raise SpecError(key, f"unknown fact {fact!r} (expected one of: {', '.join(allowed)})")
    return got


def _type(value: Any, key: str) -> str:
    text = text_of(value, key).strip()
    if "/" not in text and text not in CLASS_MIME:
        raise SpecError(
            key, f"unknown type {text!r}: a class ({', '.join(CLASS_MIME)}) or a MIME type"
        )
    return text


def build_attachment(spec: Any, where: str, part: str, in_archive: bool = False) -> Attachment:
    """One attachment (or member) from a name or a table of ``ATTACHMENT_KEYS``."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping):
        raise SpecError(where, f"must be a name or a table, not {_kind(spec)}")
    _check_keys(spec, ATTACHMENT_KEYS, where)
    name = text_of(spec["name"], _join(where, "name")) if "name" in spec else ""
    type_ = _type(spec["type"], _join(where, "type")) if "type" in spec else None
    facts = _facts(spec.get("facts", []), _join(where, "facts"), ATTACHMENT_FACTS)
    members_spec = spec.get("members", [])
    if not isinstance(members_spec, list):
        raise SpecError(_join(where, "members"), "must be an array of names or tables")
    members = tuple(
        build_attachment(m, f"{_join(where, 'members')}[{i}]", f"{part}/{_member_name(m)}", True)
        for i, m in enumerate(members_spec)
    )
    limits = "archive exceeds limits" in facts
    listing = ArchiveListing(
        members=members,
        encrypted="archive encrypted" in facts,
        exceeds_limits=limits,
        problems=(f"archive limit {STATED}",) if limits else (),
        is_archive=bool(members) or limits or "archive encrypted" in facts,
    )
    if type_ is None and listing.is_archive and _class_of_name(name) == "other":
        type_ = "archive"
    declared = spec.get("declared_type", "application/octet-stream")
    att = StatedAttachment(
        stated=detected(type_, name),
        mismatch="type mismatch" in facts,
        names=(name,) if name else (),
        declared_type=text_of(declared, _join(where, "declared_type")),
        data=b"",
        size=size_of(spec["size"], _join(where, "size")) if "size" in spec else 0,
        part=part,
        in_archive=in_archive,
        member_loader=lambda _a: listing,
        unscannable=(f"unscannable: {STATED}",) if "unscannable" in facts else (),
        extra_tricks=(f"evasive name {STATED}",) if "evasive name" in facts else (),
    )
    _state_content(att, facts)
    return att


def _member_name(spec: Any) -> str:
    if isinstance(spec, Mapping):
        name = spec.get("name", "")
        return name if isinstance(name, str) else ""
    return spec if isinstance(spec, str) else ""


def _state_content(att: Attachment, facts: Sequence[str]) -> None:
    fields: dict[str, tuple[str, ...]] = {}
    for fact in facts:
        for f in CONTENT_FACTS.get(fact, ()):
            fields[f] = (f"{fact} ({STATED})",)
    # corpus.content caches each part's own facts by object; a stated part has no bytes to
    # read, so its facts go straight into that cache (and members' reach their container).
    _content._OWN[att] = ContentFacts(**fields)


def build_message(spec: Mapping[str, Any], extra_keys: Sequence[str] = ()) -> Message:
    """The message a case or query describes (see the module docstring); ``extra_keys``
    are keys the caller reads itself (a case's ``name``, ``expect``, ...)."""
    _check_keys(spec, (*MESSAGE_KEYS, *extra_keys), "")
    if "attachment" in spec and "attachments" in spec:
        raise SpecError("attachments", "give either 'attachment' or 'attachments', not both")
    atts: list[Any]
    if "attachment" in spec:
        atts = [spec["attachment"]]
        keys = ["attachment"]
    else:
        raw = spec.get("attachments", [])
        if not isinstance(raw, list):
            raise SpecError("attachments", "must be an array of names or tables")
        atts = raw
        keys = [f"attachments[{i}]" for i in range(len(raw))]
    attachments = tuple(
        build_attachment(a, k, str(i + 2)) for i, (a, k) in enumerate(zip(atts, keys, strict=True))
    )
    headers: list[tuple[str, str]] = []
    raw_headers = spec.get("headers", {})
    if not isinstance(raw_headers, Mapping):
        raise SpecError("headers", "must be a table of header names and values")
    for name, value in raw_headers.items():
        headers.extend((name, v) for v in strings_of(value, f"headers.{name}"))
    if "subject" in spec:
        headers.append(("Subject", text_of(spec["subject"], "subject")))
    sender = text_of(spec["sender"], "sender") if "sender" in spec else None
    if sender is not None and not any(k.lower() == "from" for k, _ in headers):
        headers.append(("From", sender))
    facts = _facts(spec.get("facts", []), "facts", MESSAGE_FACTS)
    return Message(
        path="<inline>",
        sender=sender or None,
        recipients=strings_of(spec["recipient"], "recipient") if "recipient" in spec else (),
        headers=tuple(headers),
        body=text_of(spec["body"], "body") if "body" in spec else "",
        size=size_of(spec["size"], "size") if "size" in spec else 0,
        attachments=attachments,
        unscannable=(f"message unscannable: {STATED}",) if "message unscannable" in facts else (),
        tricks=(f"evasive mime {STATED}",) if "evasive mime" in facts else (),
    )
