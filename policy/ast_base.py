"""Spans and operands of the policy AST (``ast`` re-exports every name here).

A ``Span`` says where a node came from; operands are what conditions compare with: a
quoted ``Str`` (a list entry may carry an expiry date, ``until``), a ``Number``, a
``ListRef`` to a named list, an inline ``ListLit``. Spans never take part in equality.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """Where a node came from: 1-based line and column, 0-based character offsets."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    start: int = 0
    end: int = 0


NOSPAN = Span("<generated>", 0, 0, 0, 0)


def _span() -> Span:
    span: Span = field(default=NOSPAN, compare=False, repr=False)
    return span


# ---- operands ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Str:
    """A quoted string, unescaped (a glob, an address, a header text...). ``until``: a list
    entry's expiry (``"*@partner.example" until 2027-03-01``): it applies through that day
    (UTC) and no longer after; None for every other string."""

    value: str
    until: datetime.date | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Number:
    """A number as written (``10MB``) and its value (bytes when it carries a unit)."""

    text: str
    value: int
    unit: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRef:
    """A reference to a list defined with ``list NAME = ...``."""

    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class ListLit:
    """An inline list: ``["exe", "pif"]``."""

    items: tuple[Str, ...]
    span: Span = _span()


Operand = Str | Number | ListRef | ListLit
