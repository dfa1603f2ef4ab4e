"""Attachment names as Pigeonhole's ``:regex`` sees them: POSIX EREs over the decoded name.

Pigeonhole decodes a name (RFC 2047, RFC 2231) to UTF-8 (an undecodable byte becomes
U+FFFD) and matches it with libc ``regcomp`` in the C locale, byte by byte, ASCII-only
case folding (``i;ascii-casemap``). The engine matches a glob against the *normalised*
name (``corpus.names.normalize``: the last path component, trailing dots and spaces
removed) and an extension with its surrounding whitespace removed (``str.strip``: every
Unicode space, U+00A0 and U+3000 included). ``name_keys`` writes a glob tree so that the
regex accepts exactly the names the engine accepts:

- ``^(.*[/\\])?X[. ]*$`` where ``X`` is the pattern *restricted to texts that do not end
  in a dot or a space* (``_Ere.tail``): the trailing run is the one ``normalize`` strips,
  never a dot the pattern needs (``*.*.*`` does not match ``invoice.pif.``, as in the
  engine); any-character never matches ``/`` or ``\\``, so ``X`` is the last component.
- a blank (``Blank``: extension padding) is ``[[:space:]]``, ``\\x1c``-``\\x1f`` and every
  non-ASCII space as its UTF-8 text (``SPACES``); the C locale's ``[[:space:]]`` alone
  misses U+00A0 and U+3000. The blank that may end ``X`` excludes the space; carriage
  return (which a Sieve string cannot carry) is the one byte of ``[^\\x01-\\x0c\\x0e-
  \\U0010ffff]`` that valid UTF-8 text can hold.
- a non-ASCII literal letter is written with its case variants (``(é|É)``): the
  comparator folds ASCII only.

- a single ``?`` or negated class is one UTF-8 character (a lead byte and its
  continuation bytes, written as ``encoded-character`` byte ranges); in a run (``*``)
  any byte will do, which is exact on valid UTF-8.

Limits: a negated class with non-ASCII members, or a non-ASCII range wider than 512 code
points, raises ``Unexpressible``.
"""

from __future__ import annotations

import re

from mailpolicy.corpus import names as _names
from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy.export import when
from mailpolicy.policy.export.base import Unexpressible
from mailpolicy.policy.export.dialect import ERE, case_variants
from mailpolicy.policy.globs import Alt, AnyChar, Blank, CharClass, Lit, Pat, Seq, Star

#: Non-ASCII characters ``str.isspace`` (Python's ``\\s``, the engine's strip) counts.
SPACES = tuple(c for c in map(chr, range(0x80, 0x3001)) if c.isspace())
_SEP = "/\\"
#: Any byte of the last path component: a run of them is a run of characters.
ANY = "[^/\\]"
#: One character of valid UTF-8 (Pigeonhole's values are: it puts U+FFFD for bad bytes)
#: but ``/`` and ``\\`` (a lead byte and all its continuation bytes, or one ASCII byte).
_MB = "[${hex:C2}-${hex:F4}][${hex:80}-${hex:BF}]*"
ANY_CHAR = f"([^/\\${{hex:80}}-${{hex:FF}}]|{_MB})"
ANY_END = f"([^. /\\${{hex:80}}-${{hex:FF}}]|{_MB})"
#: The UTF-8 bytes of ``SPACES``, as ``encoded-character`` escapes (RFC 5228 2.4.2.4):
#: the script stays ASCII and a byte range may stand inside a multi-byte sequence.
_NON_ASCII_BLANK = (
    "${hex:C2}[${hex:85}${hex:A0}]|${hex:E1 9A 80}"
    "|${hex:E2 80}[${hex:80}-${hex:8A}${hex:A8}${hex:A9}${hex:AF}]|${hex:E2 81 9F}|${hex:E3 80 80}"
)
BLANK = f"([[:space:]${{hex:1C}}-${{hex:1F}}]|{_NON_ASCII_BLANK})"
#: A blank but the space.
BLANK_END = f"([${{hex:09}}-${{hex:0D}}${{hex:1C}}-${{hex:1F}}]|{_NON_ASCII_BLANK})"


def literal_dollars(rx: str) -> str:
    """``rx`` (regex text from the policy) with each ``$`` as ``${hex:24}``: then every
    ``${`` of a key is an ``encoded-character`` escape the exporter wrote, whatever the
    policy's globs hold (``[${hex:41}]`` stays a class of those characters)."""
    return rx.replace("$", "${hex:24}")


def _alt(options: list[str]) -> str | None:
    if not options:
        return None
    return options[0] if len(options) == 1 else "(" + "|".join(options) + ")"


class _Ere:
    """Renders one glob tree."""

    def char(self, c: str) -> str:
        if c.isascii():
            return "\\" + literal_dollars(c) if c in ERE.special else c
        variants = case_variants(c)
        return c if len(variants) == 1 else "(" + "|".join(variants) + ")"

    def full(self, p: Pat, *, starred: bool = False) -> str | None:
        """Regex for the texts of ``p`` (None: no text of the last component matches)."""
        match p:
            case Lit(text=text):
                if any(c in _SEP for c in text):
                    return None
                return "".join(self.char(c) for c in text)
            case AnyChar():
                return ANY if starred else ANY_CHAR
            case Blank():
                return BLANK
            case CharClass():
                return self.char_class(p, end=False, starred=starred)
            case Star(atom=AnyChar()):
                return ANY + "*"
            case Star(atom=atom):
                one = self.full(atom, starred=True)
                if one is None:
                    return ""
                return (one if len(one) == 1 or one[0] in "[(" else f"({one})") + "*"
            case Alt(options=options):
                found = [r for r in (self.full(o) for o in options) if r is not None]
                return _alt(found)
            case Seq(items=items):
                parts = [self.full(x, starred=absorbed(items, i)) for i, x in enumerate(items)]
                return None if any(x is None for x in parts) else "".join(x or "" for x in parts)
        raise TypeError(p)

    def tail(self, p: Pat, *, starred: bool = False) -> str | None:
        """Regex for the texts of ``p`` that are not empty and end in neither ``.`` nor space."""
        match p:
            case Lit(text=text):
                full = self.full(p)
                return None if full is None or not text or text[-1] in ". " else full
            case AnyChar():
                return ANY_END
            case Blank():
                return BLANK_END
            case CharClass():
                return self.char_class(p, end=True, starred=starred)
            case Star(atom=atom):
                run, last = self.full(p), self.tail(atom, starred=True)
                return None if run is None or last is None else run + last
            case Alt(options=options):
                return _alt([r for r in (self.tail(o) for o in options) if r is not None])
            case Seq(items=items):
                return self._tail_seq(list(items))
        raise TypeError(p)

    def _tail_seq(self, items: list[Pat]) -> str | None:
        if not items:
            return None
        head, last = items[:-1], items[-1]
        found = []
        run = self.full(Seq(tuple(head))) if head else ""
        end = self.tail(last, starred=absorbed(items, len(items) - 1))
        if run is not None and end is not None:
            found.append(run + end)
        if nullable(last):
            shorter = self._tail_seq(head)
            if shorter is not None:
                found.append(shorter)
        return _alt(found)

    def char_class(self, p: CharClass, *, end: bool, starred: bool = False) -> str | None:
        drop = _SEP + (". " if end else "")
        ascii_items: list[str | tuple[str, str]] = []
        other: list[str] = []
        for it in p.items:
            lo, hi = it if isinstance(it, tuple) else (it, it)
            if lo > hi:
                continue
            if not hi.isascii():
                if p.negated:
                    raise Unexpressible(
                        f"Sieve cannot write the negated class with {hi!r} (it matches bytes)"
                    )
                if ord(hi) - max(ord(lo), 0x80) > 512:
                    raise Unexpressible(f"character range {lo}-{hi} is too wide for Sieve")
                for cp in range(max(ord(lo), 0x80), ord(hi) + 1):
                    other.extend(case_variants(chr(cp)))
                hi = chr(0x7F)
                if lo > hi:
                    continue
            ascii_items.extend(_minus(lo, hi, "" if p.negated else drop))
        if p.negated:  # every non-ASCII character is in a class of ASCII exclusions
            items = tuple(ascii_items) + tuple(drop)
            one = literal_dollars(ERE.char_class(CharClass(items, negated=True), starred=False))
            if starred:
                return one
            body = one[2:-1]  # "[^" BODY "]", a "]" member first
            lead = "]" if body.startswith("]") else ""
            return f"([^{lead}${{hex:80}}-${{hex:FF}}{body[len(lead) :]}]|{_MB})"
        parts = (
            [literal_dollars(ERE.char_class(CharClass(tuple(ascii_items)), starred=False))]
            if ascii_items
            else []
        )
        return _alt(parts + sorted(set(other)))


def _runs_any(p: Pat) -> bool:
    """A star of any character or of a negated ASCII class: it takes any non-ASCII byte."""
    return isinstance(p, Star) and (
        isinstance(p.atom, AnyChar) or (isinstance(p.atom, CharClass) and p.atom.negated)
    )


def absorbed(items: tuple[Pat, ...] | list[Pat], i: int) -> bool:
    """True when one byte for ``items[i]`` is as good as one character: a neighbouring
    run (``_runs_any``) takes the other bytes of a multi-byte character."""
    return any(0 <= j < len(items) and _runs_any(items[j]) for j in (i - 1, i + 1))


def _minus(lo: str, hi: str, drop: str) -> list[str | tuple[str, str]]:
    """The range ``lo``-``hi`` without the characters of ``drop``, as singles and ranges."""
    out: list[str | tuple[str, str]] = []
    start = ord(lo)
    for cp in [*sorted(ord(c) for c in drop if lo <= c <= hi), ord(hi) + 1]:
        if start <= cp - 1:
            out.append(chr(start) if start == cp - 1 else (chr(start), chr(cp - 1)))
        start = cp + 1
    return out


def nullable(p: Pat) -> bool:
    """True when ``p`` matches the empty text."""
    match p:
        case Lit(text=text):
            return not text
        case Star():
            return True
        case Alt(options=options):
            return any(nullable(o) for o in options)
        case Seq(items=items):
            return all(nullable(i) for i in items)
    return False


def name_keys(p: Pat) -> list[str]:
    """The ``:regex`` keys (any one matching) for names the engine matches with ``p``;
    ``Unexpressible`` when ``p`` cannot be written."""
    r = _Ere()
    keys = []
    tail = r.tail(p)
    if tail is not None:
        keys.append(f"^(.*[/\\])?{tail}[. ]*$")
    if nullable(p):  # a name of dots and spaces only normalises to the empty name
        keys.append("^[. ]*$")
    if not keys:
        keys.append("^[^\x01-\U0010ffff]$")  # no name can match (a '/' in the glob)
    return keys


# ---- the messages on which Pigeonhole reads a name differently ------------------------------
#: ``backslashreplace`` escapes the message model keeps for undecodable wire bytes.


def _encoded_quote(msg: Message, att: Attachment | None) -> bool:
    """A name with ``"`` that came RFC 2047-encoded: Pigeonhole ends the value there."""
    if att is None:
        return False
    return any('"' in n for n in att.names) and any("=?" in r for r in att.raw_names)


ENCODED_QUOTE = when.register("encoded-quote", _encoded_quote, replace=True)
RAW_NON_UTF8 = "raw-non-utf8-name"


# ---- message size ------------------------------------------------------------------------------
def size_test(op: str, value: int) -> str:
    """``size OP value`` as Sieve tests (RFC 5228 5.9: ``:over`` is strictly greater,
    ``:under`` strictly less; the size is the message's octets, as ``Message.size``).

    >>> size_test(">=", 10), size_test("==", 10)
    ('size :over 9', 'allof(not size :over 10, not size :under 10)')
    """
    match op:
        case ">":
            return f"size :over {value}"
        case "<":
            return f"size :under {value}"
        case ">=":
            return f"size :over {value - 1}" if value > 0 else "true"
        case "<=":
            return f"size :under {value + 1}"
        case "==":
            return f"allof(not size :over {value}, not size :under {value})"
        case "!=":
            return f"anyof(size :over {value}, size :under {value})"
    raise ValueError(f"unknown comparison {op!r}")


def _spaced_extension(msg: Message, att: Attachment | None) -> bool:
    """A name with whitespace around an extension or a blank part between two
    (``report.pdf      .exe``), which the double-extension pattern does not read."""
    if att is None:
        return False
    for n in att.names:
        base = re.split(r"[\\/]", _names.normalize(n))[-1]
        if any(p != p.strip() or not p for p in base.lstrip(".").split(".")[1:]):
            return True
    return False


SPACED_EXTENSION = when.register("spaced-extension", _spaced_extension, replace=True)
#: The loss of every double-extension rule of a regex target (Sieve, Postfix).
DOUBLE_PADDING = (
    "the double-extension pattern reads the extension before the last one only when "
    "no whitespace surrounds it ('report.pdf      .exe' is not read as a double extension)"
)


# ---- extensions ---------------------------------------------------------------------------------
#: One character that is neither a dot nor a separator (any bytes of a non-ASCII one).
_PART = f"([^./\\\\${{hex:80}}-${{hex:FF}}]|{_MB})"
#: A continuation byte, and a non-ASCII character that is not a space (``SPACES``: C2 85,
#: C2 A0, E1 9A 80, E2 80 80-8A, E2 80 A8 A9 AF, E2 81 9F, E3 80 80), by its UTF-8 bytes.
_C = "[${hex:80}-${hex:BF}]"
_MB_SOLID = (
    "(${hex:C2}[${hex:80}-${hex:84}${hex:86}-${hex:9F}${hex:A1}-${hex:BF}]"
    f"|[${{hex:C3}}-${{hex:DF}}]{_C}"
    f"|[${{hex:E0}}${{hex:E4}}-${{hex:EF}}]{_C}{_C}"
    f"|${{hex:E1}}([${{hex:80}}-${{hex:99}}${{hex:9B}}-${{hex:BF}}]{_C}"
    "|${hex:9A}[${hex:81}-${hex:BF}])"
    f"|${{hex:E2}}([${{hex:82}}-${{hex:BF}}]{_C}"
    "|${hex:80}[${hex:8B}-${hex:A7}${hex:AA}-${hex:AE}${hex:B0}-${hex:BF}]"
    "|${hex:81}[${hex:80}-${hex:9E}${hex:A0}-${hex:BF}])"
    f"|${{hex:E3}}([${{hex:81}}-${{hex:BF}}]{_C}|${{hex:80}}[${{hex:81}}-${{hex:BF}}])"
    f"|[${{hex:F0}}-${{hex:F4}}]{_C}{_C}{_C})"
)
#: ... and not blank: the first and last character of a stripped extension. A non-ASCII
#: digit counts as a non-digit (stricter: 'x.١٢.exe' is a double extension here).
_EDGE_ASCII = "[^. /\\${hex:09}-${hex:0D}${hex:1C}-${hex:1F}${hex:80}-${hex:FF}"
_EDGE = f"({_EDGE_ASCII}]|{_MB_SOLID})"
_EDGE_NONDIGIT = f"({_EDGE_ASCII}0-9]|{_MB_SOLID})"
_PART_NONDIGIT = f"([^./\\\\0-9${{hex:80}}-${{hex:FF}}]|{_MB})"


def _previous() -> str:
    """The extension before the last: 1 to 4 characters after its blanks are stripped, not
    all ASCII digits (``entry.is_double_extension``)."""
    alts = []
    for length in range(1, 5):
        for k in range(length):  # the first non-digit at position k
            chars = []
            for i in range(length):
                edge = i in (0, length - 1)
                if i < k:
                    chars.append("[0-9]")
                elif i == k:
                    chars.append(_EDGE_NONDIGIT if edge else _PART_NONDIGIT)
                else:
                    chars.append(_EDGE if edge else _PART)
            alts.append("".join(chars))
    return "(" + "|".join(alts) + ")"


def extension_key(exts: list[str], *, double: bool) -> str:
    """The ``:regex`` key for ``extension in EXTS`` (``double``: ``double extension in``)
    over a decoded name, as ``corpus.names.extensions`` reads it: the stem, then parts
    split at dots, each stripped of every Unicode space, blank parts dropped (so any run of
    dots and blanks between two extensions or after the last is ignored).

    Exact but for one stricter case: a non-ASCII digit counts as a non-digit in the
    extension before the last.
    """
    r = _Ere()
    names = "(" + "|".join("".join(r.char(c) for c in e) for e in sorted(set(exts))) + ")"
    last = f"\\.{BLANK}*{names}(\\.|{BLANK})*$"
    stem = f"^(.*[/\\\\])?[^/\\\\]*[^./\\\\]{ANY}*"
    if not double:
        return stem + last
    return f"{stem}\\.{BLANK}*{_previous()}(\\.|{BLANK})*{last}"
