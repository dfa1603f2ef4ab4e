"""Parser front: policy text -> AST, or every syntax error found.

The grammar (``grammar/policy.lark``) is loaded once. Exactly one Transformer builds the
AST; lark types never leave this module. Shorthands are desugared here
(``block *.pif`` -> ``block attachment name matches "*.pif"``, ``sender trusted`` ->
``sender in trusted``) so every later stage sees one form.

Recovery: after a syntax error the statement holding it is blanked out (newlines kept, so
positions stay true) and the text parsed again, so one run reports the errors of several
statements. Limits checked before lark runs: size (``MAX_BYTES``), nesting depth
(``MAX_DEPTH``), UTF-8 text without NUL bytes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from mailpolicy.policy import ast
from mailpolicy.policy.diagnostics import Diagnostic, PolicyError, did_you_mean, error

#: Largest policy file accepted. lark parses about 150 KB a second; large sets of names
#: belong in list files (`list x = file "..."`), which are read without the parser.
MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_ERRORS = 50

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


@functools.cache
def parser() -> Lark:
    text = resources.files("mailpolicy.grammar").joinpath("policy.lark").read_text("utf-8")
    return Lark(text, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def unescape(token: str) -> str:
    r"""The value of a STRING token: ``\"`` and ``\\`` are escapes; any other backslash
    stays, so glob escapes such as ``\*`` reach the glob compiler intact."""
    body = token[1:-1]
    return re.sub(r"\\([\\\"])", r"\1", body)


def parse_size(text: str) -> tuple[int, str | None]:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", text)
    assert m is not None, text
    unit = m.group(2)
    factor = _UNITS.get(unit.lower())
    if factor is None:
        raise ValueError(f"unknown unit '{unit}'")
    return int(float(m.group(1)) * factor), (unit or None)


class _Builder(Transformer[Token, Any]):
    """Builds AST nodes; one method per grammar rule."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    # -- spans ---------------------------------------------------------------------------
    def _span(self, meta: Any) -> ast.Span:
        if getattr(meta, "empty", True) or not hasattr(meta, "line"):
            return ast.Span(self.path, 1, 1, 1, 1)
        return ast.Span(
            self.path,
            meta.line,
            meta.column,
            meta.end_line,
            meta.end_column,
            meta.start_pos,
            meta.end_pos,
        )

    def _tok(self, tok: Token) -> ast.Span:
        return ast.Span(
            self.path,
            tok.line or 1,
            tok.column or 1,
            tok.end_line or 1,
            tok.end_column or 1,
            tok.start_pos or 0,
            tok.end_pos or 0,
        )

    def _str(self, tok: Token) -> ast.Str:
        return ast.Str(value=unescape(str(tok)), span=self._tok(tok))

    # -- terminals -----------------------------------------------------------------------
    def STRING(self, tok: Token) -> ast.Str:
        return self._str(tok)

    def NUMBER(self, tok: Token) -> ast.Number:
        try:
            value, unit = parse_size(str(tok))
        except ValueError as exc:
            raise _BuildError(error("E109", str(exc), self._tok(tok))) from None
        return ast.Number(text=str(tok), value=value, unit=unit, span=self._tok(tok))

    # -- statements ----------------------------------------------------------------------
    @v_args(meta=True)
    def start(self, meta: Any, items: list[Any]) -> ast.Policy:
        return ast.Policy(statements=tuple(items), path=self.path, span=self._span(meta))

    @v_args(meta=True)
    def policy_stmt(self, meta: Any, items: list[Any]) -> ast.PolicyName:
        return ast.PolicyName(name=items[0].value, span=self._span(meta))

    @v_args(meta=True)
    def default_stmt(self, meta: Any, items: list[Any]) -> ast.Default:
        return ast.Default(action=items[0][0], span=self._span(meta))

    @v_args(meta=True)
    def list_stmt(self, meta: Any, items: list[Any]) -> ast.ListDef:
        name, value = items
        span = self._span(meta)
        if isinstance(value, ast.ListLit):
            return ast.ListDef(name=str(name), items=value.items, span=span)
        return ast.ListDef(name=str(name), file=value, span=span)

    def action_word(self, items: list[Token]) -> tuple[str, ast.Span]:
        return str(items[0]), self._tok(items[0])

    @v_args(meta=True)
    def rule(self, meta: Any, items: list[Any]) -> ast.Rule:
        (action, _), header, condition, *mods = items
        fields: dict[str, Any] = {}
        for kind, value in mods:
            if kind in fields:
                raise _BuildError(error("E108", f"'{_MOD_WORD[kind]}' given twice", value.span))
            fields[kind] = value
        return ast.Rule(
            action=action, header=header, condition=condition, span=self._span(meta), **fields
        )

    def unless(self, items: list[Any]) -> tuple[str, Any]:
        return "unless", items[0]

    def rule_id(self, items: list[Any]) -> tuple[str, Any]:
        return "id", items[0]

    def reason(self, items: list[Any]) -> tuple[str, Any]:
        return "reason", items[0]

    # -- boolean structure (flattened: `a and (b and c)` is And(a, b, c)) ----------------
    @v_args(meta=True)
    def or_cond(self, meta: Any, items: list[Any]) -> ast.Or:
        return ast.Or(items=_flatten(ast.Or, items), span=self._span(meta))

    @v_args(meta=True)
    def and_cond(self, meta: Any, items: list[Any]) -> ast.And:
        return ast.And(items=_flatten(ast.And, items), span=self._span(meta))

    @v_args(meta=True)
    def not_(self, meta: Any, items: list[Any]) -> ast.Not:
        return ast.Not(item=items[0], span=self._span(meta))

    att_or = or_cond
    att_and = and_cond
    att_not_ = not_

    # -- message level -------------------------------------------------------------------
    @v_args(meta=True)
    def attachment(self, meta: Any, items: list[Any]) -> ast.AnyAttachment:
        return ast.AnyAttachment(pred=items[0], span=self._span(meta))

    @v_args(meta=True)
    def bare_glob(self, meta: Any, items: list[Token]) -> ast.AnyAttachment:
        span = self._tok(items[0])
        glob = ast.Str(value=str(items[0]), span=span)
        pred = ast.AttTest(field="name", op="matches", operand=glob, span=span)
        return ast.AnyAttachment(pred=pred, span=span)

    def _test(
        self, meta: Any, field: str, op: str, operand: Any, header: str | None = None
    ) -> ast.Test:
        return ast.Test(field=field, op=op, operand=operand, header=header, span=self._span(meta))

    @v_args(meta=True)
    def sender_in(self, meta: Any, items: list[Any]) -> ast.Test:
        return self._test(meta, "sender", "in", items[1])

    @v_args(meta=True)
    def sender_matches(self, meta: Any, items: list[Any]) -> ast.Test:
        return self._test(meta, "sender", "matches", items[2])

    @v_args(meta=True)
    def sender_short(self, meta: Any, items: list[Any]) -> ast.Test:
        ref = ast.ListRef(name=str(items[1]), span=self._tok(items[1]))
        return self._test(meta, "sender", "in", ref)

    @v_args(meta=True)
    def recipient_in(self, meta: Any, items: list[Any]) -> ast.Test:
        return self._test(meta, "recipient", "in", items[1])

    @v_args(meta=True)
    def recipient_matches(self, meta: Any, items: list[Any]) -> ast.Test:
        return self._test(meta, "recipient", "matches", items[2])

    @v_args(meta=True)
    def text_test(self, meta: Any, items: list[Any]) -> ast.Test:
        return self._test(meta, str(items[0]), items[1], items[2])

    @v_args(meta=True)
    def header_test(self, meta: Any, items: list[Any]) -> ast.Test:
        return self._test(meta, "header", items[1], items[2], header=items[0].value)

    @v_args(meta=True)
    def message_size(self, meta: Any, items: list[Any]) -> ast.Test:
        return self._test(meta, "size", str(items[1]), items[2])

    @v_args(meta=True)
    def attachment_count(self, meta: Any, items: list[Any]) -> ast.Test:
        return self._test(meta, "attachments", str(items[0]), items[1])

    def text_op(self, items: list[Token]) -> str:
        return str(items[0])

    # -- attachment level ----------------------------------------------------------------
    def _att(self, meta: Any, field: str, op: str, operand: Any = None) -> ast.AttTest:
        return ast.AttTest(field=field, op=op, operand=operand, span=self._span(meta))

    @v_args(meta=True)
    def name_glob(self, meta: Any, items: list[Any]) -> ast.AttTest:
        return self._att(meta, "name", "matches", items[0])

    @v_args(meta=True)
    def name_matches(self, meta: Any, items: list[Any]) -> ast.AttTest:
        return self._att(meta, "name", "matches", items[1])

    @v_args(meta=True)
    def name_in(self, meta: Any, items: list[Any]) -> ast.AttTest:
        return self._att(meta, "name", "in", items[0])

    @v_args(meta=True)
    def extension_in(self, meta: Any, items: list[Any]) -> ast.AttTest:
        return self._att(meta, "extension", "in", items[0])

    @v_args(meta=True)
    def extension_is(self, meta: Any, items: list[Any]) -> ast.AttTest:
        return self._att(meta, "extension", "is", items[0])

    @v_args(meta=True)
    def double_extension_in(self, meta: Any, items: list[Any]) -> ast.AttTest:
        return self._att(meta, "double_extension", "in", items[0])

    @v_args(meta=True)
    def type_mismatch(self, meta: Any, items: list[Any]) -> ast.AttTest:
        return self._att(meta, "type", "mismatch")

    @v_args(meta=True)
    def type_is(self, meta: Any, items: list[Any]) -> ast.AttTest:
        value = items[0]
        if isinstance(value, ast.Str):
            return self._att(meta, "type", "mime", value)
        return self._att(meta, "type", "class", ast.Str(value=str(value), span=self._tok(value)))

    @v_args(meta=True)
    def declared_type(self, meta: Any, items: list[Any]) -> ast.AttTest:
        return self._att(meta, "declared_type", "matches", items[0])

    @v_args(meta=True)
    def attachment_size(self, meta: Any, items: list[Any]) -> ast.AttTest:
        return self._att(meta, "size", str(items[1]), items[2])

    @v_args(meta=True)
    def archive_contains(self, meta: Any, items: list[Any]) -> ast.ArchiveContains:
        return ast.ArchiveContains(pred=items[1], span=self._span(meta))

    @v_args(meta=True)
    def archive_encrypted(self, meta: Any, items: list[Any]) -> ast.AttTest:
        return self._att(meta, "archive", "encrypted")

    @v_args(meta=True)
    def archive_exceeds_limits(self, meta: Any, items: list[Any]) -> ast.AttTest:
        return self._att(meta, "archive", "exceeds_limits")

    @v_args(meta=True)
    def evasive_name(self, meta: Any, items: list[Any]) -> ast.AttTest:
        return self._att(meta, "evasive_name", "is")

    # -- operands ------------------------------------------------------------------------
    def list_ref(self, items: list[Token]) -> ast.ListRef:
        return ast.ListRef(name=str(items[0]), span=self._tok(items[0]))

    @v_args(meta=True)
    def list_lit(self, meta: Any, items: list[Any]) -> ast.ListLit:
        out = []
        for item in items:
            if item is None:  # the empty list `[]`
                continue
            if isinstance(item, ast.Str):
                out.append(item)
            elif isinstance(item, ast.Number):
                out.append(ast.Str(value=item.text, span=item.span))
            else:  # a bare word: `[exe, pif]` means the strings
                out.append(ast.Str(value=str(item), span=self._tok(item)))
        return ast.ListLit(items=tuple(out), span=self._span(meta))


_MOD_WORD = {"unless": "unless", "id": "as", "reason": "reason"}


def _flatten(kind: type[ast.And | ast.Or], items: list[Any]) -> tuple[Any, ...]:
    out: list[Any] = []
    for item in items:
        out.extend(item.items if isinstance(item, kind) else (item,))
    return tuple(out)


class _BuildError(Exception):
    def __init__(self, diag: Diagnostic) -> None:
        self.diag = diag


# ---- pre-checks -----------------------------------------------------------------------------
def decode_source(data: bytes, path: str) -> str:
    """Policy bytes -> text, or PolicyError for a binary, non-UTF-8 or oversized file."""
    where = ast.Span(path, 1, 1, 1, 1)
    if len(data) > MAX_BYTES:
        raise PolicyError(
            [
                error(
                    "E111",
                    f"policy file is too large ({len(data) / 1e6:.1f} MB; "
                    f"the limit is {MAX_BYTES // (1024 * 1024)} MB)",
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


_NEST_TOKEN = re.compile(r'#[^\n]*|"(?:[^"\\\n]|\\.)*"?|[(\[]|[)\]]|[A-Za-z0-9_]+')


def _depth_check(text: str, path: str) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` brackets or ``MAX_DEPTH`` stacked ``not``s.

    Later stages walk conditions recursively; this bound keeps them far from Python's
    recursion limit (``not not ... not x`` nests without any bracket)."""
    depth = nots = 0
    for m in _NEST_TOKEN.finditer(text):
        tok = m.group()
        if tok in ("(", "["):
            depth += 1
            if depth > MAX_DEPTH:
                line, col = _line_col(text, m.start())
                raise PolicyError(
                    [
                        error(
                            "E100",
                            f"brackets nested more than {MAX_DEPTH} deep",
                            ast.Span(path, line, col, line, col + 1),
                        )
                    ]
                )
        elif tok in (")", "]"):
            depth = max(0, depth - 1)
            nots = 0
        elif tok == "not":
            nots += 1
            if nots > MAX_DEPTH:
                line, col = _line_col(text, m.start())
                raise PolicyError(
                    [
                        error(
                            "E100",
                            f"more than {MAX_DEPTH} 'not' in a row",
                            ast.Span(path, line, col, line, col + 3),
                        )
                    ]
                )
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


def _syntax_diag(exc: UnexpectedInput, text: str, path: str) -> Diagnostic:
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


def _blank_statement(text: str, line: int, column: int) -> str:
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


def parse(text: str, path: str = "<string>") -> ast.Policy:
    """Parse policy text into an AST, or raise PolicyError with every syntax error."""
    if len(text) > MAX_BYTES:
        raise PolicyError(
            [
                error(
                    "E111",
                    f"policy is too large ({len(text) / 1e6:.1f} MB; the "
                    f"limit is {MAX_BYTES // (1024 * 1024)} MB)",
                    ast.Span(path, 1, 1, 1, 1),
                )
            ]
        )
    _depth_check(text, path)
    diags: list[Diagnostic] = []
    current = text
    while True:
        try:
            tree = parser().parse(current)
            break
        except UnexpectedInput as exc:
            diag = _syntax_diag(exc, current, path)
            diags.append(diag)
            if len(diags) >= MAX_ERRORS:
                raise PolicyError(diags) from None
            nxt = _blank_statement(current, diag.span.line, diag.span.column)
            if not nxt.strip() or nxt == current:
                raise PolicyError(diags) from None
            current = nxt
    if diags:
        raise PolicyError(diags)
    try:
        return _build(tree, path)
    except _BuildError as exc:
        raise PolicyError([exc.diag]) from None
    except RecursionError:  # a safety net: _depth_check keeps nesting far below the limit
        raise PolicyError(
            [error("E100", "the policy is nested too deeply", ast.Span(path, 1, 1, 1, 1))]
        ) from None


def _build(tree: Tree[Token], path: str) -> ast.Policy:
    try:
        result = _Builder(path).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, _BuildError):
            raise exc.orig_exc from None
        raise
    assert isinstance(result, ast.Policy)
    return result


def parse_file(path: str, read: Callable[[str], bytes] | None = None) -> tuple[ast.Policy, str]:
    """Read and parse ``path``; returns the AST and the source text (for diagnostics).

    Raises OSError for a file that cannot be read, PolicyError for one that is not a policy.
    """
    if read is not None:
        data = read(path)
    else:
        with open(path, "rb") as fh:
            data = fh.read()
    text = decode_source(data, path)
    return parse(text, path), text
