"""``mailpolicy check POLICY...``: every error and lint warning of each policy, in one run.

Text and JSON forms alike (``policy.loader.check_file``). Exit 1 when a policy has
errors, or warnings with ``--strict``; ``--format json`` (``--json``) gives the
diagnostics to scripts, and each file's ``"ok"`` is false exactly when that file makes the
exit code non-zero (a file that cannot be read: ``"error"``, exit 2). The text form says
``ok`` only of a file that passes (``fails --strict`` otherwise). ``--format sarif``
writes one SARIF 2.1.0 log (``SarifLog``) for code hosts to annotate the lines
of a pull request; the exit code is the same.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import urllib.parse
from typing import Any, TextIO

from mailpolicy.policy import __version__, lint
from mailpolicy.policy.diagnostics import CODES, Diagnostic, InputError, render_all
from mailpolicy.policy.loader import check_file
from mailpolicy.simulator.cli.common import ExitCode, add_policy_options, sources


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
        "file": d.span.file,
        "line": d.span.line,
        "column": d.span.column,
    }


# ---- SARIF 2.1.0 ---------------------------------------------------------------------------
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
#: What each error code means, for code hosts' rule help (the warnings' come from their lint
#: functions); ``tests/simulator/test_check_sarif.py`` holds that every code has one.
ERROR_HELP = {
    "E100": "The policy does not parse: the text is not valid policy syntax.",
    "E101": "A rule refers to a list that is not defined.",
    "E102": "An operand of the wrong kind (a size compared with a string, a string where a "
    "list is needed, a header on a rule that is not tag, ...).",
    "E103": "A list file that is missing, not a regular file, too large, binary or not UTF-8.",
    "E104": "Two rules with the same id.",
    "E105": "Two lists with the same name.",
    "E106": "An unknown type class.",
    "E107": "A malformed glob (an unclosed [ or {).",
    "E108": "A second policy or default statement.",
    "E109": "An invalid value (an extension written with its dot, a number above 2^53, ...).",
    "E110": "The policy has no statement.",
    "E111": "Not a policy: binary, not UTF-8, or over the size limit.",
    "E301": "A rule the export target cannot express (strict mode).",
    "E302": "A value that cannot be written safely in the export target.",
}


def _help(code: str) -> str:
    if code in ERROR_HELP:
        return ERROR_HELP[code]
    doc = next((f.__doc__ for c, f in lint.LINTS if c == code), None) or ""
    return " ".join(doc.strip().split("\n\n")[0].split()).replace("``", "'")


def _uri(path: str) -> str:
    """A file's URI relative to the working directory (an absolute file URI outside it)."""
    full = os.path.abspath(path)
    rel = os.path.relpath(full)
    if rel == ".." or rel.startswith(".." + os.sep):
        return pathlib.Path(full).as_uri()
    return urllib.parse.quote(pathlib.PurePath(rel).as_posix())


class SarifLog:
    """One SARIF 2.1.0 log of a ``check`` run: a rule per code (``diagnostics.CODES``), a
    result per diagnostic, a tool notification per file that could not be read."""

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []
        self.notifications: list[dict[str, Any]] = []
        self.codes = list(CODES)

    def _location(self, path: str, d: Diagnostic | None = None) -> dict[str, Any]:
        physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(path)}}
        s = d.span if d is not None else None
        if s is not None and s.line > 0:
            region = {"startLine": s.line, "startColumn": max(s.column, 1)}
            if s.end_line >= s.line and s.end_column > 0:
                region["endLine"] = s.end_line
                if s.end_line > s.line or s.end_column > s.column:
                    region["endColumn"] = s.end_column
            physical["region"] = region
        return {"physicalLocation": physical}

    def add(self, path: str, diags: list[Diagnostic]) -> None:
        for d in diags:
            where = d.span.file if d.span.line > 0 and d.span.file != "<generated>" else path
            result: dict[str, Any] = {
                "ruleId": d.code,
                "level": "error" if d.severity == "error" else "warning",
                "message": {"text": d.message},
                "locations": [self._location(where, d)],
            }
            if d.code in self.codes:
                result["ruleIndex"] = self.codes.index(d.code)
            self.results.append(result)

    def unreadable(self, path: str, message: str) -> None:
        self.notifications.append(
            {"level": "error", "message": {"text": message}, "locations": [self._location(path)]}
        )

    def to_json(self, ok: bool) -> dict[str, Any]:
        rules = [
            {
                "id": code,
                "name": CODES[code],
                "shortDescription": {"text": CODES[code].replace("-", " ")},
                "fullDescription": {"text": _help(code)},
                "defaultConfiguration": {"level": "error" if code[0] == "E" else "warning"},
            }
            for code in self.codes
        ]
        driver = {
            "name": "mailpolicy",
            "version": __version__,
            "informationUri": "https://pypi.org/project/mailpolicy/",
            "rules": rules,
        }
        return {
            "$schema": SARIF_SCHEMA,
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {"driver": driver},
                    "columnKind": "unicodeCodePoints",
                    "invocations": [
                        {
                            "executionSuccessful": ok,
                            "toolExecutionNotifications": self.notifications,
                        }
                    ],
                    "results": self.results,
                }
            ],
        }


HELP = "parse and check policies; report errors and lint warnings"


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``mailpolicy check``."""
    p.add_argument("policies", nargs="+", metavar="POLICY")
    add_policy_options(p)
    p.add_argument(
        "--format",
        choices=("text", "json", "sarif"),
        help="text (default), json, or sarif (SARIF 2.1.0, for code hosts' annotations)",
    )
    p.add_argument("--json", action="store_true", help="the same as --format json")
    p.add_argument("--strict", action="store_true", help="warnings fail the check too")
    p.add_argument("--max-errors", type=int, default=50, metavar="N")


def output_format(args: argparse.Namespace) -> str:
    """``--format``, with ``--json`` as its alias; InputError when the two disagree."""
    if args.json and args.format not in (None, "json"):
        raise InputError(f"--json and --format {args.format} disagree: give one of them")
    return str(args.format or ("json" if args.json else "text"))


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    form = output_format(args)
    args.json = form == "json"  # a failure outside this loop is a JSON object too
    status = ExitCode.OK
    results: list[dict[str, Any]] = []
    log = SarifLog()
    for path in args.policies:
        try:
            text, diags, checked = check_file(path, list_root=args.list_root, as_of=args.as_of)
        except InputError as exc:
            if form == "text":
                raise
            print(f"mailpolicy: error: {exc}", file=err)
            results.append({"path": path, "ok": False, "error": str(exc), "diagnostics": []})
            log.unreadable(path, str(exc))
            status = ExitCode.USAGE
            continue
        errors = [d for d in diags if d.severity == "error"]
        warnings = [d for d in diags if d.severity == "warning"]
        failed = bool(errors or (args.strict and warnings))
        if failed:
            status = max(status, ExitCode.FAIL)
        if form == "json":
            results.append(_json(path, not failed, diags))
            continue
        if form == "sarif":
            log.add(path, diags)
            continue
        if diags:
            print(render_all(diags, sources(diags, {path: text}), limit=args.max_errors), file=err)
        if checked is not None:
            verdict = "fails --strict" if failed else "ok"
            print(
                f"{path}: {verdict} ({len(checked.rules)} rules, {len(checked.lists)} lists, "
                f"{len(warnings)} warnings)",
                file=out,
            )
    if form == "json":
        json.dump(results, out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif form == "sarif":
        json.dump(log.to_json(status == ExitCode.OK), out, ensure_ascii=False, indent=2)
        out.write("\n")
    return status
