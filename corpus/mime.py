"""MIME extraction: one raw message in, one ``Message`` with every attachment out.

Contract:
- ``parse_message(data)`` never raises. Anything odd (a missing final boundary, a header
  line without a colon, bad base64) becomes a short string in ``Message.defects`` and
  parsing goes on with a best-effort reading, the way mail clients read broken mail.
- It fails closed: every limit of ``mime_limits`` that stops the reading (nesting, parts,
  header blocks, the uuencode scan window, uuencoded files per part) is a
  ``Message.unscannable`` reason naming the limit and the part; a TNEF part that cannot
  be expanded completely carries an ``Attachment.unscannable`` reason. The names in the
  parts past a limit are still listed (name-only attachments carrying the reason).
- Where common readers disagree (duplicate or conflicting ``Content-*`` headers, names
  that differ between ``name``, ``filename`` and ``filename*``, names only a comment or a
  non-standard parameter carries), every reading is taken: the attachments and names any
  of them shows are listed, and ``Message.tricks`` holds ``ambiguous-mime`` (the details
  are ``ambiguous-mime: ...`` defects; who reads what is in ``corpus.ambiguity``). An
  entity read under its N-th distinct ``Content-Type`` lists its attachments as part
  ``P~ctN``; a payload read under its N-th ``Content-Transfer-Encoding`` as ``P~cteN``.
- A bare CR (not before LF) is read as the standard parser reads it, as a line ending
  (so a whole message in CR, or one delimiter line ended by CR, hides nothing); that is a
  trick too (``bare-cr-newlines``) when such a CR ends or precedes a header or delimiter
  line. Binary payloads holding bare CRs are read with LF.
- ``Message.attachments`` is flat, in part order: every leaf with a name, every non-text
  leaf, every text leaf with ``Content-Disposition: attachment``; the attachments of
  attached messages (message/rfc822), recursively (part ``2/1.1`` is part 1.1 of the
  message attached as part 2; the container itself is not an attachment, as in mikel/mail
  and MimeKit); uuencoded and BinHex files found in text bodies
  (part ``1.uu1``, ``1.hqx1``); the members of TNEF ``winmail.dat`` parts (``2.tnef1``).
- Payloads are decoded lazily: each ``Attachment`` gets a loader over a slice of the input
  that decodes only when a fact needs the bytes. Sizes are known without decoding for
  7bit/8bit/binary parts; otherwise ``Attachment.size`` decodes on first use (base64 is
  decoded faster, by SIMD, than its size could be counted by a scan for white space).
  Defects found while decoding (bad base64) are appended to ``Message.defects`` then.
- ``body`` is the decoded text of the outer message's text/plain and text/html parts, at
  most ``BODY_LIMIT`` characters; only the prefix needed for that is ever decoded.

Why a byte-level parser and not ``email.parser``: the standard parser copies every payload
into a ``str`` (surrogate-escaped), parses attached messages eagerly, and its
``get_filename`` knows RFC 2231 but not the RFC 2047-in-quotes habit, raw 8-bit names or
duplicate parameters. Here a part is a pair of offsets into the original bytes, structure
is found by ``corpus.mime_structure`` (linear in the input per nesting level, and nesting
is bounded), and parameters are decoded from the raw header text, so every name is seen
as the recipient's client would show it and nothing is decoded that no policy asks for.

Limits: ``message/partial`` fragments are not reassembled; attached messages encoded in
base64 (not allowed by RFC 2046 section 5.2.1, but seen) are decoded eagerly to be parsed;
TNEF parts are decoded eagerly (their members are attachments) and text parts in a
transfer encoding are decoded up to ``SCAN_WINDOW`` to look for uuencoded files; the text
of attached messages is not part of ``body``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

from mailpolicy.corpus import ambiguity as A
from mailpolicy.corpus import headers as H
from mailpolicy.corpus import payload as P
from mailpolicy.corpus.message import BODY_LIMIT, Attachment, Message
from mailpolicy.corpus.mime_limits import (
    HEADER_LIMIT,
    MAX_DEPTH,
    MAX_PARTS,
    MAX_TNEF_OBJECTS,
    SCAN_WINDOW,
    TNEF_LIMIT,
    UU_LIMIT,
    Budget,
    reason,
)
from mailpolicy.corpus.mime_structure import names_beyond, read_headers, split_multipart, values

__all__ = ["MAX_DEPTH", "MAX_PARTS", "parse_message", "read_headers", "split_multipart"]

_TNEF_TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")
_NOT_ATTACHMENT = (
    "message/delivery-status",
    "message/disposition-notification",
    "message/feedback-report",
    "text/rfc822-headers",
)
_IDENTITY = ("7bit", "8bit", "binary", "")
_UU_CTE = ("x-uuencode", "uuencode", "x-uue", "uue")
_BARE_CR = re.compile(rb"\r(?!\n)")
#: A bare CR that ends a header or delimiter line, or comes before one: structure that
#: readers splitting lines only on LF do not see.
_STRUCTURAL_CR = re.compile(rb"(?:^|\n)(?:--|[!-9;-~]+:)[^\r\n]*\r(?![\r\n])|\r(?=--|[!-9;-~]+:)")
_TOKEN_END = re.compile(r'[\s()<>@,;:\\"/\[\]?=]')


def parse_message(
    data: bytes, *, path: str = "", key: str | None = None, label: str | None = None
) -> Message:
    """Read one raw message (RFC 5322 bytes, CRLF or LF) into a ``Message``; never raises."""
    msg = Message(path=path, key=key, label=label, size=len(data) if data else 0)
    walker = _Walker(msg)
    try:
        if not isinstance(data, bytes):
            data = bytes(data)
        data = walker.line_endings(data)
        walker.message(data, 0, len(data), "", 0, top=True)
    except Exception as exc:  # noqa: BLE001 - the promise is "never raises"
        walker.defect("parser-error", f"{type(exc).__name__}: {exc}"[:200])
        walker.budget.hit(f"reader error ({type(exc).__name__})")
    try:
        walker.finish()
    except Exception as exc:  # noqa: BLE001
        walker.defect("parser-error", f"{type(exc).__name__}: {exc}"[:200])
        msg.defects = tuple(walker.defects)
        msg.unscannable = (*msg.unscannable, f"reader error ({type(exc).__name__})")
    return msg


# -- the walk --------------------------------------------------------------------------
class _Walker:
    """Walks one message's entity tree, collecting attachments, body text and defects."""

    def __init__(self, msg: Message) -> None:
        self.msg = msg
        self.attachments: list[Attachment] = []
        self.body: list[str] = []
        self.body_len = 0
        self.defects: list[str] = []
        self.budget = Budget()
        self.tricks: list[str] = []
        self.top_charset: str | None = None

    def defect(self, code: str, where: str = "") -> None:
        where = where.rstrip("/")
        text = f"{code}: {where}" if where else code
        if len(self.defects) < 200 and text not in self.defects:
            self.defects.append(text)

    def trick(self, code: str, note: str, where: str) -> None:
        if code not in self.tricks:
            self.tricks.append(code)
        if note != A.DISAGREE:
            self.defect(code, f"{where.rstrip('/') or 'top'}: {note}")

    def late_defect(self, text: str) -> None:
        """A defect found while decoding a payload on demand, after parsing."""
        if text not in self.msg.defects:
            self.msg.defects = (*self.msg.defects, text)

    def finish(self) -> None:
        m = self.msg
        m.attachments = tuple(self.attachments)
        m.body = "\n".join(self.body)[:BODY_LIMIT]
        m.defects = tuple(self.defects)
        m.unscannable = tuple(self.budget.reasons)
        m.tricks = tuple(self.tricks)

    def line_endings(self, data: bytes) -> bytes:
        """Bare CR line endings: Python's email splits lines on CR, LF and CRLF alike, so a
        bare CR anywhere (a whole message in CR, or one delimiter line ending in CR) is
        read as a line ending; that readers differ on it is a trick."""
        if _BARE_CR.search(data) is None:
            return data
        if _STRUCTURAL_CR.search(data) is not None:  # not "\r\r\n" inside body text
            self.trick("bare-cr-newlines", "lines end in a bare CR", "top")
        return _BARE_CR.sub(b"\n", data)

    def beyond(self, buf: bytes, start: int, end: int, why: str, where: str) -> None:
        """A limit stops the walk: the reason, and the names still visible in what is left."""
        self.budget.hit(why)
        found = names_beyond(buf, start, end, self.budget, self.ambiguous_names(where))
        for n, (names, ctype) in enumerate(found, 1):
            self.attachments.append(
                Attachment(
                    names=tuple(x for x, _ in names),
                    raw_names=tuple(r for _, r in names),
                    declared_type=ctype,
                    data=b"",
                    part=f"{where.rstrip('/') or 'top'}+{n}",
                    unscannable=(why,),
                )
            )

    # An entity that is a whole message: the top one, or one attached as message/rfc822.
    def message(
        self, buf: bytes, start: int, end: int, prefix: str, depth: int, top: bool = False
    ) -> None:
        local: list[str] = []
        hits: list[str] = []
        fields, body = read_headers(buf, start, end, local, hits, self.budget)
        where = prefix.rstrip("/") or "top"
        for d in local:
            self.defect(d, where)
        for h in hits:
            self.budget.hit(reason(h, where))
        if top:
            self.envelope(fields)
        self.entity(buf, fields, body, end, prefix, depth, outer=top, default="text/plain")

    def entity(
        self,
        buf: bytes,
        fields: list[tuple[str, bytes]],
        start: int,
        end: int,
        path: str,
        depth: int,
        outer: bool,
        default: str,
        reading: bytes | None | bool = True,
    ) -> None:
        """One entity under ``reading`` (a Content-Type value, None for the default); with
        ``True``, under every Content-Type some reader gives it (``corpus.ambiguity``)."""
        if reading is True:
            where = path.rstrip("/") or "top"
            for note in A.header_conflicts(fields):
                self.trick(A.TRICK, note, where)
            readings: list[bytes | None] = [*A.readings(fields)] or [None]
            first = len(self.attachments)
            walk = partial(self.entity, buf, fields, start, end, path, depth, outer, default)
            walk(readings[0])
            for n, alt in enumerate(readings[1:], 2):
                seen = {(a.part, a.names, a.declared_type) for a in self.attachments[first:]}
                before = len(self.attachments)
                walk(alt)
                new = []
                for a in self.attachments[before:]:
                    if (a.part, a.names, a.declared_type) not in seen:
                        a.part = f"{a.part}~ct{n}"
                        new.append(a)
                self.attachments[before:] = new
            return
        ct_value = reading if isinstance(reading, bytes) else None
        where = path.rstrip("/") or "top"
        if self.budget.parts <= 0:
            self.defect("too-many-parts", where)
            self.beyond(buf, start, end, reason(f"more than {MAX_PARTS} MIME parts", where), path)
            return
        self.budget.parts -= 1
        ctype, cparams = H.parse_params(ct_value[:HEADER_LIMIT]) if ct_value else (default, [])
        if "/" not in ctype or not ctype.split("/")[1]:
            if ct_value:
                self.defect("bad-content-type", where)
            ctype = "text/plain" if ctype != "multipart" else "multipart/mixed"
        if outer and self.top_charset is None:
            self.top_charset = H.first_param(cparams, "charset")
        cte_values = values(fields, "content-transfer-encoding")
        cte = cte_values[0].decode("latin-1").strip().lower() if cte_values else ""
        leaf_path = path if path and not path.endswith("/") else path + "1"
        too_deep = reason(f"MIME nesting deeper than {MAX_DEPTH} levels", where)

        if ctype.startswith("multipart/"):
            boundary = H.first_param(cparams, "boundary")
            if depth >= MAX_DEPTH:
                self.defect("nesting-too-deep", where)
                self.beyond(buf, start, end, too_deep, path)
                return
            if boundary:
                sub = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
                # Not found as written: the RFC 2045 token (Python's policy.default cuts
                # an unquoted boundary at its first tspecial).
                for b in dict.fromkeys((boundary.rstrip(" "), _TOKEN_END.split(boundary)[0])):
                    if b and self.multipart(buf, start, end, b, path, depth, outer, sub):
                        return
            else:
                self.defect("multipart-without-boundary", where)
            ctype = "text/plain"
        if ctype in ("message/rfc822", "message/global") and cte not in _UU_CTE:
            if depth >= MAX_DEPTH:
                self.defect("nesting-too-deep", where)
                self.beyond(buf, start, end, too_deep, path)
                return
            names = self.names(fields, cparams, where)
            if names:  # a named attached message is also a file the recipient sees (x.eml)
                self.attachments.append(self.part(buf, start, end, cte, names, ctype, leaf_path))
            if cte in ("base64", "quoted-printable"):
                self.defect("encoded-message-rfc822", where)
                inner = _decode(buf[start:end], cte)[0]
                self.message(inner, 0, len(inner), leaf_path + "/", depth + 1)
            else:
                self.message(buf, start, end, leaf_path + "/", depth + 1)
            return
        self.leaf(buf, fields, start, end, leaf_path, ctype, cparams, cte, outer)

    def multipart(
        self,
        buf: bytes,
        start: int,
        end: int,
        boundary: str,
        path: str,
        depth: int,
        outer: bool,
        default: str,
    ) -> bool:
        """Split at ``--boundary`` lines and walk each part; False if none was found."""
        where = path.rstrip("/") or "top"
        spans, closed, rest = split_multipart(
            buf, start, end, boundary.encode("latin-1", "replace"), max(self.budget.parts, 0)
        )
        if not spans and rest is None:
            self.defect("boundary-not-found", where)
            return False
        if not closed:
            self.defect("missing-final-boundary", where)
        for i, (s, e) in enumerate(spans, 1):
            child = f"{path}.{i}" if path and not path.endswith("/") else f"{path}{i}"
            local: list[str] = []
            hits: list[str] = []
            fields, body = read_headers(buf, s, e, local, hits, self.budget)
            for d in local:
                self.defect(d, child)
            for h in hits:
                self.budget.hit(reason(h, child))
            if not closed and i == len(spans) and not fields and not buf[body:e].strip():
                continue  # the empty tail after an unclosed last delimiter
            self.entity(buf, fields, body, e, child, depth + 1, outer, default)
        if rest is not None:
            self.defect("too-many-parts", where)
            why = reason(f"more than {MAX_PARTS} MIME parts", where)
            self.beyond(buf, rest, end, why, path)
        return True

    def leaf(
        self,
        buf: bytes,
        fields: list[tuple[str, bytes]],
        start: int,
        end: int,
        path: str,
        ctype: str,
        cparams: list[H.Param],
        cte: str,
        outer: bool,
    ) -> bool:
        """One leaf entity: an attachment, body text, or both (uuencoded files)."""
        hints = (H.first_param(cparams, "charset"), self.top_charset)
        names = self.names(fields, cparams, path)
        dispositions = [
            H.parse_params(v[:HEADER_LIMIT])[0] for v in values(fields, "content-disposition")
        ]
        main = ctype.split("/", 1)[0]
        is_attachment = (
            bool(names)
            or (main != "text" and ctype not in _NOT_ATTACHMENT)
            or "attachment" in dispositions
        )
        if cte and cte not in _IDENTITY and cte not in ("base64", "quoted-printable", *_UU_CTE):
            self.defect("unknown-transfer-encoding", f"{path} {cte[:40]}")
        if not is_attachment:
            # Decoded once, whole: a window on encoded bytes is moved by padding.
            text = buf[start:end] if cte in _IDENTITY else _decode(buf[start:end], cte)[0]
            if ctype in ("text/plain", "text/html") and outer:
                self.add_body(text, hints)
            if main == "text":
                self.scan_text(text, path)
            return False
        ctes = [
            v.decode("latin-1").strip().lower() for v in values(fields, "content-transfer-encoding")
        ]
        for n, other in enumerate(dict.fromkeys(ctes or [cte]), 1):
            members: list[Attachment] = []
            problems: list[str] = []
            if n == 1 and (
                ctype in _TNEF_TYPES or any(x.lower() == "winmail.dat" for x, _ in names)
            ):
                members, problems = self.tnef(buf, start, end, other, path)
            part = path if n == 1 else f"{path}~cte{n}"
            att = self.part(buf, start, end, other, names, ctype, part, tuple(problems))
            self.attachments.append(att)
            self.attachments.extend(members)
        if ctype == "application/mac-binhex40" and cte in _IDENTITY:
            self.scan_text(buf[start:end], path)
        return True

    def names(
        self, fields: list[tuple[str, bytes]], cparams: list[H.Param], where: str
    ) -> list[tuple[str, str]]:
        """(decoded, raw) for every distinct name some reader shows for an entity:
        Content-Disposition ``filename`` first, then Content-Type ``name``, then the names
        only some readers see (``corpus.ambiguity``)."""
        hints = (H.first_param(cparams, "charset"), self.top_charset)
        names, notes = A.part_names(fields, hints)
        for note in notes:
            self.trick(A.TRICK, note, where)
        return names

    def ambiguous_names(
        self, where: str
    ) -> Callable[[list[tuple[str, bytes]]], list[tuple[str, str]]]:
        def names_of(fields: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
            return self.names(fields, [], where)

        return names_of

    def part(
        self,
        buf: bytes,
        start: int,
        end: int,
        cte: str,
        names: list[tuple[str, str]],
        ctype: str,
        part: str,
        unscannable: tuple[str, ...] = (),
    ) -> Attachment:
        """The attachment of a MIME part: its names, a lazy loader, the cheap size."""
        return Attachment(
            names=tuple(x for x, _ in names),
            raw_names=tuple(r for _, r in names),
            declared_type=ctype,
            loader=self.loader(buf, start, end, cte, part),
            size=_cheap_size(buf, start, end, cte),
            part=part,
            unscannable=unscannable,
        )

    def loader(self, buf: bytes, start: int, end: int, cte: str, path: str) -> Callable[[], bytes]:
        def load() -> bytes:
            data, ok = _decode(buf[start:end], cte)
            if not ok:
                self.late_defect(f"bad-{cte or 'payload'}: {path}")
            return data

        return load

    def add_body(self, data: bytes, hints: tuple[str | None, str | None]) -> None:
        room = BODY_LIMIT - self.body_len
        if room <= 0:
            return
        text = H.decode_text(data[: room * 4], hints)[:room]
        self.body.append(text)
        self.body_len += len(text) + 1

    def scan_text(self, text: bytes, path: str) -> None:
        """Uuencoded and BinHex files inside a text part, searched in the first
        ``SCAN_WINDOW`` bytes of its *decoded* text (padding the encoding moves nothing)."""
        if b"begin " not in text and b"(This file" not in text:
            return
        if len(text) > SCAN_WINDOW:
            self.budget.hit(
                reason(f"text larger than the {SCAN_WINDOW >> 20} MB uuencode scan window", path)
            )
            text = text[:SCAN_WINDOW]
        cap = UU_LIMIT + max(self.budget.names_beyond, 0)
        over = reason(f"more than {UU_LIMIT} uuencoded or BinHex files", path)
        for n, (raw_name, s, e, closed) in enumerate(P.find_uuencoded(text, cap), 1):
            if not closed:
                self.defect("uuencode-without-end", path)
            late = n > UU_LIMIT
            if late:
                self.budget.hit(over)
                self.budget.names_beyond -= 1
            self.attachments.append(
                Attachment(
                    names=(H.guess_decode(raw_name.strip()),),
                    raw_names=(H._wire(raw_name),),
                    declared_type="application/octet-stream",
                    loader=None if late else partial(_uu_data, text, s, e),
                    data=b"" if late else None,
                    part=f"{path}.uu{n}",
                    unscannable=(over,) if late else (),
                )
            )
        for n, (s, e) in enumerate(P.find_binhex(text), 1):
            if n > UU_LIMIT:
                self.budget.hit(over)
                break
            head = P.binhex_header(text[s:e])
            if head is None:
                self.defect("bad-binhex", path)
                continue
            raw_name, size = head
            self.attachments.append(
                Attachment(
                    names=(H.guess_decode(raw_name),),
                    raw_names=(H._wire(raw_name),),
                    declared_type="application/mac-binhex40",
                    loader=partial(_binhex_data, text, s, e),
                    size=size,
                    part=f"{path}.hqx{n}",
                )
            )

    def tnef(
        self, buf: bytes, start: int, end: int, cte: str, path: str
    ) -> tuple[list[Attachment], list[str]]:
        """The members of a TNEF (winmail.dat) part, and why it could not be read completely.

        The size limit is on the decoded bytes (padding the encoding hides nothing); the
        attribute framing is checked before tnefparse runs (it stops silently at a cut)."""
        raw = buf[start:end]
        size = P.base64_decoded_size(raw) if cte == "base64" else len(raw)
        if size > TNEF_LIMIT:
            self.defect("tnef-too-large", path)
            return [], [f"winmail.dat larger than {TNEF_LIMIT >> 20} MB: TNEF members not read"]
        data = _decode(raw, cte)[0]
        problems: list[str] = []
        problem = P.tnef_problem(data, MAX_TNEF_OBJECTS)
        if problem is not None:
            problems.append(f"TNEF not read completely: {problem}")
            if problem.startswith("more than"):
                return [], problems
        try:
            import tnefparse

            tnef = tnefparse.TNEF(data)
            found = list(tnef.attachments)
        except Exception as exc:  # noqa: BLE001 - a broken winmail.dat is a fact
            self.defect("bad-tnef", f"{path} {type(exc).__name__}")
            return [], [*problems, f"TNEF could not be read ({type(exc).__name__})"]
        members = []
        for n, att in enumerate(found, 1):
            try:
                name = att.long_filename() or att.name
            except Exception:  # noqa: BLE001
                name = getattr(att, "name", "") or ""
            if isinstance(name, bytes):
                name = H.guess_decode(name.rstrip(b"\0"))
            name = str(name).rstrip("\0")
            payload = att.data if isinstance(att.data, bytes) else b""
            members.append(
                Attachment(
                    names=(name,) if name else (),
                    declared_type="application/octet-stream",
                    data=payload,
                    size=len(payload),
                    part=f"{path}.tnef{n}",
                )
            )
        return members, problems

    # -- envelope facts of the outer message ------------------------------------------
    def envelope(self, fields: list[tuple[str, bytes]]) -> None:
        m = self.msg
        decoded = []
        for k, v in fields:
            if len(v) >= HEADER_LIMIT:
                self.defect("header-truncated", k[:40])
            decoded.append((k, H.decode_header(v[:HEADER_LIMIT])))
        m.headers = tuple(decoded)
        mid = m.header("message-id")
        m.message_id = mid[0].strip() or None if mid else None
        rp = m.header("return-path")
        if rp:
            m.sender = H.address(rp[0])
        rcpt = [*m.header("delivered-to"), *m.header("x-original-to")]
        if not rcpt:
            rcpt = [*m.header("to"), *m.header("cc")]
        m.recipients = H.addresses(rcpt, HEADER_LIMIT)
        received = H.first_date(m.header("received")[:1], after_semicolon=True)
        m.time = received or H.first_date(m.header("date"))


def _uu_data(text: bytes, start: int, end: int) -> bytes:
    return P.uu_decode(text[start:end])[0]


def _binhex_data(text: bytes, start: int, end: int) -> bytes:
    return P.binhex_data(text[start:end])


# -- helpers ---------------------------------------------------------------------------
def _decode(raw: bytes, cte: str) -> tuple[bytes, bool]:
    if cte == "base64":
        return P.base64_decode(raw)
    if cte == "quoted-printable":
        return P.qp_decode(raw)
    if cte in _UU_CTE:
        return P.uu_decode(raw)
    return raw, True


def _cheap_size(buf: bytes, start: int, end: int, cte: str) -> int | None:
    if cte in _IDENTITY:
        return end - start
    return None
