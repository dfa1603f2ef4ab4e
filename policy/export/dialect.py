"""Regular-expression dialects of the targets: one renderer of the glob tree for all.

``render(p, dialect)`` writes a glob tree (``globs.Pat``: literals, any-character, blank,
character classes, stars of one character, alternatives, sequences) as regex text of one
``Dialect``. A dialect is data: which characters take a backslash or a hex escape, how
non-ASCII text is spelled (as is, as UTF-8 bytes, as code points), whether case variants
are spelled out, the text of any-character, of a run of any characters and of a blank,
the group syntax, the character-class syntax, whether the text sits inside a MIME
quoted-string, and the frame that anchors a pattern to a normalised attachment name:

- ``PCRE`` (Postfix tables; ``POSTFIX_QUOTED`` and ``POSTFIX_TOKEN`` for a parameter
  value inside quotes, where any character may come as a quoted-pair, and as a bare token);
- ``ERE``: POSIX extended regexes (Sieve ``:regex``, libc ``regcomp``: no ``(?:``, no
  ``\\s``; classes with ``]`` first and ``-`` last, ``\\`` literal inside brackets);
  ``matches_key`` writes the Sieve ``:matches`` wildcard form when a pattern has one;
- ``EXIM``: PCRE in byte mode under ``(?i)`` (Exim, rspamd): non-ASCII characters as their
  UTF-8 bytes with their case variants spelled out, any-character as one UTF-8 sequence,
  ``\\``, ``;`` and space as hex escapes (Exim list and option syntax);
- ``PERL`` (amavis ``qr'...'``): character semantics, no ``/i`` (Perl folds differently
  from Python), every character but ASCII letters and digits as a hex escape, case
  variants in brackets, and nothing that leaves one ``\\t``-separated field.

The patterns every target needs are built here once: ``name_pattern`` (a name, extension
or double-extension test as a tree, ``evaluate``'s semantics), ``extension_pattern``,
``address`` (how an address-list entry reads, ``evaluate.address_in``) with
``Dialect.address`` and ``address_globs`` to write it, and for the byte dialect, whose
targets see the raw filename, ``byte_name_test`` (``names.normalize`` and
``names.extensions`` done in the regex). A pattern a dialect cannot write raises
``Unexpressible``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, assert_never

from mailpolicy.policy import ast, globs
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.conditions import norm_extension
from mailpolicy.policy.export.base import Unexpressible
from mailpolicy.policy.globs import Alt, AnyChar, Blank, CharClass, Lit, Pat, Seq, Star, seq

#: One UTF-8 sequence (or a stray byte), for byte-mode regexes.
UTF8_CHAR = r"(?:[\x00-\x7f]|[\xc0-\xff][\x80-\xbf]*+|[\x80-\xbf])"
#: ``str.strip()`` whitespace, as UTF-8 byte sequences.
UTF8_SPACE = (
    r"(?:[\t-\r\x1c-\x20]|\xc2[\x85\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]"
    r"|\xe2\x81\x9f|\xe3\x80\x80)"
)


def _last_component(any_char: str, exclude: str, end: str) -> str:
    """Regex text that skips to the part of a name ``names.normalize`` keeps: after the
    last ``/`` or ``\\`` when what follows is not blank, else from the start."""
    last = rf"[^/\x5c{exclude}]*[^/\x5c{exclude}. ][^/\x5c{exclude}]*{end}"
    return rf"(?:{any_char}*[/\x5c](?={last})|(?!{any_char}*[/\x5c]{last}))"


#: The end of an amavis namepath field, one character of its value, and its name part.
FIELD_END = r"(?=[\t\n]|\z)"
_FIELD_CHAR = r"[^\t\n]"
_FIELD_BASE = _last_component(_FIELD_CHAR, r"\t\n", FIELD_END)
#: The name part of a raw filename (Exim's ``$mime_filename``, rspamd's name).
_RAW_BASE = _last_component("(?s:.)", "", r"\z")


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one target writes regexes; see the module docstring."""

    name: str
    #: ASCII characters written with a backslash
    special: str
    #: ASCII characters written as ``\\xHH``
    hex_chars: str = ""
    #: every ASCII character but letters and digits as ``\\xHH``
    alnum_only: bool = False
    #: non-ASCII characters as they are, as ``\\xHH`` UTF-8 bytes, or as ``\\x{HHHH}``
    non_ascii: Literal["raw", "utf8-bytes", "code-point"] = "raw"
    #: which characters get their case variants spelled out (``(?i)`` does the rest)
    fold: Literal["none", "non-ascii", "all"] = "none"
    #: case variants as ``[..]`` rather than ``(?:..|..)``
    fold_as_class: bool = False
    any_char: str = "."
    #: ``*``; None: ``any_char`` and a star
    any_run: str | None = None
    blank: str = r"\s"
    group: str = "(?:"
    classes: Literal["pcre", "posix", "bytes", "perl"] = "pcre"
    #: the text is a MIME quoted-string: any character may come as a quoted-pair
    quoted_pairs: bool = False
    #: (before, after) a pattern over the normalised name, for ``for_name``
    name_frame: tuple[str, str] = ("", "")
    #: any run of characters in the local part or subdomain of an address
    address_run: str = ".*"

    def render(self, p: Pat) -> str:
        """Regex text for ``p`` (no anchors, no flags)."""
        if isinstance(p, Lit):
            return "".join(self.char(c) for c in p.text)
        if isinstance(p, AnyChar):
            return self.any_char
        if isinstance(p, Blank):
            return self.blank
        if isinstance(p, CharClass):
            return self.char_class(p, starred=False)
        if isinstance(p, Star):
            if isinstance(p.atom, AnyChar) and self.any_run is not None:
                return self.any_run
            if isinstance(p.atom, CharClass):
                return self.char_class(p.atom, starred=True)
            return self.render(p.atom) + "*"
        if isinstance(p, Alt):
            return self.group + "|".join(self.render(o) for o in p.options) + ")"
        return "".join(self.render(i) for i in p.items)

    def for_name(self, p: Pat) -> str:
        """``p`` anchored to the name as the engine normalises it (``name_frame``)."""
        before, after = self.name_frame
        return before + self.render(p) + after

    def address(self, a: Address) -> str:
        """Regex text (no anchors) for the addresses list entry ``a`` covers."""
        if not a.domain:
            return self.render(a.pat)
        sub = f"{self.group}{self.address_run}\\.)?" if a.subdomains else ""
        return f"{self.address_run}@{sub}{self.render(a.pat)}"

    # -- characters ------------------------------------------------------------------------
    def char(self, c: str) -> str:
        """One literal character, with its case variants where the dialect spells them."""
        if self.quoted_pairs:  # any character may be a quoted-pair; '"' and '\' must be
            return ("\\\\" if c in '"\\' else "\\\\?") + self.escape(c)
        folded = self.fold == "all" or (self.fold == "non-ascii" and not c.isascii())
        variants = case_variants(c) if folded else [c]
        if len(variants) == 1:
            return self.escape(c)
        if self.fold_as_class:
            return "[" + "".join(self.escape(v) for v in variants) + "]"
        return "(?:" + "|".join(self.escape(v) for v in variants) + ")"

    def escape(self, c: str) -> str:
        """One character as a literal of this dialect, without case variants."""
        if c.isascii():
            if c in self.hex_chars or (self.alnum_only and not c.isalnum()):
                return f"\\x{ord(c):02x}"
            return "\\" + c if c in self.special else c
        if self.non_ascii == "utf8-bytes":
            return "".join(f"\\x{b:02x}" for b in c.encode("utf-8"))
        if self.non_ascii == "code-point":
            return f"\\x{{{ord(c):04x}}}"
        return c

    # -- character classes -----------------------------------------------------------------
    def char_class(self, p: CharClass, *, starred: bool) -> str:
        if self.classes == "bytes":
            return _byte_class(self, p, starred=starred)
        star = "*" if starred else ""
        if self.classes == "posix":
            return _posix_class(p) + star
        if self.classes == "perl":
            return _perl_class(self, p) + star
        cls = _pcre_class(p)
        if self.quoted_pairs:
            return rf'(?:(?![\\"]){cls}|\\{cls})' + star
        return cls + star


def case_variants(c: str) -> list[str]:
    """``c`` and the single characters Python's ``re.IGNORECASE`` (the engine's glob
    matching) treats as equal to it."""
    cands = {c, c.lower(), c.upper(), c.swapcase(), c.title(), c.casefold()}
    out = sorted(x for x in cands if len(x) == 1 and re.fullmatch(re.escape(c), x, re.IGNORECASE))
    return out or [c]


def _escaped(text: str, special: str) -> str:
    return "".join("\\" + c if c in special else c for c in text)


def _pcre_class(p: CharClass) -> str:
    parts = []
    for it in p.items:
        if isinstance(it, tuple):
            parts.append(_escaped(it[0], "\\]^-[/") + "-" + _escaped(it[1], "\\]^-[/"))
        else:
            parts.append(_escaped(it, "\\]^-[/"))
    return "[" + ("^" if p.negated else "") + "".join(parts) + "]"


def _posix_class(p: CharClass) -> str:
    singles = [i for i in p.items if isinstance(i, str)]
    ranges = [i for i in p.items if isinstance(i, tuple)]
    body = "]" if "]" in singles else ""
    body += "".join(c for c in singles if c not in "]-^[")
    body += "".join(f"{lo}-{hi}" for lo, hi in ranges)
    body += "^" if "^" in singles else ""
    body += "[" if "[" in singles else ""  # last: "[:" would open a character class
    body += "-" if "-" in singles else ""
    if not body:
        return "[^\x01-\U0010ffff]" if not p.negated else "."
    return "[" + ("^" if p.negated else "") + body + "]"


def _perl_class(d: Dialect, p: CharClass) -> str:
    out = []
    for it in p.items:
        lo, hi = it if isinstance(it, tuple) else (it, it)
        if lo > hi:
            continue  # a backwards range matches nothing (the checker refuses it: E107)
        if ord(hi) - ord(lo) > 512:  # too wide to spell out: case-sensitive outside ASCII
            out.append(f"{d.escape(lo)}-{d.escape(hi)}")
            for a, b in (("a", "z"), ("A", "Z")):
                x, y = max(lo, a), min(hi, b)
                if x <= y:
                    out.append(f"{d.escape(x.swapcase())}-{d.escape(y.swapcase())}")
            continue
        chars = {v for cp in range(ord(lo), ord(hi) + 1) for v in case_variants(chr(cp))}
        out.extend(d.escape(c) for c in sorted(chars))
    body = "".join(out)
    if p.negated:
        return f"[^{body}\\t\\n]"
    return f"[{body}]" if body else "(?!)"


def _byte_class(d: Dialect, p: CharClass, *, starred: bool) -> str:
    """A class in byte mode: ASCII members in brackets, non-ASCII ones (and their case
    variants) as alternatives of UTF-8 sequences; negation as a lookahead."""
    ascii_items: list[str] = []
    other: list[str] = []
    for it in p.items:
        lo, hi = it if isinstance(it, tuple) else (it, it)
        if ord(lo) > ord(hi):
            continue  # a backwards range matches nothing (the checker refuses it: E107)
        if ord(hi) < 0x80:
            esc = _byte_class_char
            ascii_items.append(esc(lo) if lo == hi else f"{esc(lo)}-{esc(hi)}")
            continue
        if ord(hi) - ord(lo) > 512:
            raise Unexpressible(f"character range {lo}-{hi} is too wide to spell out in bytes")
        for cp in range(ord(lo), ord(hi) + 1):
            if cp < 0x80:
                ascii_items.append(d.escape(chr(cp)))
            else:
                other.extend(d.escape(v) for v in case_variants(chr(cp)))
    alts = (["[" + "".join(ascii_items) + "]"] if ascii_items else []) + sorted(set(other))
    positive = "(?:" + "|".join(alts) + ")" if alts else "(?!)"
    if not p.negated:
        return positive + ("*" if starred else "")
    one = f"(?!{positive}){UTF8_CHAR}"
    return f"(?:{one})*" if starred else one


def _byte_class_char(c: str) -> str:
    """One ASCII character inside a byte-mode class (backslash as ``\\x5c``)."""
    return r"\x5c" if c == "\\" else ("\\" + c if c in "]^-[" else c)


# ---- the dialects ------------------------------------------------------------------------------
PCRE = Dialect("pcre", special=r"\^$.|?*+()[]{}/#", address_run="[^@]*")
#: A MIME parameter value inside quotes (Postfix header checks see it raw).
POSTFIX_QUOTED = Dialect(
    "pcre-quoted", special=r"\^$.|?*+()[]{}/#", any_char=r'(?:[^"\\]|\\.)', quoted_pairs=True
)
#: A MIME parameter value as a bare token (no space, ``;`` or ``"``).
POSTFIX_TOKEN = Dialect("pcre-token", special=r"\^$.|?*+()[]{}/#", any_char=r'[^\s;"]')
ERE = Dialect(
    "posix-ere",
    special=".*+?()|{}$^[\\",
    blank="[[:space:]]",
    group="(",
    classes="posix",
    name_frame=("^(.*[/\\\\])?", "[. ]*$"),
)
EXIM = Dialect(
    "pcre-bytes",
    special=r"^$.|?*+()[]{}#/-",
    hex_chars="\\; ",  # ';' separates list items; outer spaces of an option value are dropped
    non_ascii="utf8-bytes",
    fold="non-ascii",
    any_char=UTF8_CHAR,
    any_run=r"(?s:.)*(?![\x80-\xbf])",  # never stop inside a UTF-8 sequence
    blank=UTF8_SPACE,
    classes="bytes",
    name_frame=(rf"(?i)\A{_RAW_BASE}(?:", r")(?<![. ])[. ]*\z"),
    address_run="(?s:.)*",
)
PERL = Dialect(
    "perl",
    special="",
    alnum_only=True,
    non_ascii="code-point",
    fold="all",
    fold_as_class=True,
    any_char=_FIELD_CHAR,
    blank=r"[^\S\t\n]",
    classes="perl",
    name_frame=(rf"\tN={_FIELD_BASE}(?:", rf")(?<![. ])[. ]*{FIELD_END}"),
)


def matches_key(p: Pat) -> str | None:
    """A Sieve ``:matches`` key for ``p`` (``*``, ``?``, literals with ``*``, ``?`` and
    ``\\`` escaped), or None when ``p`` needs classes or alternatives (use ``ERE``)."""
    items = p.items if isinstance(p, Seq) else (p,)
    out = []
    for it in items:
        if isinstance(it, Lit):
            out.append(re.sub(r"([*?\\])", r"\\\1", it.text))
        elif isinstance(it, AnyChar):
            out.append("?")
        elif isinstance(it, Star) and isinstance(it.atom, AnyChar):
            out.append("*")
        else:
            return None
    return "".join(out)


# ---- the patterns every target needs ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Address:
    """How an address-list entry reads (``evaluate.address_in``): a glob over the whole
    address, or (``domain``) a domain glob; a literal domain covers its ``subdomains``."""

    pat: Pat
    domain: bool = False
    subdomains: bool = False


def address(entry: str, *, domain_rule: bool = True) -> Address:
    """An entry with ``@`` (or any entry of ``sender matches``) is a whole-address glob;
    else a domain, compared in lower case, with its subdomains when it is literal."""
    if "@" in entry or not domain_rule:
        return Address(globs.parse(entry))
    dom = entry.lower().lstrip("@")
    return Address(globs.parse(dom), domain=True, subdomains=globs.is_literal(dom))


def address_globs(a: Address) -> list[Pat]:
    """``a`` as patterns without optional groups (Sieve ``:matches``): the address glob,
    or ``*@DOMAIN`` and, for subdomains, ``*@*.DOMAIN``."""
    if not a.domain:
        return [a.pat]
    run = Star(AnyChar())
    out = [seq([run, Lit("@"), a.pat])]
    if a.subdomains:
        out.append(seq([run, Lit("@"), run, Lit("."), a.pat]))
    return out


def any_glob(entries: Iterable[str]) -> Pat:
    """Names matching any of the globs ``entries``."""
    pats = [globs.parse(g) for g in entries]
    return pats[0] if len(pats) == 1 else Alt(tuple(pats))


def extension_pattern(exts: Iterable[str], double: bool = False) -> Pat:
    """Names whose last extension is in ``exts`` (``evaluate`` semantics).

    ``extension``: some non-dot character of the base name before the last dot (a
    leading-dot name such as ``.exe`` has no extension). ``double``: the extension before
    it is 1 to 4 characters, not all digits. Exact for names without blank or
    whitespace-padded extensions (``a.doc..bat``, ``a.doc .bat``): those are evasive
    names the ``evasive name`` rule is for.
    """
    alts = Alt(tuple(Lit(e) for e in sorted(set(exts))))
    tail: list[Pat] = [Lit("."), Star(Blank()), alts, Star(Blank())]
    base: list[Pat] = [
        Star(AnyChar()),
        CharClass((".", "/", "\\"), negated=True),
        Star(CharClass(("/", "\\"), negated=True)),
    ]
    if not double:
        return seq([*base, *tail])
    digit, other = CharClass((("0", "9"),)), CharClass((".", ("0", "9")), negated=True)
    anyc = CharClass((".",), negated=True)
    prev: list[Pat] = []
    for length in range(1, 5):  # 1-4 chars, the first non-digit at position k
        for k in range(length):
            prev.append(seq([*([digit] * k), other, *([anyc] * (length - k - 1))]))
    return seq([*base, Lit("."), Alt(tuple(prev)), *tail])


#: The conditions about an attachment's name (``base.NAME_TESTS``).
NameTest = ast.NameMatches | ast.NameIn | ast.ExtensionIn | ast.ExtensionIs | ast.DoubleExtensionIn
#: The conditions about the envelope.
AddressTest = ast.SenderIn | ast.SenderMatches | ast.RecipientIn | ast.RecipientMatches
ADDRESS_TESTS = (ast.SenderIn, ast.SenderMatches, ast.RecipientIn, ast.RecipientMatches)


def envelope(node: AddressTest) -> tuple[Literal["sender", "recipient"], bool]:
    """Whose address ``node`` tests, and whether an entry without ``@`` is a domain
    (``in``) rather than a glob over the whole address (``matches``)."""
    match node:
        case ast.SenderIn():
            return "sender", True
        case ast.SenderMatches():
            return "sender", False
        case ast.RecipientIn():
            return "recipient", True
        case ast.RecipientMatches():
            return "recipient", False
        case _:
            assert_never(node)


def _name_kind(node: NameTest) -> Literal["name", "extension", "double"]:
    match node:
        case ast.NameMatches() | ast.NameIn():
            return "name"
        case ast.ExtensionIn() | ast.ExtensionIs():
            return "extension"
        case ast.DoubleExtensionIn():
            return "double"
        case _:
            assert_never(node)


def name_pattern(policy: CheckedPolicy, node: NameTest) -> Pat:
    """The tree (over a normalised name) of a name, extension or double-extension test."""
    entries = policy.entries(node.operand)
    kind = _name_kind(node)
    if kind == "name":
        return any_glob(entries)
    exts = [norm_extension(e) for e in entries]
    return extension_pattern(exts, double=kind == "double")


def byte_name_test(policy: CheckedPolicy, node: NameTest) -> str | None:
    """Anchored ``EXIM`` regex over a raw filename for a name, extension or
    double-extension test; None when no entry can be an extension."""
    entries = policy.entries(node.operand)
    kind = _name_kind(node)
    if kind == "name":
        return EXIM.for_name(any_glob(entries))
    exts = [
        e
        for e in (norm_extension(x) for x in entries)
        if e and not re.search(r"[./\\]", e) and e == e.strip()
    ]
    if not exts:
        return None
    return _byte_extension_regex(sorted(set(exts)), double=kind == "double")


def _byte_extension_regex(exts: list[str], *, double: bool) -> str:
    """Last extension in ``exts`` (after ``names.extensions``: whitespace around an
    extension and blank parts are ignored)."""
    ws = UTF8_SPACE
    alts = "(?:" + "|".join(EXIM.render(Lit(e)) for e in exts) + ")"
    stem = r"(?:\A|[/\x5c])\.*[^./\x5c][^/\x5c]*"
    blank = rf"(?:\.{ws}*)*"  # blank parts between two extensions
    tail = rf"\.{ws}*{alts}{ws}*(?:\.|{ws})*\z"
    if not double:
        return rf"(?i){stem}{tail}"
    sep = r"[./\x5c]"
    # at least one of the (at most 4) characters is neither an ASCII digit nor blank
    nondigit = rf"(?![0-9\x80-\xbf]|{ws}){UTF8_CHAR}"
    edge = rf"(?!{ws}|{sep}){UTF8_CHAR}"  # first and last character: not blank
    mid = rf"(?!{sep}){UTF8_CHAR}"
    prev = rf"(?=(?:(?!{sep})[\x00-\xff]){{0,3}}{nondigit}){edge}(?:(?:{mid}){{0,2}}{edge})?"
    return rf"(?i){stem}\.{ws}*{prev}{ws}*{blank}{tail}"


def byte_glob(glob: str) -> str:
    """An anchored, case-insensitive ``EXIM`` regex for a whole-value glob."""
    return rf"(?i)\A(?:{EXIM.render(globs.parse(glob))})\z"


def byte_address(entry: str, *, domain_rule: bool) -> str:
    """An anchored ``EXIM`` regex for one address-list entry (``evaluate.address_in``);
    ``Unexpressible`` when the entry is not a valid glob."""
    why = globs.validate(entry)
    if why is not None:
        raise Unexpressible(f"address list entry {entry!r} is not a valid glob: {why}")
    return rf"(?i)\A(?:{EXIM.address(address(entry, domain_rule=domain_rule))})\z"


def map_line(rx: str) -> str:
    """A byte regex as an rspamd map line body: every ``/`` as ``\\x2f`` (already-escaped
    ``\\/`` kept); ``Unexpressible`` when it cannot be a map line or does not compile
    (rspamd drops such a line without failing the config)."""
    out = re.sub(r"(?<!\\)/", r"\\x2f", rx)
    if re.search(r"[\x00-\x1f\x7f]", out) or not out.isascii():
        raise Unexpressible(f"regex {out[:40]!r} holds a control or non-ASCII character")
    check = out.replace(r"\z", r"\Z")  # Python spells PCRE's \z as \Z
    try:
        re.compile(check.encode("ascii"))
    except re.error as exc:
        raise Unexpressible(f"regex {out[:60]!r} does not compile: {exc}") from exc
    return out
