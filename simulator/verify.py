"""``export --verify``: replay with two deciders, the engine and the real software, and a diff.

Every message of the corpus (read by ``replay``, in this process: the runner drives one
tool) is parsed and judged by the reference evaluator; the same raw bytes go to the
target's runner (``Exporter.runner(result, workdir)``, see ``policy.export.runner``)
with the envelope sender (the message's Return-Path) and recipients. Each pair of
verdicts is compared by action (allow, block, quarantine, tag, discard; ``error`` when
the tool failed on the message).

A disagreement is explained by the losses of the export (``losses.explaining``): those
of the engine's or the target's deciding rule, or target-wide ones, whose predicate
(``Loss.when``, see ``policy.export.when``) holds on that message; a sound loss never
explains mail the engine stops and the target lets through. With none it is
UNEXPLAINED, and ``export --verify`` exits 1.

- ``compare(exporter, result, paths)``: ``(rows, unreadable)``, one ``Row`` per message.
  Raises ``VerifyError`` when the tool is missing or rejects the exported files.
- ``render(target, rows, unreadable)``: the report: an agreement table and every
  disagreement with what explains it. ``unexplained(rows)``: what should fail the check.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tabulate import tabulate

from mailpolicy.corpus.readers import RawMessage, Unreadable
from mailpolicy.policy.export.base import Exporter, ExportResult
from mailpolicy.policy.export.losses import explaining
from mailpolicy.policy.export.runner import Runner, VerifyError
from mailpolicy.simulator.replay import Matcher, ReferenceMatcher, parse, replay

__all__ = ["Judge", "Row", "VerifyError", "compare", "render", "unexplained"]


@dataclass(frozen=True, slots=True)
class Row:
    """One message: the engine's verdict, the target's, and what explains a disagreement."""

    message: str
    engine: str
    engine_rule: str | None
    target: str
    target_rule: str | None
    explained_by: str | None
    detail: str = ""
    #: the keys of the losses that explain the disagreement, and their texts
    keys: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()

    @property
    def agrees(self) -> bool:
        return self.engine == self.target


class Judge:
    """The judge of ``--verify``: both deciders on one message; None for an unreadable one.
    The evasion matrix (tests/export) drives it cell by cell with a ``RawMessage``."""

    def __init__(self, engine: Matcher, runner: Runner, result: ExportResult) -> None:
        self.engine, self.runner, self.result = engine, runner, result

    def decide(self, raw: RawMessage) -> Row | None:
        msg = parse(raw)
        engine = self.engine.evaluate(msg)
        target = self.runner.run(raw.data, msg.sender, tuple(msg.recipients))
        found: tuple[str, ...] = ()
        texts: tuple[str, ...] = ()
        explained = None
        if target.action != engine.action:
            why = explaining(
                self.result.losses,
                msg,
                engine.rule,
                engine.action,
                engine.attachment,
                target.rule,
                target.action,
            )
            found = tuple(x.key for x in why.losses)
            texts = tuple(x.text() for x in why.losses)
            explained = why.text() or None
        where = f"{raw.path}:{raw.key}" if raw.key is not None else raw.path
        return Row(
            where,
            engine.action,
            engine.rule,
            target.action,
            target.rule,
            explained,
            target.detail,
            found,
            texts,
        )

    def unreadable(self, item: Unreadable) -> Row | None:
        return None


def compare(
    exporter: Exporter, result: ExportResult, paths: Sequence[str]
) -> tuple[list[Row], int]:
    """Every message's (engine, target) verdicts; returns the rows and the unreadable count."""
    rows: list[Row] = []
    unreadable = 0
    with tempfile.TemporaryDirectory(prefix="mailpolicy-verify-") as workdir:
        os.chmod(workdir, 0o755)  # the tools may run as another user (Pigeonhole as nobody)
        runner = exporter.runner(result, workdir)
        try:
            problem = runner.check()
            if problem:
                raise VerifyError(f"{exporter.target} rejects the exported files: {problem}")
            judge = Judge(ReferenceMatcher(exporter.policy), runner, result)
            for row in replay(judge, paths, workers=1):
                if row is None:
                    unreadable += 1
                else:
                    rows.append(row)
        finally:
            runner.close()
    return rows, unreadable


def unexplained(rows: Sequence[Row]) -> list[Row]:
    """The disagreements no loss of the export explains."""
    return [r for r in rows if not r.agrees and r.explained_by is None]


def render(target: str, rows: Sequence[Row], unreadable: int) -> str:
    """The verify report (ends with a newline)."""
    counts = Counter((r.engine, r.target) for r in rows)
    table = [(e, t, n, "yes" if e == t else "NO") for (e, t), n in sorted(counts.items())]
    agree = sum(1 for r in rows if r.agrees)
    parts = [
        f"verify {target}: {len(rows)} messages, {agree} agree, {len(rows) - agree} disagree"
        + (f", {unreadable} unreadable" if unreadable else ""),
        tabulate(table, headers=["engine", target, "messages", "agree"]),
    ]
    bad = [r for r in rows if not r.agrees]
    if bad:
        parts.append("\ndisagreements:")
        parts.append(
            tabulate(
                [
                    (
                        r.message,
                        f"{r.engine} ({r.engine_rule or 'default'})",
                        f"{r.target} ({r.target_rule or 'default'})",
                        ", ".join(r.keys) if r.keys else "UNEXPLAINED",
                    )
                    for r in bad
                ],
                headers=["message", "engine (rule)", f"{target} (rule)", "explained by"],
                maxcolwidths=[None, None, None, 70],
            )
        )
        used = {k for r in bad for k in r.keys}
        if used:
            parts.append("\nlosses that explain them:")
            known = {k: t for r in bad for k, t in zip(r.keys, r.texts, strict=True)}
            parts += [f"  - {known[k]}" for k in sorted(used)]
    missing = unexplained(rows)
    if missing:
        parts.append(f"\n{len(missing)} disagreements are not explained by the loss report")
    return "\n".join(parts) + "\n"
