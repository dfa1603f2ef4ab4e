"""Canonical text of AST nodes: one way to write each construct.

The formatter (``fmt``) lays out whole files with their comments; this module prints
single nodes and is what rule ids, reports, traces and exporters' comments use, so every
place shows a rule the same way.

Canonical forms: shorthands expanded (``attachment name matches "*.pif"``, ``sender in
trusted``); parentheses only where precedence needs them (``not`` > ``and`` > ``or``);
modifiers in the order ``unless``, ``as``, ``reason``, ``mode``; strings in double quotes
with ``\\`` and ``"`` escaped.
"""

from __future__ import annotations

from typing import assert_never

from mailpolicy.policy import ast

_PREC = {ast.Or: 1, ast.And: 2, ast.Not: 3}
_ATOM = 4


def quote(value: str) -> str:
    """A policy string literal for ``value``."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def operand(node: ast.Operand) -> str:
    if isinstance(node, ast.Str):
        return quote(node.value)
    if isinstance(node, ast.Number):
        return node.text
    if isinstance(node, ast.ListRef):
        return node.name
    return "[" + ", ".join(item(i) for i in node.items) + "]"


def item(node: ast.Str) -> str:
    """A list entry: its string, and its expiry when it has one."""
    text = quote(node.value)
    return text if node.until is None else f"{text} until {node.until.isoformat()}"


def _authenticated_pair(node: ast.Cond) -> bool:
    """``sender in L authenticated``: the ``and`` of a sender test and ``sender
    authenticated``, which the parser builds from it and the printer writes back."""
    return (
        isinstance(node, ast.And)
        and len(node.items) == 2
        and isinstance(node.items[0], (ast.SenderIn, ast.SenderMatches))
        and isinstance(node.items[1], ast.SenderAuthenticated)
    )


def _and(items: tuple[ast.Cond, ...]) -> list[str]:
    """The operands of an ``and``; a sender test followed by ``sender authenticated`` is
    written as one: ``sender in L authenticated``."""
    out: list[str] = []
    skip = False
    for i, node in enumerate(items):
        if skip:
            skip = False
            continue
        after = items[i + 1] if i + 1 < len(items) else None
        if isinstance(node, (ast.SenderIn, ast.SenderMatches)) and isinstance(
            after, ast.SenderAuthenticated
        ):
            out.append(leaf(node) + " authenticated")
            skip = True
        else:
            out.append(_wrap(node, 2))
    return out


def _prec(node: ast.Cond) -> int:
    return _ATOM if _authenticated_pair(node) else _PREC.get(type(node), _ATOM)


def _wrap(node: ast.Cond, above: int) -> str:
    text = cond(node)
    return f"({text})" if _prec(node) <= above and _prec(node) != _ATOM else text


def _att_single(node: ast.Cond) -> str:
    """An attachment predicate as the single operand of ``attachment``/``archive contains``."""
    text = cond(node)
    return text if _prec(node) == _ATOM else f"({text})"


def leaf(node: ast.Leaf) -> str:
    """Canonical text of one leaf condition (message or attachment level)."""
    match node:
        case ast.SenderIn() | ast.RecipientIn() | ast.NameIn() | ast.ExtensionIn():
            return f"{node.field} in {operand(node.operand)}"
        case ast.SenderMatches() | ast.RecipientMatches() | ast.NameMatches():
            return f"{node.field} matches {operand(node.operand)}"
        case ast.TextContains():
            return f"{node.field} contains {operand(node.operand)}"
        case ast.TextMatches():
            return f"{node.field} matches {operand(node.operand)}"
        case ast.HeaderContains():
            return f"header {quote(node.header)} contains {operand(node.operand)}"
        case ast.HeaderMatches():
            return f"header {quote(node.header)} matches {operand(node.operand)}"
        case ast.MessageSize() | ast.AttachmentSize():
            return f"size {node.op} {operand(node.operand)}"
        case ast.AttachmentCount():
            return f"attachments {node.op} {operand(node.operand)}"
        case ast.ExtensionIs():
            return f"extension {operand(node.operand)}"
        case ast.DoubleExtensionIn():
            return f"double extension in {operand(node.operand)}"
        case ast.TypeClass():
            return f"type {node.operand.value}"
        case ast.TypeMime():
            return f"type {operand(node.operand)}"
        case ast.TypeMismatch():
            return "type mismatch"
        case ast.DeclaredType():
            return f"declared type {operand(node.operand)}"
        case ast.ArchiveEncrypted():
            return "archive encrypted"
        case ast.ArchiveExceedsLimits():
            return "archive exceeds limits"
        case ast.EvasiveName():
            return "evasive name"
        case ast.Unscannable():
            return "unscannable"
        case ast.MessageUnscannable():
            return "message unscannable"
        case ast.SenderAuthenticated():
            return "sender authenticated"
        case ast.EvasiveMime():
            return "evasive mime"
        case ast.TypeIn():
            return f"type in {operand(node.operand)}"
        case ast.DeclaredTypeIn():
            return f"declared type in {operand(node.operand)}"
        case ast.HasMacros():
            return "has macros"
        case ast.HasAutoRunMacros():
            return "has auto-run macros"
        case ast.HasJavaScript():
            return "has javascript"
        case ast.HasLaunchAction():
            return "has launch action"
        case ast.HasEmbeddedFile():
            return "has embedded file"
        case ast.HasExternalLink():
            return "has external link"
        case ast.SmugglesFile():
            return "smuggles a file"
        case _:
            assert_never(node)


def split(node: ast.Cond) -> tuple[str, tuple[str, ...]]:
    """A condition as its top-level operator and operand texts, for layout.

    ``a and (b or c)`` -> ``("and", ("a", "(b or c)"))``; a condition that is not an
    ``and``/``or`` -> ``("", (cond(node),))``. Joining the parts with the operator gives
    ``cond(node)`` exactly.
    """
    if isinstance(node, ast.Or):
        return "or", tuple(_wrap(i, 1) for i in node.items)
    if isinstance(node, ast.And) and not _authenticated_pair(node):
        return "and", tuple(_and(node.items))
    return "", (cond(node),)


def cond(node: ast.Cond) -> str:
    """Canonical text of a condition."""
    if isinstance(node, ast.Or):
        return " or ".join(_wrap(i, 1) for i in node.items)
    if isinstance(node, ast.And):
        return " and ".join(_and(node.items))
    if isinstance(node, ast.Not):
        return "not " + _wrap(node.item, 2)
    if isinstance(node, ast.AnyAttachment):
        return "attachment " + _att_single(node.pred)
    if isinstance(node, ast.ArchiveContains):
        return "archive contains " + _att_single(node.pred)
    return leaf(node)


def rule(node: ast.Rule) -> str:
    """Canonical one-line text of a rule."""
    parts = [node.action]
    if node.header is not None:
        parts.append(quote(node.header.value))
        parts.append("when")
    parts.append(cond(node.condition))
    if node.unless is not None:
        parts.append("unless " + cond(node.unless))
    if node.id is not None:
        parts.append("as " + quote(node.id.value))
    if node.reason is not None:
        parts.append("reason " + quote(node.reason.value))
    if node.audit:
        parts.append("mode audit")
    return " ".join(parts)


def list_def(node: ast.ListDef) -> str:
    if node.file is not None:
        return f"list {node.name} = file {quote(node.file.value)}"
    items = node.items or ()
    return f"list {node.name} = [" + ", ".join(item(i) for i in items) + "]"


def statement(node: ast.Statement) -> str:
    if isinstance(node, ast.PolicyName):
        return f"policy {quote(node.name)}"
    if isinstance(node, ast.Default):
        return f"default {node.action}"
    if isinstance(node, ast.AuthservId):
        return f"authserv-id {quote(node.name)}"
    if isinstance(node, ast.ListDef):
        return list_def(node)
    return rule(node)
