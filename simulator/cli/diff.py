"""``mailpolicy diff OLD NEW CORPUS...``: the messages whose verdict a rollout changes;
``mailpolicy diff OLD NEW --semantic``: whether the two policies stop the same messages,
decided without a corpus.

With a corpus, it is replayed once through both policies; every message whose action
changes is listed, grouped by (old action, new action) with labels and rules; a message
decided by another rule with the same action is counted apart (``rule_changes``). Exit
codes as for ``simulate`` (0 also when messages change), unless ``--fail-on`` names gates
(``simulator/gates.py``): ``newly-stopped-benign``, ``newly-delivered-malicious`` (both need
labelled mail, else exit 2) and ``any-change`` exit 1 when their count is above 0, with a
line on stderr and ``"gates"`` in ``--json``.

``--semantic`` (no corpus) compares the policies themselves (``policy.semantic``) and
prints counterexamples: messages OLD stops and NEW delivers, or the reverse, each
confirmed by both compiled matchers, and the conditions it did not compare. Exit 0
equivalent, 1 different (as ``diff --fail-on any-change`` does for a corpus, and
``fmt --check``), 2 when it could not decide (too many cases, or a counterexample the
matchers did not confirm: a bug to report).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, TextIO

from mailpolicy.corpus.visible import visible
from mailpolicy.policy.diagnostics import InputError
from mailpolicy.policy.semantic import compare
from mailpolicy.simulator import gates, replay
from mailpolicy.simulator.cli import common, engine_options
from mailpolicy.simulator.cli.cache_options import add_cache_options, after_run, fact_store
from mailpolicy.simulator.cli.common import ExitCode, add_budget_options, add_wide_option
from mailpolicy.simulator.replay import EVALUATORS, Decision
from mailpolicy.simulator.score import BENIGN, MALICIOUS
from mailpolicy.simulator.summary import Changes, diff_json, render_diff

HELP = "what changes when a new policy replaces an old one"


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``mailpolicy diff``."""
    p.add_argument("old", metavar="OLD_POLICY")
    p.add_argument("new", metavar="NEW_POLICY")
    p.add_argument("corpus", nargs="*", metavar="CORPUS")
    common.add_policy_options(p)
    p.add_argument(
        "--semantic",
        action="store_true",
        help="compare the policies themselves, without a corpus: counterexamples or 'equivalent'",
    )
    p.add_argument(
        "--examples", type=int, default=5, metavar="N", help="--semantic: examples per direction"
    )
    p.add_argument(
        "--fail-on",
        metavar="GATES",
        help="exit 1 when one happens: " + ",".join(gates.DIFF_GATES),
    )
    p.add_argument("--labels", metavar="FILE")
    p.add_argument("--json", action="store_true")
    add_wide_option(p)
    p.add_argument("--workers", type=int, default=None, metavar="N")
    p.add_argument("--evaluator", choices=EVALUATORS, default="compiled")
    add_budget_options(p)
    add_cache_options(p)
    engine_options.add_engine_options(p)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    if args.semantic:
        if args.corpus:
            raise InputError("--semantic compares the policies themselves: give no corpus")
        if args.engine or args.scheduler:
            raise InputError("--engine and --scheduler need a corpus")
        if args.fail_on or args.labels:
            raise InputError(
                "--fail-on and --labels need a corpus; --semantic exits 1 on any difference"
            )
        if args.examples < 1:
            raise InputError(f"--examples must be at least 1, not {args.examples}")
        return semantic(args, out, err)
    if not args.corpus:
        raise InputError("diff needs a corpus (or --semantic to compare without one)")
    fail_on: tuple[str, ...] = ()
    if args.fail_on is not None:
        try:
            fail_on = gates.parse_fail_on(args.fail_on)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    old = common.load(args, args.old)
    new = common.load(args, args.new)
    paths = common.corpus_paths(args.corpus)
    labels = common.labels(args.labels)
    workers = common.workers(args)
    matchers = common.matchers([old, new], args, err)
    progress = replay.Progress()
    ticker = common.ticker(err, progress, paths)
    found = Changes()
    labelled = 0

    def each(row: tuple[Decision, ...]) -> None:
        nonlocal labelled
        found.add(row)
        labelled += row[0].label in (BENIGN, MALICIOUS)

    started = time.monotonic()
    store = fact_store(args, err)
    rows = engine_options.replay(
        args,
        replay.Decide(tuple(matchers), labels, common.budget(args), facts=store),
        paths,
        labels,
        workers=workers,
        progress=progress,
    )
    try:
        partial = common.consume(rows, ticker, each)
    finally:
        after_run(store, err)
    elapsed = time.monotonic() - started
    doc = diff_json(old, new, found, paths=paths, partial=partial, elapsed=elapsed)
    checked: list[gates.Gate] = []
    if fail_on and doc["messages"] and not partial:
        try:
            checked = gates.evaluate_diff(doc, fail_on, labelled)
        except gates.NeedsLabels as exc:
            raise InputError(str(exc)) from None
    return common.finish(doc, render_diff, args, out, err, messages=found.total, found=checked)


# ---- --semantic ----------------------------------------------------------------------------------
def semantic(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    old = common.load(args, args.old)
    new = common.load(args, args.new)
    result = compare(old, new, examples=args.examples)
    doc: dict[str, Any] = {"old_policy": old.name, "new_policy": new.name, **result.to_json()}
    if result.undecided or (
        result.unconfirmed
        and result.equivalent is False
        and not (result.newly_stopped or result.newly_delivered or result.opaque)
    ):
        status = ExitCode.USAGE
    else:
        status = ExitCode.OK if result.equivalent else ExitCode.FAIL
    doc["ok"] = status == ExitCode.OK
    if args.json:
        json.dump(doc, out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        out.write(render_semantic(doc) + "\n")
    for u in result.unconfirmed:
        print(
            "mailpolicy: bug: a counterexample the compiled matchers did not confirm "
            f"(please report): {json.dumps(u, ensure_ascii=False)}",
            file=err,
        )
    if result.undecided:
        print(f"mailpolicy: error: could not decide: {result.undecided}", file=err)
    return status


def _example(e: dict[str, Any]) -> str:
    m = e["message"]
    parts = []
    for a in m["attachments"]:
        names = " / ".join(f'"{visible(n)}"' for n in a["names"]) or "(no name)"
        facts = ", ".join(a.get("facts", {}))
        parts.append(f"attachment {names} (type {a['type']}{', ' + facts if facts else ''})")
    if not parts:
        parts.append("no attachment")
    parts.append(f"sender {m['sender'] or '(none)'}")
    if m["recipients"]:
        parts.append(f"recipient {', '.join(m['recipients'])}")
    parts += list(m.get("facts", {}))
    old, new = e["old"], e["new"]
    return (
        f"  {'; '.join(parts)}\n"
        f"    old: {old['action']} ({old['rule'] or 'default'})  new: {new['action']} "
        f"({new['rule'] or 'default'})"
    )


def render_semantic(doc: dict[str, Any]) -> str:
    """The human form of ``diff --semantic``."""
    head = f"{doc['old_policy']} -> {doc['new_policy']}: "
    lines = [head + ("equivalent" if doc["equivalent"] else "not equivalent")]
    for key, title in (
        ("newly_delivered", "OLD stops, NEW delivers"),
        ("newly_stopped", "OLD delivers, NEW stops"),
    ):
        if doc[key]:
            lines.append(f"\n{title}:")
            lines += [_example(e) for e in doc[key]]
    if doc.get("mode_changes"):
        lines.append("\nrules whose mode changes:")
        lines += [
            f"  {m['rule']} (line {m['line']}): {m['old']} -> {m['new']}"
            for m in doc["mode_changes"]
        ]
    if doc["differences_not_built"]:
        lines.append("\ndifferences that need a condition not compared:")
        lines += [
            f"  {d['direction'].replace('_', ' ')} when {'; '.join(d['needs'])}"
            for d in doc["differences_not_built"]
        ]
    if doc["not_compared"]:
        lines.append("\nnot compared (each treated as an unknown fact of the message):")
        for n in doc["not_compared"]:
            where = "; ".join(
                f"{side}: {', '.join(n[side + '_rules'])}"
                for side in ("old", "new")
                if n[side + "_rules"]
            )
            shared = " (in both: one shared fact)" if n["as_atom"] else ""
            lines.append(f"  {n['condition']}  [{where}]{shared}")
    return "\n".join(lines)
