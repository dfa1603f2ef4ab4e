"""Every exported file goes through its target's own tool before ``export`` exits 0.

``check(exporter, result)`` runs the target runner's ``check()`` (``runner.py``) over the
files in a scratch directory: ``sievec`` for Sieve, ``postmap`` for every Postfix table
(a line it skips with a warning, such as a regular expression too large, is a dead rule),
``exim -bV`` for Exim, ``rspamadm configtest`` for rspamd, Perl and amavis's own
configuration loader for amavis. A file the tool refuses would be a silent failure where
it is deployed (a Sieve script that does not compile keeps every message), so the export
verb turns a refusal into error E305 and writes nothing. A target without a tool (the
JSON form) is checked by nothing; a tool that is not installed is said, and the export
verb refuses to call such files accepted unless told so (``--no-tool-check``).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from mailpolicy.policy.diagnostics import Diagnostic
from mailpolicy.policy.export.base import E_REJECTED, Exporter
from mailpolicy.policy.export.result import ExportResult
from mailpolicy.policy.export.runner import VerifyError


@dataclass(frozen=True, slots=True)
class ToolCheck:
    """What the target's tool said of the exported files."""

    #: the tool's complaint (one line per problem), when it refused the files
    problem: str | None = None
    #: why no tool could check them (not installed), when none did
    missing: str | None = None
    #: the target has no tool (``json``)
    no_tool: bool = False

    @property
    def accepted(self) -> bool:
        return self.problem is None and self.missing is None and not self.no_tool


def check(exporter: Exporter, result: ExportResult) -> ToolCheck:
    """Run the target's own check over ``result``'s files (which must be ``ok``)."""
    if type(exporter).runner is Exporter.runner:
        return ToolCheck(no_tool=True)
    with tempfile.TemporaryDirectory(prefix="mailpolicy-check-") as workdir:
        os.chmod(workdir, 0o755)  # Pigeonhole's tools may run as another user
        try:
            runner = exporter.runner(result, workdir)
        except VerifyError as exc:  # the tool is not installed
            return ToolCheck(missing=str(exc))
        try:
            problem = runner.check()
        except VerifyError as exc:
            return ToolCheck(missing=str(exc))
        finally:
            runner.close()
    return ToolCheck(problem=problem) if problem else ToolCheck()


def rejected(exporter: Exporter, result: ExportResult, problem: str) -> None:
    """Record the tool's refusal as error E305 and drop the files: nothing is written."""
    result.diagnostics.append(
        Diagnostic(
            E_REJECTED,
            "error",
            f"the {exporter.target} tool rejects the exported files, so nothing is "
            f"written: {problem.splitlines()[0]}",
            exporter.policy.ast.span,
        )
    )
    result.files = {}
