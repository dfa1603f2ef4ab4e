"""Shared by the per-target tests: the ``Unsupported`` marker of the support tables, the
one assertion every target's table makes (sqlglot's ``validate_all`` habit), and
``accepting``: a strict export with the target-wide unsound losses accepted by name, as
an administrator who read them would (``--accept-loss``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mailpolicy.policy import loader
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.export import TARGETS
from mailpolicy.policy.export.base import E_UNSOUND, E_UNSUPPORTED, ExportResult

POLICIES = Path(__file__).resolve().parents[2] / "policy" / "policies"


def forgeable_baseline() -> CheckedPolicy:
    """The shipped baseline with exceptions that trust an address alone (no
    ``authenticated``): the shape of policy that Postfix's two-stage export (sender
    exemptions) and the targets' sender tests serve. The shipped baseline requires
    authentication, which no target checks: there its exceptions vanish (a sound loss)."""
    text = (POLICIES / "baseline.policy").read_text(encoding="utf-8")
    text = text.replace(" authenticated", "").replace('file "lists/', f'file "{POLICIES}/lists/')
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "baseline.policy"
        path.write_text(text, encoding="utf-8")
        return loader.load_policy(str(path), lint=True, list_root=str(POLICIES))


class Unsupported:
    """Marker: the target refuses this construct in ``--strict`` mode."""


def accepting(
    policy: CheckedPolicy,
    target: str,
    approximate: bool = False,
    *,
    also: frozenset[str] = frozenset(),
) -> ExportResult:
    """Export ``policy`` with every unsound target-wide loss of this export (``TARGET:KEY``)
    accepted, plus ``also``; strict mode still fails on anything else."""
    first = TARGETS[target](policy, approximate=approximate).export()
    exporter = TARGETS[target](policy, approximate=approximate)
    wide = {x.key for x in first.losses if x.rule == "*" and not x.sound}
    exporter.accept = frozenset(wide) | also
    return exporter.export()


def check_support(result: Any, want: str | type[Unsupported], line: int = 1) -> None:
    """``want`` is a fragment the output must hold, or ``Unsupported``: then the strict export
    fails with E301 naming the rule's line (E303 for target-wide losses may come with it).
    Export with ``accepting`` so that target-wide limits do not fail a supported row."""
    if want is Unsupported:
        assert not result.ok
        assert any(
            d.code == E_UNSUPPORTED and f"(line {line})" in d.message for d in result.diagnostics
        )
        assert {d.code for d in result.diagnostics} <= {E_UNSUPPORTED, E_UNSOUND}
    else:
        assert result.ok, [d.message for d in result.diagnostics]
        assert isinstance(want, str) and want in result.stdout_text()
