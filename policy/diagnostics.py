"""One diagnostic type for every stage: parser, checker, lint, exporters.

A diagnostic has a stable code with a name (``W201 shadowed-rule``), a severity, a
message and a span. ``render`` prints the form compilers use::

    policy.policy:3:7: error: unknown list 'trustd' (did you mean 'trusted'?) [E101]
        block *.pif unless sender trustd
                                  ^^^^^^

Tests assert codes, not prose.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from mailpolicy.policy.ast import NOSPAN, Span

#: Every code the project emits, with its name. Codes never change meaning.
CODES: dict[str, str] = {
    "E100": "syntax-error",
    "E101": "unknown-list",
    "E102": "type-error",
    "E103": "list-file",
    "E104": "duplicate-rule-id",
    "E105": "duplicate-list",
    "E106": "unknown-type",
    "E107": "invalid-glob",
    "E108": "duplicate-statement",
    "E109": "invalid-value",
    "E110": "empty-policy",
    "E111": "input-error",
    "E301": "unsupported-construct",
    "E302": "unsafe-value",
    "W201": "shadowed-rule",
    "W202": "unused-list",
    "W203": "discard-loses-mail",
    "W204": "broad-glob",
    "W205": "empty-list",
    "W206": "duplicate-entry",
    "W207": "broad-content-rule",
    "W208": "size-without-unit",
    "W209": "unauthenticated-trust",
    "W210": "entry-expires-soon",
    "W211": "entry-expired",
    "W212": "no-authserv-id",
}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    severity: str  # "error" or "warning"
    message: str
    span: Span = NOSPAN

    @property
    def name(self) -> str:
        return CODES.get(self.code, "")

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.span.file, self.span.line, self.span.column, self.code)


def error(code: str, message: str, span: Span = NOSPAN) -> Diagnostic:
    return Diagnostic(code, "error", message, span)


def warning(code: str, message: str, span: Span = NOSPAN) -> Diagnostic:
    return Diagnostic(code, "warning", message, span)


class InputError(Exception):
    """A file the user named cannot be used (missing, unreadable, not mail); the message is
    the one line to print. The CLI turns it into exit code 2."""


class PolicyError(Exception):
    """Raised when a policy cannot be parsed or checked; carries every diagnostic."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        found = errors or self.diagnostics  # an error says more than a warning
        first = found[0] if found else None
        super().__init__(first.message if first else "policy error")


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or the empty string."""
    close = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def render(diag: Diagnostic, source: str | None = None) -> str:
    """``FILE:LINE:COL: severity: message [CODE]``, then the line and a caret."""
    s = diag.span
    where = f"{s.file}:{s.line}:{s.column}" if s.line else s.file
    head = f"{where}: {diag.severity}: {diag.message} [{diag.code}]"
    if source is None or s.line <= 0:
        return head
    lines = source.splitlines()
    if s.line > len(lines):
        return head
    text = lines[s.line - 1].expandtabs(1)
    if len(text) > 200:  # a megabyte-long line is not worth echoing
        return head
    width = 1
    if s.end_line == s.line and s.end_column > s.column:
        width = s.end_column - s.column
    return f"{head}\n    {text}\n    {' ' * (s.column - 1)}{'^' * width}"


def render_all(diags: Iterable[Diagnostic], sources: dict[str, str], limit: int = 50) -> str:
    """Render diagnostics sorted by position, at most ``limit`` of them."""
    ordered = sorted(diags, key=Diagnostic.sort_key)
    out = [render(d, sources.get(d.span.file)) for d in ordered[:limit]]
    if len(ordered) > limit:
        out.append(f"... and {len(ordered) - limit} more")
    return "\n".join(out)
