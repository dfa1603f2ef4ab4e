"""The formatter: the canonical text of a whole policy file, comments kept.

Contract of ``format_source(text)``:

- A file that does not parse is not formatted: the ``PolicyError`` of the parser is raised.
- Meaning never changes: ``parse(format_source(x)) == parse(x)`` (ASTs compare without
  spans). Formatting is idempotent: ``format_source(format_source(x)) == format_source(x)``.
- Statements keep their order, one per line, each in the canonical form of ``printer``
  (shorthands expanded: ``block *.pif unless sender trusted`` becomes
  ``block attachment name matches "*.pif" unless sender in trusted``).
- Blank lines between statements and comments are kept, collapsed to one; none at the
  start; the file ends with exactly one newline (an empty policy formats to "").
- Comments are kept. A comment on its own line stays before the statement that follows it
  (or at the end of the file). A comment after code stays at the end of its statement's
  last line, two spaces after it. Comments inside a statement that is laid out again move
  onto their own lines just above it, in order; inside a wrapped list they stay with their
  entry (before it, or after it on its line).
- Lists: ``list x = [...]`` stays on one line when it fits in ``WIDTH`` (100) characters,
  has no comments inside and did not end with a trailing comma in the source (the "magic
  trailing comma" of black and ruff: a vertical list stays vertical, so diffs stay one entry
  per line). Otherwise one entry per line, indented four spaces, each with a comma, and
  ``]`` on its own line.
- Rules: one line when the rule fits in ``WIDTH``. Otherwise ``unless``, ``as``,
  ``reason`` and ``mode`` each start a line indented four spaces; a condition that still
  does not fit is broken before each top-level ``and``/``or``, its continuation lines
  indented four more than the line it continues. Inline lists inside rules are never
  wrapped (name the list instead).

Comments are found by scanning the source for ``#`` outside string literals: in text that
parses, no other token can hold ``#`` or ``"``, so the scan is exact.

The ``mailpolicy fmt`` verb (reading, ``--check``, ``--write``) is part of the command line.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mailpolicy.policy import ast, printer
from mailpolicy.policy.parse import parse

#: The line length the formatter aims for.
WIDTH = 100
INDENT = "    "

_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*')


@dataclass(frozen=True, slots=True)
class Comment:
    """One ``#`` comment: offsets in the source, its 1-based line, its text (right-stripped)
    and whether it stands alone on its line."""

    start: int
    end: int
    line: int
    text: str
    own_line: bool


class _Lines:
    """Offset -> line number, in O(log n)."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)

    def line_start(self, offset: int) -> int:
        return self.starts[self.line(offset) - 1]


def scan_comments(text: str) -> list[Comment]:
    """Every comment of ``text`` (which must parse), in source order."""
    lines = _Lines(text)
    out = []
    for m in _STRING_OR_COMMENT.finditer(text):
        if m.group().startswith("#"):
            begin = lines.line_start(m.start())
            own = not text[begin : m.start()].strip()
            out.append(Comment(m.start(), m.end(), lines.line(m.start()), m.group().rstrip(), own))
    return out


# ---- layout of single statements --------------------------------------------------------
def _cond_lines(prefix: str, node: ast.Cond, indent: str) -> list[str]:
    """``prefix + cond`` on one line, or broken before each top-level ``and``/``or``."""
    one = prefix + printer.cond(node)
    if len(one) <= WIDTH:
        return [one]
    op, parts = printer.split(node)
    if not op:
        return [one]
    return [prefix + parts[0]] + [f"{indent}{INDENT}{op} {p}" for p in parts[1:]]


def rule_lines(rule: ast.Rule) -> list[str]:
    """The canonical lines of a rule (one line when it fits in ``WIDTH``)."""
    one = printer.rule(rule)
    if len(one) <= WIDTH:
        return [one]
    head = rule.action + " "
    if rule.header is not None:
        head += printer.quote(rule.header.value) + " when "
    lines = _cond_lines(head, rule.condition, "")
    if rule.unless is not None:
        lines += _cond_lines(INDENT + "unless ", rule.unless, INDENT)
    if rule.id is not None:
        lines.append(f"{INDENT}as {printer.quote(rule.id.value)}")
    if rule.reason is not None:
        lines.append(f"{INDENT}reason {printer.quote(rule.reason.value)}")
    if rule.audit:
        lines.append(f"{INDENT}mode audit")
    return lines


@dataclass(slots=True)
class _ListSlots:
    """Comments inside ``[...]`` of a list statement, by where they belong."""

    after_open: list[str] = field(default_factory=list)
    before: dict[int, list[Comment]] = field(default_factory=dict)  # own-line, before item i
    after: dict[int, Comment] = field(default_factory=dict)  # trailing item i
    before_close: list[Comment] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.after_open or any(self.before.values()) or self.after or self.before_close)


def list_lines(
    node: ast.ListDef, slots: _ListSlots | None = None, vertical: bool = False, open_line: int = 0
) -> list[str]:
    """The canonical lines of a list statement; see the module docstring for when it wraps.

    ``slots`` are the comments inside the brackets, ``vertical`` the magic trailing comma and
    ``open_line`` the source line of ``[`` (to keep blank lines between entries).
    """
    one = printer.list_def(node)
    slots = slots or _ListSlots()
    if node.file is not None or (len(one) <= WIDTH and slots.empty() and not vertical):
        return [one]
    items = node.items or ()
    head = f"list {node.name} = ["
    out = [head + ("  " + "  ".join(slots.after_open) if slots.after_open else "")]
    prev = open_line

    def gap(line: int) -> None:
        nonlocal prev
        if open_line and line - prev > 1 and len(out) > 1:
            out.append("")
        prev = max(prev, line)

    for i, item in enumerate(items):
        for c in slots.before.get(i, ()):
            gap(c.line)
            out.append(INDENT + c.text)
        gap(item.span.line)
        line = f"{INDENT}{printer.item(item)},"
        trailing = slots.after.get(i)
        if trailing is not None:
            line += "  " + trailing.text
            prev = max(prev, trailing.line)
        prev = max(prev, item.span.end_line)
        out.append(line)
    for c in slots.before_close:
        gap(c.line)
        out.append(INDENT + c.text)
    out.append("]")
    return out


# ---- whole files --------------------------------------------------------------------------
@dataclass(slots=True)
class _Unit:
    """A run of output lines that came from source lines ``first``..``last``."""

    first: int
    last: int
    lines: list[str]


def _stmt_end(text: str, start: int, stop: int, comments: Sequence[Comment]) -> int:
    """Offset just past the last code character of the statement in ``text[start:stop]``
    (robust against positions lark leaves before a closing bracket)."""
    chunk = list(text[start:stop])
    for c in comments:
        if start <= c.start < stop:
            chunk[c.start - start : c.end - start] = " " * (min(c.end, stop) - c.start)
    return start + len("".join(chunk).rstrip())


def _list_slots(
    text: str, node: ast.ListDef, inner: list[Comment], start: int, end: int, lines: _Lines
) -> tuple[_ListSlots, list[Comment], bool, int] | None:
    """Distribute the comments inside a list statement; None when it has no ``[``."""
    blanked = list(text[start:end])
    for c in inner:
        blanked[c.start - start : c.end - start] = " " * (c.end - c.start)
    code = "".join(blanked)
    open_at, close_at = code.find("["), code.rfind("]")
    if node.items is None or open_at < 0 or close_at < 0:
        return None
    open_at += start
    close_at += start
    vertical = code[: close_at - start].rstrip().endswith(",") and bool(node.items)
    items = node.items
    if any(i.span.end == 0 for i in items):  # no positions: cannot place comments
        return _ListSlots(), inner, vertical, 0
    slots, hoisted = _ListSlots(), []
    open_line = lines.line(open_at)
    for c in inner:
        if not open_at < c.start < close_at:
            hoisted.append(c)
            continue
        if c.own_line:
            nxt = next((k for k, i in enumerate(items) if i.span.start > c.start), None)
            below = slots.before_close if nxt is None else slots.before.setdefault(nxt, [])
            below.append(c)
            continue
        prv = [k for k, i in enumerate(items) if i.span.start < c.start]
        if not prv:
            slots.after_open.append(c.text)
        else:
            # The first comment after an entry trails it; any later one (after a comma on
            # its own line) goes on its own line, keeping the order of comments.
            k = prv[-1]
            below = slots.before.setdefault(k + 1, []) if k + 1 < len(items) else slots.before_close
            if k in slots.after or below:
                below.append(c)
            else:
                slots.after[k] = c
    return slots, hoisted, vertical, open_line


def _statement_unit(
    text: str,
    node: ast.Statement,
    start: int,
    end: int,
    inner: list[Comment],
    trailing: str | None,
    lines: _Lines,
) -> _Unit:
    hoisted = inner
    if isinstance(node, ast.ListDef):
        placed = _list_slots(text, node, inner, start, end, lines)
        if placed is not None:
            slots, hoisted, vertical, open_line = placed
            body = list_lines(node, slots, vertical, open_line)
        else:
            body = list_lines(node)
    elif isinstance(node, ast.Rule):
        body = rule_lines(node)
    else:
        body = [printer.statement(node)]
    if trailing:
        body[-1] += "  " + trailing
    out = [c.text for c in hoisted] + body
    return _Unit(lines.line(start), lines.line(max(start, end - 1)), out)


def _join(units: Iterable[_Unit]) -> str:
    out: list[str] = []
    prev: int | None = None
    for unit in units:
        if prev is not None and unit.first - prev > 1:
            out.append("")
        out.extend(unit.lines)
        prev = unit.last
    return "\n".join(out) + "\n" if out else ""


def format_source(text: str, path: str = "<string>") -> str:
    """The canonical text of policy source ``text``; raises PolicyError when it does not parse."""
    text = text.removeprefix("\ufeff")
    policy = parse(text, path)
    comments = scan_comments(text)
    lines = _Lines(text)
    stmts = policy.statements
    starts = [s.span.start for s in stmts] + [len(text)]
    units: list[_Unit] = []
    ci = 0  # next unplaced comment
    for k, node in enumerate(stmts):
        start, stop = starts[k], starts[k + 1]
        while ci < len(comments) and comments[ci].start < start:  # own-line, before it
            c = comments[ci]
            units.append(_Unit(c.line, c.line, [c.text]))
            ci += 1
        end = _stmt_end(text, start, stop, comments)
        inner: list[Comment] = []
        while ci < len(comments) and comments[ci].start < end:
            inner.append(comments[ci])
            ci += 1
        trailing = None
        if ci < len(comments) and comments[ci].start < stop and not comments[ci].own_line:
            trailing = comments[ci].text
            ci += 1
        units.append(_statement_unit(text, node, start, end, inner, trailing, lines))
    units.extend(_Unit(c.line, c.line, [c.text]) for c in comments[ci:])
    return _join(units)


def format_policy(policy: ast.Policy) -> str:
    """Canonical text of an AST without source (from the IR, or built by a program).

    Statements in order, with one blank line where the kind of statement changes (header,
    lists, rules), so that ``format_source`` leaves the result unchanged.
    """
    units: list[_Unit] = []
    line = 0
    prev_kind = ""
    for node in policy.statements:
        kind = {ast.ListDef: "list", ast.Rule: "rule"}.get(type(node), "header")
        if prev_kind and kind != prev_kind:
            line += 1
        prev_kind = kind
        if isinstance(node, ast.ListDef):
            body = list_lines(node)
        elif isinstance(node, ast.Rule):
            body = rule_lines(node)
        else:
            body = [printer.statement(node)]
        units.append(_Unit(line + 1, line + len(body), body))
        line += len(body)
    return _join(units)
