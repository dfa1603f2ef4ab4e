"""The JSON form's vocabulary: the field and op words of every kind of condition.

``MESSAGE_FIELDS``/``ATTACHMENT_FIELDS`` list them as ``ir.py`` reads and reports them,
``MESSAGE_OPERANDS``/``ATTACHMENT_OPERANDS`` the operand kinds each takes, and
``from_keyword`` builds the AST class a (field, op) pair names (the inverse of
``conditions.keyword``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, cast

from mailpolicy.policy import ast

#: Message-level fields and the ops each takes.
MESSAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "sender": ("in", "matches", "authenticated"),
    "recipient": ("in", "matches"),
    "from": ("contains", "matches"),
    "subject": ("contains", "matches"),
    "body": ("contains", "matches"),
    "header": ("contains", "matches"),
    "size": ast.COMPARISONS,
    "attachments": ast.COMPARISONS,
    "message": ("unscannable",),
    "evasive_mime": ("is",),
}

#: The active-content facts (``corpus.content``): field ``content``, one op each.
CONTENT_OPS: tuple[str, ...] = (
    "macros",
    "auto_run_macros",
    "javascript",
    "launch_action",
    "embedded_file",
    "external_link",
    "smuggles_file",
)
_CONTENT_KINDS: dict[str, Callable[[], ast.Leaf]] = {
    "macros": ast.HasMacros,
    "auto_run_macros": ast.HasAutoRunMacros,
    "javascript": ast.HasJavaScript,
    "launch_action": ast.HasLaunchAction,
    "embedded_file": ast.HasEmbeddedFile,
    "external_link": ast.HasExternalLink,
    "smuggles_file": ast.SmugglesFile,
}

#: Attachment-level fields and the ops each takes.
ATTACHMENT_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("matches", "in"),
    "extension": ("in", "is"),
    "double_extension": ("in",),
    "type": ("class", "mime", "mismatch", "in"),
    "declared_type": ("matches", "in"),
    "size": ast.COMPARISONS,
    "archive": ("encrypted", "exceeds_limits"),
    "evasive_name": ("is",),
    "unscannable": ("is",),
    "content": CONTENT_OPS,
}

#: Operand kinds each (field, op) takes: "string", "number", "list" (a name or items), as
#: the checker wants them.
MESSAGE_OPERANDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("sender", "in"): ("list",),
    ("sender", "matches"): ("string",),
    ("sender", "authenticated"): (),
    ("recipient", "in"): ("list",),
    ("recipient", "matches"): ("string",),
    **{
        (f, op): ("string",)
        for f in ("from", "subject", "body", "header")
        for op in ("contains", "matches")
    },
    **{(f, op): ("number",) for f in ("size", "attachments") for op in MESSAGE_FIELDS[f]},
    ("message", "unscannable"): (),
    ("evasive_mime", "is"): (),
}
ATTACHMENT_OPERANDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("name", "matches"): ("string",),
    ("name", "in"): ("list",),
    ("extension", "in"): ("list",),
    ("extension", "is"): ("string",),
    ("double_extension", "in"): ("list",),
    ("type", "class"): ("string",),
    ("type", "mime"): ("string",),
    ("type", "mismatch"): (),
    ("declared_type", "matches"): ("string",),
    ("archive", "encrypted"): (),
    ("archive", "exceeds_limits"): (),
    ("evasive_name", "is"): (),
    ("unscannable", "is"): (),
    ("type", "in"): ("list",),
    ("declared_type", "in"): ("list",),
    **{("content", op): () for op in CONTENT_OPS},
    **{("size", op): ("number",) for op in ATTACHMENT_FIELDS["size"]},
}


def from_keyword(
    level: Literal["message", "attachment"],
    field: str,
    op: str,
    operand: ast.Operand | None,
    header: str | None = None,
) -> ast.Leaf:
    """The leaf a JSON ``test``/``attachment_test`` names (the inverse of ``keyword``);
    ``field`` and ``op`` are checked against ``MESSAGE_FIELDS``/``ATTACHMENT_FIELDS``
    by the caller, and ``operand`` is None exactly when the kind takes none."""
    if field in ("size", "attachments"):
        cmp = cast(ast.Comparison, op)
        if level == "attachment":
            return ast.AttachmentSize(op=cmp, operand=_present(operand))
        if field == "size":
            return ast.MessageSize(op=cmp, operand=_present(operand))
        return ast.AttachmentCount(op=cmp, operand=_present(operand))
    if field in ("from", "subject", "body"):
        text = cast(ast.TextField, field)
        cls = ast.TextContains if op == "contains" else ast.TextMatches
        return cls(field=text, operand=_present(operand))
    if field == "header":
        hcls = ast.HeaderContains if op == "contains" else ast.HeaderMatches
        return hcls(header=header or "", operand=_present(operand))
    bare: dict[tuple[str, str], Callable[[], ast.Leaf]] = {
        ("type", "mismatch"): ast.TypeMismatch,
        ("archive", "encrypted"): ast.ArchiveEncrypted,
        ("archive", "exceeds_limits"): ast.ArchiveExceedsLimits,
        ("evasive_name", "is"): ast.EvasiveName,
        ("unscannable", "is"): ast.Unscannable,
        ("message", "unscannable"): ast.MessageUnscannable,
        ("evasive_mime", "is"): ast.EvasiveMime,
        ("sender", "authenticated"): ast.SenderAuthenticated,
    }
    if (field, op) in bare:
        return bare[field, op]()
    if field == "content":
        return _CONTENT_KINDS[op]()
    value = _present(operand)
    if (field, op) in (("extension", "is"), ("type", "class"), ("type", "mime")):
        assert isinstance(value, ast.Str)
        kinds: dict[str, Callable[..., ast.Leaf]] = {
            "is": ast.ExtensionIs,
            "class": ast.TypeClass,
            "mime": ast.TypeMime,
        }
        return kinds[op](operand=value)
    with_operand: dict[tuple[str, str], Callable[..., ast.Leaf]] = {
        ("sender", "in"): ast.SenderIn,
        ("sender", "matches"): ast.SenderMatches,
        ("recipient", "in"): ast.RecipientIn,
        ("recipient", "matches"): ast.RecipientMatches,
        ("name", "matches"): ast.NameMatches,
        ("name", "in"): ast.NameIn,
        ("extension", "in"): ast.ExtensionIn,
        ("double_extension", "in"): ast.DoubleExtensionIn,
        ("declared_type", "matches"): ast.DeclaredType,
        ("type", "in"): ast.TypeIn,
        ("declared_type", "in"): ast.DeclaredTypeIn,
    }
    return with_operand[field, op](operand=value)


def _present(operand: ast.Operand | None) -> ast.Operand:
    assert operand is not None
    return operand
