"""What ``mailpolicy inspect`` shows of a message: a JSON object and a human table.

Contract:
- ``to_json(msg)`` returns a JSON-serialisable dict (one JSON Lines record per message):
  ``path`` (``Message.location``), ``message_id``, ``sender``, ``recipients``, ``label``,
  ``time`` (ISO 8601 or null), ``defects``, ``unscannable`` (why the message could not be
  read completely: a MIME limit, a scan window), ``tricks`` (MIME-structure tricks such
  as ``ambiguous-mime``) and ``attachments``; each attachment carries
  ``name``, ``names``, ``raw_names``, ``normalized_name``, ``extension``, ``extensions``,
  ``declared_type``, ``detected_type``, ``type_class``, ``size``, ``sha256``, ``tricks``,
  ``encrypted``, ``exceeds_limits``, ``unscannable`` (why this part could not be read
  completely), ``content`` (for a top-level attachment: the active content found in it and
  everything inside it, by kind, with its evidence: ``macros``, ``auto_run``,
  ``javascript``, ``launch``, ``embedded_files``, ``external_links``, ``smuggling``,
  ``triggers``) and ``members`` (archive members, the same shape, recursively).
  Attachments are computed before ``defects`` is read, so defects found while decoding
  payloads (bad base64) are included.
- ``render_table(msg)`` returns a header block (path, sender, recipients, label, subject)
  and one row per attachment, archive members indented below their archive; every
  message-derived string is shown through ``corpus.visible`` (``invoice\\u202Egpj.exe``).

Inspecting reads every payload (the hash and the detected type need the bytes); that is
what an administrator auditing a spool asks for, unlike a policy run, which stays lazy.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TypedDict

from tabulate import tabulate

from mailpolicy.corpus import content
from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.corpus.visible import visible


class AttachmentRecord(TypedDict):
    """The JSON object of one attachment (or archive member)."""

    name: str | None
    names: list[str]
    raw_names: list[str]
    normalized_name: str | None
    extension: str | None
    extensions: list[str]
    declared_type: str
    detected_type: str
    type_class: str
    size: int
    sha256: str
    tricks: list[str]
    encrypted: bool
    exceeds_limits: bool
    unscannable: list[str]
    content: dict[str, list[str]]
    members: list[AttachmentRecord]


class MessageRecord(TypedDict):
    """The JSON object of one message: a line of ``mailpolicy inspect --json``."""

    path: str
    message_id: str | None
    sender: str | None
    recipients: list[str]
    label: str | None
    time: str | None
    defects: list[str]
    unscannable: list[str]
    tricks: list[str]
    attachments: list[AttachmentRecord]


def attachment_json(att: Attachment) -> AttachmentRecord:
    """One attachment (or archive member) and its members, recursively."""
    return {
        "name": att.name,
        "names": list(att.names),
        "raw_names": list(att.raw_names),
        "normalized_name": att.normalized_name,
        "extension": att.extension,
        "extensions": list(att.extensions),
        "declared_type": att.declared_type,
        "detected_type": att.detected_type,
        "type_class": att.type_class,
        "size": att.size,
        "sha256": att.sha256,
        "tricks": list(att.tricks),
        "encrypted": att.encrypted,
        "exceeds_limits": att.exceeds_limits,
        "unscannable": list(att.unscannable),
        "content": _content(att) if not att.in_archive else {},
        "members": [attachment_json(m) for m in att.members],
    }


def _content(att: Attachment) -> dict[str, list[str]]:
    """The active content of ``att`` and everything inside it, with its evidence (the
    facts ``has macros``, ``has javascript``... read): only the kinds found."""
    found = content.facts(att)
    return {f.name: list(getattr(found, f.name)) for f in fields(found) if getattr(found, f.name)}


def to_json(msg: Message) -> MessageRecord:
    """The JSON record of one message (see the module docstring)."""
    attachments = [attachment_json(a) for a in msg.attachments]
    return {
        "path": msg.location,
        "message_id": msg.message_id,
        "sender": msg.sender,
        "recipients": list(msg.recipients),
        "label": msg.label,
        "time": msg.time.isoformat() if msg.time is not None else None,
        "defects": list(msg.defects),
        "unscannable": list(msg.unscannable),
        "tricks": list(msg.tricks),
        "attachments": attachments,
    }


def _size(n: int) -> str:
    x: float = n
    for unit in ("B", "KB", "MB", "GB"):
        if x < 1024 or unit == "GB":
            return f"{x} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    return str(x)  # pragma: no cover


def _rows(att: Attachment, depth: int, out: list[list[str]]) -> None:
    names = [visible(n) for n in att.names] or ["(no name)"]
    label = "  " * depth + ("└ " if depth else "") + names[0]
    if len(names) > 1:
        label += " | " + " | ".join(names[1:])
    flags = list(att.tricks)
    if att.type_mismatch:
        flags.append("type-mismatch")
    if att.encrypted:
        flags.append("encrypted")
    if att.exceeds_limits:
        flags.append("exceeds-limits")
    if att.unscannable:
        flags.append("unscannable")
    if not att.in_archive:
        flags.extend(name.replace("_", "-") for name in _content(att) if name != "unscannable")
    out.append(
        [
            att.part,
            label,
            att.declared_type,
            f"{att.detected_type} ({att.type_class})",
            _size(att.size),
            ", ".join(flags),
        ]
    )
    for member in att.members:
        _rows(member, depth + 1, out)


def render_table(msg: Message) -> str:
    """A human-readable block for one message: envelope facts, then its attachments."""
    head = [
        ["path", visible(msg.location)],
        ["sender", visible(msg.sender) or "<>"],
        ["recipients", ", ".join(visible(r) for r in msg.recipients) or "-"],
        ["label", visible(msg.label) or "-"],
        ["subject", visible(msg.subject[:200])],
    ]
    if msg.defects:
        head.append(["defects", "; ".join(visible(d) for d in msg.defects)])
    if msg.unscannable:
        head.append(["unscannable", "; ".join(visible(u) for u in msg.unscannable)])
    if msg.tricks:
        head.append(["MIME tricks", ", ".join(msg.tricks)])
    rows: list[list[str]] = []
    for att in msg.attachments:
        _rows(att, 0, rows)
    text = tabulate(head, tablefmt="plain")
    if rows:
        table = tabulate(
            rows,
            headers=["part", "name", "declared", "detected", "size", "tricks"],
            tablefmt="simple",
            disable_numparse=True,
        )
        text += "\n\n" + table
    else:
        text += "\n\n(no attachments)"
    return text
