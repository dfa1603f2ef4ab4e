"""List entries that expire: ``["*@partner.example" until 2027-03-01]``, and in list files
``*@partner.example until 2027-03-01`` on the entry's line.

An entry applies through its ``until`` day and stops applying the day after, "today" being
the UTC date unless a caller gives one (``--as-of DATE``: replays and tests are then
reproducible). The checker keeps every entry for its checks, then hands the later stages
only the live ones (``live_lists``, ``live_rules``): the evaluator, the compiled matcher and
the exporters never see an expired entry. The checked AST keeps every entry with its date
(a list file with dated entries has them filled in as items, ``resolved``), so the JSON form
and the loss report can say what expires when.

``check`` warns ``WARN_DAYS`` ahead of an expiry (W210 entry-expires-soon, with the days
left) and on an entry that no longer applies (W211 entry-expired); a date that is not a
real ``YYYY-MM-DD`` day is E109 at its position.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime
import re
from collections.abc import Iterator
from typing import Any, cast

from mailpolicy.policy import ast
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.diagnostics import Diagnostic, warning

#: Days ahead of an expiry that ``check`` starts warning.
WARN_DAYS = 14
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
#: A list file line's expiry: the entry, whitespace, ``until``, whitespace, the date.
_FILE_UNTIL = re.compile(r"^(?P<entry>.*?)\s+until\s+(?P<date>\S+)$")


def today() -> datetime.date:
    """Today's date in UTC, the default "as of" date of every expiry."""
    return datetime.datetime.now(datetime.UTC).date()


_JUDGED_ON: contextvars.ContextVar[datetime.date | None] = contextvars.ContextVar(
    "judged_on", default=None
)


@contextlib.contextmanager
def judged_on(day: datetime.date | None) -> Iterator[None]:
    """Within the block, the lint rules W210/W211 judge dates on ``day`` (None: today)."""
    token = _JUDGED_ON.set(day)
    try:
        yield
    finally:
        _JUDGED_ON.reset(token)


def as_of() -> datetime.date:
    return _JUDGED_ON.get() or today()


def parse_date(text: str) -> datetime.date:
    """``YYYY-MM-DD`` as a date; ``ValueError`` says what is wrong, in a checker's words."""
    m = _DATE.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not a date: write it as YYYY-MM-DD, such as 2027-03-01")
    try:
        return datetime.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a date ({exc})") from None


def split_file_entry(text: str) -> tuple[str, str | None]:
    """A list file entry and the text of its date, if it says ``ENTRY until DATE``."""
    m = _FILE_UNTIL.match(text)
    return (m["entry"], m["date"]) if m else (text, None)


def applies(until: datetime.date | None, as_of: datetime.date) -> bool:
    return until is None or as_of <= until


# ---- what the later stages see ---------------------------------------------------------------
def live_lists(
    lists: dict[str, tuple[str, ...]],
    dates: dict[str, tuple[datetime.date | None, ...]],
    as_of: datetime.date,
) -> dict[str, tuple[str, ...]]:
    """Every list's entries that still apply on ``as_of``."""
    out: dict[str, tuple[str, ...]] = {}
    for name, values in lists.items():
        until = dates.get(name, ())
        out[name] = tuple(
            v for i, v in enumerate(values) if applies(until[i] if i < len(until) else None, as_of)
        )
    return out


def resolved(policy: ast.Policy, files: dict[str, tuple[ast.Str, ...]]) -> ast.Policy:
    """``policy`` with each file list's entries (dates and file positions included) as the
    items of its ``list`` statement; the file name stays, and the printer still writes it."""
    if not files:
        return policy
    statements = tuple(
        dataclasses.replace(s, items=files[s.name])
        if isinstance(s, ast.ListDef) and s.file is not None and s.name in files
        else s
        for s in policy.statements
    )
    return dataclasses.replace(policy, statements=statements)


def live_cond(node: ast.Cond, as_of: datetime.date, servers: tuple[str, ...]) -> ast.Cond:
    """``node`` with the expired entries of its inline lists left out and the policy's
    ``authserv-id``s given to each ``sender authenticated``; unchanged nodes are kept."""
    match node:
        case ast.And() | ast.Or():
            items = tuple(live_cond(i, as_of, servers) for i in node.items)
            same = all(a is b for a, b in zip(items, node.items, strict=True))
            return node if same else dataclasses.replace(node, items=items)
        case ast.Not():
            item = live_cond(node.item, as_of, servers)
            return node if item is node.item else dataclasses.replace(node, item=item)
        case ast.AnyAttachment() | ast.ArchiveContains():
            pred = live_cond(node.pred, as_of, servers)
            return node if pred is node.pred else dataclasses.replace(node, pred=pred)
        case ast.SenderAuthenticated():
            return dataclasses.replace(node, servers=servers)
        case _:
            lit = node.operand
            if not isinstance(lit, ast.ListLit) or all(i.until is None for i in lit.items):
                return node
            kept = tuple(i for i in lit.items if applies(i.until, as_of))
            leaf: Any = node  # every leaf with a list operand has the field ``operand``
            return cast(
                ast.Cond, dataclasses.replace(leaf, operand=ast.ListLit(items=kept, span=lit.span))
            )


def live_rule(rule: ast.Rule, as_of: datetime.date, servers: tuple[str, ...]) -> ast.Rule:
    cond = live_cond(rule.condition, as_of, servers)
    unless = None if rule.unless is None else live_cond(rule.unless, as_of, servers)
    if cond is rule.condition and unless is rule.unless:
        return rule
    return dataclasses.replace(rule, condition=cond, unless=unless)


# ---- warnings --------------------------------------------------------------------------------
def dated_items(policy: ast.Policy) -> Iterator[tuple[ast.Str, str]]:
    """Every entry with a date, and where it is (``list 'x'``, ``this list``)."""
    for name, stmt in policy.lists.items():
        for item in stmt.items or ():
            if item.until is not None:
                yield item, f"list '{name}'"
    for rule in policy.rules:
        for cond in (rule.condition, rule.unless):
            for node in ast.walk(cond) if cond is not None else ():
                lit = getattr(node, "operand", None)
                if isinstance(lit, ast.ListLit):
                    yield from ((i, "this list") for i in lit.items if i.until is not None)


def warnings(policy: ast.Policy, as_of: datetime.date) -> list[Diagnostic]:
    """W210 for an entry that expires within ``WARN_DAYS`` days, W211 for one that has."""
    out = []
    for item, where in dated_items(policy):
        assert item.until is not None
        left = (item.until - as_of).days
        day = item.until.isoformat()
        if left < 0:
            out.append(
                warning(
                    "W211",
                    f"{item.value!r} in {where} expired on {day}: it no longer applies "
                    "(renew its date or remove it)",
                    item.span,
                )
            )
        elif left <= WARN_DAYS:
            when = "today is its last day" if left == 0 else f"{left} day{'s' * (left != 1)} left"
            out.append(
                warning(
                    "W210",
                    f"{item.value!r} in {where} expires on {day} ({when}); renew it or "
                    "let it lapse",
                    item.span,
                )
            )
    return out


# ---- the JSON form ---------------------------------------------------------------------------
def entry_ir(item: ast.Str) -> str | dict[str, str]:
    """A list entry in the JSON form: its string, or ``{"value": ..., "until": DATE}``."""
    if item.until is None:
        return item.value
    return {"value": item.value, "until": item.until.isoformat()}


def entry_from_ir(data: object, where: str) -> ast.Str:
    """The entry ``entry_ir`` wrote; ``ValueError`` naming ``where`` when it is not one."""
    if isinstance(data, str):
        return ast.Str(value=_one_line(data, where))
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a string, got {_KINDS.get(type(data), 'a value')}")
    if set(data) != {"value", "until"}:
        raise ValueError(f'{where}: expected {{"value": ..., "until": "YYYY-MM-DD"}}')
    value, until = data["value"], data["until"]
    if not isinstance(value, str) or not isinstance(until, str):
        raise ValueError(f"{where}: 'value' and 'until' are strings")
    try:
        day = parse_date(until)
    except ValueError as exc:
        raise ValueError(f"{where}.until: {exc}") from None
    return ast.Str(value=_one_line(value, f"{where}.value"), until=day)


_KINDS = {int: "a number", float: "a number", bool: "a boolean", list: "an array"}
_KINDS[type(None)] = "null"


def _one_line(text: str, where: str) -> str:
    if "\n" in text:
        raise ValueError(f"{where}: a string cannot contain a line break (the text form has none)")
    return text


# ---- the lint rules (``lint.LINTS``) ---------------------------------------------------------
def entry_expires_soon(policy: CheckedPolicy) -> Iterator[Diagnostic]:
    """W210: an entry that expires within ``WARN_DAYS`` days of ``as_of()``.

    Example::

        list partners = ["*@p.example" until 2027-03-01]   # W210 from 2027-02-15: renew it
    """
    yield from (d for d in warnings(policy.ast, as_of()) if d.code == "W210")


def entry_expired(policy: CheckedPolicy) -> Iterator[Diagnostic]:
    """W211: an entry whose day has passed: it no longer applies.

    Example::

        list partners = ["*@p.example" until 2020-01-01]   # W211: renew or remove it
    """
    yield from (d for d in warnings(policy.ast, as_of()) if d.code == "W211")


# ---- exporters -------------------------------------------------------------------------------
def dated_entries(policy: CheckedPolicy, rule: ast.Rule) -> list[tuple[str, datetime.date]]:
    """The entries with an expiry that ``rule`` (as the checker hands it on) uses, and
    their dates: an exported file keeps them after that day, until it is exported again."""
    out: dict[tuple[str, datetime.date], None] = {}
    lists = policy.ast.lists
    for cond in (rule.condition, rule.unless):
        for node in ast.walk(cond) if cond is not None else ():
            op = getattr(node, "operand", None)
            items: tuple[ast.Str, ...] = ()
            if isinstance(op, ast.ListLit):
                items = op.items
            elif isinstance(op, ast.ListRef) and op.name in lists:
                items = lists[op.name].items or ()
            for i in items:
                if i.until is not None and i.value in policy.entries(op):  # type: ignore[arg-type]
                    out[(i.value, i.until)] = None
    return list(out)


#: What an export does about an entry that expires: it keeps it (``export_loss``).
EXPORT_HOW = "kept in the file: export again after each date"


def export_loss(policy: CheckedPolicy, rule: ast.Rule, cond: ast.Cond, unless: Any) -> str | None:
    """The loss an exported rule has when list entries it still uses expire: the file keeps
    applying them after their day, until it is exported again. ``cond`` and ``unless`` are
    the rule's parts as the exporter relaxed them (an exception that became a constant uses
    no entry: one that vanished keeps none alive). None when nothing expires."""
    exported = isinstance(unless, ast.Cond)
    kept = dataclasses.replace(rule, condition=cond, unless=unless if exported else None)
    dated = dated_entries(policy, kept)
    if not dated:
        return None
    days = ", ".join(f"'{value}' until {day.isoformat()}" for value, day in dated)
    return f"list entries expire ({days}); the exported file keeps applying them after that day"
