"""``mailpolicy test POLICY [TESTS...]``: a policy's unit tests, as ``opa test`` runs Rego's.

Each POLICY runs the tests files named after it (``.toml`` files), or by default
``NAME.tests.toml`` beside ``NAME.policy``; a tests file named before any policy goes with
the policy beside it (``NAME.policy``). Several policies may be given (a pre-commit hook
passes every changed policy). Output: one ``FAIL`` block per failed case (the file and
line, the case, expected and got, the trace step of the deciding rule), then
``PASS: n/total``; ``--verbose`` lists passing cases too; ``--json`` one document;
``--junit FILE`` JUnit XML for CI test reports. ``--coverage`` lists the rules no case
exercised (a rule counts when it *decided* a case) and ``--min-coverage N`` fails below N
percent for any policy.

Exit codes: 0 every case passed (and coverage is high enough); 1 a case failed, or
coverage is below ``--min-coverage``; 2 a tests file (or a message it names) cannot be
used: ``FILE:LINE:COL: message``; a policy with errors: its diagnostics, exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TextIO

from mailpolicy.policy.diagnostics import InputError
from mailpolicy.simulator import policytest
from mailpolicy.simulator.cli.common import (
    ExitCode,
    add_budget_options,
    add_policy_options,
    budget,
    load,
    writable,
)
from mailpolicy.simulator.policytest import report
from mailpolicy.simulator.policytest.run import Coverage

HELP = "run a policy's tests (NAME.tests.toml): expected verdicts, coverage, JUnit"


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``mailpolicy test``."""
    p.add_argument(
        "files",
        nargs="+",
        metavar="POLICY [TESTS...]",
        help="a policy and its tests files (default NAME.tests.toml beside NAME.policy); "
        "several policies may be given, each followed by its own tests files",
    )
    add_policy_options(p)
    p.add_argument("--json", action="store_true", help="the whole run as one JSON document")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    p.add_argument("--verbose", "-v", action="store_true", help="list passing cases too")
    p.add_argument(
        "--coverage", action="store_true", help="list the rules no case exercised (decided)"
    )
    p.add_argument(
        "--min-coverage",
        type=float,
        metavar="N",
        help="fail (exit 1) when a policy's coverage is below N percent (implies --coverage)",
    )
    add_budget_options(p)


def pairs(files: list[str]) -> list[tuple[str, list[str]]]:
    """Each policy with its tests files (see the module docstring), in command-line order."""
    out: list[tuple[str, list[str]]] = []
    for f in files:
        if not f.endswith(".toml"):
            out.append((f, []))
        elif out:
            out[-1][1].append(f)
        else:
            base = f[: -len(".tests.toml")] if f.endswith(".tests.toml") else f[: -len(".toml")]
            out.append((base + ".policy", [f]))
    return [(p, tests or [policytest.tests_for(p)]) for p, tests in out]


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    if args.min_coverage is not None and not 0 <= args.min_coverage <= 100:
        raise InputError("--min-coverage must be a percentage from 0 to 100")
    writable(args.junit, "JUnit report")
    want_cov = args.coverage or args.min_coverage is not None
    runs: list[report.Run] = []
    for policy_path, tests in pairs(args.files):
        policy = load(args, policy_path)
        cases = []
        for t in dict.fromkeys(tests):
            if not os.path.lexists(t) and t == policytest.tests_for(policy_path):
                raise InputError(f"{t}: no tests file for {policy_path} (write NAME.tests.toml)")
            cases += policytest.load(t, policy)
        done = tuple(policytest.run_cases(policy, cases, budget(args)))
        runs.append(report.Run(policy, tuple(dict.fromkeys(tests)), done))
    covs: list[Coverage | None] = [
        policytest.coverage(r.policy, r.outcomes) if want_cov else None for r in runs
    ]
    outcomes = [o for r in runs for o in r.outcomes]
    status = ExitCode.OK
    if any(o.error is not None for o in outcomes):
        status = ExitCode.USAGE
    elif not all(o.passed for o in outcomes):
        status = ExitCode.FAIL
    low = [
        (r, c)
        for r, c in zip(runs, covs, strict=True)
        if c is not None and args.min_coverage is not None and c.percent < args.min_coverage
    ]
    if low and status == ExitCode.OK:
        status = ExitCode.FAIL
    if args.junit:
        with open(args.junit, "wb") as f:
            f.write(report.junit(runs))
    if args.json:
        doc = report.to_json(runs, covs)
        doc["ok"] = status == ExitCode.OK
        doc["exit_code"] = int(status)
        json.dump(doc, out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        for o in outcomes:
            if not o.passed:
                print(report.render_failure(o), file=out)
            elif args.verbose:
                print(report.render_pass(o), file=out)
        for r, c in zip(runs, covs, strict=True):
            if c is not None:
                print("\n".join(report.render_coverage(c, r.policy.path)), file=out)
        print("\n".join(report.summary(outcomes)), file=out)
    for r, c in low:
        assert c is not None
        print(
            f"mailpolicy: coverage of {r.policy.path} is {c.percent:.1f}%, "
            f"below --min-coverage {args.min_coverage:g}%",
            file=err,
        )
    return status
