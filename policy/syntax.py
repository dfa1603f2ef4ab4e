"""Syntax errors people can act on, and the limits checked before the parser runs.

``syntax_diag`` turns one lark error into one E100 diagnostic: expected tokens as their
text (``]``, never ``RSQB``), "did you mean" for a misspelt keyword, a bad number or an
unterminated string named as such, and for a missing ``]`` or ``)`` where the list or
parenthesis began. ``blank_statement`` is the recovery step (``parse.py``), and
``depth_check`` refuses nesting deeper than ``MAX_DEPTH`` before any recursive stage sees it.
"""

from __future__ import annotations

import re

from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

from mailpolicy.policy import ast
from mailpolicy.policy.diagnostics import Diagnostic, PolicyError, did_you_mean, error

MAX_DEPTH = 64

#: What to call each terminal in an error message.
TOKEN_TEXT = {
    "ALLOW": "allow",
    "BLOCK": "block",
    "QUARANTINE": "quarantine",
    "STRIP": "strip",
    "TAG": "tag",
    "DISCARD": "discard",
    "SENDER": "sender",
    "RECIPIENT": "recipient",
    "TEXT_FIELD": "from/subject/body",
    "SIZE": "size",
    "MATCHES": "matches",
    "CONTAINS": "contains",
    "COMPARE": "a comparison (>, <, >=, <=, ==, !=)",
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a quoted string",
    "BARE_GLOB": "a glob",
    "LPAR": "(",
    "RPAR": ")",
    "LSQB": "[",
    "RSQB": "]",
    "COMMA": ",",
    "EQUAL": "=",
    "$END": "end of file",
}
_KEYWORD_TERMINAL = re.compile(r"^_?([A-Z_]+?)(_KW)?$")

STATEMENT_START = re.compile(
    r"^[ \t]*(policy|default|list|allow|block|quarantine|strip|tag|discard)\b", re.MULTILINE
)


def token_text(name: str) -> str:
    """The text a user would type for terminal ``name`` (``_DOUBLE`` -> ``double``)."""
    if name in TOKEN_TEXT:
        return TOKEN_TEXT[name]
    m = _KEYWORD_TERMINAL.match(name)
    return m.group(1).lower() if m else name


_NEST_TOKEN = re.compile(r'#[^\n]*|"(?:[^"\\\n]|\\.)*"?|[(\[]|[)\]]|[A-Za-z0-9_]+')


def depth_check(text: str, path: str) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` brackets or ``MAX_DEPTH`` stacked ``not``s.

    Later stages walk conditions recursively; this bound keeps them far from Python's
    recursion limit (``not not ... not x`` nests without any bracket)."""

    def refuse(at: int, message: str, width: int) -> PolicyError:
        line, col = _line_col(text, at)
        return PolicyError([error("E100", message, ast.Span(path, line, col, line, col + width))])

    depth = nots = 0
    for m in _NEST_TOKEN.finditer(text):
        tok = m.group()
        if tok in ("(", "["):
            depth += 1
            if depth > MAX_DEPTH:
                raise refuse(m.start(), f"brackets nested more than {MAX_DEPTH} deep", 1)
        elif tok in (")", "]"):
            depth = max(0, depth - 1)
            nots = 0
        elif tok == "not":
            nots += 1
            if nots > MAX_DEPTH:
                raise refuse(m.start(), f"more than {MAX_DEPTH} 'not' in a row", 3)
        elif tok[0] != "#":
            nots = 0


# ---- syntax errors ----------------------------------------------------------------------
_BRACKET_TOKEN = re.compile(r'#[^\n]*|"(?:[^"\\\n]|\\.)*"?|[()\[\]]')


def _open_bracket(text: str, upto: int) -> tuple[int, str] | None:
    """Offset and kind of the innermost bracket still open at ``upto``."""
    stack: list[tuple[int, str]] = []
    for m in _BRACKET_TOKEN.finditer(text, 0, upto):
        ch = m.group()
        if ch in "([":
            stack.append((m.start(), ch))
        elif ch in ")]" and stack:
            stack.pop()
    return stack[-1] if stack else None


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


_BAD_NUMBER = re.compile(r"\d+(?:\.\d+)?[A-Za-z_][A-Za-z0-9_]*")


def syntax_diag(exc: UnexpectedInput, text: str, path: str) -> Diagnostic:
    """One E100 diagnostic for a lark error in ``text`` (the text lark saw: statements
    blanked by recovery are spaces, so an earlier unclosed bracket is not blamed twice)."""
    pos = getattr(exc, "pos_in_stream", None) or 0
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        pos = len(text)
    if getattr(exc, "line", -1) not in (-1, None):
        line, col = exc.line, exc.column
    else:
        line, col = _line_col(text, pos)
    expected = sorted(
        {token_text(t) for t in (getattr(exc, "expected", None) or set()) if not t.startswith("__")}
    )
    width = 1
    if isinstance(exc, UnexpectedCharacters):
        bad_number = _BAD_NUMBER.match(text, pos) if exc.char.isdigit() else None
        if exc.char == '"':
            msg = 'unterminated string (a string ends with " on the same line)'
        elif bad_number:
            width = len(bad_number.group())
            msg = (
                f"invalid number {bad_number.group()!r} (a size is a number with an optional"
                " unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
            )
            expected = []
        else:
            msg = f"unexpected character {exc.char!r}"
            expected = sorted({token_text(t) for t in exc.allowed or ()})
    elif isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        msg = "unexpected end of file"
        line, col = _line_col(text, len(text.rstrip()))
    else:
        assert isinstance(exc, UnexpectedToken)
        value = str(exc.token)
        width = max(1, len(value.splitlines()[0]) if value else 1)
        msg = f"unexpected {value!r}" if value else "unexpected input"
        words = [e for e in expected if re.fullmatch(r"[a-z/]+", e)]
        if re.fullmatch(r"[A-Za-z_]\w*", value):
            msg += did_you_mean(value, [w for e in words for w in e.split("/")])
    if expected:
        shown = ", ".join(
            e if re.fullmatch(r"[a-z/ ]+|a .*|end of file", e) else f"'{e}'" for e in expected[:12]
        ) + (", ..." if len(expected) > 12 else "")
        msg += f"; expected {shown}"
    opened = None
    if any(e in ("]", ")") for e in expected):
        opened = _open_bracket(text, min(len(text), pos if pos else len(text)))
    if opened:
        oline, ocol = _line_col(text, opened[0])
        closer = "]" if opened[1] == "[" else ")"
        what = "list" if opened[1] == "[" else "parenthesis"
        msg += f" (the {what} opened at line {oline}, column {ocol} is not closed with '{closer}')"
    return error("E100", msg, ast.Span(path, line, col, line, col + width))


def blank_statement(text: str, line: int, column: int) -> str:
    """Replace the statement holding the error at ``line``:``column``, and everything
    before it, with spaces, keeping newlines (so positions stay true). An error on the first
    word of a statement (lark reports a missing ``]`` at the next token) belongs to the
    statement before it.

    Once there is an error the tree is thrown away, so the statements before it need not be
    parsed again: blanking them keeps recovery linear in the size of the file."""
    lines = text.split("\n")
    starts = [i + 1 for i, ln in enumerate(lines) if STATEMENT_START.match(ln)]
    at_start = line in starts and line <= len(lines) and not lines[line - 1][: column - 1].strip()
    if at_start and line > 1:
        line -= 1
    begin = max((s for s in starts if s <= line), default=1)
    end = min((s for s in starts if s > line), default=None)
    stop = (end - 1) if end else len(lines)
    for i in range(stop):
        lines[i] = " " * len(lines[i])
    if begin - 1 >= stop:  # nothing to blank: give up rather than loop
        return ""
    return "\n".join(lines)
