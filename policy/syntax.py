"""Syntax errors people can act on, and the limits checked before the parser runs.

``syntax_diag`` turns one lark error into one E100 diagnostic: expected tokens as their
text (``]``, never ``RSQB``), "did you mean" for a misspelt keyword, a bad number or an
unterminated string named as such, and for a missing ``]`` or ``)`` where the list or
parenthesis began. ``statement_lines`` finds the statement recovery leaves out
(``parse.py``). Before the parser runs, ``decode_source`` refuses what is not a policy's
text (binary, not UTF-8, over ``MAX_BYTES``) and ``depth_check`` nesting deeper than
``MAX_DEPTH``, before any recursive stage sees it. ``parse_size`` reads a number and its
unit (``25 MB``, ``1.5GiB``: B; KB, MB, GB, TB powers of 1000; KiB, MiB, GiB, TiB powers
of 1024; K, M, G, T the same as KB, MB, GB, TB; any case).
"""

from __future__ import annotations

import decimal
import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

from mailpolicy.policy import ast
from mailpolicy.policy.diagnostics import Diagnostic, PolicyError, did_you_mean, error

MAX_DEPTH = 64
#: Largest policy file accepted. The parser reads about 1 MB a second; large sets of names
#: belong in list files (`list x = file "..."`), which are read without the parser.
MAX_BYTES = 1024 * 1024

#: What to call each terminal in an error message.
TOKEN_TEXT = {
    "_AUTHSERV_ID": "authserv-id",
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
    "_AUTO_RUN": "auto-run",
    "EQUAL": "=",
    "$END": "end of file",
}
_KEYWORD_TERMINAL = re.compile(r"^_?([A-Z_]+?)(_KW)?$")

STATEMENT_START = re.compile(
    r"^[ \t]*(policy|default|authserv-id|list|allow|block|quarantine|strip|tag|discard)\b",
    re.MULTILINE,
)


#: Largest number (after its unit) the language accepts, for sizes and counts alike: 2**53
#: (about 9 PB), the largest integer every JSON reader holds exactly (the IR carries it).
MAX_NUMBER = 2**53

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
}


SPACED = re.compile(r"[ \t]+")


def parse_size(text: str) -> tuple[int, str | None]:
    """``(value in bytes or units, unit as written)`` of a NUMBER token such as ``1.5MB``.

    ``ValueError`` for an unknown unit or a value above ``MAX_NUMBER`` (so a 309-digit
    number is an error, not an overflow in every verb)."""
    text = SPACED.sub("", text)  # `25 MB` is `25MB`
    m = re.fullmatch(r"(\d+)(?:\.(\d+))?([A-Za-z]*)", text)
    if m is None:
        raise ValueError(f"invalid number {text[:40]!r}")
    unit = m.group(3)
    factor = _UNITS.get(unit.lower())
    if factor is None:
        raise ValueError(f"unknown unit '{unit}'")
    whole = m.group(1).lstrip("0")
    shown = text if len(text) <= 24 else f"{text[:20]}... ({len(text)} characters)"
    too_large = ValueError(
        f"number {shown} is too large (the largest is {MAX_NUMBER:,}, about 9 PB)"
    )
    if len(whole) > len(str(MAX_NUMBER)) or len(m.group(2) or "") > 30:
        raise too_large
    exact = decimal.Decimal(f"{m.group(1)}.{m.group(2) or '0'}") * factor
    if exact > MAX_NUMBER:
        raise too_large
    value = int(float(m.group(1) + "." + (m.group(2) or "0")) * factor)
    return value, (unit or None)


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


def _int(value: int | None) -> int:
    return value or 0


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


_BAD_NUMBER = re.compile(r"\d+(?:\.\d+)?[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_BEFORE = re.compile(r"(\d+(?:\.\d+)?)[ \t]*\Z")
#: ``megabytes`` -> ``MB``: unit words people write out.
_UNIT_WORD = re.compile(r"(?i)(kilo|kibi|mega|mebi|giga|gibi|tera|tebi|k|m|g)?bytes?\Z")
_UNIT_OF = {"": "B", "kilo": "KB", "k": "KB", "mega": "MB", "m": "MB", "giga": "GB", "g": "GB"}
_UNIT_OF |= {"tera": "TB", "kibi": "KiB", "mebi": "MiB", "gibi": "GiB", "tebi": "TiB"}
UNITS_HELP = (
    "a size is a number and a unit, such as 25MB or 25 MB (B; KB, MB, GB, TB: powers of "
    "1000; KiB, MiB, GiB, TiB: powers of 1024; any case)"
)


def _size_hint(number: str, word: str) -> str:
    """``; a size is ... (did you mean '25MB'?)`` for ``25 megabytes``."""
    m = _UNIT_WORD.match(word)
    tip = f" (did you mean '{number}{_UNIT_OF[(m.group(1) or '').lower()]}'?)" if m else ""
    return f"; {UNITS_HELP}{tip}"


#: Groups of expected tokens shown as one phrase when all of a group is expected; what the
#: phrase covers goes with it (after ``block`` lark also lists the next statement's words).
_STATEMENT = ("policy", "default", "list", "allow", "block", "quarantine", "strip", "tag")
_PHRASES = (
    (
        ("name", "extension", "type", "size", "archive", "contains", "has", "evasive"),
        ("double", "declared", "unscannable", "smuggles", "a quoted string", "("),
        "what to test of the attachment (a quoted glob, name, extension, double extension, "
        "type, declared type, size, contains, archive, has, evasive name, unscannable, "
        "smuggles a file, '(')",
    ),
    (
        ("attachment", "sender", "recipient", "header", "attachments", "message"),
        ("from/subject/body", "size", "evasive", "not", "(", "a glob", *_STATEMENT, "discard"),
        "a condition (attachment ..., sender, recipient, from/subject/body, header, size, "
        "attachments, message unscannable, evasive mime, not, '(' or a glob such as *.exe)",
    ),
    (
        (*_STATEMENT, "discard"),
        ("authserv-id",),
        "a statement (policy, default, list, or a rule: allow, block, quarantine, strip, "
        "tag, discard)",
    ),
    (
        ("[", "a name", "a number", "a quoted string"),
        (),
        "a value (a quoted string, a number, a list name or [...])",
    ),
)
#: Keywords in the order people read them, before the rest (sorted).
_ORDER = ("and", "or", "unless", "as", "reason")


def expected_text(expected: set[str]) -> str:
    """The expected tokens as a readable hint: whole groups as one phrase (``a
    statement (...)``), the rest as their text in quotes (``']'``, ``'unless'``): ``a, b or c``."""
    left = set(expected)
    if "]" in left:  # an entry's `until` is rare: the list's end is what people miss
        left.discard("until")
    phrases: list[str] = []
    for words, covered, phrase in _PHRASES:
        if set(words) <= left:
            left -= {*words, *covered}
            phrases.append(phrase)
    tokens = [w for w in _ORDER if w in left] + sorted(left - set(_ORDER))
    items = [t if t.startswith(("a ", "the ")) else f"'{t}'" for t in tokens] + phrases
    if len(items) > 12:
        items = [*items[:12], "..."]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


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
            digits = re.match(r"[\d.]+", bad_number.group())
            assert digits is not None
            word = bad_number.group()[digits.end() :]
            msg = f"invalid number {bad_number.group()!r}" + _size_hint(digits.group(), word)
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
        number = _NUMBER_BEFORE.search(text, 0, _int(exc.token.start_pos))
        if exc.token.type == "NAME" and number:  # `10 bytes`, `25 megabytes`
            msg += " after a number" + _size_hint(number.group(1), value)
            expected = []
        elif re.fullmatch(r"[A-Za-z_]\w*", value):
            msg += did_you_mean(value, [w for e in words for w in e.split("/")])
    if expected:
        msg += f"; expected {expected_text(set(expected))}"
    opened = None
    if any(e in ("]", ")") for e in expected):
        opened = _open_bracket(text, min(len(text), pos if pos else len(text)))
    if opened:
        oline, ocol = _line_col(text, opened[0])
        closer = "]" if opened[1] == "[" else ")"
        what = "list" if opened[1] == "[" else "parenthesis"
        msg += f" (the {what} opened at line {oline}, column {ocol} is not closed with '{closer}')"
    return error("E100", msg, ast.Span(path, line, col, line, col + width))


_FIRST_WORD = re.compile(r"[A-Za-z]+\b")
_STATEMENT_WORDS = ("policy", "default", "list", "allow", "block", "quarantine", "strip", "tag")


def _starts_statement(line: str) -> bool:
    """A statement keyword first on the line, or at its very start a word close to one
    (``blok``, ``quarantin``): a misspelt statement is a statement of its own."""
    if STATEMENT_START.match(line):
        return True
    word = _FIRST_WORD.match(line)
    close = difflib.get_close_matches
    return bool(word and close(word.group().lower(), (*_STATEMENT_WORDS, "discard"), 1, 0.8))


def statement_lines(lines: list[str], line: int, column: int) -> tuple[int, int]:
    """``(begin, stop)``: the statement holding the error at ``line``:``column`` runs from
    line ``begin`` (1-based) to line ``stop`` (included; the next statement starts after
    it). An error on the first word of a statement (lark reports a missing ``]`` at the
    next token) belongs to the statement before it; an error on another first word of a
    line (``blok``) starts a statement of its own, so the one before it is kept.
    Statements start at a line's first word (``STATEMENT_START``); recovery
    (``parse.parse_partial``) leaves that range out."""
    starts = [i + 1 for i, ln in enumerate(lines) if _starts_statement(ln)]
    first_word = line <= len(lines) and not lines[line - 1][: column - 1].strip()
    if first_word and line > 1 and STATEMENT_START.match(lines[line - 1]):
        line -= 1
    elif first_word:  # a misspelt first word (`blok`): its line starts a statement of its own
        starts = sorted({*starts, line})
    begin = max((s for s in starts if s <= line), default=1)
    end = min((s for s in starts if s > line), default=None)
    return begin, (end - 1) if end else len(lines)


# ---- pre-checks -----------------------------------------------------------------------------
def decode_source(data: bytes, path: str) -> str:
    """Policy bytes -> text, or PolicyError for a binary, non-UTF-8 or oversized file."""
    where = ast.Span(path, 1, 1, 1, 1)
    if len(data) > MAX_BYTES:
        raise PolicyError(
            [
                error(
                    "E111",
                    f"policy file is too large (over the limit of {MAX_BYTES // (1024 * 1024)} MB)",
                    where,
                )
            ]
        )
    if b"\0" in data[:65536] or b"\0" in data:
        raise PolicyError(
            [error("E111", "this is a binary file, not a policy (it contains NUL bytes)", where)]
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PolicyError(
            [
                error(
                    "E111",
                    f"policy is not UTF-8 text (invalid byte 0x{data[exc.start]:02x})",
                    ast.Span(path, line, 1, line, 1),
                )
            ]
        ) from None
    return text.removeprefix("\ufeff")


#: Parses a whole text into statements, adding its build errors (``parse._parse_whole``).
Whole = Callable[[str, str, list[Diagnostic]], tuple[ast.Statement, ...]]


@dataclass
class Recovery:
    """One parse that recovers after syntax errors (``parse.parse_partial``): ``whole``
    parses a text that must parse; what is found collects in the three lists."""

    path: str
    whole: Whole
    max_errors: int
    statements: list[ast.Statement] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def run(self, text: str) -> None:
        """Parse ``text``, adding what it finds to the three lists.

        The prefix before a statement with an error parsed once already, up to the error,
        and is parsed alone; when even that fails (``allow sender in`` followed by
        ``block``, which lark then reads as a list name) the prefix is recovered the same
        way, so its own mistake is reported too."""
        current = text
        while True:
            try:
                self.statements.extend(self.whole(current, self.path, self.errors))
                return
            except UnexpectedInput as exc:
                diag = syntax_diag(exc, current, self.path)
                lines = current.split("\n")
                begin, stop = statement_lines(lines, diag.span.line, diag.span.column)
                if not self._echo(lines, begin, stop):
                    self.errors.append(diag)
                    self.skipped.append("\n".join(lines[begin - 1 : stop]))
                if self.syntax_errors() >= self.max_errors or stop >= len(lines):
                    return
                blanked = "\n".join([" " * len(ln) for ln in lines[:stop]] + lines[stop:])
                if not blanked.strip() or blanked == current:  # nothing left, or no progress
                    return
                current = blanked

    def _echo(self, lines: list[str], begin: int, stop: int) -> bool:
        """Recover the lines before ``begin``; True when they held a mistake of their own
        and the statement at ``begin``..``stop`` parses alone: its error was only an echo."""
        prefix = "\n".join(lines[: begin - 1])
        before = self.syntax_errors()
        if not prefix.strip() or before >= self.max_errors:
            return False
        self.run(prefix)
        if self.syntax_errors() == before:
            return False
        alone = "\n".join([" " * len(ln) for ln in lines[: begin - 1]] + lines[begin - 1 : stop])
        try:
            self.statements.extend(self.whole(alone, self.path, self.errors))
        except UnexpectedInput:
            return False
        return True

    def syntax_errors(self) -> int:
        return sum(1 for d in self.errors if d.code == "E100")
