"""``mailpolicy check POLICY...``: every error and lint warning of each policy, in one run.

Text and JSON forms alike (``policy.loader.check_file``). Exit 1 when a policy has
errors, or warnings with ``--strict``; ``--json`` gives the diagnostics to scripts.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from mailpolicy.policy.diagnostics import Diagnostic, render_all
from mailpolicy.policy.loader import check_file
from mailpolicy.simulator.cli.common import ExitCode


def _json(path: str, ok: bool, diags: list[Diagnostic]) -> dict[str, Any]:
    return {
        "path": path,
        "ok": ok,
        "diagnostics": [
            {
                "code": d.code,
                "name": d.name,
                "severity": d.severity,
                "message": d.message,
                "line": d.span.line,
                "column": d.span.column,
            }
            for d in diags
        ],
    }


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    status = ExitCode.OK
    results = []
    for path in args.policies:
        text, diags, checked = check_file(path)
        errors = [d for d in diags if d.severity == "error"]
        warnings = [d for d in diags if d.severity == "warning"]
        if errors or (args.strict and warnings):
            status = ExitCode.FAIL
        if args.json:
            results.append(_json(path, not errors, diags))
            continue
        if diags:
            print(render_all(diags, {path: text}, limit=args.max_errors), file=err)
        if checked is not None:
            print(
                f"{path}: ok ({len(checked.rules)} rules, {len(checked.lists)} lists, "
                f"{len(warnings)} warnings)",
                file=out,
            )
    if args.json:
        json.dump(results, out, ensure_ascii=False, indent=2)
        out.write("\n")
    return status
