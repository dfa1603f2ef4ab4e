"""What every kind of condition means: one table, one entry per condition class.

Each leaf class of ``ast`` (``SenderIn``, ``NameMatches``, ``ExtensionIn``, ...) has one
``Entry`` here that says:

- ``read(node, x)``: the values it reads from a message or an attachment;
- ``compile(node, sets)``: its compiled test, a picklable ``x -> bool``;
- ``explain(node, x, lists)``: its outcome with the sentence a trace prints;
- ``index(node, lists)``: the index keys that make a rule a candidate (an extension or a
  name glob that some attachment name must hit), or None when it cannot be indexed;
- ``keyword``: its (field, op) pair in the JSON form; ``capability``: the name an
  exporter declares in ``Capabilities.conditions`` to say it can express it.

The reference evaluator (``evaluate.py``) is a walk over ``and``/``or``/``not``/
``attachment``/``archive contains`` that asks each leaf's entry to ``explain`` itself;
the compiler (``compile.py``) is the same table's ``compile`` plus the index
(``trigger``); lint and the exporters read ``keyword``, ``capability`` and ``trigger``.

To follow one condition, ``attachment extension in L``: the grammar rule
``extension_in`` builds ``ast.ExtensionIn``; ``ENTRIES[ast.ExtensionIn]`` is
``_Extension``: it reads the last extension of every normalised name, compiles to a
frozenset test, explains "extension of "x.exe" is 'exe', in list L", indexes the rule
under each extension of ``L``, and needs the exporter capability ``extension in``, which
Sieve declares (``export/sieve.py``) and writes through ``dialect.name_pattern``: the same
"last extension" read as a regular expression over every filename.

Adding a condition: the grammar rule, its class in ``ast.py`` (added to ``ast.Test`` or
``ast.AttTest``), one entry in ``ENTRIES``, its line in ``printer.leaf`` and the checker's
operand check; then its tests (see CONTRIBUTING.md). A test holds ``ENTRIES`` complete.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, Literal, Protocol, TypeVar, get_args

from mailpolicy.corpus import names as _names
from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy import ast, globs, printer
from mailpolicy.policy.sets import AddressSet, GlobSet, address_in

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


def _quote(text: str | None) -> str:
    return printer.quote(text or "")


def _list_label(op: ast.Operand) -> str:
    return f"list {op.name}" if isinstance(op, ast.ListRef) else printer.operand(op)


def _str(op: ast.Operand | None) -> str:
    assert isinstance(op, ast.Str), op  # the checker guarantees it
    return op.value


def _number(op: ast.Operand) -> ast.Number:
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
        return (_entry_at, (list(ENTRIES.values()).index(self),))

    def read(self, node: N, x: X) -> tuple[Any, ...]:
        raise NotImplementedError

    def compile(self, node: N, sets: Sets) -> Callable[[X], bool]:
        raise NotImplementedError

    def explain(self, node: N, x: X, lists: Lists) -> Match:
        raise NotImplementedError

    def index(self, node: N, lists: Lists) -> Trigger:
        return None


class MessageEntry(Entry[N, Message]):
    level = "message"


class AttachmentEntry(Entry[N, Attachment]):
    level = "attachment"


# -- message level --
AddressNode = ast.SenderIn | ast.SenderMatches | ast.RecipientIn | ast.RecipientMatches


def _envelope(role: str, msg: Message) -> tuple[str, ...]:
    if role == "sender":
        return (msg.sender,) if msg.sender else ()
    return tuple(msg.recipients)


def _address_in_set(role: str, found: AddressSet, msg: Message) -> bool:
    return any(found.contains(v) for v in _envelope(role, msg))


def _address_matches(role: str, found: GlobSet, msg: Message) -> bool:
    return any(found.any(v) for v in _envelope(role, msg))


class _Address(MessageEntry[AddressNode]):
    """``sender|recipient in L`` (address globs and domains) and ``matches GLOBS``."""

    def __init__(self, field: str, op: str) -> None:
        super().__init__(field, op)
        self.role, self.is_in = field, op == "in"

    def read(self, node: AddressNode, x: Message) -> tuple[str, ...]:
        return _envelope(self.role, x)

    def compile(self, node: AddressNode, sets: Sets) -> Callable[[Message], bool]:
        entries = sets.entries(node.operand)
        if self.is_in:
            return partial(_address_in_set, self.role, sets.address_set(entries))
        return partial(_address_matches, self.role, sets.glob_set(entries))

    def explain(self, node: AddressNode, x: Message, lists: Lists) -> Match:
        f, values = self.role, self.read(node, x)
        if not values:
            return Match(False, f"the message has no envelope {f}")
        entries = lists.entries(node.operand)
        for v in values:
            if self.is_in:
                hit = next((e for e in entries if address_in(e, v)), None)
                if hit is not None:
                    return Match(True, f"{f} {v} is in {_list_label(node.operand)} (entry {hit!r})")
            elif any(globs.match(e, v) for e in entries):
                return Match(True, f"{f} {v} matches {printer.operand(node.operand)}")
        verb = "is not in" if self.is_in else "does not match"
        return Match(False, f"{f} {', '.join(values)} {verb} {_list_label(node.operand)}")


TextNode = ast.TextContains | ast.TextMatches | ast.HeaderContains | ast.HeaderMatches


def _text_values(node: TextNode, msg: Message) -> tuple[str, ...]:
    if isinstance(node, (ast.HeaderContains, ast.HeaderMatches)):
        return tuple(msg.header(node.header))
    if node.field == "from":
        return (msg.from_,)
    return (msg.subject,) if node.field == "subject" else (msg.body,)


def _contains(node: TextNode, needle: str, msg: Message) -> bool:
    return any(needle in v.casefold() for v in _text_values(node, msg))


def _glob_match(node: TextNode, rx: Any, msg: Message) -> bool:
    return any(rx.match(v) for v in _text_values(node, msg))


class _Text(MessageEntry[TextNode]):
    """``from|subject|body|header "H"`` ``contains "text"`` (case-insensitive substring)
    or ``matches GLOB`` (over the whole value)."""

    def __init__(self, field: str, op: str) -> None:
        super().__init__(field, op)
        self.contains = op == "contains"

    def read(self, node: TextNode, x: Message) -> tuple[str, ...]:
        return _text_values(node, x)

    def compile(self, node: TextNode, sets: Sets) -> Callable[[Message], bool]:
        want = _str(node.operand)
        if self.contains:
            return partial(_contains, node, want.casefold())
        return partial(_glob_match, node, globs.compile_glob(want))

    def explain(self, node: TextNode, x: Message, lists: Lists) -> Match:
        if isinstance(node, (ast.HeaderContains, ast.HeaderMatches)):
            label = f"header {node.header}"
        else:
            label = node.field
        want = _str(node.operand)
        for v in self.read(node, x):
            if (want.casefold() in v.casefold()) if self.contains else globs.match(want, v):
                return Match(True, f"{label} {node.op} {_quote(want)}")
        verb = "contain" if self.contains else "match"
        return Match(False, f"{label} does not {verb} {_quote(want)}")


CountNode = ast.MessageSize | ast.AttachmentCount


def _count(node: CountNode, msg: Message) -> int:
    return msg.size if isinstance(node, ast.MessageSize) else len(msg.attachments)


def _compare_count(node: CountNode, value: int, msg: Message) -> bool:
    return COMPARE[node.op](_count(node, msg), value)


class _Count(MessageEntry[CountNode]):
    """``size OP N`` (bytes of the message) and ``attachments OP N``."""

    def read(self, node: CountNode, x: Message) -> tuple[int]:
        return (_count(node, x),)

    def compile(self, node: CountNode, sets: Sets) -> Callable[[Message], bool]:
        return partial(_compare_count, node, _number(node.operand).value)

    def explain(self, node: CountNode, x: Message, lists: Lists) -> Match:
        number, actual = _number(node.operand), _count(node, x)
        ok = COMPARE[node.op](actual, number.value)
        shown = node.op if ok else "is not " + node.op
        return Match(ok, f"message {node.field} {actual} {shown} {number.text}")


# -- attachment level --
NameNode = ast.NameMatches | ast.NameIn


def _names_match(found: GlobSet, a: Attachment) -> bool:
    return any(found.any(n) for n in a.normalized_names)


class _Name(AttachmentEntry[NameNode]):
    """``name matches GLOB`` / ``name in GLOBS`` over every normalised name."""

    def read(self, node: NameNode, x: Attachment) -> tuple[str, ...]:
        return tuple(x.normalized_names)

    def compile(self, node: NameNode, sets: Sets) -> Callable[[Attachment], bool]:
        return partial(_names_match, sets.glob_set(sets.entries(node.operand)))

    def explain(self, node: NameNode, x: Attachment, lists: Lists) -> Match:
        pats = lists.entries(node.operand)
        for n in self.read(node, x):
            hit = next((g for g in pats if globs.match(g, n)), None)
            if hit is not None:
                return Match(True, f"name {_quote(n)} matches {_quote(hit)}", x, n)
        where = "glob" if isinstance(node, ast.NameMatches) else _list_label(node.operand)
        return Match(False, f"name {_quote(x.normalized_name)} matches no {where}")

    def index(self, node: NameNode, lists: Lists) -> Trigger:
        return frozenset(("glob", g) for g in lists.entries(node.operand))


ExtensionNode = ast.ExtensionIn | ast.ExtensionIs | ast.DoubleExtensionIn


def _extension_hit(wanted: frozenset[str], double: bool, a: Attachment) -> bool:
    for n in a.normalized_names:
        exts = _names.extensions(n)
        if exts and exts[-1] in wanted and (not double or is_double_extension(exts)):
            return True
    return False


class _Extension(AttachmentEntry[ExtensionNode]):
    """``extension in L`` / ``extension "x"``: the last extension; ``double extension in
    L``: that, and the one before looks like a real extension (``is_double_extension``)."""

    def __init__(self, field: str, op: str) -> None:
        super().__init__(field, op)
        self.double = field == "double_extension"
        self.word = "double extension" if self.double else "extension"

    def wanted(self, node: ExtensionNode, lists: Lists) -> frozenset[str]:
        return frozenset(norm_extension(e) for e in lists.entries(node.operand))

    def read(self, node: ExtensionNode, x: Attachment) -> tuple[tuple[str, ...], ...]:
        return tuple(_names.extensions(n) for n in x.normalized_names)

    def compile(self, node: ExtensionNode, sets: Sets) -> Callable[[Attachment], bool]:
        return partial(_extension_hit, self.wanted(node, sets), self.double)

    def explain(self, node: ExtensionNode, x: Attachment, lists: Lists) -> Match:
        wanted, label = self.wanted(node, lists), _list_label(node.operand)
        for n in x.normalized_names:
            exts = _names.extensions(n)
            if not exts or exts[-1] not in wanted:
                continue
            if self.double and not is_double_extension(exts):
                continue
            return Match(True, f"{self.word} of {_quote(n)} is {exts[-1]!r}, in {label}", x, n)
        return Match(False, f"{self.word} of {_quote(x.normalized_name)} is not in {label}")

    def index(self, node: ExtensionNode, lists: Lists) -> Trigger:
        return frozenset(("ext", e) for e in self.wanted(node, lists))


FactNode = (
    ast.TypeClass
    | ast.TypeMime
    | ast.TypeMismatch
    | ast.DeclaredType
    | ast.AttachmentSize
    | ast.ArchiveEncrypted
    | ast.ArchiveExceedsLimits
    | ast.EvasiveName
)


def _fact_test(entry: _Fact, node: FactNode, value: Any, a: Attachment) -> bool:
    return entry.holds(node, value, a)


class _Fact(AttachmentEntry[FactNode]):
    """A fact of the attachment read once: its detected type or class, declared type,
    size, archive flags, name tricks. ``value`` is the precompiled operand."""

    def __init__(
        self,
        field: str,
        op: str,
        fact: Callable[[Attachment], Any],
        holds: Callable[[FactNode, Any, Any], bool],
        says: Callable[[FactNode, Attachment, bool], str],
        operand: Callable[[FactNode], Any] = lambda node: None,
        capability: str | None = None,
    ) -> None:
        super().__init__(field, op, capability=capability)
        self.fact, self._holds, self.says, self.operand = fact, holds, says, operand

    def holds(self, node: FactNode, value: Any, a: Attachment) -> bool:
        return self._holds(node, value, self.fact(a))

    def read(self, node: FactNode, x: Attachment) -> tuple[Any]:
        return (self.fact(x),)

    def compile(self, node: FactNode, sets: Sets) -> Callable[[Attachment], bool]:
        return partial(_fact_test, self, node, self.operand(node))

    def explain(self, node: FactNode, x: Attachment, lists: Lists) -> Match:
        ok = self.holds(node, self.operand(node), x)
        return Match(ok, self.says(node, x, ok), x, x.name)


def _glob_operand(node: FactNode) -> Any:
    return globs.compile_glob(_str(node.operand))


def _archive_says(what: str, node: FactNode, a: Attachment, ok: bool) -> str:
    exceeds = isinstance(node, ast.ArchiveExceedsLimits)
    detail = "; ".join(a.archive_problems) if ok and exceeds else ""
    return f"{_quote(a.name)} {what if ok else 'does not: ' + what}" + (
        f" ({detail})" if detail else ""
    )


def _size_holds(node: FactNode, value: Any, size: int) -> bool:
    assert isinstance(node, ast.AttachmentSize)
    return COMPARE[node.op](size, _number(node.operand).value)


_MISMATCH = (", as its name says", ", not what its extension says")

#: The table: every leaf class of the AST and its entry.
ENTRIES: dict[type[ast.Leaf], Entry[Any, Any]] = {
    ast.SenderIn: _Address("sender", "in"),
    ast.SenderMatches: _Address("sender", "matches"),
    ast.RecipientIn: _Address("recipient", "in"),
    ast.RecipientMatches: _Address("recipient", "matches"),
    ast.TextContains: _Text("text", "contains"),
    ast.TextMatches: _Text("text", "matches"),
    ast.HeaderContains: _Text("header", "contains"),
    ast.HeaderMatches: _Text("header", "matches"),
    ast.MessageSize: _Count("size", "compare", capability="message size"),
    ast.AttachmentCount: _Count("attachments", "compare", capability="attachment count"),
    ast.NameMatches: _Name("name", "matches"),
    ast.NameIn: _Name("name", "in"),
    ast.ExtensionIn: _Extension("extension", "in"),
    ast.ExtensionIs: _Extension("extension", "is"),
    ast.DoubleExtensionIn: _Extension("double_extension", "in"),
    ast.TypeClass: _Fact(
        "type",
        "class",
        lambda a: a.type_class,
        lambda node, value, fact: fact == _str(node.operand),
        lambda node, a, ok: f"content of {_quote(a.name)} is {a.type_class} ({a.detected_type})",
    ),
    ast.TypeMime: _Fact(
        "type",
        "mime",
        lambda a: a.detected_type,
        lambda node, rx, fact: rx.match(fact) is not None,
        lambda node, a, ok: f"content of {_quote(a.name)} is {a.detected_type}",
        _glob_operand,
    ),
    ast.TypeMismatch: _Fact(
        "type",
        "mismatch",
        lambda a: a.type_mismatch,
        lambda node, value, fact: bool(fact),
        lambda node, a, ok: f"content of {_quote(a.name)} is {a.detected_type}{_MISMATCH[ok]}",
    ),
    ast.DeclaredType: _Fact(
        "declared_type",
        "matches",
        lambda a: a.declared_type,
        lambda node, rx, fact: rx.match(fact) is not None,
        lambda node, a, ok: f"declared type of {_quote(a.name)} is {a.declared_type}",
        _glob_operand,
    ),
    ast.AttachmentSize: _Fact(
        "size",
        "compare",
        lambda a: a.size,
        _size_holds,
        lambda node, a, ok: f"size of {_quote(a.name)} is {a.size} bytes",
        capability="attachment size",
    ),
    ast.ArchiveEncrypted: _Fact(
        "archive",
        "encrypted",
        lambda a: a.encrypted,
        lambda node, value, fact: bool(fact),
        partial(_archive_says, "is encrypted"),
    ),
    ast.ArchiveExceedsLimits: _Fact(
        "archive",
        "exceeds_limits",
        uninspectable,
        lambda node, value, fact: bool(fact),
        partial(_archive_says, "exceeds the archive limits"),
    ),
    ast.EvasiveName: _Fact(
        "evasive_name",
        "is",
        lambda a: a.tricks,
        lambda node, value, fact: bool(fact),
        lambda node, a, ok: f"name {_quote(a.name)} uses {', '.join(a.tricks) or 'no trick'}",
        capability="evasive name",
    ),
}


def _entry_at(position: int) -> Entry[Any, Any]:
    return list(ENTRIES.values())[position]


def entry(node: ast.Leaf) -> Entry[Any, Any]:
    """The table entry of a leaf condition."""
    return ENTRIES[type(node)]


def keyword(node: ast.Leaf) -> tuple[str, str]:
    """The (field, op) pair of ``node`` in the JSON form: ``("sender", "in")``,
    ``("subject", "contains")``, ``("size", ">")``, ``("archive", "encrypted")``."""
    match node:
        case ast.TextContains() | ast.TextMatches():
            return node.field, node.op
        case ast.MessageSize() | ast.AttachmentCount() | ast.AttachmentSize():
            return node.field, node.op
        case _:
            return entry(node).keyword


def capability(node: ast.Leaf) -> str:
    """The name an exporter lists in ``Capabilities.conditions`` to say it can express
    ``node``: ``"sender in"``, ``"subject contains"``, ``"header matches"``,
    ``"message size"``, ``"attachment count"``, ``"extension is"``, ``"type class"``,
    ``"attachment size"``, ``"archive exceeds limits"``, ``"evasive name"``."""
    match node:
        case ast.TextContains() | ast.TextMatches():
            return f"{node.field} {node.op}"
        case _:
            return entry(node).capability


#: Every capability name (the JSON form, for one, expresses them all).
CAPABILITIES = frozenset(
    [e.capability for e in ENTRIES.values() if not isinstance(e, _Text) or e.keyword[0] != "text"]
    + [f"{f} {op}" for f in get_args(ast.TextField) for op in ("contains", "matches")]
)


# ---- the index: what some attachment name must hit for a condition to hold -------------------
def trigger(node: ast.Cond, lists: Lists) -> Trigger:
    """A necessary condition on attachment names for ``node`` to hold, or None.

    ``attachment extension in [exe, pif]`` -> ``{("ext", "exe"), ("ext", "pif")}``;
    ``a and b``: the smaller known trigger; ``a or b``: the union, unknown if either is;
    ``not``, ``archive contains`` and message-level tests: unknown.
    """
    if isinstance(node, ast.AnyAttachment):
        return _att_trigger(node.pred, lists)
    return _combine(node, lambda n: trigger(n, lists))


def _att_trigger(node: ast.Cond, lists: Lists) -> Trigger:
    if isinstance(node, ast.AttTest):
        return ENTRIES[type(node)].index(node, lists)
    return _combine(node, lambda n: _att_trigger(n, lists))


def _combine(node: ast.Cond, inner: Callable[[ast.Cond], Trigger]) -> Trigger:
    if isinstance(node, ast.And):
        found = [t for t in (inner(i) for i in node.items) if t is not None]
        return min(found, key=len) if found else None
    if isinstance(node, ast.Or):
        parts: list[frozenset[IndexKey]] = []
        for i in node.items:
            t = inner(i)
            if t is None:
                return None
            parts.append(t)
        return frozenset().union(*parts)
    return None


def _complete() -> None:
    missing = set(get_args(ast.Leaf)) - set(ENTRIES)
    if missing:  # pragma: no cover - a developer error, caught at import
        raise AssertionError(f"conditions without a table entry: {sorted(map(str, missing))}")


_complete()
