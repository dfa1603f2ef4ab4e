"""How the checker words its errors: positions, operand kinds, short texts."""

from __future__ import annotations

import dataclasses

from mailpolicy.policy import ast


def where(span: ast.Span) -> str:
    return f"line {span.line}, column {span.column}"


def head(span: ast.Span, width: int) -> ast.Span:
    """The first ``width`` characters of ``span`` (a keyword, not a whole statement)."""
    return dataclasses.replace(
        span, end_line=span.line, end_column=span.column + width, end=span.start + width
    )


def span_of(arg: ast.Operand | None, node: ast.Test | ast.AttTest) -> ast.Span:
    return arg.span if arg is not None else node.span


def kind(arg: ast.Operand | None) -> str:
    if isinstance(arg, ast.Str):
        return f"the string {short(arg.value)!r}"
    if isinstance(arg, ast.Number):
        return f"the {'size' if arg.unit else 'number'} {arg.text}"
    if isinstance(arg, ast.ListRef):
        return f"the list name '{arg.name}'"
    if isinstance(arg, ast.ListLit):
        return "a list"
    return "nothing"


def text(arg: ast.Operand | None) -> str:
    if isinstance(arg, ast.Str):
        return short(arg.value)
    if isinstance(arg, ast.Number):
        return arg.text
    if isinstance(arg, ast.ListRef):
        return arg.name
    return "..."


def short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
