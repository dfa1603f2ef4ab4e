"""The policy AST: immutable nodes with source spans.

Every later stage (checker, formatter, IR, evaluator, compiler, exporters) reads this one
tree. Nodes are frozen dataclasses holding tuples, never lists; a tree changes only by
building new nodes (``dataclasses.replace``). Spans do not take part in equality, so
``parse(format(tree)) == tree`` compares meaning, not layout.

Conditions come in two levels. Message-level: ``Test`` (sender, recipient, from,
subject, body, header, size, attachments) and ``AnyAttachment``. Attachment-level, inside
``AnyAttachment``: ``AttTest`` and ``ArchiveContains``. ``And``/``Or``/``Not`` serve both.
"""

from __future__ import annotations

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
    return field(default=NOSPAN, compare=False, repr=False)  # type: ignore[return-value]


# ---- operands ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Str:
    """A quoted string, unescaped (a glob, an address, a header text...)."""

    value: str
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


# ---- conditions -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class And:
    items: tuple[Cond, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Or:
    items: tuple[Cond, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Not:
    item: Cond
    span: Span = _span()


#: Message-level fields and the operators each takes.
MESSAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "sender": ("in", "matches"),
    "recipient": ("in", "matches"),
    "from": ("contains", "matches"),
    "subject": ("contains", "matches"),
    "body": ("contains", "matches"),
    "header": ("contains", "matches"),
    "size": (">", "<", ">=", "<=", "==", "!="),
    "attachments": (">", "<", ">=", "<=", "==", "!="),
}

#: Attachment-level fields and the operators each takes.
ATTACHMENT_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("matches", "in"),
    "extension": ("in", "is"),
    "double_extension": ("in",),
    "type": ("class", "mime", "mismatch"),
    "declared_type": ("matches",),
    "size": (">", "<", ">=", "<=", "==", "!="),
    "archive": ("encrypted", "exceeds_limits"),
    "evasive_name": ("is",),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Test:
    """A message-level predicate: ``sender in trusted``, ``header "X-Y" contains "z"``."""

    field: str
    op: str
    operand: Operand
    header: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class AnyAttachment:
    """``attachment P``: some attachment of the message satisfies ``P``."""

    pred: Cond
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class AttTest:
    """An attachment-level predicate: ``extension in executable``, ``type mismatch``."""

    field: str
    op: str
    operand: Operand | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveContains:
    """``archive contains P``: some member, at any depth within the limits, satisfies P."""

    pred: Cond
    span: Span = _span()


Cond = And | Or | Not | Test | AnyAttachment | AttTest | ArchiveContains


# ---- statements -------------------------------------------------------------------------
ACTIONS = ("allow", "block", "quarantine", "strip", "tag", "discard")
#: Actions that keep a message from its recipients (for scoring false positives).
STOPPING_ACTIONS = ("block", "quarantine", "strip", "discard")


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyName:
    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Default:
    action: str
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class ListDef:
    """``list NAME = [...]`` or ``list NAME = file "path"``.

    ``entries`` holds the items of either form once the checker has read the file; for an
    inline list it equals the item values.
    """

    name: str
    items: tuple[Str, ...] | None = None
    file: Str | None = None
    entries: tuple[str, ...] | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """``ACTION [HEADER] COND [unless COND] [as "id"] [reason "..."]``."""

    action: str
    condition: Cond
    header: Str | None = None
    unless: Cond | None = None
    id: Str | None = None
    reason: Str | None = None
    span: Span = _span()


Statement = PolicyName | Default | ListDef | Rule


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    statements: tuple[Statement, ...]
    path: str = "<string>"
    span: Span = _span()

    @property
    def name(self) -> str | None:
        return next((s.name for s in self.statements if isinstance(s, PolicyName)), None)

    @property
    def default(self) -> str:
        return next((s.action for s in self.statements if isinstance(s, Default)), "allow")

    @property
    def lists(self) -> dict[str, ListDef]:
        out: dict[str, ListDef] = {}
        for s in self.statements:
            if isinstance(s, ListDef):
                out.setdefault(s.name, s)
        return out

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(s for s in self.statements if isinstance(s, Rule))


def children(node: Cond) -> tuple[Cond, ...]:
    """The sub-conditions of a condition node (empty for a leaf)."""
    if isinstance(node, (And, Or)):
        return node.items
    if isinstance(node, Not):
        return (node.item,)
    if isinstance(node, (AnyAttachment, ArchiveContains)):
        return (node.pred,)
    return ()


def walk(node: Cond) -> list[Cond]:
    """Every condition node below and including ``node``, pre-order, without recursion."""
    out: list[Cond] = []
    stack = [node]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(reversed(children(n)))
    return out
