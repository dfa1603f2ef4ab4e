"""``mailpolicy check POLICY...``: every error and lint warning of each policy, in one run.

Text and JSON forms alike (``policy.loader.check_file``). Exit 1 when a policy has
errors, or warnings with ``--strict``; ``--json`` gives the diagnostics to scripts, and
each file's ``"ok"`` is false exactly when that file makes the exit code non-zero (a file
that cannot be read: ``"error"``, exit 2). The text form says ``ok`` only of a file that
passes (``fails --strict`` otherwise).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from mailpolicy.policy.diagnostics import Diagnostic, InputError, render_all
from mailpolicy.policy.loader import check_file
from mailpolicy.simulator.cli.common import ExitCode


def _json(path: str, ok: bool, diags: list[Diagnostic]) -> dict[str, Any]:
    return {
        "path": path,
        "ok": ok,
        "errors": sum(1 for d in diags if d.severity == "error"),
        "warnings": sum(1 for d in diags if d.severity == "warning"),
        "diagnostics": [diagnostic_json(d) for d in diags],
    }


def diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    """One diagnostic as ``--json`` prints it."""
    return {
        "code": d.code,
        "name": d.name,
        "severity": d.severity,
        "message": d.message,
        "line": d.span.line,
        "column": d.span.column,
    }


HELP = "parse and check policies; report errors and lint warnings"


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``mailpolicy check``."""
    p.add_argument("policies", nargs="+", metavar="POLICY")
    p.add_argument("--json", action="store_true", help="diagnostics as JSON")
    p.add_argument("--strict", action="store_true", help="warnings fail the check too")
    p.add_argument("--max-errors", type=int, default=50, metavar="N")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    status = ExitCode.OK
    results: list[dict[str, Any]] = []
    for path in args.policies:
        try:
            text, diags, checked = check_file(path)
        except InputError as exc:
            if not args.json:
                raise
            print(f"mailpolicy: error: {exc}", file=err)
            results.append({"path": path, "ok": False, "error": str(exc), "diagnostics": []})
            status = ExitCode.USAGE
            continue
        errors = [d for d in diags if d.severity == "error"]
        warnings = [d for d in diags if d.severity == "warning"]
        failed = bool(errors or (args.strict and warnings))
        if failed:
            status = max(status, ExitCode.FAIL)
        if args.json:
            results.append(_json(path, not failed, diags))
            continue
        if diags:
            print(render_all(diags, {path: text}, limit=args.max_errors), file=err)
        if checked is not None:
            verdict = "fails --strict" if failed else "ok"
            print(
                f"{path}: {verdict} ({len(checked.rules)} rules, {len(checked.lists)} lists, "
                f"{len(warnings)} warnings)",
                file=out,
            )
    if args.json:
        json.dump(results, out, ensure_ascii=False, indent=2)
        out.write("\n")
    return status
