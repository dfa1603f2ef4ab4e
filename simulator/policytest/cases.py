"""Tests files: ``NAME.tests.toml`` read into ``Case`` objects, or one error with its position.

A tests file holds ``[[case]]`` tables (and nothing else)::

    [[case]]
    name = "SirCam's payload"
    attachment = "書類名1.doc.bat"
    expect = "block"
    rule = "double-extension"      # optional: the rule that must decide
    audited = ["iso"]              # optional: the staged rules that must match (in order)

    [[case]]
    name = "a recorded message"
    message = "fixtures/sircam.eml"   # relative to this file; or "box.mbox:1576", "Maildir:KEY"
    expect = "quarantine"

A case gives either ``message`` (a file of one message, or ``FILE:KEY`` with the key
``simulate`` and ``explain`` print for a message inside a mailbox or Maildir) or an
inline message (``inline.MESSAGE_KEYS``). ``expect`` is an action; ``rule`` a rule id of
the policy, or ``"default"`` when no rule may decide. ``audited`` lists the staged rules
(``mode audit``) that must match before the deciding rule, in policy order, and no other
(``[]``: none may); each must be a staged rule of the policy.

``load(path, policy)`` reads and checks a whole file: syntax (tomllib's own line and
column), unknown keys and values of the wrong kind (the line found in the text), and
rule ids the policy does not have; the first problem is a ``TestFileError``
``FILE:LINE:COL: message``. Messages named by ``message`` are read when the case runs.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.diagnostics import InputError, did_you_mean
from mailpolicy.policy.listfile import read_regular
from mailpolicy.simulator.policytest import inline

#: Largest tests file read.
MAX_BYTES = 8 * 1024 * 1024
ACTIONS = ("allow", "block", "quarantine", "strip", "tag", "discard")
CASE_KEYS = ("name", "expect", "rule", "message", "audited")
DEFAULT_RULE = "default"


class TestFileError(InputError):
    """A tests file that cannot be used; ``str()`` is ``FILE:LINE:COL: message``."""

    __test__ = False  # not a pytest class

    def __init__(self, path: str, line: int, column: int, message: str) -> None:
        where = f"{path}:{line}:{column}" if line else path
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.column, self.detail = path, line, column, message


@dataclass(frozen=True, slots=True)
class Case:
    """One case: where it is written, what it feeds the policy, what it expects."""

    file: str
    line: int
    index: int  # 0-based among the file's cases
    name: str
    expect: str
    rule: str | None
    #: a message reference (``message = ...``, resolved against the tests file), or None
    message: str | None
    #: the inline message's table (every key but the case's own), when ``message`` is None
    spec: Mapping[str, Any]
    #: the staged rules that must match before the deciding rule, in order; None: unchecked
    audited: tuple[str, ...] | None = None


_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*(?:case|\"case\"|'case')[ \t]*\]\]", re.M)
_TABLE = re.compile(r"^[ \t]*\[", re.M)


def _blocks(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` offsets of each ``[[case]]`` block in the text."""
    starts = [m.start() for m in _HEADER.finditer(text)]
    out = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        # a table header other than a case's sub-tables ends the block
        for m in _TABLE.finditer(text, start + 1, end):
            line = text[m.start() : text.find("\n", m.start()) % (len(text) + 1)]
            if not re.match(r"[ \t]*\[\[?[ \t]*[\"']?case[\"']?[ \t]*\.", line):
                end = m.start()
                break
        out.append((start, end))
    return out


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def locate(text: str, case: int | None, key: str) -> tuple[int, int]:
    """Line and column of ``key`` (a dotted path, its last word is searched) in case number
    ``case`` (None: the top level), or of the case's header when the key is not found."""
    blocks = _blocks(text)
    if case is None:
        start, end = 0, blocks[0][0] if blocks else len(text)
    elif case < len(blocks):
        start, end = blocks[case]
    else:
        return (0, 0)
    words = [w for w in re.split(r"[.\[\]]+", key) if w and not w.isdigit()]
    if words:
        word = re.escape(words[-1])
        rx = re.compile(rf"(?:^|[{{,\s])[\"']?({word})[\"']?\s*=", re.M)
        m = rx.search(text, start, end)
        if m is None:  # an array of tables: [[case.attachments]]
            m = re.compile(rf"\[\[?[ \t]*[\w.\"']*\b({word})\b").search(text, start, end)
        if m is not None:
            return _position(text, m.start(1))
    return _position(text, start) if case is not None else (1, 1)


def load(path: str, policy: CheckedPolicy | None = None) -> list[Case]:
    """Every case of the tests file ``path`` (see the module docstring)."""
    try:
        data = read_regular(path, MAX_BYTES)
    except FileNotFoundError:
        raise TestFileError(path, 0, 0, "no such tests file") from None
    except (OSError, ValueError) as exc:
        raise TestFileError(path, 0, 0, f"cannot read tests file: {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8", "replace")
        line, col = _position(before, len(before))
        raise TestFileError(path, line, col, "not UTF-8 text") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, col = _toml_position(exc)
        raise TestFileError(path, line, col, f"TOML syntax error: {_toml_message(exc)}") from None

    def fail(case: int | None, key: str, message: str) -> TestFileError:
        line, col = locate(text, case, key)
        return TestFileError(path, line, col, message)

    for key in doc:
        if key != "case":
            raise fail(None, key, f"unknown key '{key}' (a tests file holds [[case]] tables)")
    raw = doc.get("case", [])
    if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
        raise fail(None, "case", "'case' must be an array of tables: write [[case]]")
    if not raw:
        raise TestFileError(path, 1, 1, "no [[case]] in the tests file")
    cases = []
    names: set[str] = set()
    for i, table in enumerate(raw):
        try:
            case = _case(path, i, table, policy)
        except inline.SpecError as exc:
            raise fail(i, exc.key, f"case {i + 1}: {exc}") from None
        if case.name in names:
            raise fail(i, "name", f"two cases named {case.name!r}")
        names.add(case.name)
        cases.append(_with_line(case, locate(text, i, "")[0]))
    return cases


def _with_line(case: Case, line: int) -> Case:
    return dataclasses.replace(case, line=line)


def _case(path: str, i: int, table: dict[str, Any], policy: CheckedPolicy | None) -> Case:
    if "name" not in table:
        raise inline.SpecError("", "a case needs a 'name'")
    name = inline.text_of(table["name"], "name")
    if "expect" not in table:
        raise inline.SpecError("", f"case {name!r} needs 'expect' (one of: {', '.join(ACTIONS)})")
    expect = inline.text_of(table["expect"], "expect")
    if expect not in ACTIONS:
        raise inline.SpecError(
            "expect", f"unknown action {expect!r}{did_you_mean(expect, ACTIONS)}"
        )
    rule = inline.text_of(table["rule"], "rule") if "rule" in table else None
    if rule is not None and policy is not None and rule != DEFAULT_RULE:
        ids = [r.id for r in policy.rules]
        if rule not in ids:
            raise inline.SpecError(
                "rule", f"the policy has no rule {rule!r}{did_you_mean(rule, ids)}"
            )
    audited = _audited(table["audited"], policy) if "audited" in table else None
    spec = {k: v for k, v in table.items() if k not in CASE_KEYS}
    message = None
    if "message" in table:
        message = inline.text_of(table["message"], "message")
        if spec:
            raise inline.SpecError(
                next(iter(spec)), "a case gives either 'message' or an inline message, not both"
            )
    else:
        inline.build_message(spec, CASE_KEYS)  # every key checked now, with its position
    return Case(path, 0, i, name, expect, rule, message, spec, audited)


def _audited(value: Any, policy: CheckedPolicy | None) -> tuple[str, ...]:
    """The ``audited`` of a case: staged rule ids of the policy."""
    ids = inline.strings_of(value, "audited")
    if policy is None:
        return ids
    staged = [r.id for r in policy.rules if r.rule.audit]
    for rid in ids:
        if rid in staged:
            continue
        if any(r.id == rid for r in policy.rules):
            raise inline.SpecError(
                "audited", f"rule {rid!r} is not staged (mode audit): name it in 'rule'"
            )
        known = staged or [r.id for r in policy.rules]
        raise inline.SpecError(
            "audited", f"the policy has no staged rule {rid!r}{did_you_mean(rid, known)}"
        )
    return ids


def _toml_position(exc: tomllib.TOMLDecodeError) -> tuple[int, int]:
    line = getattr(exc, "lineno", None)
    col = getattr(exc, "colno", None)
    if isinstance(line, int) and isinstance(col, int):
        return line, col
    m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _toml_message(exc: tomllib.TOMLDecodeError) -> str:
    msg = getattr(exc, "msg", None)
    text = msg if isinstance(msg, str) else str(exc)
    return re.sub(r"\s*\(at line \d+, column \d+\)$", "", text)
