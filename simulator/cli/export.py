"""``mailpolicy export POLICY --target T [-o PATH] [--approximate] [--accept-loss KEY]
[--verify CORPUS...]``.

Export with the target's exporter (``policy.export.TARGETS``), report the losses on
stderr, write the output (``-o PATH``: a file, or a directory for multi-file targets;
else stdout) and, with ``--verify``, replay the corpus through the engine and the real
software and report where they disagree (``simulator.verify``).

Strict mode (the default) fails on every loss that lets through mail the policy stops,
target-wide ones included, unless ``--accept-loss KEY`` names it (repeatable, or
comma-separated; no wildcards: each loss is accepted by its own name). An accepted loss
is still reported, marked accepted. A key that names no loss of the export is an error.

Exit codes: 0 exported (and verified); 1 the policy cannot be exported as asked (strict
mode and an unsupported rule or an unaccepted unsound loss, an unsafe value, an
``--accept-loss`` key that names no loss) or verification found a disagreement no
loss explains; 2 usage or input errors (missing tool, unwritable output, a corpus that
does not exist). Nothing is written when the export fails.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TextIO

from mailpolicy.policy.diagnostics import render_all
from mailpolicy.policy.export import TARGETS, toolcheck
from mailpolicy.policy.export.base import Exporter, ExportResult, Loss
from mailpolicy.policy.listfile import read_regular
from mailpolicy.policy.parse import MAX_BYTES
from mailpolicy.simulator import verify
from mailpolicy.simulator.cli.common import ExitCode, add_policy_options, corpus_paths, load


def _source(path: str) -> dict[str, str]:
    try:
        return {path: read_regular(path, MAX_BYTES).decode("utf-8", "replace")}
    except ValueError:
        return {}


def report_losses(losses: list[Loss], target: str, err: TextIO, approximate: bool) -> None:
    """The loss report on stderr (in strict mode only target-wide limits can be there)."""
    if not losses:
        return
    unsound = sum(1 for loss in losses if not loss.sound)
    accepted = sum(1 for loss in losses if loss.acknowledged)
    kind = "is approximate" if approximate else "has known target limits"
    print(
        f"mailpolicy: export to {target} {kind}: {len(losses)} losses"
        + (f", {unsound} UNSOUND (they let through mail the policy stops)" if unsound else "")
        + (f", {accepted} accepted with --accept-loss" if accepted else ""),
        file=err,
    )
    for loss in losses:
        print(f"  - {loss.text()}", file=err)


def run_verify(
    exporter: Exporter, result: ExportResult, paths: Sequence[str], out: TextIO, err: TextIO
) -> ExitCode:
    """``--verify``: the report on ``out``; FAIL when a disagreement is unexplained."""
    try:
        rows, unreadable = verify.compare(exporter, result, paths)
    except verify.VerifyError as exc:
        print(f"mailpolicy: error: verify: {exc}", file=err)
        return ExitCode.USAGE
    out.write(verify.render(exporter.target, rows, unreadable))
    return ExitCode.FAIL if verify.unexplained(rows) else ExitCode.OK


HELP = "export a policy to a mail server's configuration"


def add_tool_check_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-tool-check",
        action="store_true",
        help="write the files even when the target's own tool (sievec, postmap, exim -bV, "
        "rspamadm configtest, perl) is not installed to check them (default: such an "
        "export fails, exit 2; files the tool refuses are never written)",
    )


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``mailpolicy export``."""
    p.add_argument("policy", metavar="POLICY")
    add_policy_options(p)
    p.add_argument("--target", required=True, choices=list(TARGETS))
    p.add_argument("-o", "--output", metavar="PATH")
    add_tool_check_option(p)
    mode = p.add_mutually_exclusive_group()
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
    p.add_argument(
        "--accept-loss",
        action="append",
        default=[],
        metavar="KEY",
        help="accept the loss KEY (as the loss report names it, e.g. sieve:embedded) in "
        "strict mode; repeatable, or comma-separated",
    )
    p.add_argument(
        "--verify",
        nargs="+",
        metavar="CORPUS",
        help="run the exported rules through the real software over these messages",
    )


def accepted_keys(values: Sequence[str]) -> frozenset[str]:
    """The ``--accept-loss`` keys: each value split on commas; ``ValueError`` for a
    wildcard or a key without ``OWNER:``."""
    keys = frozenset(k.strip() for v in values for k in v.split(",") if k.strip())
    for k in sorted(keys):
        if "*" in k or "?" in k:
            raise ValueError(f"--accept-loss {k}: wildcards are not accepted; name each loss")
        if ":" not in k:
            raise ValueError(f"--accept-loss {k}: a loss key is OWNER:KEY (e.g. sieve:embedded)")
    return keys


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    try:
        accept = accepted_keys(args.accept_loss)
    except ValueError as exc:
        print(f"mailpolicy: error: {exc}", file=err)
        return ExitCode.USAGE
    if args.verify:  # a corpus that cannot be read fails before anything is exported
        args.verify = corpus_paths(args.verify, what="")
    policy = load(args, args.policy)
    cls = TARGETS[args.target]
    exporter = cls(policy, approximate=args.approximate)
    exporter.accept = accept
    result = exporter.export()
    unknown = sorted(accept - {x.key for x in result.losses}) if result.ok else []
    for key in unknown:  # a target without losses (json) never settles its keys
        print(
            f"mailpolicy: error: --accept-loss {key}: no loss of this export has that key", file=err
        )
    if unknown:
        print(f"mailpolicy: export to {args.target} failed; nothing written", file=err)
        return ExitCode.FAIL
    if result.ok and not args.no_tool_check:
        checked = toolcheck.check(exporter, result)
        if checked.problem:
            toolcheck.rejected(exporter, result, checked.problem)
        elif checked.missing:
            print(
                f"mailpolicy: error: cannot check the exported files with {args.target}'s own "
                f"tool: {checked.missing}; install it, or pass --no-tool-check to write files "
                "no tool has accepted",
                file=err,
            )
            return ExitCode.USAGE
    if not result.ok:
        print(render_all(result.diagnostics, _source(policy.path)), file=err)
        print(f"mailpolicy: export to {args.target} failed; nothing written", file=err)
        return ExitCode.FAIL
    report_losses(result.losses, args.target, err, exporter.approximate)
    if args.output:
        try:
            written = result.write(args.output, multi=len(cls.filenames) > 1)
        except OSError as exc:
            print(f"mailpolicy: error: cannot write {args.output}: {exc.strerror or exc}", file=err)
            return ExitCode.USAGE
        for path in written:
            print(f"mailpolicy: wrote {os.path.normpath(path)}", file=err)
    elif not args.verify:
        out.write(result.stdout_text())
    if args.verify:
        return run_verify(exporter, result, args.verify, out, err)
    return ExitCode.OK
