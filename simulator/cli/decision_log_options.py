"""``simulate --decision-log LOG``: replay the messages a live milter decided.

The log's messages are found (``simulator.decisionlog.locate``: the milter's ``--keep``
files, else the CORPUS arguments searched by sha256 and Message-ID) and replayed as the
corpus; the summary then says which of them the policy now decides differently from the
live decision, and which could not be replayed (not kept).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from mailpolicy.policy.diagnostics import InputError
from mailpolicy.simulator import decisionlog
from mailpolicy.simulator.cli import common
from mailpolicy.simulator.replay import Decision

Render = Callable[[dict[str, Any], int | None], str]


def add(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--decision-log",
        action="append",
        metavar="LOG",
        help="replay the messages of a milter decision log (repeatable; plain or gzip): "
        "the files it kept (--keep), else the CORPUS searched by sha256 and Message-ID; "
        "reports what the policy now decides differently",
    )


class Logged:
    """A replay of decision logs: what was found, and the decisions as they come."""

    def __init__(self, logs: list[str], read: decisionlog.LogRead, found: decisionlog.Located):
        self.logs = logs
        self.read = read
        self.located = found
        self.decisions: dict[str, Decision] = {}

    def sources(self, corpus: list[str] | None) -> list[str]:
        """What the summary names as the corpus: the logs, and the archives searched."""
        return [*self.logs, *(corpus or [])]

    def seen(self, d: Decision) -> None:
        self.decisions[d.location] = d

    def attach(self, doc: dict[str, Any]) -> None:
        changed = decisionlog.compare(self.located, self.decisions)
        doc["decision_log"] = decisionlog.section(self.logs, self.read, self.located, changed)

    def render(self, inner: Render) -> Render:
        def both(doc: dict[str, Any], width: int | None) -> str:
            return inner(doc, width) + "\n\n" + decisionlog.render(doc)

        return both


def paths(args: argparse.Namespace) -> tuple[list[str], Logged | None]:
    """The locations to replay, and the decision-log replay when ``--decision-log``."""
    logs: list[str] | None = args.decision_log
    if not logs:
        if not args.corpus:
            raise InputError("no corpus: give CORPUS paths, or --decision-log LOG")
        return common.corpus_paths(args.corpus), None
    common.corpus_paths(logs, "decision log")
    corpus = common.corpus_paths(args.corpus) if args.corpus else []
    try:
        read = decisionlog.read(logs)
    except OSError as exc:
        raise InputError(f"cannot read decision log: {exc.strerror or exc}") from None
    found = decisionlog.locate(read, corpus)
    if not found.found:
        why = found.missing[0][1] if found.missing else "it holds no decision"
        raise InputError(
            f"no message of the decision log can be replayed "
            f"({len(read.entries)} decisions; first: {why})"
        )
    return found.paths, Logged(logs, read, found)
