"""The three forms of a test run: text as ``opa test`` prints it, JSON, and JUnit XML.

- ``render_failure(outcome)``: ``FAIL FILE:LINE: "case": expected X, got Y``, then the
  trace step of the deciding rule (and of the expected rule when it was tried and did
  not decide, or a line saying it was never reached; likewise each expected staged rule
  that did not match). ``ERROR`` for a case whose message
  could not be read.
- ``to_json(runs, cov)``: one object for the whole run (``"ok"`` true exactly when every
  case passed), each case with its verdict and trace.
- ``junit(runs)``: a ``<testsuites>`` document, one ``<testsuite>`` per tests file and a
  ``<testcase>`` per case with ``<failure>`` or ``<error>`` (the text form as body), the
  shape GitLab's and GitHub's test report readers take.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mailpolicy.corpus.visible import visible
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.verdict import Step
from mailpolicy.simulator.policytest.run import Coverage, Outcome


@dataclass(frozen=True, slots=True)
class Run:
    """The outcomes of one policy's tests files."""

    policy: CheckedPolicy
    files: tuple[str, ...]
    outcomes: tuple[Outcome, ...]


def _step(s: Step) -> str:
    result = ("AUDIT" if s.audit else "MATCH") if s.matched else "no"
    action = f"{s.action} (audit)" if s.audit else s.action
    return f"line {s.line} {action} {s.rule}: {result}: {visible(s.why)}"


def render_failure(o: Outcome) -> str:
    """The lines of a failed or errored case (see the module docstring)."""
    c = o.case
    where = f"{c.file}:{c.line}"
    if o.error is not None:
        return f'ERROR {where}: "{visible(c.name)}": {visible(o.error)}'
    lines = [f'FAIL {where}: "{visible(c.name)}": expected {o.wanted}, got {o.got}']
    v = o.verdict
    if v is None:
        return lines[0]
    decider = next((s for s in v.trace if s.matched and not s.audit), None)
    if decider is not None:
        lines.append(f"    decided by {_step(decider)}")
    else:
        lines.append(f"    {visible(v.reason)}")
    if c.rule is not None and c.rule != (v.rule or "default"):
        tried = next((s for s in v.trace if s.rule == c.rule), None)
        if tried is not None:
            lines.append(f"    expected rule {_step(tried)}")
        elif c.rule != "default":
            lines.append(f"    expected rule {c.rule} was never reached: an earlier rule decided")
    got = [a.rule for a in v.audited]
    for rid in c.audited or ():
        if rid not in got:
            tried = next((s for s in v.trace if s.rule == rid), None)
            lines.append(
                f"    expected staged rule {_step(tried)}"
                if tried is not None
                else f"    expected staged rule {rid} was never reached: an earlier rule decided"
            )
    return "\n".join(lines)


def render_pass(o: Outcome) -> str:
    return f'PASS {o.case.file}:{o.case.line}: "{visible(o.case.name)}": {o.got}'


def summary(outcomes: Sequence[Outcome]) -> list[str]:
    """``PASS: n/total``, then ``FAIL:`` and ``ERROR:`` lines when there are any."""
    total = len(outcomes)
    errors = sum(1 for o in outcomes if o.error is not None)
    failed = sum(1 for o in outcomes if not o.passed) - errors
    out = [f"PASS: {total - failed - errors}/{total}"]
    if failed:
        out.append(f"FAIL: {failed}/{total}")
    if errors:
        out.append(f"ERROR: {errors}/{total}")
    return out


def render_coverage(cov: Coverage, path: str) -> list[str]:
    done = len(cov.rules) - len(cov.missed)
    out = [f"coverage: {path}: {done}/{len(cov.rules)} rules decided a case ({cov.percent:.1f}%)"]
    out += [f"    not exercised: line {r.line} {r.id} ({r.action})" for r in cov.missed]
    out += [
        f"    exception never exercised: line {r.line} {r.id} (unless ...)"
        for r in cov.exceptions_missed
    ]
    return out


def coverage_json(cov: Coverage) -> dict[str, Any]:
    return {
        "percent": round(cov.percent, 2),
        "rules": len(cov.rules),
        "exercised": len(cov.rules) - len(cov.missed),
        "counts": "decided",
        "not_exercised": [{"rule": r.id, "line": r.line, "action": r.action} for r in cov.missed],
        "decided": cov.decided,
        "exceptions": cov.exceptions,
    }


def case_json(o: Outcome) -> dict[str, Any]:
    c = o.case
    return {
        "file": c.file,
        "line": c.line,
        "name": c.name,
        "expect": c.expect,
        "rule": c.rule,
        "audited": list(c.audited) if c.audited is not None else None,
        "passed": o.passed,
        "error": o.error,
        "got": o.verdict.to_json() if o.verdict is not None else None,
    }


def to_json(runs: Sequence[Run], covs: Sequence[Coverage | None]) -> dict[str, Any]:
    outcomes = [o for r in runs for o in r.outcomes]
    errors = sum(1 for o in outcomes if o.error is not None)
    failed = sum(1 for o in outcomes if not o.passed) - errors
    return {
        "ok": failed == 0 and errors == 0,
        "total": len(outcomes),
        "passed": len(outcomes) - failed - errors,
        "failed": failed,
        "errors": errors,
        "policies": [
            {
                "policy": r.policy.path,
                "name": r.policy.name,
                "tests": list(r.files),
                "cases": [case_json(o) for o in r.outcomes],
                "coverage": coverage_json(cov) if cov is not None else None,
            }
            for r, cov in zip(runs, covs, strict=True)
        ],
    }


#: What XML 1.0 cannot hold (C0 controls but tab and newline, surrogates, U+FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{{{ord(m.group()):02x}}}", text)


def junit(runs: Sequence[Run]) -> bytes:
    """The JUnit XML document of ``runs`` (UTF-8, with its declaration)."""
    suites = ET.Element("testsuites", name="mailpolicy test")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for run in runs:
        for path in run.files:
            mine = [o for o in run.outcomes if o.case.file == path]
            counts = {
                "tests": len(mine),
                "failures": sum(1 for o in mine if not o.passed and o.error is None),
                "errors": sum(1 for o in mine if o.error is not None),
            }
            suite = ET.SubElement(
                suites,
                "testsuite",
                {k: str(v) for k, v in counts.items()},
                name=_xml(f"{run.policy.name}: {path}"),
                file=_xml(path),
            )
            for k, v in counts.items():
                totals[k] += v
            for o in mine:
                case = ET.SubElement(
                    suite,
                    "testcase",
                    classname=_xml(run.policy.name),
                    name=_xml(o.case.name),
                    file=_xml(path),
                    line=str(o.case.line),
                )
                if o.error is not None:
                    ET.SubElement(case, "error", message=_xml(o.error)).text = _xml(
                        render_failure(o)
                    )
                elif not o.passed:
                    failure = ET.SubElement(
                        case, "failure", message=_xml(f"expected {o.wanted}, got {o.got}")
                    )
                    failure.text = _xml(render_failure(o))
    for k, v in totals.items():
        suites.set(k, str(v))
    ET.indent(suites)
    data: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return data + b"\n"
