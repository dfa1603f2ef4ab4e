"""Staged rules (``mode audit``) in simulate, explain, eval and the policy tests.

The headline figures of ``simulate`` are the enforced policy's, the same as without the
staged rules; the ``audit`` section counts what each staged rule would decide, by label,
and what enforcing it would change (checked against the decision lines and against a run
of the policy with the rule enforced); the summary, the report, ``explain``, ``eval`` and
``mailpolicy test`` show staged matches.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_score import d

from mailpolicy.simulator.cli import main
from mailpolicy.simulator.replay import Decision
from mailpolicy.simulator.score import Score
from mailpolicy.simulator.staged import Staged

ROOT = Path(__file__).resolve().parents[2]
MAILDIR = str(ROOT / "corpus" / "samples" / "maildir")

POLICY = """\
policy "staging"
default allow
list executable = ["exe", "pif", "scr", "bat", "com", "lnk", "vbs"]
block attachment type disk-image as "iso" mode audit
block attachment double extension in executable as "double"
block attachment type executable as "exe"
quarantine attachment has macros as "macros" mode audit
allow attachment extension "pdf" as "pdf-ok" mode audit
"""


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def simulate(policy: str, *more: str) -> dict[str, Any]:
    code, out, err = run("simulate", policy, MAILDIR, "--workers", "1", "--json", *more)
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


HEADLINE = ("messages", "actions", "labels", "confusion", "precision", "recall", "samples")


def test_simulate_reports_enforced_figures_and_what_each_staged_rule_would_do(
    tmp_path: Path,
) -> None:
    staged = write(tmp_path, "staged.policy", POLICY)
    bare = write(tmp_path, "bare.policy", re.sub(r".* mode audit\n", "", POLICY))
    decisions = tmp_path / "d.jsonl"
    doc = simulate(staged, "--decisions", str(decisions))
    without = simulate(bare)
    for key in HEADLINE:
        if key != "samples":
            assert doc[key] == without[key], key
    assert [r["id"] for r in doc["rules"]] == [r["id"] for r in without["rules"]]
    assert doc["audit"] and without["audit"] == []

    lines = [json.loads(ln) for ln in decisions.read_text(encoding="utf-8").splitlines()]
    for a in doc["audit"]:
        mine = [d for d in lines if a["id"] in [s["rule"] for s in d["audited"]]]
        assert a["hits"] == len(mine) > 0
        assert a["benign_hits"] == sum(d["label"] == "benign" for d in mine)
        assert a["malicious_hits"] == sum(d["label"] == "malicious" for d in mine)
        assert a["text"].endswith("mode audit")
    iso = doc["audit"][0]
    assert (iso["id"], iso["action"], iso["line"]) == ("iso", "block", 4)
    assert iso["new_false_positives"] == len(iso["samples"]["false_positives"]) >= 1
    assert all(s["would"] == "block" for s in iso["samples"]["false_positives"])


def test_enforcing_a_staged_rule_changes_what_the_audit_section_predicted(tmp_path: Path) -> None:
    staged = simulate(write(tmp_path, "staged.policy", POLICY))
    macros = next(a for a in staged["audit"] if a["id"] == "macros")
    enforced = simulate(
        write(tmp_path, "on.policy", POLICY.replace('"macros" mode audit', '"macros"'))
    )
    rule = next(r for r in enforced["rules"] if r["id"] == "macros")
    # it decides exactly the messages it matched while staged: the rule keeps its id
    assert (rule["hits"], rule["benign_hits"], rule["malicious_hits"]) == (
        macros["hits"],
        macros["benign_hits"],
        macros["malicious_hits"],
    )
    before, after = staged["confusion"], enforced["confusion"]
    assert after["false_positives"] - before["false_positives"] == macros["new_false_positives"]
    assert after["true_positives"] - before["true_positives"] == macros["new_catches"]


def test_the_summary_and_the_report_show_the_staged_rules(tmp_path: Path) -> None:
    staged = write(tmp_path, "staged.policy", POLICY)
    report = tmp_path / "r.html"
    code, out, _ = run("simulate", staged, MAILDIR, "--workers", "1", "--report", str(report))
    assert code == 0
    block = out.split("Staged rules (mode audit)", 1)[1].split("\n\n", 1)[0]
    rows = {ln.split()[0]: ln.split() for ln in block.splitlines()[3:] if "would stop" not in ln}
    assert rows["iso"][1:3] == ["block", "4"] and "iso would stop benign mail (1)" in block
    page = report.read_text(encoding="utf-8")
    assert "<h2>Staged rules (mode audit)</h2>" in page
    assert 'data-figure="staged:macros:new_catches">' in page
    bare = write(tmp_path, "bare.policy", re.sub(r".* mode audit\n", "", POLICY))
    code, out, _ = run("simulate", bare, MAILDIR, "--workers", "1")
    assert code == 0 and "Staged rules" not in out


def _decision(label: str | None, action: str, *staged: tuple[str, str]) -> Decision:
    audited = tuple(Staged(rid, act, 1, None, "why") for rid, act in staged)
    return dataclasses.replace(d(label, action), audited=audited)


@pytest.mark.parametrize(
    ("label", "enforced", "would", "figure"),
    [
        ("benign", "allow", "block", "new_false_positives"),
        ("malicious", "tag", "quarantine", "new_catches"),
        ("malicious", "block", "allow", "new_misses"),
        ("benign", "strip", "tag", "fixed_false_positives"),
        ("benign", "block", "quarantine", None),
        ("malicious", "allow", "allow", None),
        (None, "allow", "block", None),
    ],
)
def test_what_a_staged_match_would_change(
    label: str | None, enforced: str, would: str, figure: str | None
) -> None:
    score = Score()
    score.add(_decision(label, enforced, ("s", would)))
    (row,) = score.to_json()["audit"]
    changes = ("new_false_positives", "new_catches", "new_misses", "fixed_false_positives")
    assert {k: row[k] for k in changes} == {k: int(k == figure) for k in changes}
    assert row["hits"] == 1 and row["benign_hits"] == (label == "benign")
    # the enforced decision is counted as it is, by the default here (no rule decided)
    assert score.rules["(default)"].hits == 1 and score.actions == {enforced: 1}


def test_explain_and_eval_show_staged_matches(tmp_path: Path) -> None:
    policy = write(
        tmp_path,
        "p.policy",
        'block attachment extension "iso" as "iso" reason "no disk images" mode audit\n'
        'block attachment extension "exe" as "exe"\n',
    )
    code, out, _ = run("eval", policy, "--attachment", "a.iso", "--attachment", "b.exe")
    assert code == 0
    assert 'audit:      rule "iso" would block (line 1): no disk images' in out.splitlines()
    trace = [ln.split() for ln in out.splitlines() if ln.strip().startswith(("1 ", "2 "))]
    assert trace[0][1:5] == ["iso", "block", "(audit)", "AUDIT"]
    assert trace[1][1:4] == ["exe", "block", "MATCH"]
    code, out, _ = run("eval", policy, "--attachment", "a.iso", "--json")
    doc = json.loads(out)
    assert (doc["action"], doc["rule"]) == ("allow", None)
    assert [(a["rule"], a["action"]) for a in doc["audited"]] == [("iso", "block")]
    msg = tmp_path / "m.eml"
    msg.write_bytes(
        b"From: a@example.net\nTo: b@example.org\nSubject: x\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\nhi\n'
        b"--B\nContent-Type: application/octet-stream\nContent-Disposition: attachment; "
        b'filename="cd.iso"\n\nxx\n--B--\n'
    )
    code, out, _ = run("explain", policy, str(msg))
    assert code == 0 and 'audit:      rule "iso" would block (line 1): no disk images' in out
    code, out, _ = run("explain", policy, str(msg), "--json")
    assert [a["rule"] for a in json.loads(out)["audited"]] == ["iso"]


TESTS = """\
[[case]]
name = "an ISO is only staged"
attachment = "x.iso"
expect = "allow"
audited = ["iso"]

[[case]]
name = "a program"
attachment = "x.exe"
expect = "block"
rule = "exe"
audited = []
"""


def test_policy_tests_check_audited_and_count_staged_rules_as_covered(tmp_path: Path) -> None:
    policy = write(
        tmp_path,
        "p.policy",
        'block attachment extension "iso" as "iso" mode audit\n'
        'block attachment extension "exe" as "exe"\n',
    )
    tests = write(tmp_path, "p.tests.toml", TESTS)
    code, out, _ = run("test", policy, tests, "--coverage")
    assert code == 0, out
    assert "2/2 rules decided a case" in out
    code, out, _ = run(
        "test",
        policy,
        write(tmp_path, "bad.tests.toml", TESTS.replace("audited = []", 'audited = ["iso"]')),
    )
    assert code == 1
    assert (
        "expected block (rule exe), audited iso, got block (rule exe, line 2), audited none" in out
    )
    assert "expected staged rule line 1 block (audit) iso: no:" in out
    code, _, err = run(
        "test",
        policy,
        write(tmp_path, "e.tests.toml", TESTS.replace("audited = []", 'audited = ["exe"]')),
    )
    assert code == 2 and "rule 'exe' is not staged (mode audit): name it in 'rule'" in err
    code, _, err = run(
        "test",
        policy,
        write(tmp_path, "f.tests.toml", TESTS.replace("audited = []", 'audited = ["isso"]')),
    )
    assert code == 2 and "the policy has no staged rule 'isso' (did you mean 'iso'?)" in err


def test_staged_figures_are_the_same_with_either_evaluator_and_any_workers(tmp_path: Path) -> None:
    staged = write(tmp_path, "staged.policy", POLICY)
    one = simulate(staged)
    code, out, err = run(
        "simulate", staged, MAILDIR, "--workers", "2", "--evaluator", "reference", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["audit"] == one["audit"]
