"""``mailpolicy diff OLD NEW CORPUS...``: the messages whose verdict a rollout changes.

The corpus is replayed once through both policies; every message whose action changes
is listed, grouped by (old action, new action) with labels and rules; a message decided
by another rule with the same action is counted apart (``rule_changes``). Exit codes as
for ``simulate``.
"""

from __future__ import annotations

import argparse
import time
from typing import TextIO

from mailpolicy.policy.loader import load_policy
from mailpolicy.simulator import replay
from mailpolicy.simulator.cli import common
from mailpolicy.simulator.cli.common import ExitCode, add_budget_options, add_wide_option
from mailpolicy.simulator.replay import EVALUATORS
from mailpolicy.simulator.summary import Changes, diff_json, render_diff

HELP = "what changes when a new policy replaces an old one"


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``mailpolicy diff``."""
    p.add_argument("old", metavar="OLD_POLICY")
    p.add_argument("new", metavar="NEW_POLICY")
    p.add_argument("corpus", nargs="+", metavar="CORPUS")
    p.add_argument("--labels", metavar="FILE")
    p.add_argument("--json", action="store_true")
    add_wide_option(p)
    p.add_argument("--workers", type=int, default=None, metavar="N")
    p.add_argument("--evaluator", choices=EVALUATORS, default="compiled")
    add_budget_options(p)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    old = load_policy(args.old)
    new = load_policy(args.new)
    paths = common.corpus_paths(args.corpus)
    labels = common.labels(args.labels)
    workers = common.workers(args)
    matchers = common.matchers([old, new], args, err)
    progress = replay.Progress()
    ticker = common.ticker(err, progress, paths)
    found = Changes()
    started = time.monotonic()
    rows = replay.replay(
        replay.Decide(tuple(matchers), labels, common.budget(args)),
        paths,
        labels,
        workers=workers,
        progress=progress,
    )
    partial = common.consume(rows, ticker, found.add)
    elapsed = time.monotonic() - started
    doc = diff_json(old, new, found, paths=paths, partial=partial, elapsed=elapsed)
    return common.finish(doc, render_diff, args, out, err, messages=found.total)
