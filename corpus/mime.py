"""MIME extraction: one raw message in, one ``Message`` with every attachment out.

Contract:
- ``parse_message(data)`` never raises. Anything odd (a missing final boundary, a header
  line without a colon, bad base64, nesting beyond ``MAX_DEPTH``, more than ``MAX_PARTS``
  parts, an oversized header) becomes a short string in ``Message.defects`` and parsing
  goes on with a best-effort reading, the way mail clients read broken mail.
- ``Message.attachments`` is flat, in part order: every leaf with a name, every non-text
  leaf, every text leaf with ``Content-Disposition: attachment``; the attachments of
  attached messages (message/rfc822), recursively (part ``2/1.1`` is part 1.1 of the
  message attached as part 2; the container itself is not an attachment, as in mikel/mail
  and MimeKit); uuencoded and BinHex files found in text bodies
  (part ``1.uu1``, ``1.hqx1``); the members of TNEF ``winmail.dat`` parts (``2.tnef1``).
- Every name a part carries is kept: each Content-Disposition ``filename`` (RFC 2231 form
  first, RFC 6266 section 4.3), then each Content-Type ``name``, over duplicate headers too;
  decoding is in ``corpus.headers``.
- Payloads are decoded lazily: each ``Attachment`` gets a loader over a slice of the input
  that decodes only when a fact needs the bytes. Sizes are exact without decoding for
  7bit/8bit/binary parts and for clean base64 up to ``EAGER_SIZE`` encoded bytes; otherwise
  ``Attachment.size`` decodes on first use. Defects found while decoding (bad base64) are
  appended to ``Message.defects`` at that moment.
- ``body`` is the decoded text of the outer message's text/plain and text/html parts, at
  most ``BODY_LIMIT`` characters; only the prefix needed for that is ever decoded.

Why a byte-level parser and not ``email.parser``: the standard parser copies every payload
into a ``str`` (surrogate-escaped), parses attached messages eagerly, recurses without a
depth bound (deep nesting ends in ``RecursionError`` and loses everything), and its
``get_filename`` knows RFC 2231 but not the RFC 2047-in-quotes habit, raw 8-bit names or
duplicate parameters. Here a part is a pair of offsets into the original bytes, boundaries
are found with ``bytes.find`` (linear in the input per nesting level, and nesting is
bounded), and parameters are decoded from the raw header text, so every name is seen as
the recipient's client would show it and nothing is decoded that no policy asks for. The
boundary rules are RFC 2046 section 5.1.1 (delimiter at line start, optional transport
padding, ``--`` for the close delimiter, the CRLF before a delimiter belongs to it).

Limits: ``message/partial`` fragments are not reassembled; attached messages encoded in
base64 (not allowed by RFC 2046 section 5.2.1, but seen) are decoded eagerly to be parsed;
TNEF parts up to ``TNEF_LIMIT`` are decoded eagerly (their members are attachments); the
text of attached messages is not part of ``body``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from itertools import pairwise

from mailpolicy.corpus import headers as H
from mailpolicy.corpus import payload as P
from mailpolicy.corpus.message import BODY_LIMIT, Attachment, Message

MAX_DEPTH = 40  #: multipart / message nesting levels followed
MAX_PARTS = 5000  #: MIME entities read per message
MAX_HEADERS = 2000  #: header fields kept per entity
HEADER_LIMIT = 256 * 1024  #: bytes of one header value that are decoded
EAGER_SIZE = 4 * 1024 * 1024  #: base64 payloads up to this are sized at parse time
TNEF_LIMIT = 32 * 1024 * 1024  #: winmail.dat parts larger than this are not expanded
UU_LIMIT = 100  #: uuencoded / BinHex files taken from one text part

_TNEF_TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")
_NOT_ATTACHMENT = (
    "message/delivery-status",
    "message/disposition-notification",
    "message/feedback-report",
    "text/rfc822-headers",
)
_HEADER_NAME = re.compile(rb"^[!-9;-~]+[ \t]*$")
_IDENTITY = ("7bit", "8bit", "binary", "")
_UU_CTE = ("x-uuencode", "uuencode", "x-uue", "uue")


def parse_message(
    data: bytes, *, path: str = "", key: str | None = None, label: str | None = None
) -> Message:
    """Read one raw message (RFC 5322 bytes, CRLF or LF) into a ``Message``; never raises."""
    msg = Message(path=path, key=key, label=label, size=len(data) if data else 0)
    walker = _Walker(msg)
    try:
        if not isinstance(data, bytes):
            data = bytes(data)
        walker.message(data, 0, len(data), "", 0, top=True)
    except Exception as exc:  # noqa: BLE001 - the promise is "never raises"
        walker.defect("parser-error", f"{type(exc).__name__}: {exc}"[:200])
    try:
        walker.finish()
    except Exception as exc:  # noqa: BLE001
        walker.defect("parser-error", f"{type(exc).__name__}: {exc}"[:200])
        msg.defects = tuple(walker.defects)
    return msg


# -- headers ---------------------------------------------------------------------------
def read_headers(
    buf: bytes, start: int, end: int, defects: list[str] | None = None
) -> tuple[list[tuple[str, bytes]], int]:
    """Header fields of the entity at ``buf[start:end]`` and the offset of its body.

    Values are unfolded (CRLF removed, the folding white space kept: RFC 5322 section
    2.2.3). A line without a colon between header lines is taken as a continuation (the
    mistake some generators make); otherwise it starts the body.
    """
    fields: list[list[object]] = []
    pos = start
    first = True
    while pos < end:
        nl = buf.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        line = buf[pos : min(line_end, pos + HEADER_LIMIT)].rstrip(b"\r\n")
        if line_end - pos > HEADER_LIMIT and defects is not None:
            defects.append("header-too-long")
        if not line:
            return _join(fields), line_end
        if line[:1] in (b" ", b"\t"):
            if fields:
                pieces = fields[-1][1]
                assert isinstance(pieces, list)
                if sum(len(p) for p in pieces[-1:]) < HEADER_LIMIT:
                    pieces.append(line)
            elif defects is not None:
                defects.append("continuation-without-header")
            pos = line_end
            first = False
            continue
        colon = line.find(b":")
        if colon > 0 and _HEADER_NAME.match(line[:colon]):
            if len(fields) < MAX_HEADERS:
                fields.append([line[:colon].rstrip().decode("latin-1"), [line[colon + 1 :]]])
            elif defects is not None and len(fields) == MAX_HEADERS:
                defects.append("too-many-headers")
                fields.append(["X-Mailpolicy-Truncated", [b""]])
        elif first and line.startswith(b"From "):
            pass  # mbox envelope line
        elif fields and not line.startswith(b"--") and _next_is_header(buf, line_end, end):
            if defects is not None:
                defects.append("header-line-without-colon")
            pieces = fields[-1][1]
            assert isinstance(pieces, list)
            pieces.append(b" " + line)
        else:
            if defects is not None and fields:
                defects.append("missing-header-body-separator")
            return _join(fields), pos
        first = False
        pos = line_end
    return _join(fields), end


def _next_is_header(buf: bytes, pos: int, end: int) -> bool:
    nl = buf.find(b"\n", pos, end)
    line = buf[pos : (end if nl < 0 else nl)][:200].rstrip(b"\r")
    if not line or line[:1] in (b" ", b"\t"):
        return True
    colon = line.find(b":")
    return colon > 0 and bool(_HEADER_NAME.match(line[:colon]))


def _join(fields: list[list[object]]) -> list[tuple[str, bytes]]:
    out = []
    for name, pieces in fields:
        assert isinstance(name, str) and isinstance(pieces, list)
        out.append((name, b"".join(pieces).strip()))
    return out


def _values(fields: list[tuple[str, bytes]], name: str) -> list[bytes]:
    return [v for k, v in fields if k.lower() == name]


# -- the walk --------------------------------------------------------------------------
class _Walker:
    """Walks one message's entity tree, collecting attachments, body text and defects."""

    def __init__(self, msg: Message) -> None:
        self.msg = msg
        self.attachments: list[Attachment] = []
        self.body: list[str] = []
        self.body_len = 0
        self.defects: list[str] = []
        self.parts = 0
        self.top_charset: str | None = None

    def defect(self, code: str, where: str = "") -> None:
        where = where.rstrip("/")
        text = f"{code}: {where}" if where else code
        if len(self.defects) < 200 and text not in self.defects:
            self.defects.append(text)

    def late_defect(self, text: str) -> None:
        """A defect found while decoding a payload on demand, after parsing."""
        if text not in self.msg.defects:
            self.msg.defects = (*self.msg.defects, text)

    def finish(self) -> None:
        m = self.msg
        m.attachments = tuple(self.attachments)
        m.body = "\n".join(self.body)[:BODY_LIMIT]
        m.defects = tuple(self.defects)

    # An entity that is a whole message: the top one, or one attached as message/rfc822.
    def message(
        self, buf: bytes, start: int, end: int, prefix: str, depth: int, top: bool = False
    ) -> None:
        local: list[str] = []
        fields, body = read_headers(buf, start, end, local)
        for d in local:
            self.defect(d, prefix.rstrip("/") or "top")
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
    ) -> None:
        self.parts += 1
        where = path or "top"
        if self.parts > MAX_PARTS:
            self.defect("too-many-parts", where)
            return
        ct_values = _values(fields, "content-type")
        if len(ct_values) > 1:
            self.defect("duplicate-content-type", where)
        ctype, cparams = H.parse_params(ct_values[0][:HEADER_LIMIT]) if ct_values else (default, [])
        if "/" not in ctype or not ctype.split("/")[1]:
            if ct_values:
                self.defect("bad-content-type", where)
            ctype = "text/plain" if ctype != "multipart" else "multipart/mixed"
        if outer and self.top_charset is None:
            self.top_charset = H.first_param(cparams, "charset")
        cte_values = _values(fields, "content-transfer-encoding")
        cte = cte_values[0].decode("latin-1").strip().lower() if cte_values else ""
        leaf_path = path if path and not path.endswith("/") else path + "1"

        if ctype.startswith("multipart/"):
            boundary = H.first_param(cparams, "boundary")
            if depth >= MAX_DEPTH:
                self.defect("nesting-too-deep", where)
                return
            if boundary:
                if self.multipart(
                    buf,
                    start,
                    end,
                    boundary.rstrip(" "),
                    path,
                    depth,
                    outer,
                    "message/rfc822" if ctype == "multipart/digest" else "text/plain",
                ):
                    return
            else:
                self.defect("multipart-without-boundary", where)
            ctype = "text/plain"
        if ctype in ("message/rfc822", "message/global") and cte not in _UU_CTE:
            if depth >= MAX_DEPTH:
                self.defect("nesting-too-deep", where)
                return
            names = self.names(fields, cparams)
            if names:  # a named attached message is also a file the recipient sees (x.eml)
                self.attachments.append(
                    Attachment(
                        names=tuple(n for n, _ in names),
                        raw_names=tuple(r for _, r in names),
                        declared_type=ctype,
                        loader=self.loader(buf, start, end, cte, leaf_path),
                        size=_cheap_size(buf, start, end, cte),
                        part=leaf_path,
                    )
                )
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
        where = path or "top"
        spans, closed = split_multipart(buf, start, end, boundary.encode("latin-1", "replace"))
        if not spans:
            self.defect("boundary-not-found", where)
            return False
        if not closed:
            self.defect("missing-final-boundary", where)
        for i, (s, e) in enumerate(spans, 1):
            if self.parts >= MAX_PARTS:
                self.defect("too-many-parts", where)
                break
            child = f"{path}.{i}" if path and not path.endswith("/") else f"{path}{i}"
            local: list[str] = []
            fields, body = read_headers(buf, s, e, local)
            for d in local:
                self.defect(d, child)
            if not closed and i == len(spans) and not fields and not buf[body:e].strip():
                continue  # the empty tail after an unclosed last delimiter
            self.entity(buf, fields, body, e, child, depth + 1, outer, default)
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
        names = self.names(fields, cparams)
        disposition = ""
        for value in _values(fields, "content-disposition"):
            disposition = disposition or H.parse_params(value[:HEADER_LIMIT])[0]
        main = ctype.split("/", 1)[0]
        is_attachment = (
            bool(names)
            or (main != "text" and ctype not in _NOT_ATTACHMENT)
            or disposition == "attachment"
        )
        if (
            cte
            and cte not in _IDENTITY
            and cte not in ("base64", "quoted-printable")
            and cte not in _UU_CTE
        ):
            self.defect("unknown-transfer-encoding", f"{path} {cte[:40]}")
        if not is_attachment:
            if ctype in ("text/plain", "text/html") and outer:
                self.add_body(buf, start, end, cte, hints)
            if main == "text":
                self.scan_text(buf, start, end, cte, path)
            return False
        self.attachments.append(
            Attachment(
                names=tuple(n for n, _ in names),
                raw_names=tuple(r for _, r in names),
                declared_type=ctype,
                loader=self.loader(buf, start, end, cte, path),
                size=_cheap_size(buf, start, end, cte),
                part=path,
            )
        )
        if ctype in _TNEF_TYPES or any(n.lower() == "winmail.dat" for n, _ in names):
            self.tnef(buf, start, end, cte, path)
        elif ctype == "application/mac-binhex40" and cte in _IDENTITY:
            self.scan_text(buf, start, end, cte, path)
        return True

    def names(
        self, fields: list[tuple[str, bytes]], cparams: list[H.Param]
    ) -> list[tuple[str, str]]:
        """(decoded, raw) for every distinct name an entity carries: each Content-Disposition
        ``filename`` first, then each Content-Type ``name``."""
        hints = (H.first_param(cparams, "charset"), self.top_charset)
        names: list[tuple[str, str]] = []
        for value in _values(fields, "content-disposition"):
            names += H.param_values(H.parse_params(value[:HEADER_LIMIT])[1], "filename", hints)
        for value in _values(fields, "content-type"):
            names += H.param_values(H.parse_params(value[:HEADER_LIMIT])[1], "name", hints)
        names = [(n, r) for n, r in names if n.strip()]
        seen: set[str] = set()
        out = []
        for n, r in names:  # keep each decoded name once
            if n not in seen:
                seen.add(n)
                out.append((n, r))
        return out

    def loader(self, buf: bytes, start: int, end: int, cte: str, path: str) -> Callable[[], bytes]:
        def load() -> bytes:
            data, ok = _decode(buf[start:end], cte)
            if not ok:
                self.late_defect(f"bad-{cte or 'payload'}: {path}")
            return data

        return load

    def add_body(
        self, buf: bytes, start: int, end: int, cte: str, hints: tuple[str | None, str | None]
    ) -> None:
        room = BODY_LIMIT - self.body_len
        if room <= 0:
            return
        raw = buf[start : min(end, start + _encoded_budget(cte, room))]
        data = _decode(raw, cte)[0]
        text = H.decode_text(data, hints)[:room]
        self.body.append(text)
        self.body_len += len(text) + 1

    def scan_text(self, buf: bytes, start: int, end: int, cte: str, path: str) -> None:
        """Uuencoded and BinHex files inside a text part."""
        if cte in _IDENTITY:
            if buf.find(b"begin ", start, end) < 0 and buf.find(b"(This file", start, end) < 0:
                return
            text = buf[start:end]
        else:  # only the prefix that the body snippet decodes anyway
            text = _decode(buf[start : min(end, start + _encoded_budget(cte, BODY_LIMIT))], cte)[0]
            if b"begin " not in text and b"(This file" not in text:
                return
        for n, (raw_name, s, e, closed) in enumerate(P.find_uuencoded(text, UU_LIMIT), 1):
            if not closed:
                self.defect("uuencode-without-end", path)
            name = H.guess_decode(raw_name.strip())
            self.attachments.append(
                Attachment(
                    names=(name,),
                    raw_names=(H._wire(raw_name),),
                    declared_type="application/octet-stream",
                    loader=partial(_uu_data, text, s, e),
                    part=f"{path}.uu{n}",
                )
            )
        for n, (s, e) in enumerate(P.find_binhex(text)[:UU_LIMIT], 1):
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

    def tnef(self, buf: bytes, start: int, end: int, cte: str, path: str) -> None:
        """Members of a TNEF (winmail.dat) part become attachments of the message."""
        if end - start > TNEF_LIMIT:
            self.defect("tnef-too-large", path)
            return
        data = _decode(buf[start:end], cte)[0]
        try:
            import tnefparse

            tnef = tnefparse.TNEF(data)
            members = list(tnef.attachments)
        except Exception as exc:  # noqa: BLE001 - a broken winmail.dat is a defect
            self.defect("bad-tnef", f"{path} {type(exc).__name__}")
            return
        for n, att in enumerate(members, 1):
            try:
                name = att.long_filename() or att.name
            except Exception:  # noqa: BLE001
                name = getattr(att, "name", "") or ""
            if isinstance(name, bytes):
                name = H.guess_decode(name.rstrip(b"\0"))
            name = str(name).rstrip("\0")
            payload = att.data if isinstance(att.data, bytes) else b""
            self.attachments.append(
                Attachment(
                    names=(name,) if name else (),
                    declared_type="application/octet-stream",
                    data=payload,
                    size=len(payload),
                    part=f"{path}.tnef{n}",
                )
            )

    # -- envelope facts of the outer message ------------------------------------------
    def envelope(self, fields: list[tuple[str, bytes]]) -> None:
        m = self.msg
        decoded = []
        for k, v in fields:
            if len(v) > HEADER_LIMIT:
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


def split_multipart(
    buf: bytes, start: int, end: int, boundary: bytes
) -> tuple[list[tuple[int, int]], bool]:
    """Body spans of the parts of a multipart body and whether it ended with a close
    delimiter.

    A delimiter is ``--boundary`` at the start of a line followed by optional white space
    (RFC 2046 section 5.1.1) or by ``--`` (the close delimiter); ``--boundaryX`` is a
    different, longer boundary (nested multiparts often extend the outer one). Delimiters
    after a close delimiter still start parts: a nested multipart that reuses its parent's
    boundary closes it early, and parts hidden in the epilogue must not escape a filter.
    """
    delim = b"--" + boundary
    marks: list[tuple[int, int, bool]] = []  # (line start, line end, is close) per delimiter
    pos = start
    while True:
        i = buf.find(delim, pos, end)
        if i < 0:
            break
        if i != start and buf[i - 1] != 0x0A:
            pos = i + 1
            continue
        j = i + len(delim)
        nl = buf.find(b"\n", j, end)
        line_end = end if nl < 0 else nl + 1
        rest = buf[j : min(line_end, j + 256)]
        is_close = rest.startswith(b"--")
        if not is_close and rest.strip(b" \t\r\n"):
            pos = i + 1
            continue
        marks.append((i, line_end, is_close))
        pos = line_end
    spans = []
    for (_, body_start, close), (next_start, _, _) in pairwise(marks):
        if close:
            continue
        e = next_start
        if e > body_start and buf[e - 1] == 0x0A:
            e -= 1
            if e > body_start and buf[e - 1] == 0x0D:
                e -= 1
        spans.append((body_start, max(body_start, e)))
    closed = bool(marks) and marks[-1][2]
    if marks and not closed:
        spans.append((marks[-1][1], end))
    if len(marks) == 1 and closed:
        spans = []  # only a close delimiter: no parts at all
    return spans, closed


# -- helpers ---------------------------------------------------------------------------
def _decode(raw: bytes, cte: str) -> tuple[bytes, bool]:
    if cte == "base64":
        return P.base64_decode(raw)
    if cte == "quoted-printable":
        return P.qp_decode(raw)
    if cte in _UU_CTE:
        return P.uu_decode(raw)
    return raw, True


def _encoded_budget(cte: str, chars: int) -> int:
    """Encoded bytes enough to decode ``chars`` characters (4 bytes each at most)."""
    if cte == "base64":
        return chars * 4 * 4 // 3 + chars * 4 // 38 + 8
    if cte == "quoted-printable":
        return chars * 4 * 3 + 8
    return chars * 4


def _cheap_size(buf: bytes, start: int, end: int, cte: str) -> int | None:
    if cte in _IDENTITY:
        return end - start
    if cte == "base64" and end - start <= EAGER_SIZE:
        return P.base64_size(buf, start, end)
    return None
