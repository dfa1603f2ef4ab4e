"""The ``mailpolicy`` command line.

Verbs read like the tools administrators know (``opa fmt/check/eval``, ``postmap -q``,
``sieve-test``). Every verb that reports has a human form and ``--json``.

Exit codes: 0 fine; 1 the policy has errors or a check failed; 2 usage or input errors
(a missing file, an unreadable message). Every failure is one line on stderr (or rendered
diagnostics for policy errors), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from mailpolicy.policy import __version__
from mailpolicy.policy.diagnostics import InputError, PolicyError, render_all

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise SystemExit(f"mailpolicy: error: {message}") from None


def _sources(exc: PolicyError) -> dict[str, str]:
    out: dict[str, str] = {}
    for d in exc.diagnostics:
        path = d.span.file
        if path not in out and os.path.isfile(path):
            try:
                with open(path, "rb") as fh:
                    out[path] = fh.read(8 * 1024 * 1024).decode("utf-8", "replace")
            except OSError:
                pass
    return out


def load_policy(path: str) -> Any:
    """A checked policy from ``path``; PolicyError for a bad policy, InputError otherwise.

    Lint is left to ``check``: the verbs that run a policy only need it to be valid."""
    from mailpolicy.policy import check

    if not os.path.exists(path):
        raise InputError(f"cannot read policy {path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"cannot read policy {path}: it is a directory")
    try:
        return check.load(path, lint=False)
    except OSError as exc:
        raise InputError(f"cannot read policy {path}: {exc.strerror or exc}") from None


# ---- verbs ------------------------------------------------------------------------------------
def _check_one(path: str) -> tuple[str, list[Any], Any]:
    """(source text, diagnostics, checked policy or None) for one policy file."""
    from mailpolicy.policy import check
    from mailpolicy.policy.parse import decode_source, parse

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except IsADirectoryError:
        raise InputError(f"cannot read policy {path}: it is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read policy {path}: {exc.strerror or exc}") from None
    try:
        text = decode_source(data, path)
        result = check.check(parse(text, path), base_dir=os.path.dirname(os.path.abspath(path)))
    except PolicyError as exc:
        return data.decode("utf-8", "replace"), list(exc.diagnostics), None
    return text, list(result.diagnostics), result.policy


def cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    status = EXIT_OK
    results = []
    for path in args.policies:
        text, diags, checked = _check_one(path)
        errors = [d for d in diags if d.severity == "error"]
        warnings = [d for d in diags if d.severity == "warning"]
        if errors or (args.strict and warnings):
            status = EXIT_FAIL
        if args.json:
            results.append(
                {
                    "path": path,
                    "ok": not errors,
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
            )
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


def cmd_fmt(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from mailpolicy.policy import fmt

    return int(fmt.fmt_paths(args.policies, check=args.check, write=args.write, out=out, err=err))


def _read_messages(paths: Sequence[str], labels: str | None = None) -> Any:
    from mailpolicy.corpus import readers

    for p in paths:
        if not os.path.exists(p):
            raise InputError(f"cannot read {p}: no such file or directory")
    label_map = None
    if labels:
        from mailpolicy.corpus.labels import Labels

        try:
            label_map = Labels.load(labels)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read labels {labels}: {exc}") from None
    return readers.iter_messages(paths, label_map)


def cmd_explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from mailpolicy.corpus.message import Message
    from mailpolicy.policy.evaluate import evaluate

    policy = load_policy(args.policy)
    count = 0
    status = EXIT_OK
    for item in _read_messages([args.message]):
        count += 1
        if not isinstance(item, Message):
            print(
                f"mailpolicy: error: cannot read message {item.path}"
                f"{':' + item.key if item.key else ''}: {item.reason}",
                file=err,
            )
            status = EXIT_USAGE
            continue
        verdict = evaluate(policy, item)
        if args.json:
            doc = {
                "message": item.location,
                "message_id": item.message_id,
                "policy": policy.name,
                **verdict.to_json(),
            }
            out.write(json.dumps(doc, ensure_ascii=False) + "\n")
        else:
            out.write(_explain_text(policy, item, verdict) + "\n")
    if count == 0:
        raise InputError(f"no message found in {args.message}")
    return status


def _explain_text(policy: Any, msg: Any, verdict: Any) -> str:
    from tabulate import tabulate

    att = verdict.attachment
    lines = [
        f"message:    {msg.location}",
        f"sender:     {msg.sender or '<>'}  recipients: {', '.join(msg.recipients) or '-'}",
        f"verdict:    {verdict.action.upper()}"
        + (f" by rule {verdict.rule} (line {verdict.line})" if verdict.rule else " (default)"),
    ]
    if att is not None:
        shown = verdict.name or att.name or "(no name)"
        lines.append(f"attachment: {shown} (part {att.part})")
    if verdict.header:
        lines.append(f"header:     {verdict.header}")
    for s in verdict.stripped:
        lines.append(f"strips:     {s.name} (part {s.part})")
    lines.append(f"reason:     {verdict.reason}")
    if verdict.trace:
        rows = [
            (s.line, s.rule, s.action, "MATCH" if s.matched else "no", _clip(s.why))
            for s in verdict.trace
        ]
        lines.append("")
        lines.append(tabulate(rows, headers=["line", "rule", "action", "result", "why"]))
    return "\n".join(lines)


def _clip(text: str, width: int = 110) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_inspect(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from mailpolicy.corpus import inspect
    from mailpolicy.corpus.message import Message

    status = EXIT_OK
    for item in _read_messages(args.paths, args.labels):
        if not isinstance(item, Message):
            where = f"{item.path}{':' + item.key if item.key else ''}"
            if args.json:
                out.write(
                    json.dumps({"path": where, "unreadable": item.reason}, ensure_ascii=False)
                    + "\n"
                )
            else:
                print(f"{where}: unreadable: {item.reason}", file=err)
            status = EXIT_FAIL
            continue
        if args.json:
            out.write(json.dumps(inspect.to_json(item), ensure_ascii=False) + "\n")
        else:
            out.write(inspect.render_table(item) + "\n\n")
    return status


def cmd_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from mailpolicy.policy import export

    policy = load_policy(args.policy)
    return int(export.run(policy, args, out=out, err=err))


def cmd_simulate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from mailpolicy.simulator import cli as sim

    policy = load_policy(args.policy)
    return int(sim.simulate(policy, args, out=out, err=err))


def cmd_diff(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from mailpolicy.simulator import cli as sim

    old = load_policy(args.old)
    new = load_policy(args.new)
    return int(sim.diff(old, new, args, out=out, err=err))


# ---- argument parsing -------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="mailpolicy", description="Write, check, replay and export mail attachment policies."
    )
    p.add_argument("--version", action="version", version=f"mailpolicy {__version__}")
    sub = p.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    sub.required = True

    c = sub.add_parser("check", help="parse and check policies; report errors and lint warnings")
    c.add_argument("policies", nargs="+", metavar="POLICY")
    c.add_argument("--json", action="store_true", help="diagnostics as JSON")
    c.add_argument("--strict", action="store_true", help="warnings fail the check too")
    c.add_argument("--max-errors", type=int, default=50, metavar="N")
    c.set_defaults(func=cmd_check)

    f = sub.add_parser("fmt", help="print policies in canonical form")
    f.add_argument("policies", nargs="+", metavar="POLICY")
    g = f.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="exit 1 when a file would change")
    g.add_argument("--write", action="store_true", help="rewrite files in place")
    f.set_defaults(func=cmd_fmt)

    e = sub.add_parser("explain", help="show the verdict of a policy on one message, and why")
    e.add_argument("policy", metavar="POLICY")
    e.add_argument("message", metavar="MESSAGE")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_explain)

    i = sub.add_parser("inspect", help="show every attachment of messages as the policy sees it")
    i.add_argument("paths", nargs="+", metavar="MESSAGE_OR_CORPUS")
    i.add_argument("--json", action="store_true", help="JSON Lines, one object per message")
    i.add_argument("--labels", metavar="FILE")
    i.set_defaults(func=cmd_inspect)

    x = sub.add_parser("export", help="export a policy to a mail server's configuration")
    x.add_argument("policy", metavar="POLICY")
    x.add_argument(
        "--target", required=True, choices=["sieve", "postfix", "exim", "rspamd", "amavis", "json"]
    )
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
    x.set_defaults(func=cmd_export)

    s = sub.add_parser("simulate", help="replay recorded mail through a policy and score it")
    s.add_argument("policy", metavar="POLICY")
    s.add_argument("corpus", nargs="+", metavar="CORPUS")
    s.add_argument("--labels", metavar="FILE")
    s.add_argument("--json", action="store_true")
    s.add_argument("--decisions", metavar="FILE", help="one JSON line per message")
    s.add_argument("--report", metavar="FILE.html", help="a self-contained HTML report")
    s.add_argument(
        "--workers", type=int, default=None, metavar="N", help="processes (default: all cores)"
    )
    s.add_argument("--evaluator", choices=["reference", "compiled"], default="compiled")
    s.add_argument(
        "--samples", type=int, default=10, metavar="N", help="false positives/negatives shown"
    )
    s.set_defaults(func=cmd_simulate)

    d = sub.add_parser("diff", help="what changes when a new policy replaces an old one")
    d.add_argument("old", metavar="OLD_POLICY")
    d.add_argument("new", metavar="NEW_POLICY")
    d.add_argument("corpus", nargs="+", metavar="CORPUS")
    d.add_argument("--labels", metavar="FILE")
    d.add_argument("--json", action="store_true")
    d.add_argument("--workers", type=int, default=None, metavar="N")
    d.add_argument("--evaluator", choices=["reference", "compiled"], default="compiled")
    d.set_defaults(func=cmd_diff)
    return p


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=err)
            return EXIT_USAGE
        return int(exc.code or 0)
    func: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.func
    try:
        return func(args, out, err)
    except PolicyError as exc:
        print(render_all(exc.diagnostics, _sources(exc)), file=err)
        return EXIT_FAIL
    except InputError as exc:
        print(f"mailpolicy: error: {exc}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mailpolicy: interrupted", file=err)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
