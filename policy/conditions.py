"""What every kind of condition means: one table, one entry per condition class.

Each leaf class of ``ast`` (``SenderIn``, ``NameMatches``, ``ExtensionIn``, ...) has one
``Entry`` here that says:

- ``read(node, x)``: the values it reads from a message or an attachment;
- ``compile(node, sets)``: its compiled test, a picklable ``x -> bool``;
- ``explain(node, x, lists)``: its outcome with the sentence a trace prints;
- ``index(node, lists)``: the index keys that make a rule a candidate (an extension or a
  name glob that some attachment name must hit, an address entry, a needle, a threshold,
  a fact's value: ``entry.Key``), or None when it cannot be indexed;
- ``keyword``: its (field, op) pair in the JSON form; ``capability``: the name an
  exporter declares in ``Capabilities.conditions`` to say it can express it.

The reference evaluator (``evaluate.py``) is a walk over ``and``/``or``/``not``/
``attachment``/``archive contains`` that asks each leaf's entry to ``explain`` itself;
the compiler (``compile.py``) is the same table's ``compile`` plus the index
(``index.trigger``); lint and the exporters read ``keyword``, ``capability`` and the index.

To follow one condition, ``attachment extension in L``: the grammar rule
``extension_in`` builds ``ast.ExtensionIn``; ``ENTRIES[ast.ExtensionIn]`` is an
``ExtensionKind`` (``attachment_kinds.py``; message-level kinds are in
``message_kinds.py``, what every entry shares in ``entry.py``): it reads the last
extension of every normalised name, compiles to a frozenset test, explains "extension
of "x.exe" is 'exe', in list L", indexes the rule under each extension of ``L``, and
needs the exporter capability ``extension in``, which Sieve declares
(``export/sieve.py``) and writes through ``dialect.name_pattern``: the same "last
extension" read as a regular expression over every filename.

Adding a condition: the grammar rule, its class in ``ast.py`` (added to ``ast.Test`` or
``ast.AttTest``), one entry in ``ENTRIES``, its line in ``printer.leaf`` and the checker's
operand check; then its tests (see CONTRIBUTING.md). A test holds ``ENTRIES`` complete.
"""

from __future__ import annotations

from typing import Any, get_args

from mailpolicy.policy import ast
from mailpolicy.policy.attachment_kinds import (
    ARCHIVE_ENCRYPTED,
    ARCHIVE_EXCEEDS_LIMITS,
    ATTACHMENT_SIZE,
    DECLARED_TYPE,
    EVASIVE_NAME,
    HAS_AUTO_RUN_MACROS,
    HAS_EMBEDDED_FILE,
    HAS_EXTERNAL_LINK,
    HAS_JAVASCRIPT,
    HAS_LAUNCH_ACTION,
    HAS_MACROS,
    SMUGGLES_FILE,
    TYPE_CLASS,
    TYPE_MIME,
    TYPE_MISMATCH,
    UNSCANNABLE,
    ExtensionKind,
    NameKind,
    TypeListKind,
    unscannable,
)
from mailpolicy.policy.entry import (
    COMPARE,
    Entry,
    IndexKey,
    Key,
    Lists,
    Match,
    Need,
    Sets,
    Trigger,
    is_double_extension,
    norm_extension,
    uninspectable,
)
from mailpolicy.policy.message_kinds import AddressKind, CountKind, MessageFlagKind, TextKind
from mailpolicy.policy.trust import SENDER_AUTHENTICATED

__all__ = [
    "CAPABILITIES",
    "COMPARE",
    "ENTRIES",
    "Entry",
    "IndexKey",
    "Key",
    "Lists",
    "Match",
    "Need",
    "Sets",
    "Trigger",
    "capability",
    "entry",
    "is_double_extension",
    "keyword",
    "norm_extension",
    "uninspectable",
    "unscannable",
]


ENTRIES: dict[type[ast.Leaf], Entry[Any, Any]] = {
    ast.SenderIn: AddressKind("sender", "in"),
    ast.SenderMatches: AddressKind("sender", "matches"),
    ast.SenderAuthenticated: SENDER_AUTHENTICATED,
    ast.RecipientIn: AddressKind("recipient", "in"),
    ast.RecipientMatches: AddressKind("recipient", "matches"),
    ast.TextContains: TextKind("text", "contains"),
    ast.TextMatches: TextKind("text", "matches"),
    ast.HeaderContains: TextKind("header", "contains"),
    ast.HeaderMatches: TextKind("header", "matches"),
    ast.MessageSize: CountKind("size", "compare", capability="message size"),
    ast.AttachmentCount: CountKind("attachments", "compare", capability="attachment count"),
    ast.MessageUnscannable: MessageFlagKind("message", "unscannable"),
    ast.EvasiveMime: MessageFlagKind("evasive_mime", "is", capability="evasive mime"),
    ast.NameMatches: NameKind("name", "matches"),
    ast.NameIn: NameKind("name", "in"),
    ast.ExtensionIn: ExtensionKind("extension", "in"),
    ast.ExtensionIs: ExtensionKind("extension", "is"),
    ast.DoubleExtensionIn: ExtensionKind("double_extension", "in"),
    ast.TypeClass: TYPE_CLASS,
    ast.TypeMime: TYPE_MIME,
    ast.TypeMismatch: TYPE_MISMATCH,
    ast.DeclaredType: DECLARED_TYPE,
    ast.AttachmentSize: ATTACHMENT_SIZE,
    ast.ArchiveEncrypted: ARCHIVE_ENCRYPTED,
    ast.ArchiveExceedsLimits: ARCHIVE_EXCEEDS_LIMITS,
    ast.EvasiveName: EVASIVE_NAME,
    ast.Unscannable: UNSCANNABLE,
    ast.TypeIn: TypeListKind("type", "in"),
    ast.DeclaredTypeIn: TypeListKind("declared_type", "in"),
    ast.HasMacros: HAS_MACROS,
    ast.HasAutoRunMacros: HAS_AUTO_RUN_MACROS,
    ast.HasJavaScript: HAS_JAVASCRIPT,
    ast.HasLaunchAction: HAS_LAUNCH_ACTION,
    ast.HasEmbeddedFile: HAS_EMBEDDED_FILE,
    ast.HasExternalLink: HAS_EXTERNAL_LINK,
    ast.SmugglesFile: SMUGGLES_FILE,
}


def entry_at(position: int) -> Entry[Any, Any]:
    return list(ENTRIES.values())[position]


def entry(node: ast.Leaf) -> Entry[Any, Any]:
    """The table entry of a leaf condition."""
    return ENTRIES[type(node)]


def keyword(node: ast.Leaf) -> tuple[str, str]:
    """The (field, op) pair of ``node`` in the JSON form: ``("sender", "in")``,
    ``("subject", "contains")``, ``("size", ">")``, ``("archive", "encrypted")``."""
    match node:
        case (
            ast.TextContains()
            | ast.TextMatches()
            | ast.MessageSize()
            | ast.AttachmentCount()
            | ast.AttachmentSize()
        ):
            return node.field, node.op  # the field or the comparison is the node's own
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
    [
        e.capability
        for e in ENTRIES.values()
        if not isinstance(e, TextKind) or e.keyword[0] != "text"
    ]
    + [f"{f} {op}" for f in get_args(ast.TextField) for op in ("contains", "matches")]
)


def _complete() -> None:
    missing = set(get_args(ast.Leaf)) - set(ENTRIES)
    if missing:  # pragma: no cover - a developer error, caught at import
        raise AssertionError(f"conditions without a table entry: {sorted(map(str, missing))}")


_complete()
