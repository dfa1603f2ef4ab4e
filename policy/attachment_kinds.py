"""The attachment-level kinds of condition: names, extensions, and the facts of a part
(types, size, archive flags, tricks, what could not be read).

Each class here is the ``Entry`` of one or more ``ast`` classes (see
``conditions.ENTRIES``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from mailpolicy.corpus import content as _content
from mailpolicy.corpus import names as _names
from mailpolicy.corpus.message import Attachment
from mailpolicy.policy import ast, globs
from mailpolicy.policy.entry import (
    COMPARE,
    AttachmentEntry,
    Lists,
    Match,
    Need,
    Sets,
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

    def index(self, node: NameNode, lists: Lists) -> Need:
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

    def index(self, node: ExtensionNode, lists: Lists) -> Need:
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
    | ast.HasMacros
    | ast.HasAutoRunMacros
    | ast.HasJavaScript
    | ast.HasLaunchAction
    | ast.HasEmbeddedFile
    | ast.HasExternalLink
    | ast.SmugglesFile
)


def _fact_test(entry: FactKind, node: FactNode, value: Any, a: Attachment) -> bool:
    return entry.holds(node, value, a)


#: How the rule index reads a fact (``FactKind.indexed``): true when it is truthy, equal to
#: the operand, matching the operand glob, or satisfying the comparison.
Indexed = Literal["flag", "value", "glob", "compare"]


class FactKind(AttachmentEntry[FactNode]):
    """A fact of the attachment read once: its detected type or class, declared type,
    size, archive flags, name tricks. ``value`` is the precompiled operand. ``indexed``:
    how the rule index reads the fact; ``lazy``: reading it may decode or parse the
    attachment, so the index reads it only once a rule that needs it is reached."""

    def __init__(
        self,
        field: str,
        op: str,
        fact: Callable[[Attachment], Any],
        holds: Callable[[FactNode, Any, Any], bool],
        says: Callable[[FactNode, Attachment, bool], str],
        operand: Callable[[FactNode], Any] = lambda node: None,
        capability: str | None = None,
        indexed: Indexed = "flag",
        lazy: bool = True,
    ) -> None:
        super().__init__(field, op, capability=capability)
        self.fact, self._holds, self.says, self.operand = fact, holds, says, operand
        self.indexed, self.lazy = indexed, lazy

    def index(self, node: FactNode, lists: Lists) -> Need:
        field, op = self.keyword
        if self.indexed == "flag":
            return frozenset({("fact", field, op)})
        # lint asks before the checker has refused a bad operand: no key for it then
        if self.indexed == "compare":
            if not isinstance(node, ast.AttachmentSize) or node.op == "!=":
                return None
            if not isinstance(node.operand, ast.Number):
                return None
            return frozenset({("fact", field, op, node.op, node.operand.value)})
        if not isinstance(node.operand, ast.Str):
            return None
        return frozenset({("fact", field, op, node.operand.value)})

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
    completely (what its reader said, any archive limit it hit, and what the content
    readers could not read: an encrypted Office file, a PDF object stream, a VBA module);
    a member's reasons are prefixed with the member. ``archive exceeds limits`` is the
    narrower fact."""
    out: list[str] = list(_reasons(a))
    for m in a.walk()[1:]:
        out.extend(f"{m.part or m.name}: {why}" for why in _reasons(m))
    out.extend(_content.facts(a).unscannable)
    return tuple(dict.fromkeys(out))


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
    indexed="value",
)

TYPE_MIME = FactKind(
    "type",
    "mime",
    lambda a: a.detected_type,
    lambda node, rx, fact: rx.match(fact) is not None,
    lambda node, a, ok: f"content of {quoted(a.name)} is {a.detected_type}",
    _glob_operand,
    indexed="glob",
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
    indexed="glob",
    lazy=False,
)

ATTACHMENT_SIZE = FactKind(
    "size",
    "compare",
    lambda a: a.size,
    _size_holds,
    lambda node, a, ok: f"size of {quoted(a.name)} is {a.size} bytes",
    capability="attachment size",
    indexed="compare",
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
    lazy=False,
)

UNSCANNABLE = FactKind(
    "unscannable",
    "is",
    unscannable,
    lambda node, value, fact: bool(fact),
    _unscannable_says,
    capability="unscannable",
)


# ---- type lists -----------------------------------------------------------------------------
TypeListNode = ast.TypeIn | ast.DeclaredTypeIn
_Wanted = tuple[frozenset[str], tuple[Any, ...]]


def _type_list_hit(wanted: _Wanted, declared: bool, a: Attachment) -> bool:
    classes, rxs = wanted
    mime = a.declared_type if declared else a.detected_type
    if not declared and a.type_class in classes:
        return True
    return any(rx.match(mime) is not None for rx in rxs)


class TypeListKind(AttachmentEntry[TypeListNode]):
    """``type in L``: the detected class is in ``L`` or the detected MIME type matches a
    glob of ``L`` (an entry with a ``/``); ``declared type in L``: the Content-Type as sent
    matches a glob of ``L``."""

    def __init__(self, field: str, op: str) -> None:
        super().__init__(field, op)
        self.declared = field == "declared_type"

    def wanted(self, node: TypeListNode, lists: Lists) -> _Wanted:
        entries = lists.entries(node.operand)
        mimes = [e for e in entries if self.declared or "/" in e]
        classes = frozenset(e for e in entries if not self.declared and "/" not in e)
        return classes, tuple(globs.compile_glob(m) for m in mimes)

    def read(self, node: TypeListNode, x: Attachment) -> tuple[str, ...]:
        return (x.declared_type,) if self.declared else (x.type_class, x.detected_type)

    def compile(self, node: TypeListNode, sets: Sets) -> Callable[[Attachment], bool]:
        return partial(_type_list_hit, self.wanted(node, sets), self.declared)

    def index(self, node: TypeListNode, lists: Lists) -> Need:
        entries = lists.entries(node.operand)
        if self.declared:
            return frozenset(("fact", "declared_type", "matches", e) for e in entries)
        return frozenset(
            ("fact", "type", "mime", e) if "/" in e else ("fact", "type", "class", e)
            for e in entries
        )

    def explain(self, node: TypeListNode, x: Attachment, lists: Lists) -> Match:
        ok = _type_list_hit(self.wanted(node, lists), self.declared, x)
        label = list_label(node.operand)
        if self.declared:
            what = f"declared type of {quoted(x.name)} is {x.declared_type}"
        else:
            what = f"content of {quoted(x.name)} is {x.type_class} ({x.detected_type})"
        return Match(ok, f"{what}, {'in' if ok else 'not in'} {label}", x, x.name)


# ---- active content (corpus.content): the attachment and everything inside it ---------------
def _content_says(word: str, evidence: Callable[[Attachment], tuple[str, ...]]) -> Any:
    def says(node: FactNode, a: Attachment, ok: bool) -> str:
        if ok:
            return f"{quoted(a.name)} {word}: {'; '.join(evidence(a))}"
        return f"{quoted(a.name)} does not: {word}"

    return says


def _content_kind(op: str, word: str, read: Callable[[Attachment], tuple[str, ...]]) -> FactKind:
    return FactKind(
        "content",
        op,
        read,
        lambda node, value, fact: bool(fact),
        _content_says(word, read),
        capability=word,
    )


def _pdf_actions(found: tuple[str, ...], a: Attachment) -> tuple[str, ...]:
    """Evidence of a PDF action, with what runs it on opening when there is a trigger."""
    triggers = _content.facts(a).triggers
    if not found or not triggers:
        return found
    return (*found, f"run on opening by {', '.join(triggers)}")


HAS_MACROS = _content_kind("macros", "has macros", lambda a: _content.facts(a).macros)
HAS_AUTO_RUN_MACROS = _content_kind(
    "auto_run_macros", "has auto-run macros", lambda a: _content.facts(a).auto_run
)
HAS_JAVASCRIPT = _content_kind(
    "javascript", "has javascript", lambda a: _pdf_actions(_content.facts(a).javascript, a)
)
HAS_LAUNCH_ACTION = _content_kind(
    "launch_action", "has launch action", lambda a: _pdf_actions(_content.facts(a).launch, a)
)
HAS_EMBEDDED_FILE = _content_kind(
    "embedded_file", "has embedded file", lambda a: _content.facts(a).embedded_files
)
HAS_EXTERNAL_LINK = _content_kind(
    "external_link", "has external link", lambda a: _content.facts(a).external_links
)
SMUGGLES_FILE = _content_kind(
    "smuggles_file", "smuggles a file", lambda a: _content.facts(a).smuggling
)
