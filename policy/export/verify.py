"""``export --verify``: run the exported rules through the real software, compare verdicts.

Driver contract (``run``): every message of the corpus (``corpus.readers.iter_raw``) is
parsed (``corpus.mime.parse_message``) and judged by the reference evaluator; the same
raw bytes go to the target's runner with the envelope sender (the message's
Return-Path) and recipients. Each pair of verdicts is compared by action (allow, block,
quarantine, tag, discard; ``error`` when the tool failed on the message). The report is
an agreement table (tabulate) and every disagreement: message, engine verdict and rule,
target verdict and rule, and the loss that explains it, if any. Exit 0 when every
disagreement is explained by a named loss of the export, 1 otherwise, 2 when the tool is
missing or rejects the exported files.

A target's runner (``Exporter.verifier(result, workdir)``) has:

- ``check() -> str | None``: validate the exported files with the tool (``sievec``,
  ``postmap``...); a message on failure.
- ``run(data, sender, recipients) -> verdict``: an object with ``action`` and ``rule``
  (the id of the rule that decided, None for the default) and optionally ``detail``.
- optionally ``explain(msg, engine, target) -> str | None``: a target-wide reason for a
  disagreement (a ``Limit`` key such as Postfix's encoded names), and ``close()``.

Rule-level explanation is generic: a disagreement is explained when the engine's or the
target's deciding rule has a ``Loss`` in the export result.

The runners live with their targets (``sieve.SieveRunner``, ``postfix.PostfixRunner``,
``postfix_live.LivePostfixRunner``, ``exim.EximRunner``, ``rspamd_runner.RspamdRunner``)
and follow ``runner.Runner``.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from typing import TextIO

from mailpolicy.policy.export.base import Exporter, ExportResult
from mailpolicy.policy.export.runner import VerifyError


@dataclass(frozen=True, slots=True)
class Row:
    message: str
    engine: str
    engine_rule: str | None
    target: str
    target_rule: str | None
    explained_by: str | None
    detail: str = ""


def compare(exporter: Exporter, result: ExportResult, paths: list[str]) -> tuple[list[Row], int]:
    """Every message's (engine, target) verdicts; returns the rows and unreadable count."""
    from mailpolicy.corpus import mime, readers
    from mailpolicy.policy.evaluate import evaluate

    losses_by_rule: dict[str, list[str]] = {}
    for loss in result.losses:
        losses_by_rule.setdefault(loss.rule, []).append(loss.text())
    rows: list[Row] = []
    unreadable = 0
    with tempfile.TemporaryDirectory(prefix="mailpolicy-verify-") as workdir:
        os.chmod(workdir, 0o755)
        runner = exporter.verifier(result, workdir)
        if runner is None:
            raise VerifyError(f"target {exporter.target} has no verifier")
        try:
            problem = runner.check()
            if problem:
                raise VerifyError(f"{exporter.target} rejects the exported files: {problem}")
            for item in readers.iter_raw(paths):
                if not isinstance(item, readers.RawMessage):
                    unreadable += 1
                    continue
                where = f"{item.path}:{item.key}" if item.key is not None else item.path
                msg = mime.parse_message(item.data)
                engine = evaluate(exporter.policy, msg, trace=False)
                target = runner.run(item.data, msg.sender, tuple(msg.recipients))
                explained = None
                if target.action != engine.action:
                    for rid in (engine.rule, target.rule):
                        if rid is not None and rid in losses_by_rule:
                            explained = losses_by_rule[rid][-1]
                            break
                    if explained is None and hasattr(runner, "explain"):
                        explained = runner.explain(msg, engine, target)
                rows.append(
                    Row(
                        where,
                        engine.action,
                        engine.rule,
                        target.action,
                        target.rule,
                        explained,
                        getattr(target, "detail", "") or "",
                    )
                )
        finally:
            if hasattr(runner, "close"):
                runner.close()
    return rows, unreadable


def run(
    exporter: Exporter, result: ExportResult, paths: list[str], *, out: TextIO, err: TextIO
) -> int:
    """Print the agreement table and the disagreements; the exit code (0, 1 or 2)."""
    from tabulate import tabulate

    for p in paths:
        if not os.path.exists(p):
            print(f"mailpolicy: error: cannot read {p}: no such file or directory", file=err)
            return 2
    try:
        rows, unreadable = compare(exporter, result, paths)
    except VerifyError as exc:
        print(f"mailpolicy: error: verify: {exc}", file=err)
        return 2
    counts = Counter((r.engine, r.target) for r in rows)
    table = [(e, t, n, "yes" if e == t else "NO") for (e, t), n in sorted(counts.items())]
    agree = sum(1 for r in rows if r.engine == r.target)
    print(
        f"verify {exporter.target}: {len(rows)} messages, {agree} agree, "
        f"{len(rows) - agree} disagree" + (f", {unreadable} unreadable" if unreadable else ""),
        file=out,
    )
    print(tabulate(table, headers=["engine", exporter.target, "messages", "agree"]), file=out)
    bad = [r for r in rows if r.engine != r.target]
    unexplained = [r for r in bad if r.explained_by is None]
    if bad:
        print("\ndisagreements:", file=out)
        print(
            tabulate(
                [
                    (
                        r.message,
                        f"{r.engine} ({r.engine_rule or 'default'})",
                        f"{r.target} ({r.target_rule or 'default'})",
                        r.explained_by or "UNEXPLAINED",
                    )
                    for r in bad
                ],
                headers=["message", "engine (rule)", f"{exporter.target} (rule)", "explained by"],
                maxcolwidths=[None, None, None, 70],
            ),
            file=out,
        )
    if unexplained:
        print(f"\n{len(unexplained)} disagreements are not explained by the loss report", file=out)
        return 1
    return 0
