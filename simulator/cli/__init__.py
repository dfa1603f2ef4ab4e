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
import io
import json
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, Protocol, TextIO, cast

from mailpolicy.policy import __version__
from mailpolicy.policy.diagnostics import InputError, PolicyError, render_all
from mailpolicy.simulator.cli import (
    check,
    diff,
    eval,
    explain,
    export,
    fmt,
    inspect,
    milter,
    simulate,
    test,
)
from mailpolicy.simulator.cli.common import ExitCode, sources

__all__ = ["ExitCode", "build_parser", "main"]

Verb = Callable[[argparse.Namespace, TextIO, TextIO], ExitCode]


class VerbModule(Protocol):
    """A verb is a module with these three names: its help line, its arguments, its run."""

    __name__: str
    HELP: str

    def configure(self, p: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode: ...


#: Every verb, in the order ``mailpolicy --help`` lists them. A new verb is a module in
#: this package with ``HELP``, ``configure(parser)`` and ``run(args, out, err)``, named here.
VERBS: tuple[VerbModule, ...] = (
    check,
    fmt,
    test,
    eval,
    explain,
    inspect,
    export,
    simulate,
    diff,
    milter,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise SystemExit(f"mailpolicy: error: {message}") from None


class _Quiet(io.TextIOBase):
    """Standard error under ``--quiet``: every line still written, but never a terminal,
    so no progress line is drawn."""

    def __init__(self, err: TextIO) -> None:
        self._err = err

    def write(self, text: str) -> int:
        return self._err.write(text)

    def flush(self) -> None:
        self._err.flush()

    def isatty(self) -> bool:
        return False


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="mailpolicy", description="Write, check, replay and export mail attachment policies."
    )
    p.add_argument("--version", action="version", version=f"mailpolicy {__version__}")
    sub = p.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    sub.required = True

    for verb in VERBS:
        name = verb.__name__.rsplit(".", 1)[-1]
        v = sub.add_parser(name, help=verb.HELP)
        verb.configure(v)
        v.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            help="print nothing on standard output and no progress: the exit code is the "
            "answer (errors still go to standard error; files asked for are still written)",
        )
        v.set_defaults(func=verb.run)
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
    if args.quiet:
        out, err = io.StringIO(), cast(TextIO, _Quiet(err))
    try:
        return func(args, out, err)
    except PolicyError as exc:
        print(render_all(exc.diagnostics, sources(exc.diagnostics)), file=err)
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
