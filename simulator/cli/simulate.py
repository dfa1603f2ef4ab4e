"""``mailpolicy simulate POLICY CORPUS...``: replay recorded mail and score it against labels.

Prints a summary (human tables or ``--json``), optionally writes ``--decisions`` (JSON
Lines in corpus order, unreadable messages included) and ``--report`` (one
self-contained HTML file).

CI gates (``simulator/gates.py``): ``--max-false-positives N``, ``--max-false-negatives N``,
``--min-precision P``, ``--min-recall R``; a gate that fails makes the run exit 1, with a
line on stderr naming the gate and its figures, and ``"gates"`` in ``--json`` (``"ok"``
false). A gate over a corpus without benign/malicious labels is a usage error (exit 2).

Exit codes: 0 done; 1 a gate failed; 2 an input cannot be used (a corpus path or labels
file that does not exist, an output file that cannot be written: checked before the
replay starts); 130 interrupted by Ctrl-C, after writing the partial results (marked
``"partial": true``).
Unreadable messages do not change the exit code: they are listed in the results.

Progress goes to stderr only when stderr is a terminal: messages done, rate, and an ETA
when the corpus size is known from a cheap ``stat`` (uncompressed files only).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, TextIO

from mailpolicy.policy.diagnostics import InputError
from mailpolicy.simulator import gates, replay, report
from mailpolicy.simulator.cli import common, decision_log_options, engine_options
from mailpolicy.simulator.cli.cache_options import add_cache_options, after_run, fact_store
from mailpolicy.simulator.cli.common import ExitCode, add_budget_options, add_wide_option
from mailpolicy.simulator.replay import EVALUATORS, Decision
from mailpolicy.simulator.score import Score
from mailpolicy.simulator.summary import render_simulate, result_json

HELP = "replay recorded mail through a policy and score it"


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``mailpolicy simulate``."""
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("corpus", nargs="*", metavar="CORPUS")
    common.add_policy_options(p)
    decision_log_options.add(p)
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
    add_cache_options(p)
    engine_options.add_engine_options(p)
    g = p.add_argument_group("CI gates (exit 1 when one fails; they need labelled mail)")
    g.add_argument("--max-false-positives", type=int, metavar="N")
    g.add_argument("--max-false-negatives", type=int, metavar="N")
    g.add_argument("--min-precision", type=float, metavar="P")
    g.add_argument("--min-recall", type=float, metavar="R")


def _gates(doc: dict[str, Any], args: argparse.Namespace) -> list[gates.Gate]:
    try:
        return gates.evaluate_simulate(
            doc,
            max_false_positives=args.max_false_positives,
            max_false_negatives=args.max_false_negatives,
            min_precision=args.min_precision,
            min_recall=args.min_recall,
        )
    except gates.NeedsLabels as exc:
        raise InputError(str(exc)) from None


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    policy = common.load(args, args.policy)
    paths, logged = decision_log_options.paths(args)
    labels = common.labels(args.labels)
    common.writable(args.decisions, "decisions")
    common.writable(args.report, "report")
    workers = common.workers(args)
    (matcher,) = common.matchers([policy], args, err)
    score = Score.for_policy(policy, samples=args.samples)
    progress = replay.Progress()
    ticker = common.ticker(err, progress, paths)
    started = time.monotonic()
    store = fact_store(args, err)
    rows = engine_options.replay(
        args,
        replay.Decide((matcher,), labels, common.budget(args), facts=store),
        paths,
        labels,
        workers=workers,
        progress=progress,
    )
    fh = open(args.decisions, "w", encoding="utf-8") if args.decisions else None  # noqa: SIM115

    def each(row: tuple[Decision, ...]) -> None:
        (d,) = row
        score.add(d)
        if logged is not None:
            logged.seen(d)
        if fh is not None:
            fh.write(json.dumps(d.to_json(), ensure_ascii=False) + "\n")

    try:
        partial = common.consume(rows, ticker, each)
    finally:
        if fh is not None:
            fh.close()
        after_run(store, err)
    elapsed = time.monotonic() - started
    doc = result_json(
        policy,
        score,
        paths=paths if logged is None else logged.sources(args.corpus),
        elapsed=elapsed,
        partial=partial,
        evaluator=replay.evaluator_name(matcher),
        workers=workers,
    )
    render: decision_log_options.Render = render_simulate
    if logged is not None:
        logged.attach(doc)
        render = logged.render(render_simulate)
    found = _gates(doc, args) if doc.get("messages") and not partial else []
    if args.report:
        report.write(args.report, doc)
    return common.finish(doc, render, args, out, err, messages=score.total, found=found)
