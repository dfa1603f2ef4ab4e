"""``mailpolicy export``: one module per target, one explicit table of targets.

``TARGETS`` maps each ``--target`` name to its ``Exporter`` subclass (see ``base.py`` for
the framework and how to add a target). ``run`` is what the CLI calls: export, report
losses on stderr, write the output (``-o PATH``: a file, or a directory for multi-file
targets; else stdout) and, with ``--verify``, check the output with the real software.

Exit codes: 0 exported (and verified); 1 the policy cannot be exported as asked (strict
mode and an unsupported rule, an unsafe value) or verification found an unexplained
disagreement; 2 usage or input errors (unknown target, missing tool, unwritable output).
Nothing is written when the export fails.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TextIO

from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.diagnostics import render_all
from mailpolicy.policy.export.amavis import AmavisExporter
from mailpolicy.policy.export.base import Exporter, ExportResult, Loss
from mailpolicy.policy.export.exim import EximExporter
from mailpolicy.policy.export.ir_target import JsonExporter
from mailpolicy.policy.export.postfix import PostfixExporter
from mailpolicy.policy.export.rspamd import RspamdExporter
from mailpolicy.policy.export.sieve import SieveExporter

#: Every target, by its ``--target`` name. Add new targets here (no registry magic).
TARGETS: dict[str, type[Exporter]] = {
    "sieve": SieveExporter,
    "postfix": PostfixExporter,
    "exim": EximExporter,
    "rspamd": RspamdExporter,
    "amavis": AmavisExporter,
    "json": JsonExporter,
}

__all__ = ["TARGETS", "export", "run"]


def export(policy: CheckedPolicy, target: str, *, approximate: bool = False) -> ExportResult:
    """Export ``policy`` to ``target`` without writing anything (KeyError: unknown target)."""
    return TARGETS[target](policy, approximate=approximate).export()


def _source(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return {path: fh.read()}
    except OSError:
        return {}


def report_losses(losses: list[Loss], target: str, err: TextIO, approximate: bool = True) -> None:
    """The loss report on stderr (in strict mode only target-wide limits can be there)."""
    if not losses:
        return
    unsound = sum(1 for loss in losses if not loss.sound)
    kind = "is approximate" if approximate else "has known target limits"
    print(
        f"mailpolicy: export to {target} {kind}: {len(losses)} losses"
        + (f", {unsound} UNSOUND (they let through mail the policy stops)" if unsound else ""),
        file=err,
    )
    for loss in losses:
        print(f"  - {loss.text()}", file=err)


def run(
    policy: CheckedPolicy,
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """The ``export`` verb: ``args`` has ``target``, ``output``, ``approximate``, ``verify``."""
    out = out or sys.stdout
    err = err or sys.stderr
    cls = TARGETS.get(args.target)
    if cls is None:
        print(
            f"mailpolicy: error: target {args.target!r} is not available "
            f"(known: {', '.join(sorted(TARGETS))})",
            file=err,
        )
        return 2
    exporter = cls(policy, approximate=bool(getattr(args, "approximate", False)))
    result = exporter.export()
    if not result.ok:
        print(render_all(result.diagnostics, _source(policy.path)), file=err)
        print(f"mailpolicy: export to {args.target} failed; nothing written", file=err)
        return 1
    report_losses(result.losses, args.target, err, exporter.approximate)
    output = getattr(args, "output", None)
    if output:
        multi = len(cls.filenames) > 1
        try:
            written = result.write(output, multi=multi)
        except OSError as exc:
            print(f"mailpolicy: error: cannot write {output}: {exc.strerror or exc}", file=err)
            return 2
        for path in written:
            print(f"mailpolicy: wrote {os.path.normpath(path)}", file=err)
    elif not getattr(args, "verify", None):
        out.write(result.stdout_text())
    if getattr(args, "verify", None):
        from mailpolicy.policy.export import verify

        return verify.run(exporter, result, args.verify, out=out, err=err)
    return 0
