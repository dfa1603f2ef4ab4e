"""Header text as the recipient's mail client reads it: charsets, RFC 2047, RFC 2231.

Contract:
- Every function here takes bytes or text straight off the wire and returns text; none of
  them raises on malformed input (a bad encoded-word stays as written, an unknown charset
  falls back to detection, undecodable bytes become U+FFFD only as the last resort).
- ``parse_params`` splits a structured header value (``Content-Type``,
  ``Content-Disposition``) into its main value and its parameters in wire order, keeping
  duplicates. ``param_values`` turns the parameters called ``name`` into every decoded
  value with its wire form: RFC 2231 (charset, language, continuations ``name*0*=``, mixed
  encoded and plain segments, RFC 2231 section 4.1), then plain values, where RFC 2047
  encoded-words inside the quotes (the Outlook habit, not allowed by RFC 2047 section 5 but
  what every client decodes) and raw 8-bit bytes are decoded too.
- ``decode_text`` decodes body text (declared charset, else as ``guess_decode`` would);
  ``address``, ``addresses`` and ``first_date`` read the envelope facts (sender,
  recipients, time) from header values, domains lower-cased, dates made timezone-aware.
- ``guess_decode`` decodes raw 8-bit text without a declared charset: strict UTF-8 first,
  then the declared charsets of the part and the message as hints, then the Japanese
  charsets (Shift_JIS/CP932, EUC-JP) and Windows-1252 against charset-normalizer's best
  guess among common mail charsets, choosing the most plausible text.

Limits: a raw 8-bit name of a few bytes is ambiguous by nature (EUC-JP kanji are also
valid Big5, Windows-1251 bytes are also valid Windows-1252); the tie-break favours
Japanese and Western European charsets, the ones the SirCam-era mail used. ``%2E``-style
escapes in plain parameters are not decoded: no standard says they should be.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime

#: Charsets replaced by the superset that real senders mean (what browsers and MUAs do).
_SUPERSETS = {
    "us-ascii": "ascii",
    "ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso8859-1": "cp1252",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "ms932": "cp932",
    "ms_kanji": "cp932",
    "cp932": "cp932",
    "x-euc-jp": "euc_jp",
    "euc-jp": "euc_jp",
    "eucjp": "euc_jp",
    "iso-2022-jp": "iso2022_jp_ext",
    "csiso2022jp": "iso2022_jp_ext",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "big5": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "ks_c_5601": "cp949",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "iso-8859-8-i": "iso8859_8",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
    "x-unknown": "",
    "unknown-8bit": "",
    "x-user-defined": "",
    "default": "",
    "charset": "",
}
#: Strict fallbacks tried in order when the declared charset fails on the bytes.
_FALLBACK = {"iso2022_jp_ext": ("iso2022_jp_2", "iso2022_jp_3")}
#: Charsets charset-normalizer may choose among for raw 8-bit names.
_COMMON = [
    "utf_8",
    "cp932",
    "euc_jp",
    "iso2022_jp",
    "cp1252",
    "iso8859_15",
    "cp1250",
    "cp1251",
    "koi8_r",
    "gb18030",
    "big5",
    "cp949",
    "iso8859_7",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp874",
]
_CP1252_RARE = frozenset(
    bytes(range(0x80, 0xA0)).decode("cp1252", "ignore") + "\xa4\xa6\xa8\xac\xaf\xb4\xb8"
)
_ENCODED_WORD = re.compile(r"=\?([^?\s\"]+)\?([bBqQ])\?([^?\s]*?)\?=")
_WS_BETWEEN = re.compile(r"^[ \t\r\n]*$")


@functools.lru_cache(maxsize=256)
def lookup_charset(name: str | None) -> str | None:
    """Python codec name for a declared MIME charset (superset-mapped), or None."""
    if not name:
        return None
    name = name.strip().strip("\"'").lower()
    name = name.split("*", 1)[0]  # RFC 2231 section 5: charset*language in encoded-words
    mapped = _SUPERSETS.get(name)
    if mapped is not None:
        return mapped or None
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def _strict(raw: bytes, codec: str) -> str | None:
    try:
        return raw.decode(codec)
    except (UnicodeDecodeError, LookupError, ValueError):
        return None


def _plausibility(text: str) -> int:
    """Higher for text that looks like a real file name in some script.

    Ideographs, kana and Hangul count double (they stand for two bytes); half-width
    katakana (EUC-JP read as Shift_JIS) and the rare letters and punctuation of
    Windows-1252's 0x80-0x9F block (Shift_JIS read as Windows-1252) count against.
    """
    score = 0
    for ch in text:
        o = ord(ch)
        if 0x20 <= o < 0x7F:
            score += 2
        elif 0xFF61 <= o <= 0xFF9F or ch in _CP1252_RARE:
            score -= 2
        elif (
            0x3040 <= o <= 0x30FF
            or 0x4E00 <= o <= 0x9FFF
            or 0xAC00 <= o <= 0xD7AF
            or 0xFF01 <= o <= 0xFF5E
            or 0x3000 <= o <= 0x303F
        ):
            score += 4
        elif 0xC0 <= o <= 0x24F or 0x370 <= o <= 0x4FF:
            score += 2
        else:
            cat = unicodedata.category(ch)
            score += -4 if cat[0] == "C" else (0 if cat[0] in "LN" else -1)
    return score


def guess_decode(raw: bytes, hints: Sequence[str | None] = ()) -> str:
    """Decode raw 8-bit text of unknown charset (see the module docstring)."""
    if b"\x1b$" in raw or b"\x1b(" in raw:  # ISO-2022-JP is 7-bit: test before ASCII
        for codec in ("iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_3"):
            text = _strict(raw, codec)
            if text is not None:
                return text
    if raw.isascii():
        return raw.decode("ascii")
    text = _strict(raw, "utf-8")  # non-ASCII that is valid UTF-8 is UTF-8 in practice
    if text is not None:
        return text
    for hint in hints:
        hinted = lookup_charset(hint)
        if hinted and hinted not in ("ascii", "utf-8"):
            text = _strict(raw, hinted)
            if text is not None:
                return text
    candidates: list[str] = []
    for codec in ("cp932", "euc_jp", "cp1252"):
        text = _strict(raw, codec)
        if text is not None:
            candidates.append(text)
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(raw, cp_isolation=_COMMON).best()
        if best is not None:
            candidates.append(str(best))
    except Exception:  # noqa: BLE001, S110 - a detector failure must not lose the name
        pass
    if not candidates:
        return raw.decode("latin-1")
    # max() keeps the first of equals: the order above is the tie-break.
    return max(candidates, key=_plausibility)


def decode_bytes(raw: bytes, charset: str | None, hints: Sequence[str | None] = ()) -> str:
    """Decode ``raw`` declared as ``charset``; detection when unknown or wrong."""
    codec = lookup_charset(charset)
    if codec:
        text = _strict(raw, codec)
        if text is not None:
            return text
        for alt in _FALLBACK.get(codec, ()):
            text = _strict(raw, alt)
            if text is not None:
                return text
        if codec != "ascii":
            # A known charset that does not fit: UTF-8 mislabelled, or really broken
            # bytes, shown as U+FFFD like mikel/mail and MimeKit do.
            text = _strict(raw, "utf-8")
            return text if text is not None else raw.decode(codec, "replace")
    return guess_decode(raw, hints)


def _word_bytes(enc: str, payload: str) -> bytes | None:
    try:
        data = payload.encode("latin-1")
    except UnicodeEncodeError:
        return None
    if enc in "qQ":
        data = data.replace(b"_", b" ")
        return binascii.a2b_qp(data)
    data = bytes(c for c in data if c not in b" \t\r\n")
    data = data.rstrip(b"=")
    data += b"=" * (-len(data) % 4)
    if len(data) % 4 == 1:
        data = data[:-1]
    try:
        return binascii.a2b_base64(data)
    except (binascii.Error, ValueError):
        return None


def decode_words(text: str, hints: Sequence[str | None] = ()) -> str:
    """Decode RFC 2047 encoded-words anywhere in ``text``.

    Adjacent encoded-words separated only by whitespace are joined without it (RFC 2047
    section 6.2), and their bytes are joined before charset decoding when the charset is
    the same, so a character split across two words (common with ISO-2022-JP and UTF-8)
    survives. A word whose payload does not decode stays as written.
    """
    if "=?" not in text:
        return text
    out: list[str] = []
    pending: list[tuple[str, bytes]] = []  # (charset, bytes) of adjacent words
    pos = 0

    def flush() -> None:
        merged: list[tuple[str, bytearray]] = []
        for cs, data in pending:
            if merged and merged[-1][0] == cs:
                merged[-1][1].extend(data)
            else:
                merged.append((cs, bytearray(data)))
        for cs, joined in merged:
            out.append(decode_bytes(bytes(joined), cs, hints))
        pending.clear()

    for m in _ENCODED_WORD.finditer(text):
        between = text[pos : m.start()]
        data = _word_bytes(m.group(2), m.group(3))
        if data is None:
            flush()
            out.append(text[pos : m.end()])
            pos = m.end()
            continue
        if not (pending and _WS_BETWEEN.match(between)):
            flush()
            out.append(between)
        pending.append((m.group(1).lower(), data))
        pos = m.end()
    flush()
    out.append(text[pos:])
    return "".join(out)


def decode_header(raw: bytes, hints: Sequence[str | None] = ()) -> str:
    """An unstructured header value: unfolded, 8-bit decoded, encoded-words decoded."""
    text = guess_decode(raw, hints)
    text = re.sub(r"\r?\n(?=[ \t])", "", text)
    return decode_words(text.strip(), hints)


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter as written: ``name`` lower-cased with any ``*N*`` suffix removed."""

    name: str
    value: bytes  # quoted-pairs resolved, quotes removed
    raw: bytes  # as on the wire, quotes removed
    section: int | None = None  # RFC 2231 continuation number
    extended: bool = False  # RFC 2231 ``*`` (percent-encoded, charset in the first one)


_PARAM = re.compile(
    rb"""\s*([^=;\s"]*)\s*(?:(=)\s*(?:("(?:[^"\\]|\\.)*(?:"|\Z))[^;]*|([^;]*)))?(?:;|\Z)""",
    re.DOTALL,
)
_SECTION = re.compile(r"^(.*?)(?:\*(\d+))?(\*)?$")
_QUOTED_PAIR = re.compile(rb"\\(.)", re.DOTALL)


def parse_params(value: bytes) -> tuple[str, list[Param]]:
    """Main value (lower case) and parameters of a structured header value.

    Tolerant: missing or extra ``;``, unquoted values containing tspecials or spaces (taken
    up to the next ``;``), an unterminated quote (taken to the end), comments are not
    removed from parameter values (no client does either).
    """
    value = re.sub(rb"\r?\n[ \t]*", b" ", value) if b"\n" in value else value
    head, _, rest = value.partition(b";")
    m = re.match(rb"\s*(\S+)\s+([^\s=]+\s*=.*)$", head, re.DOTALL)
    if m is not None:  # "application/pdf name=x.pdf": a missing ';' (seen from Outlook)
        head, rest = m.group(1), m.group(2) + b";" + rest
    main = head.strip().decode("latin-1").lower()
    main = re.sub(r"\s*\(.*?\)\s*", "", main)  # "text/plain (comment)"
    params: list[Param] = []
    pos = 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if m is None or m.end() == pos:
            nxt = rest.find(b";", pos)
            if nxt < 0:
                break
            pos = nxt + 1
            continue
        pos = m.end()
        key, quoted, token = m.group(1), m.group(3), m.group(4)
        if not key or not m.group(2):
            continue
        if quoted is not None:
            raw = quoted[1:-1] if len(quoted) > 1 and quoted.endswith(b'"') else quoted[1:]
            unescaped = _QUOTED_PAIR.sub(rb"\1", raw) if b"\\" in raw else raw
        else:  # a bare CR ends the line for the standard parser, and so the value
            raw = unescaped = (token or b"").split(b"\r", 1)[0].strip()
        sm = _SECTION.match(key.decode("latin-1").lower())
        assert sm is not None  # the pattern matches every string
        section = int(sm.group(2)) if sm.group(2) else None
        params.append(Param(sm.group(1), unescaped, raw, section, bool(sm.group(3))))
    return main, params


def _percent(raw: bytes) -> bytes:
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)


def _wire(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def param_values(
    params: Iterable[Param], name: str, hints: Sequence[str | None] = ()
) -> list[tuple[str, str]]:
    """Every value of parameter ``name`` as (decoded, wire form), RFC 2231 values first.

    RFC 2231 sections are ordered by number (section 3: senders may write them in any
    order); the charset comes from the first section (section 4.1: only the first may
    carry it) and applies to the percent-decoded bytes of the encoded sections; plain
    sections are used as they are. A value with ``=?`` is RFC 2047 decoded even inside
    quotes; raw 8-bit bytes go through ``guess_decode`` with the part's charset as a hint.
    """
    sections: dict[int, Param] = {}
    plain: list[Param] = []
    for p in params:
        if p.name != name:
            continue
        if p.section is None and not p.extended:
            plain.append(p)
        else:
            sections.setdefault(p.section or 0, p)
    out: list[tuple[str, str]] = []
    if sections:
        charset: str | None = None
        chunks: list[bytes] = []
        wire: list[bytes] = []
        for i, (_, p) in enumerate(sorted(sections.items())):
            data = p.value
            wire.append(p.raw)
            if p.extended:
                if i == 0 and data.count(b"'") >= 2:
                    cs, _, rest = data.partition(b"'")
                    _, _, data = rest.partition(b"'")
                    charset = cs.decode("latin-1") or None
                data = _percent(data)
            chunks.append(data)
        joined = b"".join(chunks)
        if charset is None and b"=?" in joined:  # RFC 2047 words in continuations
            text = decode_words(guess_decode(joined, hints), hints)
        else:
            text = decode_bytes(joined, charset, hints) if charset else guess_decode(joined, hints)
        out.append((text, _wire(b"".join(wire))))
    for p in plain:
        text = guess_decode(p.value, hints)
        if "=?" in text:
            text = decode_words(text, hints)
        out.append((text, _wire(p.raw)))
    return out


def first_param(params: Iterable[Param], name: str) -> str | None:
    """The first plain value of ``name`` as latin-1 text (boundary, charset), or None."""
    for p in params:
        if p.name == name and p.section is None:
            return p.value.decode("latin-1")
    for p in params:  # a boundary written as RFC 2231 (rare): use its first section
        if p.name == name:
            return p.value.decode("latin-1")
    return None


# -- body text, addresses and dates ---------------------------------------------------


def decode_text(data: bytes, hints: tuple[str | None, str | None]) -> str:
    """Body text: the declared charset, else ASCII or UTF-8, else the best guess."""
    if hints[0]:
        codec = lookup_charset(hints[0])
        if codec:
            try:
                return data.decode(codec)
            except (UnicodeDecodeError, LookupError, ValueError):
                pass
    if data.isascii():
        return data.decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    probe = guess_decode(data[:2048], hints)
    try:
        for codec in ("cp932", "euc_jp", "cp1252"):
            if data[:2048].decode(codec, "ignore") == probe:
                return codecs.decode(data, codec, "replace")
    except (LookupError, ValueError):
        pass
    return data.decode("utf-8", "replace")


_ANGLE = re.compile(r"<([^<>]*)>")


def address(value: str) -> str | None:
    """The address in a header value (``Name <a@B.example>`` -> ``a@b.example``)."""
    m = _ANGLE.search(value)
    addr = (m.group(1) if m else value).strip().strip("<>").strip()
    if not addr or " " in addr:
        return None if not addr else _lower_domain(addr.split()[0])
    return _lower_domain(addr)


def _lower_domain(addr: str) -> str:
    local, at, domain = addr.rpartition("@")
    return f"{local}@{domain.lower()}" if at else addr


def addresses(values: list[str], limit: int) -> tuple[str, ...]:
    """Every distinct address in address-list values, each value cut at ``limit``."""
    try:
        pairs = getaddresses([v[:limit] for v in values])
    except Exception:  # noqa: BLE001 - odd address lists are common in spam
        pairs = [("", v) for v in values]
    out = []
    for _, a in pairs:
        words = a.split()
        if len(words) > 1:  # "mailing list x@y" (ezmlm's Delivered-To)
            words = [w for w in words if "@" in w] or words
        if words:
            out.append(_lower_domain(words[-1].strip("<>")))
    return tuple(dict.fromkeys(out))


def first_date(
    values: tuple[str, ...] | list[str], after_semicolon: bool = False
) -> datetime | None:
    """The first value that parses as an RFC 5322 date (after the ``;`` of ``Received``)."""
    for value in values:
        text = value.rsplit(";", 1)[-1] if after_semicolon else value
        try:
            dt = parsedate_to_datetime(text.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if dt is None:
            continue
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return None
