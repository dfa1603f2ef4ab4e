"""Attachment names as Postfix's ``pcre:`` tables see them: raw header bytes.

Postfix runs ``mime_header_checks`` on the raw (unfolded) ``Content-*`` header line and
compiles table regexes in byte mode (no UTF flag, ``i`` on by default: ASCII-only case
folding; measured with Postfix 3.7: ``\\x{a0}`` matches the byte A0, never C2 A0).
``line_regex`` writes one table regex for a glob tree, for every way the name can sit in
the parameter (inside quotes with quoted-pairs, a bare token, an RFC 2231 ``name*=``
value, an RFC 2231 segment):

- a blank (extension padding) is every Unicode space as UTF-8 bytes (``UTF8_SPACE``: what
  the engine's ``str.strip`` removes), plus the single-byte Windows-1252 no-break space
  and the Shift_JIS and EUC-JP ideographic spaces of raw 8-bit names (``BLANK``);
  PCRE's ``\\s`` without UTF mode is ASCII whitespace only.
- the pattern must not end in a dot or a space (``(?<![. ])``) before the trailing run
  ``normalize`` strips: ``*.*.*`` does not match ``invoice.pif.``, as in the engine.

``split(p)`` cuts a pattern into several whose table lines each stay under the size
PCRE accepts (``MAX_WEIGHT``): a list of 200 globs in one regex is "regular expression
is too large" for postmap and cleanup, which skip that line with a warning, a dead
rule. Compiled size is not source length: measured with postmap 3.7 / PCRE2 10.42 by
bisection, the largest lines that compile are 31,527 characters with 961 ``[`` (plain
globs) and 17,639 with 2,173 (classes), about ``1.5 x length + 18 x brackets`` bytes of
the 65,535 a pattern may take; ``weight`` counts ``2 x length + 20 x brackets`` and a
line stays under 32,000 of it, half the limit.
"""

from __future__ import annotations

import dataclasses

from mailpolicy.policy.export.base import Unexpressible
from mailpolicy.policy.export.dialect import (
    POSTFIX_QUOTED,
    POSTFIX_TOKEN,
    UTF8_SPACE,
    case_variants,
)
from mailpolicy.policy.export.sieve_names import absorbed
from mailpolicy.policy.globs import Alt, AnyChar, CharClass, Lit, Pat, Seq, Star

#: A blank in raw header bytes: UTF-8 spaces, Windows-1252 A0, Shift_JIS 81 40, EUC-JP A1 A1.
BLANK = rf"(?:{UTF8_SPACE}|\xa0|\x81\x40|\xa1\xa1)"
QUOTED = dataclasses.replace(POSTFIX_QUOTED, blank=rf"(?:\\?{BLANK})")
TOKEN = dataclasses.replace(POSTFIX_TOKEN, blank=BLANK)
HEAD = r'^Content-(?:Disposition|Type):(?:[^"]|"(?:[^"\\]|\\.)*")*?;\s*(?:file)?name'
#: The catch-all for names Postfix cannot read (approximate mode).
ENCODED = HEAD + r'(?:\*[0-9]+\*?\s*=|\*\s*=[^;]*%|\s*=\s*"?[^";]*=\?)'
#: Half of what PCRE2 compiles in one pattern, in ``weight`` units.
MAX_WEIGHT = 32_000
#: The trailing run ``normalize`` strips; the name before it ends in neither.
_END = r"(?<![. ])"


def line_regex(p: Pat) -> str:
    """The table regex matching a Content-Disposition/Type header whose name matches ``p``."""
    quoted, token = QUOTED.render(p), TOKEN.render(p)
    q_path = rf"(?:{QUOTED.any_char}*(?:\/|\\\\))?"
    t_path = r'(?:[^\s;"]*[\/\\])?'
    forms = [
        rf'\s*=\s*"{q_path}{quoted}{_END}(?:\\?[. ])*"',
        rf"\s*=\s*{t_path}{token}{_END}\.*(?=[\s;]|$)",
        rf"\*\s*=\s*[^'\";\s]*'[^'\";\s]*'{t_path}{_plain_after_star(p)}{_END}\.*(?=[\s;]|$)",
    ]
    items = p.items if isinstance(p, Seq) else (p,)
    if isinstance(items[0], Star) and isinstance(items[0].atom, AnyChar):
        forms.append(
            rf'\*[0-9]+\*?\s*=\s*(?:"{quoted}{_END}(?:\\?[. ])*"|{token}{_END}\.*(?=[\s;]|$))'
        )
    rx = HEAD + "(?:" + "|".join(forms) + ")"
    check_delimiters(rx)
    return rx


def _plain_after_star(p: Pat) -> str:
    """An RFC 2231 ``name*=`` value: ``%XX`` escapes only where a leading ``*`` stands (the
    suffix after it is plain text, as the engine decodes it); a value with an escape
    elsewhere is left to the catch-all (``ENCODED``), its raw text is not the name."""
    items = p.items if isinstance(p, Seq) else (p,)
    if isinstance(items[0], Star) and isinstance(items[0].atom, AnyChar):
        return TOKEN.any_char + r'*(?![^\s;"]*%)' + "".join(TOKEN.render(i) for i in items[1:])
    return r'(?![^\s;"]*%)' + TOKEN.render(p)


def check_delimiters(rx: str) -> None:
    """Assert ``rx`` has no unescaped ``/`` (it would end the pattern of a table line)."""
    i = 0
    while i < len(rx):
        if rx[i] == "\\":
            i += 2
            continue
        if rx[i] == "/":
            raise AssertionError(f"unescaped / in {rx!r}")
        i += 1


def weight(rx: str) -> int:
    """An upper estimate of the compiled size of ``rx`` (see the module docstring)."""
    return 2 * len(rx) + 20 * rx.count("[")


def split(p: Pat) -> list[Pat]:
    """``p`` as patterns whose union is ``p`` and whose lines each weigh at most
    ``MAX_WEIGHT``: the widest alternative (a list's globs, an extension list) halved
    until they fit. ``Unexpressible`` for one glob too large by itself."""
    if weight(line_regex(p)) <= MAX_WEIGHT:
        return [p]
    halves = _halves(p)
    if halves is None:
        raise Unexpressible(
            "one name pattern is larger than a Postfix pcre: regex may be "
            f"({weight(line_regex(p))} > {MAX_WEIGHT})",
            key="regex-too-large",
        )
    return [q for half in halves for q in split(half)]


def _halves(p: Pat) -> tuple[Pat, Pat] | None:
    """``p`` with its widest alternative cut in two (None: no alternative to cut)."""
    if isinstance(p, Alt) and len(p.options) > 1:
        k = len(p.options) // 2
        return _alt(p.options[:k]), _alt(p.options[k:])
    if isinstance(p, Seq):
        wide = [(len(i.options), n) for n, i in enumerate(p.items) if isinstance(i, Alt)]
        if wide and max(wide)[0] > 1:
            n = max(wide)[1]
            sub = _halves(p.items[n])
            assert sub is not None
            return tuple(  # type: ignore[return-value]
                Seq(p.items[:n] + (h,) + p.items[n + 1 :]) for h in sub
            )
    return None


def _alt(options: tuple[Pat, ...]) -> Pat:
    return options[0] if len(options) == 1 else Alt(options)


def byte_sensitive(p: Pat) -> bool:
    """True when a single ``?`` or negated class of ``p`` stands where one byte is not one
    character of a non-ASCII name (no neighbouring ``*`` takes the other bytes)."""
    match p:
        case AnyChar():
            return True
        case CharClass(negated=negated):
            return negated
        case Alt(options=options):
            return any(byte_sensitive(o) for o in options)
        case Seq(items=items):
            return any(
                byte_sensitive(x)
                if not isinstance(x, (AnyChar, CharClass))
                else (byte_sensitive(x) and not absorbed(items, i))
                for i, x in enumerate(items)
            )
    return False


def cased_non_ascii(p: Pat) -> bool:
    """True when ``p`` has a non-ASCII letter (or class member) with case variants, which a
    byte-mode ``i`` flag does not fold."""
    match p:
        case Lit(text=text):
            return any(not c.isascii() and len(case_variants(c)) > 1 for c in text)
        case CharClass(items=items):
            return any(not (x[1] if isinstance(x, tuple) else x).isascii() for x in items)
        case Alt(options=options):
            return any(cased_non_ascii(o) for o in options)
        case Seq(items=items):
            return any(cased_non_ascii(i) for i in items)
    return False
