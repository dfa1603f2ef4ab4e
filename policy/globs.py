"""Globs of the policy language: ``*``, ``?``, ``[...]``, ``{a,b}``, ``\\`` escapes.

Matching is case-insensitive and over the whole string; ``*`` matches any run of
characters, dots and slashes included. ``translate`` turns a glob into a regular
expression with no nested quantifiers (each ``*`` becomes one ``.*``, and alternatives of
``{a,b}`` are plain literals or globs without braces), so the worst case stays polynomial
in the name length and names are bounded.

``validate`` returns the reason a glob is malformed (an unclosed ``[`` or ``{``, a range
such as ``[z-a]`` that runs backwards), or None.

``parse`` gives the glob as a small tree (literals, any-character, character classes,
stars of one character, alternatives): the one reading of the syntax, which ``translate``
renders for Python and every exporter renders for its target.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

#: Nesting of ``{}`` allowed in one glob.
MAX_BRACE_DEPTH = 4


def validate(glob: str) -> str | None:
    """Why ``glob`` is malformed, or None when it is fine."""
    depth = 0
    i = 0
    while i < len(glob):
        c = glob[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            j = _class_end(glob, i)
            if j < 0:
                return f"'[' at position {i + 1} is never closed with ']'"
            body = glob[i + 1 : j]
            cls = _char_class(body[1:] if body[:1] in ("!", "^") else body, False)
            for item in cls.items:
                if isinstance(item, tuple) and item[0] > item[1]:
                    return f"range '{item[0]}-{item[1]}' at position {i + 1} runs backwards"
            i = j + 1
            continue
        if c == "{":
            depth += 1
            if depth > MAX_BRACE_DEPTH:
                return f"braces nested more than {MAX_BRACE_DEPTH} deep"
        elif c == "}":
            if depth == 0:
                return f"'}}' at position {i + 1} has no matching '{{'"
            depth -= 1
        i += 1
    if depth:
        return "'{' is never closed with '}'"
    return None


def _class_end(glob: str, i: int) -> int:
    """Index of the ``]`` closing the class opened at ``i``, or -1."""
    j = i + 1
    if j < len(glob) and glob[j] in "!^":
        j += 1
    if j < len(glob) and glob[j] == "]":
        j += 1
    while j < len(glob):
        if glob[j] == "\\":
            j += 2
            continue
        if glob[j] == "]":
            return j
        j += 1
    return -1


# ---- the glob tree: one parser for the engine and every exporter -------------------------
@dataclass(frozen=True, slots=True)
class Lit:
    text: str


@dataclass(frozen=True, slots=True)
class AnyChar:
    pass


@dataclass(frozen=True, slots=True)
class Blank:
    """One whitespace character (``\\s`` / ``[[:space:]]``)."""


@dataclass(frozen=True, slots=True)
class CharClass:
    """``[...]``: ``items`` are single characters or ``(lo, hi)`` ranges."""

    items: tuple[str | tuple[str, str], ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Star:
    """Zero or more of one character-level atom (never of a group: no nested quantifiers)."""

    atom: AnyChar | CharClass | Blank


@dataclass(frozen=True, slots=True)
class Alt:
    options: tuple[Pat, ...]


@dataclass(frozen=True, slots=True)
class Seq:
    items: tuple[Pat, ...]


Pat = Lit | AnyChar | Blank | CharClass | Star | Alt | Seq


def parse(glob: str) -> Pat:
    """The tree of a policy glob: what ``translate`` and every exporter render."""
    return _parse(glob)


@functools.lru_cache(maxsize=4096)
def _parse(glob: str) -> Pat:
    return _glob(glob, 0, "")[0]


def _glob(glob: str, i: int, stop: str) -> tuple[Pat, int]:
    out: list[Pat] = []
    while i < len(glob):
        c = glob[i]
        if c in stop:
            break
        if c == "\\" and i + 1 < len(glob):
            out.append(Lit(glob[i + 1]))
            i += 2
        elif c == "*":
            while i < len(glob) and glob[i] == "*":
                i += 1
            out.append(Star(AnyChar()))
        elif c == "?":
            out.append(AnyChar())
            i += 1
        elif c == "[" and _class_end(glob, i) > 0:
            j = _class_end(glob, i)
            body = glob[i + 1 : j]
            neg = body[:1] in ("!", "^")
            out.append(_char_class(body[1:] if neg else body, neg))
            i = j + 1
        elif c == "{":
            alts: list[Pat] = []
            i += 1
            while True:
                part, i = _glob(glob, i, ",}")
                alts.append(part)
                if i >= len(glob) or glob[i] == "}":
                    i += 1
                    break
                i += 1
            out.append(Alt(tuple(alts)))
        else:
            out.append(Lit(c))
            i += 1
    return seq(out), i


def _char_class(body: str, negated: bool) -> CharClass:
    chars = list(body)  # a backslash in a class is a literal backslash (as globs.translate)
    items: list[str | tuple[str, str]] = []
    k = 0
    while k < len(chars):
        if k + 2 < len(chars) and chars[k + 1] == "-":
            items.append((chars[k], chars[k + 2]))
            k += 3
        else:
            items.append(chars[k])
            k += 1
    return CharClass(tuple(items), negated)


def seq(items: Iterable[Pat]) -> Pat:
    """A sequence with adjacent literals merged and empty ones dropped."""
    flat: list[Pat] = []
    for p in items:
        parts = p.items if isinstance(p, Seq) else (p,)
        for q in parts:
            if isinstance(q, Lit) and flat and isinstance(flat[-1], Lit):
                flat[-1] = Lit(flat[-1].text + q.text)
            elif not (isinstance(q, Lit) and not q.text):
                flat.append(q)
    return flat[0] if len(flat) == 1 else Seq(tuple(flat))


def _python(p: Pat) -> str:
    if isinstance(p, Lit):
        return re.escape(p.text)
    if isinstance(p, AnyChar):
        return "."
    if isinstance(p, Blank):
        return "\\s"
    if isinstance(p, CharClass):
        items = (
            f"{re.escape(i[0])}-{re.escape(i[1])}" if isinstance(i, tuple) else re.escape(i)
            for i in p.items
        )
        return "[" + ("^" if p.negated else "") + "".join(items) + "]"
    if isinstance(p, Star):
        return _python(p.atom) + "*"
    if isinstance(p, Alt):
        return "(?:" + "|".join(_python(o) for o in p.options) + ")"
    return "".join(_python(i) for i in p.items)


def translate(glob: str) -> str:
    """The Python regular expression (without anchors) equivalent to ``glob``."""
    return _python(parse(glob))


@functools.lru_cache(maxsize=4096)
def compile_glob(glob: str) -> re.Pattern[str]:
    """A compiled, anchored, case-insensitive matcher for ``glob``."""
    return re.compile(f"(?:{translate(glob)})\\Z", re.IGNORECASE | re.DOTALL)


def match(glob: str, text: str) -> bool:
    """True when ``text`` as a whole matches ``glob`` (case-insensitive)."""
    return compile_glob(glob).match(text) is not None


def escape(text: str) -> str:
    """The glob that matches exactly ``text``: every wildcard character backslash-escaped.

    >>> escape("a*b?.{x,y}")
    'a\\*b\\?.\\{x\\,y\\}'
    """
    return "".join("\\" + c if c in "\\*?[]{}," else c for c in text)


def is_literal(glob: str) -> bool:
    """True when ``glob`` has no wildcard (it matches one string)."""
    return not re.search(r"[*?\[{\\]", glob)
