"""``mailpolicy simulate POLICY CORPUS...``: replay recorded mail and score it against labels.

Prints a summary (human tables or ``--json``), optionally writes ``--decisions`` (JSON
Lines in corpus order, unreadable messages included) and ``--report`` (one
self-contained HTML file).

Exit codes: 0 done; 2 an input cannot be used (a corpus path or labels file that does not
exist, an output file that cannot be written: checked before the replay starts); 130
interrupted by Ctrl-C, after writing the partial results (marked ``"partial": true``).
Unreadable messages do not change the exit code: they are listed in the results.

Progress goes to stderr only when stderr is a terminal: messages done, rate, and an ETA
when the corpus size is known from a cheap ``stat`` (uncompressed files only).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import TextIO

from mailpolicy.policy.loader import load_policy
from mailpolicy.simulator import replay, report
from mailpolicy.simulator.cli import common
from mailpolicy.simulator.cli.common import ExitCode, add_budget_options, add_wide_option
from mailpolicy.simulator.replay import EVALUATORS, Decision
from mailpolicy.simulator.score import Score
from mailpolicy.simulator.summary import render_simulate, result_json

HELP = "replay recorded mail through a policy and score it"


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``mailpolicy simulate``."""
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("corpus", nargs="+", metavar="CORPUS")
    p.add_argument("--labels", metavar="FILE")
    p.add_argument("--json", action="store_true")
    add_wide_option(p)
    p.add_argument("--decisions", metavar="FILE", help="one JSON line per message")
    p.add_argument("--report", metavar="FILE.html", help="a self-contained HTML report")
    p.add_argument(
        "--workers", type=int, default=None, metavar="N", help="processes (default: all cores)"
    )
    p.add_argument("--evaluator", choices=EVALUATORS, default="compiled")
    p.add_argument(
        "--samples", type=int, default=10, metavar="N", help="false positives/negatives shown"
    )
    add_budget_options(p)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    policy = load_policy(args.policy)
    paths = common.corpus_paths(args.corpus)
    labels = common.labels(args.labels)
    common.writable(args.decisions, "decisions")
    common.writable(args.report, "report")
    workers = common.workers(args)
    (matcher,) = common.matchers([policy], args, err)
    score = Score.for_policy(policy, samples=args.samples)
    progress = replay.Progress()
    ticker = common.ticker(err, progress, paths)
    started = time.monotonic()
    rows = replay.replay(
        replay.Decide((matcher,), labels, common.budget(args)),
        paths,
        labels,
        workers=workers,
        progress=progress,
    )
    fh = open(args.decisions, "w", encoding="utf-8") if args.decisions else None  # noqa: SIM115

    def each(row: tuple[Decision, ...]) -> None:
        (d,) = row
        score.add(d)
        if fh is not None:
            fh.write(json.dumps(d.to_json(), ensure_ascii=False) + "\n")

    try:
        partial = common.consume(rows, ticker, each)
    finally:
        if fh is not None:
            fh.close()
    elapsed = time.monotonic() - started
    doc = result_json(
        policy,
        score,
        paths=paths,
        elapsed=elapsed,
        partial=partial,
        evaluator=replay.evaluator_name(matcher),
        workers=workers,
    )
    if args.report:
        report.write(args.report, doc)
    return common.finish(doc, render_simulate, args, out, err, messages=score.total)
