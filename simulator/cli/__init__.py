"""The ``mailpolicy`` command line: the one entry point, on top of every other layer.

Verbs read like the tools administrators know (``opa fmt/check/eval``, ``postmap -q``,
``sieve-test``), one module each: ``check``, ``fmt``, ``explain``, ``inspect``,
``export``, ``simulate``, ``diff``. Each has ``run(args, out, err) -> ExitCode``; every
verb that reports has a human form and ``--json``. A verb that reads a policy takes its
text or its JSON form (``policy.loader``); ``fmt`` formats text only.

Exit codes (``ExitCode``): 0 fine; 1 the policy has errors or a check failed; 2 usage or
input errors (a missing file, an unreadable message); 130 interrupted. Every failure is
one line on stderr (or rendered diagnostics for policy errors), never a traceback; with
``--json`` it is also a JSON object on stdout, ``{"ok": false, "exit_code", "error"}``.
Every ``--json`` document with an ``"ok"`` field has it true exactly when the exit code is 0.
Nothing but the ``mailpolicy`` script imports this package.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

from mailpolicy.policy import __version__
from mailpolicy.policy.diagnostics import InputError, PolicyError, render_all
from mailpolicy.policy.export import TARGETS
from mailpolicy.policy.listfile import read_regular
from mailpolicy.simulator.cli import check, diff, explain, export, fmt, inspect, simulate
from mailpolicy.simulator.cli.common import ExitCode, add_budget_options, add_wide_option
from mailpolicy.simulator.replay import EVALUATORS

__all__ = ["ExitCode", "build_parser", "main"]

Verb = Callable[[argparse.Namespace, TextIO, TextIO], ExitCode]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise SystemExit(f"mailpolicy: error: {message}") from None


def _sources(exc: PolicyError) -> dict[str, str]:
    """The text of every file a diagnostic points into, for the line and caret."""
    out: dict[str, str] = {}
    for d in exc.diagnostics:
        path = d.span.file
        if path not in out and os.path.isfile(path):
            try:
                out[path] = read_regular(path, 8 * 1024 * 1024).decode("utf-8", "replace")
            except ValueError:
                pass
    return out


def _verb(sub: argparse._SubParsersAction[_Parser], name: str, run: Verb, help: str) -> _Parser:
    p = sub.add_parser(name, help=help)
    p.set_defaults(func=run)
    return p


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="mailpolicy", description="Write, check, replay and export mail attachment policies."
    )
    p.add_argument("--version", action="version", version=f"mailpolicy {__version__}")
    sub = p.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    sub.required = True

    c = _verb(sub, "check", check.run, "parse and check policies; report errors and lint warnings")
    c.add_argument("policies", nargs="+", metavar="POLICY")
    c.add_argument("--json", action="store_true", help="diagnostics as JSON")
    c.add_argument("--strict", action="store_true", help="warnings fail the check too")
    c.add_argument("--max-errors", type=int, default=50, metavar="N")

    f = _verb(sub, "fmt", fmt.run, "print policies in canonical form")
    f.add_argument("policies", nargs="+", metavar="POLICY")
    g = f.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="exit 1 when a file would change")
    g.add_argument("--write", action="store_true", help="rewrite files in place")

    e = _verb(sub, "explain", explain.run, "show the verdict of a policy on one message, and why")
    e.add_argument("policy", metavar="POLICY")
    e.add_argument("message", metavar="MESSAGE")
    e.add_argument("--json", action="store_true")
    add_wide_option(e)
    add_budget_options(e)

    i = _verb(
        sub, "inspect", inspect.run, "show every attachment of messages as the policy sees it"
    )
    i.add_argument("paths", nargs="+", metavar="MESSAGE_OR_CORPUS")
    i.add_argument("--json", action="store_true", help="JSON Lines, one object per message")
    i.add_argument("--labels", metavar="FILE")
    add_budget_options(i)

    x = _verb(sub, "export", export.run, "export a policy to a mail server's configuration")
    x.add_argument("policy", metavar="POLICY")
    x.add_argument("--target", required=True, choices=list(TARGETS))
    x.add_argument("-o", "--output", metavar="PATH")
    mode = x.add_mutually_exclusive_group()
    mode.add_argument(
        "--strict",
        dest="approximate",
        action="store_false",
        default=False,
        help="fail on any rule the target cannot express exactly (default)",
    )
    mode.add_argument(
        "--approximate",
        dest="approximate",
        action="store_true",
        help="emit the nearest sound rule and a loss report instead",
    )
    x.add_argument(
        "--verify",
        nargs="+",
        metavar="CORPUS",
        help="run the exported rules through the real software over these messages",
    )

    s = _verb(sub, "simulate", simulate.run, "replay recorded mail through a policy and score it")
    s.add_argument("policy", metavar="POLICY")
    s.add_argument("corpus", nargs="+", metavar="CORPUS")
    s.add_argument("--labels", metavar="FILE")
    s.add_argument("--json", action="store_true")
    add_wide_option(s)
    s.add_argument("--decisions", metavar="FILE", help="one JSON line per message")
    s.add_argument("--report", metavar="FILE.html", help="a self-contained HTML report")
    s.add_argument(
        "--workers", type=int, default=None, metavar="N", help="processes (default: all cores)"
    )
    s.add_argument("--evaluator", choices=EVALUATORS, default="compiled")
    s.add_argument(
        "--samples", type=int, default=10, metavar="N", help="false positives/negatives shown"
    )
    add_budget_options(s)

    d = _verb(sub, "diff", diff.run, "what changes when a new policy replaces an old one")
    d.add_argument("old", metavar="OLD_POLICY")
    d.add_argument("new", metavar="NEW_POLICY")
    d.add_argument("corpus", nargs="+", metavar="CORPUS")
    d.add_argument("--labels", metavar="FILE")
    d.add_argument("--json", action="store_true")
    add_wide_option(d)
    d.add_argument("--workers", type=int, default=None, metavar="N")
    d.add_argument("--evaluator", choices=EVALUATORS, default="compiled")
    add_budget_options(d)
    return p


def _json_error(
    args: argparse.Namespace,
    out: TextIO,
    code: ExitCode,
    message: str,
    diagnostics: list[dict[str, object]] | None = None,
) -> ExitCode:
    """With ``--json``, a failure is a JSON object on stdout too: ``{"ok": false, ...}``."""
    if getattr(args, "json", False):
        doc = {"ok": False, "exit_code": int(code), "error": message}
        if diagnostics is not None:
            doc["diagnostics"] = diagnostics
        json.dump(doc, out, ensure_ascii=False)
        out.write("\n")
    return code


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run ``mailpolicy`` with ``argv``; the exit code. ``out``/``err`` default to stdio."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=err)
            return ExitCode.USAGE
        return int(exc.code or 0)
    func: Verb = args.func
    try:
        return func(args, out, err)
    except PolicyError as exc:
        print(render_all(exc.diagnostics, _sources(exc)), file=err)
        diags = [{"path": d.span.file, **check.diagnostic_json(d)} for d in exc.diagnostics]
        return _json_error(args, out, ExitCode.FAIL, str(exc), diags)
    except InputError as exc:
        print(f"mailpolicy: error: {exc}", file=err)
        return _json_error(args, out, ExitCode.USAGE, str(exc))
    except KeyboardInterrupt:
        print("mailpolicy: interrupted", file=err)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.OK
