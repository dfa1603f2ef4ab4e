"""Strip: take attachments out of a message's bytes, and leave everything else as it came.

Contract:
- ``strip(data, msg, removed, rule, reason)``: ``data`` is the raw message, ``msg`` what
  ``corpus.mime.parse_message`` read from it, ``removed`` attachments of ``msg`` (a
  ``Verdict.stripped``). Each removed part is replaced, in place, by a short ``text/plain``
  part naming the file, the rule and the reason (``notice``); the bytes between are
  spliced unchanged, never re-serialised, so every part kept is byte for byte as received.
  A message that is one attachment as a whole gets the notice as its body and header
  edits (``HeaderEdit``: ``Content-Type``, ``Content-Transfer-Encoding``, no
  ``Content-Disposition``). The answer is ``Rebuilt`` (the new bytes, where their body
  begins, the header edits) or ``Refused`` (why not).
- Refused, never guessed: a message with MIME tricks (``Message.tricks``: readers would
  see different parts) or not read completely (``Message.unscannable``); a part that is
  not a MIME entity of its own (a uuencoded or BinHex file inside a text part, a member of
  a winmail.dat, a part past a limit, a reading under a second Content-Type); a part that
  cannot be found in the bytes (inside an attached message encoded in base64). Last, the
  rebuilt message is read again with the same reader and must show exactly the
  attachments of the original minus the removed ones (and what was inside them: the
  members of an attached message), with no trick and nothing unscannable; otherwise it is
  refused. The milter quarantines what is refused.

Limits: the notice replaces the whole part, so a removed attached message (``x.eml``)
takes every attachment inside it along; the part numbers of what stays do not change (a
notice takes the removed part's place).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from mailpolicy.corpus import headers as H
from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.corpus.mime import parse_message
from mailpolicy.corpus.mime_limits import HEADER_LIMIT, MAX_DEPTH, MAX_PARTS
from mailpolicy.corpus.mime_structure import read_headers, split_multipart, values

#: Header fields of the top entity that the notice replaces when the whole message goes.
TOP_FIELDS = ("content-type", "content-transfer-encoding", "content-disposition")
NOTICE_TYPE = "text/plain; charset=utf-8"
_NAME_LIMIT = 200
_TOKEN_END = re.compile(r'[\s()<>@,;:\\"/\[\]?=]')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_MIME = re.compile(r"~|\.uu\d|\.hqx\d|\.tnef\d|\+\d")


@dataclass(frozen=True, slots=True)
class HeaderEdit:
    """One change to the message's own header: ``index`` 0 adds the field, N changes the
    N-th field of that name; an empty ``value`` deletes it (the milter's SMFIR_CHGHEADER)."""

    name: str
    index: int
    value: str


@dataclass(frozen=True, slots=True)
class Rebuilt:
    data: bytes
    #: where the body of ``data`` begins (what SMFIR_REPLBODY sends)
    body_start: int
    headers: tuple[HeaderEdit, ...] = ()
    #: the names (or part numbers) of what was removed, in order
    removed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str


@dataclass(frozen=True, slots=True)
class _Entity:
    start: int  #: its header block
    end: int
    top: bool  #: the message itself


def label(att: Attachment) -> str:
    """The attachment's name as the notice and the logs show it (one line, bounded)."""
    name = att.name if att.name is not None else f"part {att.part}"
    name = _CONTROL.sub("?", name)
    return name if len(name) <= _NAME_LIMIT else name[: _NAME_LIMIT - 3] + "..."


def notice(att: Attachment, rule: str, reason: str) -> str:
    """The text that takes a removed part's place."""
    lines = [
        "An attachment was removed from this message by the mail filter (mailpolicy).",
        "",
        f"File: {label(att)}",
        f"Type: {_CONTROL.sub('?', att.declared_type)[:_NAME_LIMIT]}",
        f"Rule: {_CONTROL.sub('?', rule)[:_NAME_LIMIT]}",
        f"Reason: {_CONTROL.sub('?', reason)[:800]}",
    ]
    return "\n".join(lines)


def _encoded(text: str, nl: bytes) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body): 7bit when ASCII, else base64 (whose alphabet
    has no ``-``, so no line of it can ever look like a MIME delimiter)."""
    raw = text.encode("utf-8")
    if raw.isascii():
        return "7bit", raw.replace(b"\n", nl)
    b64 = base64.b64encode(raw)
    return "base64", nl.join(b64[i : i + 76] for i in range(0, len(b64), 76))


def _part(att: Attachment, rule: str, reason: str, nl: bytes) -> bytes:
    cte, body = _encoded(notice(att, rule, reason), nl)
    head = f"Content-Type: {NOTICE_TYPE}\nContent-Transfer-Encoding: {cte}\n"
    head += "Content-Disposition: inline\n\n"
    return head.encode("ascii").replace(b"\n", nl) + body


def entities(buf: bytes) -> dict[str, _Entity]:
    """Every MIME entity of ``buf`` by the part number ``corpus.mime`` gives it, with the
    bytes it spans (header block included); the same walk, without reading any payload."""
    found: dict[str, _Entity] = {}
    _message(buf, 0, len(buf), "", 0, found, top=True)
    return found


def _message(
    buf: bytes, start: int, end: int, prefix: str, depth: int, out: dict[str, _Entity], top: bool
) -> None:
    fields, body = read_headers(buf, start, end)
    _entity(buf, fields, body, end, prefix, depth, out, "text/plain", _Entity(start, end, top))


def _entity(
    buf: bytes,
    fields: list[tuple[str, bytes]],
    start: int,
    end: int,
    path: str,
    depth: int,
    out: dict[str, _Entity],
    default: str,
    span: _Entity,
) -> None:
    """Record the entity under its part number unless it is a multipart that splits."""
    cts = values(fields, "content-type")
    ctype, cparams = H.parse_params(cts[0][:HEADER_LIMIT]) if cts else (default, [])
    if "/" not in ctype or not ctype.split("/")[1]:
        ctype = "text/plain" if ctype != "multipart" else "multipart/mixed"
    ctes = values(fields, "content-transfer-encoding")
    cte = ctes[0].decode("latin-1").strip().lower() if ctes else ""
    leaf = path if path and not path.endswith("/") else path + "1"
    if ctype.startswith("multipart/") and depth < MAX_DEPTH:
        boundary = H.first_param(cparams, "boundary")
        sub = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
        if boundary:
            for b in dict.fromkeys((boundary.rstrip(" "), _TOKEN_END.split(boundary)[0])):
                if b and _multipart(buf, start, end, b, path, depth, out, sub):
                    return
    out.setdefault(leaf, span)
    if ctype in ("message/rfc822", "message/global") and depth < MAX_DEPTH:
        if cte in ("", "7bit", "8bit", "binary"):  # encoded: its parts are not in the bytes
            _message(buf, start, end, leaf + "/", depth + 1, out, top=False)


def _multipart(
    buf: bytes,
    start: int,
    end: int,
    boundary: str,
    path: str,
    depth: int,
    out: dict[str, _Entity],
    default: str,
) -> bool:
    spans, _, rest = split_multipart(buf, start, end, boundary.encode("latin-1", "replace"))
    if not spans and rest is None:
        return False
    for i, (s, e) in enumerate(spans[:MAX_PARTS], 1):
        child = f"{path}.{i}" if path and not path.endswith("/") else f"{path}{i}"
        fields, body = read_headers(buf, s, e)
        _entity(buf, fields, body, e, child, depth + 1, out, default, _Entity(s, e, False))
    return True


def _inside(part: str, removed: Sequence[str]) -> bool:
    """Whether ``part`` is a removed part, or read from inside one."""
    return any(part == r or part.startswith((r + "/", r + ".")) for r in removed)


def _field_spans(head: bytes) -> list[tuple[str, int, int]]:
    """(lower-case name, start, end) of each field of a header block, folded lines kept."""
    spans: list[tuple[str, int, int]] = []
    pos = 0
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and spans:
            name, s, _ = spans[-1]
            spans[-1] = (name, s, pos + len(line))
        else:
            name = line.partition(b":")[0].strip().decode("latin-1").lower()
            spans.append((name, pos, pos + len(line)))
        pos += len(line)
    return spans


def _whole(
    data: bytes, body_start: int, att: Attachment, rule: str, reason: str, nl: bytes
) -> tuple[bytes, int, tuple[HeaderEdit, ...]]:
    """The message when the part removed is the message itself: the notice as the body,
    and its header's Content-* fields rewritten (edits, and the same on the bytes)."""
    cte, body = _encoded(notice(att, rule, reason), nl)
    head = data[:body_start]
    fields = _field_spans(head)
    kept = b"".join(head[s:e] for name, s, e in fields if name not in TOP_FIELDS and name)
    new_head = kept + f"Content-Type: {NOTICE_TYPE}{nl.decode()}".encode()
    new_head += f"Content-Transfer-Encoding: {cte}".encode() + nl
    counts = {n: sum(1 for name, _, _ in fields if name == n) for n in TOP_FIELDS}
    edits: list[HeaderEdit] = []
    for name, value in (("Content-Type", NOTICE_TYPE), ("Content-Transfer-Encoding", cte)):
        edits.append(HeaderEdit(name, 1 if counts[name.lower()] else 0, value))
        edits.extend(HeaderEdit(name, i, "") for i in range(counts[name.lower()], 1, -1))
    edits.extend(
        HeaderEdit("Content-Disposition", i, "") for i in range(counts[TOP_FIELDS[2]], 0, -1)
    )
    return new_head + nl + body, len(new_head) + len(nl), tuple(edits)


def strip(
    data: bytes, msg: Message, removed: Sequence[Attachment], rule: str, reason: str
) -> Rebuilt | Refused:
    """``data`` without the ``removed`` attachments of ``msg``; see the module docstring."""
    if not removed:
        return Refused("no attachment to remove")
    if msg.tricks:
        return Refused(f"ambiguous MIME ({', '.join(msg.tricks)})")
    if msg.unscannable:
        return Refused(f"message not read completely ({msg.unscannable[0]})")
    parts = list(dict.fromkeys(a.part for a in removed))
    odd = [p for p in parts if not p or _NOT_MIME.search(p)]
    if odd:
        return Refused(f"part {odd[0]} is not a MIME part of its own")
    if b"\r" in data.replace(b"\r\n", b""):
        return Refused("bare CR in the message")
    found = entities(data)
    missing = [p for p in parts if p not in found]
    if missing:
        return Refused(f"part {missing[0]} not found in the message's bytes")
    # Outermost first; a part inside another removed part goes with it.
    parts = [p for p in parts if not _inside(p, [q for q in parts if q != p])]
    nl = b"\r\n" if b"\r\n" in data[:65536] else b"\n"
    first = {a.part: a for a in reversed(removed)}
    _, body_start = read_headers(data, 0, len(data))
    edits: tuple[HeaderEdit, ...] = ()
    top = [p for p in parts if found[p].top]
    if top:
        new, body_start, edits = _whole(data, body_start, first[top[0]], rule, reason, nl)
    else:
        pieces: list[bytes] = []
        pos = 0
        for p in sorted(parts, key=lambda p: found[p].start):
            ent = found[p]
            if ent.start < pos or ent.start < body_start:
                return Refused(f"part {p} overlaps another part")
            pieces += [data[pos : ent.start], _part(first[p], rule, reason, nl)]
            pos = ent.end
        pieces.append(data[pos:])
        new = b"".join(pieces)
    return _verified(msg, new, body_start, edits, parts, removed)


def _key(a: Attachment) -> tuple[str, tuple[str, ...], str]:
    return (a.part, a.names, a.declared_type)


def _verified(
    msg: Message,
    new: bytes,
    body_start: int,
    edits: tuple[HeaderEdit, ...],
    parts: list[str],
    removed: Sequence[Attachment],
) -> Rebuilt | Refused:
    """The rebuilt message read back: the same attachments minus the removed ones."""
    again = parse_message(new)
    want = [_key(a) for a in msg.attachments if not _inside(a.part, parts)]
    got = [_key(a) for a in again.attachments]
    if got != want or again.tricks or again.unscannable:
        return Refused("the rebuilt message does not read back as the original minus the parts")
    gone = tuple(dict.fromkeys(label(a) for a in removed))
    return Rebuilt(new, body_start, edits, gone)
