"""The evasion matrix: messages generated from names x encodings x placements x senders.

Each ``Cell`` is one message (bytes) with one attachment whose name is written one way:

- **names** (``NAMES``): extension case, a trailing dot, trailing spaces, padding before
  the extension, NBSP (U+00A0) and ideographic space (U+3000) before the extension, a
  quoted-pair inside the extension (``evil.ex\\e``), RTLO, Cyrillic homoglyphs, a double
  extension, and a benign name;
- **encodings** (``ENCODINGS``): plain quoted string, RFC 2047 B and Q, RFC 2231 with a
  charset, RFC 2231 continuations split inside the extension, raw 8-bit UTF-8 and
  Shift_JIS (a name the encoding cannot carry is no cell: plain is ASCII only, raw 8-bit
  non-ASCII only, Shift_JIS only what it can encode);
- **placements** (``PLACEMENTS``): Content-Type ``name=`` only, Content-Disposition
  ``filename=`` only, both equal, both different (the name in ``name=``, a benign
  ``filename=``), a duplicate parameter, a duplicate Content-Disposition header, inside
  an attached message/rfc822, a uuencoded file in a text body, a TNEF winmail.dat member
  (the last two carry the name as raw bytes, so only plain and raw-utf8 apply);
- **senders** (``SENDERS``): listed, unlisted, a subdomain of a listed domain, a listed
  address in other case.

``cells(full=False)``: the bounded set of the normal run: the full product of names and
encodings (filename-only, unlisted sender) plus a greedy all-pairs cover of the four
dimensions; ``full=True``: every valid combination (the ``fuzz`` run).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import struct
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass

#: The policy every cell runs through (an ``unless sender in`` list and a double extension).
POLICY = """policy "evasion-matrix"
list trusted = ["boss@example.com", "partner.example"]
block attachment extension in ["exe", "pif", "scr", "bat"] unless sender in trusted as "exec"
block attachment double extension in ["exe", "pif", "scr", "bat"] as "double"
"""

#: name key -> the decoded name (the quoted-pair one is written ``evil.ex\\e`` on the wire)
NAMES: dict[str, str] = {
    "plain": "invoice.exe",
    "upper": "INVOICE.EXE",
    "mixed-case": "invoice.Pif",
    "trailing-dot": "invoice.pif.",
    "trailing-space": "invoice.scr  ",
    "padded": "report.pdf" + " " * 12 + ".exe",
    "nbsp": "invoice\u00a0.exe",
    "ideographic-space": "invoice\u3000.exe",
    "quoted-pair": "evil.exe",
    "rtlo": "invoice\u202egpj.exe",
    "homoglyph": "invoice.\u0435x\u0435",
    "double": "report.pdf.bat",
    "benign": "report.pdf",
}
ENCODING_KEYS = (
    "plain",
    "rfc2047-b",
    "rfc2047-q",
    "rfc2231",
    "rfc2231-split",
    "raw-utf8",
    "raw-sjis",
)
PLACEMENT_KEYS = (
    "name-only",
    "filename-only",
    "both-equal",
    "both-different",
    "duplicate-param",
    "duplicate-header",
    "rfc822",
    "uuencode",
    "tnef",
)
SENDERS: dict[str, str] = {
    "listed": "boss@example.com",
    "unlisted": "mallory@evil.example",
    "subdomain": "billing@mail.partner.example",
    "case": "BOSS@Example.COM",
}
DECOY = "report.pdf"
PAYLOAD = b"plain text, not a program\n" * 4


# ---- encodings: (parameter name, decoded name) -> the parameter text, or None ----------------
def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plain(param: str, name: str, quoted_pair: bool) -> bytes | None:
    if not name.isascii():
        return None
    if quoted_pair:  # "evil.ex\e": the backslash quotes the last letter
        return f'{param}="{name[:-1]}\\{name[-1]}"'.encode()
    return f"{param}={_quoted(name)}".encode()


def _b(param: str, name: str, quoted_pair: bool) -> bytes | None:
    word = base64.b64encode(name.encode()).decode()
    return f'{param}="=?UTF-8?B?{word}?="'.encode()


def _q(param: str, name: str, quoted_pair: bool) -> bytes | None:
    out = []
    for byte in name.encode():
        c = chr(byte)
        if c == " ":
            out.append("_")
        elif c.isascii() and (c.isalnum() or c in ".-"):
            out.append(c)
        else:
            out.append(f"={byte:02X}")
    return f'{param}="=?UTF-8?Q?{"".join(out)}?="'.encode()


def _pct(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _2231(param: str, name: str, quoted_pair: bool) -> bytes | None:
    return f"{param}*=UTF-8''{_pct(name)}".encode()


def _2231_split(param: str, name: str, quoted_pair: bool) -> bytes | None:
    dot = name.rfind(".")
    cut = dot + 2 if 0 <= dot < len(name) - 1 else len(name) // 2  # inside the extension
    head, tail = name[:cut], name[cut:]
    return f"{param}*0*=UTF-8''{_pct(head)}; {param}*1*={_pct(tail)}".encode()


def _raw(codec: str) -> Callable[[str, str, bool], bytes | None]:
    def encode(param: str, name: str, quoted_pair: bool) -> bytes | None:
        if name.isascii():
            return None
        try:
            raw = name.encode(codec)
        except UnicodeEncodeError:
            return None
        return f"{param}=".encode() + b'"' + raw + b'"'

    return encode


ENCODINGS: dict[str, Callable[[str, str, bool], bytes | None]] = {
    "plain": _plain,
    "rfc2047-b": _b,
    "rfc2047-q": _q,
    "rfc2231": _2231,
    "rfc2231-split": _2231_split,
    "raw-utf8": _raw("utf-8"),
    "raw-sjis": _raw("shift_jis"),
}


# ---- placements ---------------------------------------------------------------------------------
def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _part(headers: list[bytes]) -> bytes:
    return b"\r\n".join(headers) + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + _b64(PAYLOAD)


def _uu(name: bytes) -> bytes:
    lines = [binascii.b2a_uu(PAYLOAD[i : i + 45]) for i in range(0, len(PAYLOAD), 45)]
    return (
        b"begin 644 " + name + b"\r\n" + b"".join(lines).replace(b"\n", b"\r\n") + b"`\r\nend\r\n"
    )


def _tnef(name: bytes) -> bytes:
    """A minimal winmail.dat: signature, key, one attachment (render data, title, data)."""

    def attr(level: int, ident: int, kind: int, payload: bytes) -> bytes:
        check = sum(payload) & 0xFFFF
        return (
            struct.pack("<BHHI", level, ident, kind, len(payload))
            + payload
            + struct.pack("<H", check)
        )

    out = struct.pack("<IH", 0x223E9F78, 0x1234)
    out += attr(2, 0x9002, 0x0006, bytes(14))
    out += attr(2, 0x8010, 0x0001, name + b"\0")
    out += attr(2, 0x800F, 0x0006, PAYLOAD)
    return out


_OCTET = b"Content-Type: application/octet-stream"


def attachment(placement: str, param: Callable[[str], bytes], raw_name: bytes) -> bytes | None:
    """The MIME part (headers and body) that carries the name, placed as ``placement``."""
    decoy_cd = b'Content-Disposition: attachment; filename="' + DECOY.encode() + b'"'
    match placement:
        case "name-only":
            return _part([_OCTET + b"; " + param("name")])
        case "filename-only":
            return _part([_OCTET, b"Content-Disposition: attachment; " + param("filename")])
        case "both-equal":
            return _part(
                [
                    _OCTET + b"; " + param("name"),
                    b"Content-Disposition: attachment; " + param("filename"),
                ]
            )
        case "both-different":
            return _part([_OCTET + b"; " + param("name"), decoy_cd])
        case "duplicate-param":
            return _part([_OCTET, decoy_cd + b"; " + param("filename")])
        case "duplicate-header":
            return _part(
                [_OCTET, decoy_cd, b"Content-Disposition: attachment; " + param("filename")]
            )
        case "rfc822":
            inner = _mixed(
                [b"Subject: forwarded\r\nFrom: a@example.org"],
                _part([_OCTET, b"Content-Disposition: attachment; " + param("filename")]),
                boundary=b"inner-b",
            )
            return b"Content-Type: message/rfc822\r\n\r\n" + inner
        case "uuencode":
            return b"Content-Type: text/plain\r\n\r\nThe file:\r\n\r\n" + _uu(raw_name)
        case "tnef":
            return (
                b'Content-Type: application/ms-tnef; name="winmail.dat"\r\n'
                b"Content-Transfer-Encoding: base64\r\n\r\n" + _b64(_tnef(raw_name))
            )
    raise ValueError(placement)


def _mixed(headers: list[bytes], part: bytes, boundary: bytes = b"outer-b") -> bytes:
    return (
        b"\r\n".join(headers)
        + b'\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="'
        + boundary
        + b'"\r\n\r\n--'
        + boundary
        + b"\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--"
        + boundary
        + b"\r\n"
        + part
        + b"\r\n--"
        + boundary
        + b"--\r\n"
    )


@dataclass(frozen=True, slots=True)
class Cell:
    name: str
    encoding: str
    placement: str
    sender: str

    @property
    def id(self) -> str:
        return f"{self.name}/{self.encoding}/{self.placement}/{self.sender}"

    @property
    def case(self) -> str:
        """The cell without its sender: a column of the README table."""
        return f"{self.name}/{self.encoding}/{self.placement}"

    def message(self) -> bytes | None:
        """The message bytes, or None when this combination cannot be written."""
        decoded = NAMES[self.name]
        qp = self.name == "quoted-pair"
        if qp and self.encoding != "plain":
            return None
        encode = ENCODINGS[self.encoding]
        if encode("filename", decoded, qp) is None:
            return None
        if self.placement in ("uuencode", "tnef"):
            if self.encoding not in ("plain", "raw-utf8") or qp:
                return None
            raw_name = decoded.encode()
        else:
            raw_name = b""

        def param(pname: str) -> bytes:
            out = encode(pname, decoded, qp)
            assert out is not None
            return out

        part = attachment(self.placement, param, raw_name)
        if part is None:
            return None
        sender = SENDERS[self.sender]
        headers = [
            f"Return-Path: <{sender}>".encode(),
            b"Delivered-To: rcpt@example.org",
            f"From: <{sender}>".encode(),
            b"To: <rcpt@example.org>",
            f"Subject: matrix {self.id}".encode(),
            b"Message-ID: <" + self.id.replace("/", ".").encode() + b"@matrix.example>",
            b"Date: Mon, 30 Nov 2026 10:00:00 +0000",
        ]
        return _mixed(headers, part)


def _all() -> Iterator[Cell]:
    for n, e, p, s in itertools.product(NAMES, ENCODING_KEYS, PLACEMENT_KEYS, SENDERS):
        cell = Cell(n, e, p, s)
        if cell.message() is not None:
            yield cell


def _pairs(cell: Cell) -> set[tuple[int, str, int, str]]:
    values = (cell.name, cell.encoding, cell.placement, cell.sender)
    return {(i, values[i], j, values[j]) for i, j in itertools.combinations(range(4), 2)}


def cells(full: bool = False) -> list[Cell]:
    """The cells of one run (see the module docstring), in a stable order."""
    every = list(_all())
    if full:
        return every
    chosen = [c for c in every if c.placement == "filename-only" and c.sender == "unlisted"]
    wanted: set[tuple[int, str, int, str]] = set().union(*(_pairs(c) for c in every))
    for c in chosen:
        wanted -= _pairs(c)
    rest = [c for c in every if c not in set(chosen)]
    while wanted:  # greedy all-pairs: the cell covering most uncovered pairs, first in order
        best = max(rest, key=lambda c: len(_pairs(c) & wanted))
        gain = _pairs(best) & wanted
        if not gain:
            break
        chosen.append(best)
        wanted -= gain
        rest.remove(best)
    return chosen
