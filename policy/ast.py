"""The policy AST: immutable nodes with source spans.

Every later stage (checker, formatter, IR, evaluator, compiler, exporters) reads this one
tree. Nodes are frozen dataclasses holding tuples, never lists; a tree changes only by
building new nodes (``dataclasses.replace``). Spans do not take part in equality, so
``parse(format(tree)) == tree`` compares meaning, not layout.

Conditions come in two levels. Message-level: the ``Test`` classes (``SenderIn``,
``TextContains``, ``MessageSize``...) and ``AnyAttachment``. Attachment-level, inside
``AnyAttachment``: the ``AttTest`` classes (``NameMatches``, ``ExtensionIn``,
``TypeClass``, ``HasMacros``...) and ``ArchiveContains``. ``And``/``Or``/``Not`` serve
both. Each leaf kind is one class; its meaning is one entry of ``policy/conditions.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from mailpolicy.policy.ast_base import NOSPAN as NOSPAN
from mailpolicy.policy.ast_base import ListLit as ListLit
from mailpolicy.policy.ast_base import ListRef as ListRef
from mailpolicy.policy.ast_base import Number as Number
from mailpolicy.policy.ast_base import Operand as Operand
from mailpolicy.policy.ast_base import Span as Span
from mailpolicy.policy.ast_base import Str as Str
from mailpolicy.policy.ast_base import _span


@dataclass(frozen=True, slots=True, kw_only=True)
class _Flag:  # a condition without an operand: ``type mismatch``, ``has macros``...
    span: Span = _span()
    operand: ClassVar[None] = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Content(_Flag):  # an active-content fact: JSON field ``content``, one op each
    field: ClassVar[str] = "content"


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


#: The comparison operators of ``size`` and ``attachments``.
Comparison = Literal[">", "<", ">=", "<=", "==", "!="]
COMPARISONS: tuple[Comparison, ...] = (">", "<", ">=", "<=", "==", "!=")
#: The message texts ``from``/``subject``/``body`` ``contains``/``matches`` read.
TextField = Literal["from", "subject", "body"]

# One class per kind of condition (its grammar rule in its docstring); ``conditions.py`` says
# what each means. ``field``/``op``: its (field, op) in the JSON form (``Entry.keyword``).


# ---- message-level conditions -----------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class SenderIn:
    """``sender in LIST`` (also the shorthand ``sender LIST``): grammar ``sender_in``."""

    operand: Operand
    span: Span = _span()
    field: ClassVar[str] = "sender"
    op: ClassVar[str] = "in"


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderMatches:
    """``sender matches GLOB``: grammar ``sender_matches``."""

    operand: Operand
    span: Span = _span()
    field: ClassVar[str] = "sender"
    op: ClassVar[str] = "matches"


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderAuthenticated:
    """``sender authenticated`` (grammar ``sender_authenticated``; ``sender in L
    authenticated`` is ``sender in L and sender authenticated``): the sender's domain
    passed DMARC, aligned DKIM or SPF, or the sender used SMTP AUTH (``policy/trust.py``).
    ``servers``: the policy's ``authserv-id``s, filled in by the checker (the parser and the
    JSON reader leave it empty; it is not printed: the statements carry it)."""

    servers: tuple[str, ...] = ()
    span: Span = _span()
    operand: ClassVar[None] = None
    field: ClassVar[str] = "sender"
    op: ClassVar[str] = "authenticated"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientIn:
    """``recipient in LIST``: grammar ``recipient_in``."""

    operand: Operand
    span: Span = _span()
    field: ClassVar[str] = "recipient"
    op: ClassVar[str] = "in"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientMatches:
    """``recipient matches GLOB``: grammar ``recipient_matches``."""

    operand: Operand
    span: Span = _span()
    field: ClassVar[str] = "recipient"
    op: ClassVar[str] = "matches"


@dataclass(frozen=True, slots=True, kw_only=True)
class TextContains:
    """``from|subject|body contains "text"``: grammar ``text_test``."""

    field: TextField
    operand: Operand
    span: Span = _span()
    op: ClassVar[str] = "contains"


@dataclass(frozen=True, slots=True, kw_only=True)
class TextMatches:
    """``from|subject|body matches GLOB``: grammar ``text_test``."""

    field: TextField
    operand: Operand
    span: Span = _span()
    op: ClassVar[str] = "matches"


@dataclass(frozen=True, slots=True, kw_only=True)
class HeaderContains:
    """``header "Name" contains "text"``: grammar ``header_test``."""

    header: str
    operand: Operand
    span: Span = _span()
    field: ClassVar[str] = "header"
    op: ClassVar[str] = "contains"


@dataclass(frozen=True, slots=True, kw_only=True)
class HeaderMatches:
    """``header "Name" matches GLOB``: grammar ``header_test``."""

    header: str
    operand: Operand
    span: Span = _span()
    field: ClassVar[str] = "header"
    op: ClassVar[str] = "matches"


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSize:
    """``size > 25MB`` at message level: grammar ``message_size``."""

    op: Comparison
    operand: Operand
    span: Span = _span()
    field: ClassVar[str] = "size"


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachmentCount:
    """``attachments > 5``: grammar ``attachment_count``."""

    op: Comparison
    operand: Operand
    span: Span = _span()
    field: ClassVar[str] = "attachments"


# ---- attachment-level conditions --------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class NameMatches:
    """``name matches GLOB`` (also ``attachment "GLOB"`` and ``block *.pif``): grammar
    ``name_matches``, ``name_glob``, ``bare_glob``."""

    operand: Operand
    span: Span = _span()
    field: ClassVar[str] = "name"
    op: ClassVar[str] = "matches"


@dataclass(frozen=True, slots=True, kw_only=True)
class NameIn:
    """``name in LIST`` (a list of globs): grammar ``name_in``."""

    operand: Operand
    span: Span = _span()
    field: ClassVar[str] = "name"
    op: ClassVar[str] = "in"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtensionIn:
    """``extension in LIST``: grammar ``extension_in``."""

    operand: Operand
    span: Span = _span()
    field: ClassVar[str] = "extension"
    op: ClassVar[str] = "in"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtensionIs:
    """``extension "pif"``: grammar ``extension_is``."""

    operand: Str
    span: Span = _span()
    field: ClassVar[str] = "extension"
    op: ClassVar[str] = "is"


@dataclass(frozen=True, slots=True, kw_only=True)
class DoubleExtensionIn:
    """``double extension in LIST``: grammar ``double_extension_in``."""

    operand: Operand
    span: Span = _span()
    field: ClassVar[str] = "double_extension"
    op: ClassVar[str] = "in"


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeClass:
    """``type executable``: the class of the type detected from content (``type_is``)."""

    operand: Str
    span: Span = _span()
    field: ClassVar[str] = "type"
    op: ClassVar[str] = "class"


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeMime:
    """``type "application/x-dosexec"``: a glob over the detected MIME type (``type_is``)."""

    operand: Str
    span: Span = _span()
    field: ClassVar[str] = "type"
    op: ClassVar[str] = "mime"


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeMismatch(_Flag):
    """``type mismatch``: the name's extension disagrees with the content."""

    field: ClassVar[str] = "type"
    op: ClassVar[str] = "mismatch"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeclaredType:
    """``declared type "audio/*"``: a glob over the Content-Type as sent."""

    operand: Operand
    span: Span = _span()
    field: ClassVar[str] = "declared_type"
    op: ClassVar[str] = "matches"


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachmentSize:
    """``size > 10MB`` inside ``attachment``: grammar ``attachment_size``."""

    op: Comparison
    operand: Operand
    span: Span = _span()
    field: ClassVar[str] = "size"


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveEncrypted(_Flag):
    """``archive encrypted``."""

    field: ClassVar[str] = "archive"
    op: ClassVar[str] = "encrypted"


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveExceedsLimits(_Flag):
    """``archive exceeds limits``: could not be fully inspected (a limit, or encrypted)."""

    field: ClassVar[str] = "archive"
    op: ClassVar[str] = "exceeds_limits"


@dataclass(frozen=True, slots=True, kw_only=True)
class Unscannable(_Flag):
    """``unscannable``: the attachment, or something inside it, could not be read
    completely (corrupt, an unsupported method, a reader error, a limit, the time budget)."""

    field: ClassVar[str] = "unscannable"
    op: ClassVar[str] = "is"


@dataclass(frozen=True, slots=True, kw_only=True)
class EvasiveName(_Flag):
    """``evasive name``: the name uses a trick."""

    field: ClassVar[str] = "evasive_name"
    op: ClassVar[str] = "is"


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeIn:
    """``type in LIST``: a listed class or MIME glob (grammar ``type_in``)."""

    operand: Operand
    span: Span = _span()
    field: ClassVar[str] = "type"
    op: ClassVar[str] = "in"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeclaredTypeIn:
    """``declared type in LIST``: a glob over the Content-Type as sent."""

    operand: Operand
    span: Span = _span()
    field: ClassVar[str] = "declared_type"
    op: ClassVar[str] = "in"


# ---- active content (``corpus.content``); grammar rules ``has_macros``, ``smuggles_file``...
@dataclass(frozen=True, slots=True, kw_only=True)
class HasMacros(_Content):
    """``has macros``: VBA (OLE or OOXML) or Excel 4.0 macro sheets."""

    op: ClassVar[str] = "macros"


@dataclass(frozen=True, slots=True, kw_only=True)
class HasAutoRunMacros(_Content):
    """``has auto-run macros``: AutoOpen, Document_Open, Workbook_Open, Auto_Open..."""

    op: ClassVar[str] = "auto_run_macros"


@dataclass(frozen=True, slots=True, kw_only=True)
class HasJavaScript(_Content):
    """``has javascript``: PDF JavaScript actions, HTML or SVG scripts."""

    op: ClassVar[str] = "javascript"


@dataclass(frozen=True, slots=True, kw_only=True)
class HasLaunchAction(_Content):
    """``has launch action``: a PDF /Launch action."""

    op: ClassVar[str] = "launch_action"


@dataclass(frozen=True, slots=True, kw_only=True)
class HasEmbeddedFile(_Content):
    """``has embedded file``: a PDF /EmbeddedFile or an OLE package."""

    op: ClassVar[str] = "embedded_file"


@dataclass(frozen=True, slots=True, kw_only=True)
class HasExternalLink(_Content):
    """``has external link``: an OOXML relationship fetched from outside."""

    op: ClassVar[str] = "external_link"


@dataclass(frozen=True, slots=True, kw_only=True)
class SmugglesFile(_Content):
    """``smuggles a file``: an HTML or SVG page that would build a file."""

    op: ClassVar[str] = "smuggles_file"


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageUnscannable(_Flag):
    """``message unscannable``: the message itself could not be read completely (a MIME
    limit, a scan window, the time budget, a structure the parser could not follow)."""

    field: ClassVar[str] = "message"
    op: ClassVar[str] = "unscannable"


@dataclass(frozen=True, slots=True, kw_only=True)
class EvasiveMime(_Flag):
    """``evasive mime``: the MIME structure uses a trick, something common readers
    interpret differently (two Content-Type headers, conflicting names...)."""

    field: ClassVar[str] = "evasive_mime"
    op: ClassVar[str] = "is"


#: A message-level leaf condition.
Test = (
    SenderIn
    | SenderMatches
    | SenderAuthenticated
    | RecipientIn
    | RecipientMatches
    | TextContains
    | TextMatches
    | HeaderContains
    | HeaderMatches
    | MessageSize
    | AttachmentCount
    | MessageUnscannable
    | EvasiveMime
)
#: An attachment-level leaf condition (inside ``attachment`` or ``archive contains``).
AttTest = (
    NameMatches
    | NameIn
    | ExtensionIn
    | ExtensionIs
    | DoubleExtensionIn
    | TypeClass
    | TypeMime
    | TypeMismatch
    | DeclaredType
    | AttachmentSize
    | ArchiveEncrypted
    | ArchiveExceedsLimits
    | EvasiveName
    | Unscannable
    | TypeIn
    | DeclaredTypeIn
    | HasMacros
    | HasAutoRunMacros
    | HasJavaScript
    | HasLaunchAction
    | HasEmbeddedFile
    | HasExternalLink
    | SmugglesFile
)
Leaf = Test | AttTest


@dataclass(frozen=True, slots=True, kw_only=True)
class AnyAttachment:
    """``attachment P``: some attachment of the message satisfies ``P``."""

    pred: Cond
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveContains:
    """``archive contains P`` (or ``contains P``): some member (of an archive, an Office
    document, a page's smuggled files), at any depth within the limits, satisfies P."""

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
class AuthservId:
    """``authserv-id "mx1.example.ac.jp"``: Authentication-Results fields from this server
    count (RFC 8601 section 5); all others are ignored."""

    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class ListDef:
    """``list NAME = [...]`` or ``list NAME = file "path"``, as written; the entries of
    either form live in ``CheckedPolicy.lists``."""

    name: str
    items: tuple[Str, ...] | None = None
    file: Str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """``ACTION [HEADER] COND [unless COND] [as "id"] [reason "..."] [mode audit]``.

    ``mode`` is ``None`` for an enforced rule (``mode enforce``, the default, prints as
    nothing); ``"audit"`` stages a rule: it reports what it would do and the next rule
    decides."""

    action: str
    condition: Cond
    header: Str | None = None
    unless: Cond | None = None
    id: Str | None = None
    reason: Str | None = None
    mode: Str | None = None
    span: Span = _span()

    @property
    def audit(self) -> bool:
        return self.mode is not None and self.mode.value == "audit"


Statement = PolicyName | Default | AuthservId | ListDef | Rule


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
    def authserv_ids(self) -> tuple[str, ...]:
        names = (s.name for s in self.statements if isinstance(s, AuthservId))
        return tuple(dict.fromkeys(names))

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
