"""CI gates: ``simulate --max-false-positives/--max-false-negatives/--min-precision/
--min-recall`` and ``diff --fail-on`` (simulator/gates.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from simsupport import CorpusFiles, policy_file

from mailpolicy.simulator import gates
from mailpolicy.simulator.cli import main


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def corpus(tmp_path: Path) -> list[str]:
    """3 benign (one a tar.gz a double-extension rule stops), 2 malicious."""
    benign = CorpusFiles(tmp_path / "benign")
    benign.maildir_message("1:2,S", 1, "test.tar.gz")
    benign.maildir_message("2:2,S", 2, "report.pdf")
    benign.maildir_message("3:2,S", 3, "notes.txt")
    malicious = CorpusFiles(tmp_path / "malicious")
    malicious.maildir_message("1:2,S", 4, "invoice.doc.pif")
    malicious.maildir_message("2:2,S", 5, "run.bat")
    return [str(tmp_path / "benign"), str(tmp_path / "malicious")]


@pytest.fixture
def unlabelled(tmp_path: Path) -> list[str]:
    box = CorpusFiles(tmp_path / "inbox")
    box.maildir_message("1:2,S", 1, "run.bat")
    return [str(tmp_path / "inbox")]


@pytest.fixture
def policy(tmp_path: Path) -> str:
    """One false positive (test.tar.gz), one miss (run.bat): precision 0.5, recall 0.5."""
    return str(policy_file(tmp_path, 'block attachment name matches "*.*.*" as "dots"'))


def gate_doc(out: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_simulate_without_gates_keeps_its_exit_code(corpus: list[str], policy: str) -> None:
    code, out, _ = run("simulate", policy, *corpus, "--json", "--workers", "1")
    assert code == 0
    assert "gates" not in gate_doc(out)


def test_a_failing_gate_exits_1_and_names_itself(corpus: list[str], policy: str) -> None:
    code, out, err = run(
        "simulate", policy, *corpus, "--json", "--workers", "1",
        "--max-false-positives", "0", "--max-false-negatives", "1", "--min-recall", "0.9",
    )  # fmt: skip
    assert code == 1
    doc = gate_doc(out)
    assert doc["ok"] is False
    assert doc["gates"] == {
        "max-false-positives": {"threshold": 0.0, "value": 1, "pass": False},
        "max-false-negatives": {"threshold": 1.0, "value": 1, "pass": True},
        "min-recall": {"threshold": 0.9, "value": 0.5, "pass": False},
    }
    lines = [ln for ln in err.splitlines() if "gate failed" in ln]
    assert lines == [
        "mailpolicy: gate failed: max-false-positives: 1 false positives, at most 0 allowed",
        "mailpolicy: gate failed: min-recall: recall 0.500, at least 0.900 required",
    ]


def test_passing_gates_exit_0(corpus: list[str], policy: str) -> None:
    code, out, err = run(
        "simulate", policy, *corpus, "--workers", "1",
        "--max-false-positives", "1", "--min-precision", "0.5",
    )  # fmt: skip
    assert code == 0, err
    assert "gates: 2 passed" in out
    code, out, _ = run(
        "simulate", policy, *corpus, "--json", "--workers", "1", "--min-precision", "0.5"
    )
    assert code == 0 and gate_doc(out)["ok"] is True
    assert gate_doc(out)["gates"]["min-precision"]["pass"] is True


def test_gates_need_labels(unlabelled: list[str], policy: str) -> None:
    code, _, err = run("simulate", policy, *unlabelled, "--workers", "1", "--min-recall", "1")
    assert code == 2
    assert "--min-recall needs labelled mail" in err


def test_diff_fail_on(corpus: list[str], policy: str, tmp_path: Path) -> None:
    new = str(policy_file(tmp_path, 'block attachment extension in ["pif"] as "pif"', name="new"))
    code, out, _ = run("diff", policy, new, *corpus, "--json", "--workers", "1")
    assert code == 0  # changes alone never fail a diff
    code, out, err = run(
        "diff", policy, new, *corpus, "--json", "--workers", "1",
        "--fail-on", "newly-stopped-benign,newly-delivered-malicious",
    )  # fmt: skip
    assert code == 0, err  # test.tar.gz freed, invoice.doc.pif still stopped
    assert gate_doc(out)["gates"]["newly-stopped-benign"] == {
        "threshold": 0.0,
        "value": 0,
        "pass": True,
    }
    code, out, err = run("diff", policy, new, *corpus, "--workers", "1", "--fail-on", "any-change")
    assert code == 1
    assert "gate failed: any-change: 1 messages change action, at most 0 allowed" in err
    code, out, err = run(
        "diff", new, policy, *corpus, "--workers", "1", "--fail-on", "newly-stopped-benign"
    )
    assert code == 1 and "newly-stopped-benign: 1 newly stopped benign" in err


def test_diff_fail_on_errors(corpus: list[str], unlabelled: list[str], policy: str) -> None:
    code, _, err = run("diff", policy, policy, *corpus, "--fail-on", "everything")
    assert code == 2 and "unknown gate 'everything'" in err
    code, _, err = run(
        "diff",
        policy,
        policy,
        *unlabelled,
        "--workers",
        "1",
        "--fail-on",
        "newly-delivered-malicious",
    )
    assert code == 2 and "needs labelled mail" in err
    code, _, err = run(
        "diff", policy, policy, *unlabelled, "--workers", "1", "--fail-on", "any-change"
    )
    assert code == 0, err


def test_precision_over_nothing_stopped_passes_recall_over_no_malicious_fails() -> None:
    doc = {
        "confusion": {
            "true_positives": 0,
            "false_positives": 0,
            "true_negatives": 3,
            "false_negatives": 0,
        },
        "false_positives": 0,
        "false_negatives": 0,
        "precision": None,
        "recall": None,
    }
    found = gates.evaluate_simulate(doc, min_precision=0.9, min_recall=0.9)
    assert [(g.name, g.passed) for g in found] == [("min-precision", True), ("min-recall", False)]
    assert gates.describe(found[1]) == "min-recall: recall n/a, at least 0.900 required"
