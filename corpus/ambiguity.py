"""MIME that readers disagree on: every name and every reading any common reader makes.

Contract:
- ``part_names(fields, hints)`` returns every distinct (decoded, wire) name that some
  common reader shows for one entity, standard names first, and the notes that say where
  readers disagree (any note puts the trick ``ambiguous-mime`` on ``Message.tricks``; the
  walker keeps each note as a defect ``ambiguous-mime: ...``, except the disagreement of
  standard names, which the attachment shows already as its ``name-disagreement``).
- ``header_conflicts(fields)`` notes duplicate ``Content-Type`` and
  ``Content-Transfer-Encoding`` headers whose values differ, and ``Content-Disposition``
  headers of different kinds (inline, attachment; names that differ are ``part_names``'
  business). Duplicates that say the same thing are not ambiguous (every reader reads
  them alike).
- ``readings(fields)`` gives the distinct ``Content-Type`` values of an entity, the one
  most readers use first: the MIME walker reads the entity once per reading, so the
  attachments of each are seen.

Who reads what (checked in their sources and documentation, not guessed):
- Python's ``email`` (``Message.get``, ``get_filename``): the *first* header of a name
  wins; the name is Content-Disposition ``filename`` (RFC 2231 collapsed), else
  Content-Type ``name``. Under ``policy.default`` RFC 822 comments are removed from
  parameter lists, so ``Content-Type: x/y; (note) name="a.js"`` names ``a.js``
  (``compat32`` does not see that name). Bare-CR line endings are line endings.
- enmime (Go, ``part.go`` ``setupContentHeaders``): the first header (``textproto``
  ``Get``); the name is Content-Disposition ``filename``, else Content-Type ``name``,
  else the non-standard Content-Type ``file``.
- Microsoft Exchange's Internet Mail Connector (KB Q145919) expects the name in a
  ``filename`` parameter of ``Content-Type`` and also reads Content-Disposition.
- ripMIME (``MIME_headers.c``): every ``Content-*`` line is parsed in order into the
  same record, so a later ``Content-Type`` overwrites an earlier one (the last wins), and
  every name seen is pushed on its list of file names.
- munpack and several mail clients show the attachments of the later ``Content-Type``
  (the case reported against this reader); nodemailer's mailparser keeps the last
  occurrence of a duplicate header (mailparser issue 423).
So for a duplicate ``Content-Type`` both the first and the last reading are real, and for
names every standard and non-standard parameter above is a name some reader shows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mailpolicy.corpus import headers as H
from mailpolicy.corpus import names as N
from mailpolicy.corpus.mime_limits import HEADER_LIMIT
from mailpolicy.corpus.mime_structure import values

TRICK = "ambiguous-mime"
#: The note for standard names that differ (no defect: ``name-disagreement`` shows it).
DISAGREE = "name, filename and filename* disagree"

#: (header, parameter, who reads it) for names outside RFC 2183 / RFC 2045.
NONSTANDARD = (
    ("content-type", "filename", "Exchange IMC"),
    ("content-type", "file", "enmime"),
)


_LEADING_COMMENT = re.compile(rb"(^|;)[ \t]*(?:\((?:[^()\\]|\\.)*\)[ \t]*)+")


def strip_param_comments(value: bytes) -> bytes:
    """``value`` without the RFC 822 comments that open a parameter (``; (x) name=...``).
    Comments inside a parameter value are left alone: there the readers agree on nothing
    (Python's ``policy.default`` cuts ``name=a_(1).pdf`` to ``a_``, ``compat32`` keeps
    it), and taking a cut name would add a name no file ever had."""
    if b"(" not in value:
        return value
    return _LEADING_COMMENT.sub(rb"\1 ", value)


def strip_comments(value: bytes) -> bytes:
    """``value`` without RFC 822 comments outside quoted strings (nesting and quoted-pairs
    handled); returned unchanged when it has no ``(``."""
    if b"(" not in value:
        return value
    out = bytearray()
    depth = 0
    quoted = False
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if c == 0x5C and i + 1 < n and (quoted or depth):  # quoted-pair
            if not depth:
                out += value[i : i + 2]
            i += 2
            continue
        if quoted:
            quoted = c != 0x22
            out.append(c)
        elif c == 0x28:
            depth += 1
        elif c == 0x29 and depth:
            depth -= 1
            if not depth:
                out.append(0x20)
        elif not depth:
            quoted = c == 0x22
            out.append(c)
        i += 1
    return bytes(out)


def _params(value: bytes) -> list[H.Param]:
    return H.parse_params(value[:HEADER_LIMIT])[1]


def _named(
    fields: list[tuple[str, bytes]], header: str, param: str, hints: Sequence[str | None]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Names under ``param`` of every ``header``: as written, and with comments removed."""
    plain: list[tuple[str, str]] = []
    stripped: list[tuple[str, str]] = []
    for value in values(fields, header):
        plain += H.param_values(_params(value), param, hints)
        stripped += _token_prefixes(value, param, hints)
        if b"(" in value:
            stripped += H.param_values(_params(strip_param_comments(value)), param, hints)
    return plain, stripped


_TSPECIAL = re.compile(rb'["=\\]')  # a quote, '=' or '\\' inside an unquoted value


def _token_prefixes(value: bytes, param: str, hints: Sequence[str | None]) -> list[tuple[str, str]]:
    """Unquoted values holding a quote, ``=`` or a backslash, cut there: where a token
    ends for Python's ``policy.default`` (``name=a.exe"b.txt"`` names ``a.exe``; we take
    the value to the ``;``, as most clients do). Parentheses are not cut (see
    ``strip_param_comments``): unquoted ``name=a_(1).pdf`` is common and harmless."""
    out = []
    pattern = rb"(?i)(?:^|;)[ \t]*" + re.escape(param.encode()) + rb'[ \t]*=[ \t]*([^\s";][^;]*)'
    for m in re.finditer(pattern, value[:HEADER_LIMIT]):
        cut = _TSPECIAL.search(m.group(1))
        if cut is not None and cut.start() > 0:
            raw = m.group(1)[: cut.start()].strip()
            out.append((H.guess_decode(raw, hints), H._wire(raw)))
    # A quote inside a quoted value: the quoted string ends at it for RFC 2045 readers,
    # at the last quote before the ';' for Python's compat32 (``"a."x.exe"``: ``a."x.exe``).
    pattern = rb"(?i)(?:^|;)[ \t]*" + re.escape(param.encode()) + rb'[ \t]*=[ \t]*"([^;]*)"'
    for m in re.finditer(pattern, value[:HEADER_LIMIT]):
        if re.search(rb'(?<!\\)"', m.group(1)):  # an unescaped quote
            raw = m.group(1)
            out.append((H.guess_decode(raw, hints), H._wire(raw)))
    return out


def _distinct(names: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each (decoded, wire form) pair once: a name sent twice in different encodings keeps
    both wire forms (``Attachment.raw_names``), though it is one name."""
    return [(n, r) for n, r in dict.fromkeys(names) if n.strip()]


def _shown(names: list[tuple[str, str]]) -> str:
    return " | ".join(repr(n)[1:-1][:80] for n, _ in names[:4])


def part_names(
    fields: list[tuple[str, bytes]], hints: Sequence[str | None]
) -> tuple[list[tuple[str, str]], list[str]]:
    """Every name some reader shows for this entity, and where readers disagree."""
    notes: list[str] = []
    cd, cd_c = _named(fields, "content-disposition", "filename", hints)
    ct, ct_c = _named(fields, "content-type", "name", hints)
    standard = _distinct(cd + ct)
    extra: list[tuple[str, str]] = []
    commented = _distinct([x for x in cd_c + ct_c if x[0] not in {n for n, _ in standard}])
    if commented:
        notes.append(f"a name after a comment or cut at a tspecial ({_shown(commented)})")
        extra += commented
    for header, param, who in NONSTANDARD:
        plain, stripped = _named(fields, header, param, hints)
        odd = _distinct([x for x in plain + stripped if x[0] not in {n for n, _ in standard}])
        if odd:
            notes.append(f"a name in non-standard {param}= ({_shown(odd)}) read by {who}")
            extra += odd
    if len({N.normalize(n).casefold() for n, _ in standard}) > 1:
        notes.append(DISAGREE)
    return _distinct(standard + extra), notes


def _same(value: bytes) -> bytes:
    """A header value as readers compare it: white space and case do not matter."""
    return b" ".join(strip_comments(value[:HEADER_LIMIT]).lower().split()).rstrip(b";")


def _kind(value: bytes) -> bytes:
    return _same(value).split(b";")[0].strip()


def header_conflicts(fields: list[tuple[str, bytes]]) -> list[str]:
    """Notes for duplicate Content-* headers whose values differ."""
    notes = []
    for name in ("content-type", "content-disposition", "content-transfer-encoding"):
        vals = values(fields, name)
        # Two dispositions of one kind differ only in their names: ``part_names`` sees that.
        key = _kind if name == "content-disposition" else _same
        if len({key(v) for v in vals}) > 1:
            shown = "; ".join(v[:60].decode("latin-1") for v in vals[:3])
            notes.append(f"{len(vals)} {name} headers that differ ({shown})")
    return notes


def readings(fields: list[tuple[str, bytes]]) -> list[bytes]:
    """The distinct Content-Type values, first header first (Python's email, enmime), then
    the last (ripMIME, munpack), then any between."""
    vals = values(fields, "content-type")
    order = vals[:1] + vals[-1:] + vals[1:-1]
    out: list[bytes] = []
    seen: set[bytes] = set()
    for v in order:
        key = _same(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out
