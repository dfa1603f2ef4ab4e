"""The attachment-level kinds of condition: names, extensions, and the facts of a part
(types, size, archive flags, tricks, what could not be read).

Each class here is the ``Entry`` of one or more ``ast`` classes (see
``conditions.ENTRIES``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from mailpolicy.corpus import names as _names
from mailpolicy.corpus.message import Attachment
from mailpolicy.policy import ast, globs
from mailpolicy.policy.entry import (
    COMPARE,
    AttachmentEntry,
    Lists,
    Match,
    Sets,
    Trigger,
    is_double_extension,
    list_label,
    norm_extension,
    number_of,
    quoted,
    string_of,
    uninspectable,
)
from mailpolicy.policy.sets import GlobSet

NameNode = ast.NameMatches | ast.NameIn


def _names_match(found: GlobSet, a: Attachment) -> bool:
    return any(found.any(n) for n in a.normalized_names)


class NameKind(AttachmentEntry[NameNode]):
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
                return Match(True, f"name {quoted(n)} matches {quoted(hit)}", x, n)
        where = "glob" if isinstance(node, ast.NameMatches) else list_label(node.operand)
        return Match(False, f"name {quoted(x.normalized_name)} matches no {where}")

    def index(self, node: NameNode, lists: Lists) -> Trigger:
        return frozenset(("glob", g) for g in lists.entries(node.operand))


ExtensionNode = ast.ExtensionIn | ast.ExtensionIs | ast.DoubleExtensionIn


def _extension_hit(wanted: frozenset[str], double: bool, a: Attachment) -> bool:
    for n in a.normalized_names:
        exts = _names.extensions(n)
        if exts and exts[-1] in wanted and (not double or is_double_extension(exts)):
            return True
    return False


class ExtensionKind(AttachmentEntry[ExtensionNode]):
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
        wanted, label = self.wanted(node, lists), list_label(node.operand)
        for n in x.normalized_names:
            exts = _names.extensions(n)
            if not exts or exts[-1] not in wanted:
                continue
            if self.double and not is_double_extension(exts):
                continue
            return Match(True, f"{self.word} of {quoted(n)} is {exts[-1]!r}, in {label}", x, n)
        return Match(False, f"{self.word} of {quoted(x.normalized_name)} is not in {label}")

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
    | ast.Unscannable
)


def _fact_test(entry: FactKind, node: FactNode, value: Any, a: Attachment) -> bool:
    return entry.holds(node, value, a)


class FactKind(AttachmentEntry[FactNode]):
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


def _reasons(a: Attachment) -> tuple[str, ...]:
    limits = a.archive_problems if a.exceeds_limits else ()
    return tuple(dict.fromkeys((*a.unscannable, *limits)))


def unscannable(a: Attachment) -> tuple[str, ...]:
    """``unscannable``: why this attachment, or anything inside it, could not be read
    completely (what its reader said, and any archive limit it hit); a member's reasons
    are prefixed with the member. ``archive exceeds limits`` is the narrower fact."""
    out: list[str] = list(_reasons(a))
    for m in a.walk()[1:]:
        out.extend(f"{m.part or m.name}: {why}" for why in _reasons(m))
    return tuple(out)


def _unscannable_says(node: FactNode, a: Attachment, ok: bool) -> str:
    if not ok:
        return f"{quoted(a.name)} was read completely"
    return f"{quoted(a.name)} cannot be read completely: {'; '.join(unscannable(a))}"


def _glob_operand(node: FactNode) -> Any:
    return globs.compile_glob(string_of(node.operand))


def _archive_says(what: str, node: FactNode, a: Attachment, ok: bool) -> str:
    exceeds = isinstance(node, ast.ArchiveExceedsLimits)
    detail = "; ".join(a.archive_problems) if ok and exceeds else ""
    return f"{quoted(a.name)} {what if ok else 'does not: ' + what}" + (
        f" ({detail})" if detail else ""
    )


def _size_holds(node: FactNode, value: Any, size: int) -> bool:
    assert isinstance(node, ast.AttachmentSize)
    return COMPARE[node.op](size, number_of(node.operand).value)


_MISMATCH = (", as its name says", ", not what its extension says")

#: The table: every leaf class of the AST and its entry.


# ---- the fact kinds, one constant each (conditions.ENTRIES maps the AST classes to them) ----
TYPE_CLASS = FactKind(
    "type",
    "class",
    lambda a: a.type_class,
    lambda node, value, fact: fact == string_of(node.operand),
    lambda node, a, ok: f"content of {quoted(a.name)} is {a.type_class} ({a.detected_type})",
)

TYPE_MIME = FactKind(
    "type",
    "mime",
    lambda a: a.detected_type,
    lambda node, rx, fact: rx.match(fact) is not None,
    lambda node, a, ok: f"content of {quoted(a.name)} is {a.detected_type}",
    _glob_operand,
)

TYPE_MISMATCH = FactKind(
    "type",
    "mismatch",
    lambda a: a.type_mismatch,
    lambda node, value, fact: bool(fact),
    lambda node, a, ok: f"content of {quoted(a.name)} is {a.detected_type}{_MISMATCH[ok]}",
)

DECLARED_TYPE = FactKind(
    "declared_type",
    "matches",
    lambda a: a.declared_type,
    lambda node, rx, fact: rx.match(fact) is not None,
    lambda node, a, ok: f"declared type of {quoted(a.name)} is {a.declared_type}",
    _glob_operand,
)

ATTACHMENT_SIZE = FactKind(
    "size",
    "compare",
    lambda a: a.size,
    _size_holds,
    lambda node, a, ok: f"size of {quoted(a.name)} is {a.size} bytes",
    capability="attachment size",
)

ARCHIVE_ENCRYPTED = FactKind(
    "archive",
    "encrypted",
    lambda a: a.encrypted,
    lambda node, value, fact: bool(fact),
    partial(_archive_says, "is encrypted"),
)

ARCHIVE_EXCEEDS_LIMITS = FactKind(
    "archive",
    "exceeds_limits",
    uninspectable,
    lambda node, value, fact: bool(fact),
    partial(_archive_says, "exceeds the archive limits"),
)

EVASIVE_NAME = FactKind(
    "evasive_name",
    "is",
    lambda a: a.tricks,
    lambda node, value, fact: bool(fact),
    lambda node, a, ok: f"name {quoted(a.name)} uses {', '.join(a.tricks) or 'no trick'}",
    capability="evasive name",
)

UNSCANNABLE = FactKind(
    "unscannable",
    "is",
    unscannable,
    lambda node, value, fact: bool(fact),
    _unscannable_says,
    capability="unscannable",
)
