"""Globs of the policy language: ``*``, ``?``, ``[...]``, ``{a,b}``, ``\\`` escapes.

Matching is case-insensitive and over the whole string; ``*`` matches any run of
characters, dots and slashes included. ``translate`` turns a glob into a regular
expression with no nested quantifiers (each ``*`` becomes one ``.*``, and alternatives of
``{a,b}`` are plain literals or globs without braces), so the worst case stays polynomial
in the name length and names are bounded.

``validate`` returns the reason a glob is malformed (an unclosed ``[`` or ``{``), or None.
"""

from __future__ import annotations

import functools
import re

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


def _translate(glob: str, i: int, stop: str) -> tuple[str, int]:
    out: list[str] = []
    while i < len(glob):
        c = glob[i]
        if c in stop:
            return "".join(out), i
        if c == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 2
        elif c == "*":
            while i < len(glob) and glob[i] == "*":  # `**` is `*`
                i += 1
            out.append(".*")
            continue
        elif c == "?":
            out.append(".")
            i += 1
        elif c == "[" and _class_end(glob, i) > 0:
            j = _class_end(glob, i)
            body = glob[i + 1 : j]
            neg = body[:1] in ("!", "^")
            if neg:
                body = body[1:]
            body = body.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"[{'^' if neg else ''}{body}]")
            i = j + 1
        elif c == "{":
            alts: list[str] = []
            i += 1
            while True:
                part, i = _translate(glob, i, ",}")
                alts.append(part)
                if i >= len(glob) or glob[i] == "}":
                    i += 1
                    break
                i += 1  # the comma
            out.append("(?:" + "|".join(alts) + ")")
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out), i


def translate(glob: str) -> str:
    """The regular expression (without anchors) equivalent to ``glob``."""
    return _translate(glob, 0, "")[0]


@functools.lru_cache(maxsize=4096)
def compile_glob(glob: str) -> re.Pattern[str]:
    """A compiled, anchored, case-insensitive matcher for ``glob``."""
    return re.compile(f"(?:{translate(glob)})\\Z", re.IGNORECASE | re.DOTALL)


def match(glob: str, text: str) -> bool:
    """True when ``text`` as a whole matches ``glob`` (case-insensitive)."""
    return compile_glob(glob).match(text) is not None


def is_literal(glob: str) -> bool:
    """True when ``glob`` has no wildcard (it matches one string)."""
    return not re.search(r"[*?\[{\\]", glob)
