"""Shared by the per-target tests: the ``Unsupported`` marker of the support tables and the
one assertion every target's table makes (sqlglot's ``validate_all`` habit)."""

from __future__ import annotations

from typing import Any

from mailpolicy.policy.export.base import E_UNSUPPORTED


class Unsupported:
    """Marker: the target refuses this construct in ``--strict`` mode."""


def check_support(result: Any, want: str | type[Unsupported], line: int = 1) -> None:
    """``want`` is a fragment the output must hold, or ``Unsupported``: then the strict export
    fails with E301 naming the rule's line."""
    if want is Unsupported:
        assert not result.ok
        assert any(
            d.code == E_UNSUPPORTED and f"(line {line})" in d.message for d in result.diagnostics
        )
    else:
        assert result.ok, [d.message for d in result.diagnostics]
        assert isinstance(want, str) and want in result.stdout_text()
