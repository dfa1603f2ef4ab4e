"""What an entry of the conditions table is, and what every entry shares.

``Entry`` (one per kind of condition, listed in ``conditions.ENTRIES``) says how the
kind's value is read from a message or an attachment (``read``), its compiled test
(``compile``), its explanation (``explain``) and its index keys (``index``); ``Match`` is
an explained outcome. The entries themselves are in ``message_kinds.py`` and
``attachment_kinds.py``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy import ast, printer
from mailpolicy.policy.sets import AddressSet, GlobSet

COMPARE: dict[str, Callable[[int, int], bool]] = {
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}

#: ``("ext", "exe")``: some attachment name has this last extension; ``("glob", g)``:
#: some attachment name matches ``g``.
IndexKey = tuple[Literal["ext", "glob"], str]
Trigger = frozenset[IndexKey] | None
#: A key of the rule index (``index.needs``): a fact of the message that a condition needs,
#: its first item saying which: the name keys above, ``("address", role, glob)`` and
#: ``("domain", role, entry)`` (``sender``/``recipient``), ``("contains", field, needle)``
#: and ``("matches", field, glob)`` (``from``, ``subject``, ``body``, ``header:NAME``),
#: ``("count", field, op, number)`` (message ``size``, ``attachments``), ``("message",
#: fact)``, and ``("fact", field, op[, operand])`` for an attachment fact (``FactKind``).
Key = tuple[str | int, ...]
#: Keys one of which the message must hit for a condition to hold, or None (unknown).
Need = frozenset[Key] | None


@dataclass(frozen=True, slots=True)
class Match:
    """The outcome of one condition: its truth, a human reason, and the witness."""

    ok: bool
    why: str
    attachment: Attachment | None = None
    name: str | None = None


class Lists(Protocol):
    """What an entry needs of a checked policy: the strings of a list operand."""

    def entries(self, operand: ast.Operand) -> tuple[str, ...]: ...


class Sets(Lists, Protocol):
    """What ``compile`` needs: the lists, and one compiled set per distinct list."""

    def glob_set(self, entries: tuple[str, ...]) -> GlobSet: ...

    def address_set(self, entries: tuple[str, ...]) -> AddressSet: ...


# ---- small semantic helpers ---------------------------------------------------------------
def norm_extension(entry: str) -> str:
    """A list entry as an extension: ``"*.EXE"``, ``".exe"`` and ``"exe"`` are ``exe``."""
    return entry.strip().lower().removeprefix("*").removeprefix(".")


def is_double_extension(exts: tuple[str, ...]) -> bool:
    """Two or more extensions, the next-to-last 1 to 4 characters and not all digits."""
    if len(exts) < 2:
        return False
    prev = exts[-2]
    return 1 <= len(prev) <= 4 and not prev.isdigit()


def uninspectable(a: Attachment) -> bool:
    """``archive exceeds limits``: the archive could not be fully looked into, because it
    broke a limit (depth, members, bytes, ratio) or because it is encrypted."""
    return a.exceeds_limits or a.encrypted


def quoted(text: str | None) -> str:
    return printer.quote(text or "")


def list_label(op: ast.Operand) -> str:
    return f"list {op.name}" if isinstance(op, ast.ListRef) else printer.operand(op)


def string_of(op: ast.Operand | None) -> str:
    assert isinstance(op, ast.Str), op  # the checker guarantees it
    return op.value


def number_of(op: ast.Operand) -> ast.Number:
    assert isinstance(op, ast.Number), op  # the checker guarantees it
    return op


# ---- the entries ----------------------------------------------------------------------------
N = TypeVar("N")
X = TypeVar("X")


class Entry(Generic[N, X]):
    """One kind of condition (see the module docstring). ``X`` is ``Message`` for
    message-level kinds and ``Attachment`` for attachment-level ones."""

    level: Literal["message", "attachment"]

    def __init__(self, field: str, op: str, *, capability: str | None = None) -> None:
        self.keyword = (field, op)
        words = f"{field.replace('_', ' ')} {op.replace('_', ' ')}"
        self.capability = capability or words

    def __reduce__(self) -> tuple[Any, ...]:
        # Entries are module constants (some hold lambdas): a compiled test that refers to
        # one pickles it by its position in the table.
        from mailpolicy.policy import conditions

        position = next(i for i, e in enumerate(conditions.ENTRIES.values()) if id(e) == id(self))
        return (conditions.entry_at, (position,))

    def read(self, node: N, x: X) -> tuple[Any, ...]:
        raise NotImplementedError

    def compile(self, node: N, sets: Sets) -> Callable[[X], bool]:
        raise NotImplementedError

    def explain(self, node: N, x: X, lists: Lists) -> Match:
        raise NotImplementedError

    def index(self, node: N, lists: Lists) -> Need:
        """The keys one of which a message (or an attachment) must hit for ``node`` to
        hold, or None when no such set is known. Exact or wider, never narrower."""
        return None


class MessageEntry(Entry[N, Message]):
    level = "message"


class AttachmentEntry(Entry[N, Attachment]):
    level = "attachment"


# -- message level --
