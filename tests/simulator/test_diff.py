"""``mailpolicy diff``: the rollout impact of replacing one policy by another."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from simsupport import CorpusFiles, policy_file

from mailpolicy.simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "corpus" / "samples"
SIRCAM_2001 = str(ROOT / "policy" / "policies" / "sircam-2001.policy")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def corpus(tmp_path: Path) -> list[str]:
    benign = CorpusFiles(tmp_path / "benign")
    benign.maildir_message("1:2,S", 1, "test.tar.gz")
    benign.maildir_message("2:2,S", 2, "report.pdf")
    benign.maildir_message("3:2,S", 3, "notes.txt")
    malicious = CorpusFiles(tmp_path / "malicious")
    malicious.maildir_message("1:2,S", 4, "invoice.doc.pif")
    malicious.maildir_message("2:2,S", 5, "run.bat")
    malicious.maildir_raw("3:2,S", b"\x00not mail")
    return [str(tmp_path / "benign"), str(tmp_path / "malicious")]


@pytest.fixture
def policies(tmp_path: Path) -> tuple[str, str]:
    old = policy_file(
        tmp_path,
        'block attachment extension in ["pif", "bat"] as "exe"',
        'block attachment name matches "*.*.*" as "dots"',
        name="old",
    )
    new = policy_file(
        tmp_path,
        'block attachment double extension in ["pif", "bat"] as "double"',
        'quarantine attachment extension in ["txt"] as "txt"',
        name="new",
    )
    return str(old), str(new)


def test_diff_json_lists_every_changed_message(
    corpus: list[str], policies: tuple[str, str]
) -> None:
    code, out, err = run("diff", *policies, *corpus, "--json", "--workers", "2")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    changes = {(Path(c["path"]).name, c["key"]): (c["old"], c["new"]) for c in doc["changes"]}
    assert doc["changed"] == len(doc["changes"]) == 3
    assert changes[("benign", "1:2,S")][0]["action"] == "block"  # test.tar.gz: freed
    assert changes[("benign", "1:2,S")][1] == {
        "action": "allow",
        "rule": None,
        "attachment": None,
        "reason": "no rule matched; default allow",
    }
    assert changes[("benign", "3:2,S")][1]["rule"] == "txt"  # notes.txt: newly stopped
    assert changes[("malicious", "2:2,S")][1]["action"] == "allow"  # run.bat: newly delivered
    assert doc["newly_stopped_benign"] == 1
    assert doc["newly_delivered_malicious"] == 1
    assert doc["newly_delivered_benign"] == 1
    assert doc["unreadable"] == 1 and doc["messages"] == 5
    # same action, other rule: counted apart
    assert [(c["old"]["rule"], c["new"]["rule"]) for c in doc["rule_changes"]] == [
        ("exe", "double")
    ]
    groups = {(g["old"], g["new"]): g for g in doc["groups"]}
    assert groups[("block", "allow")]["messages"] == 2
    assert {(r["old"], r["new"]) for r in groups[("block", "allow")]["rules"]} == {
        ("dots", "(default)"),
        ("exe", "(default)"),
    }


def test_diff_human_output(corpus: list[str], policies: tuple[str, str]) -> None:
    code, out, err = run("diff", *policies, *corpus, "--workers", "1")
    assert code == 0, err
    assert "3 change action" in out
    assert "newly stopped benign: 1" in out and "newly delivered malicious: 1" in out
    assert "block -> allow" in out and "allow -> quarantine" in out
    assert "test.tar.gz" in out and "run.bat" in out


def test_diff_of_a_policy_with_itself_is_empty(corpus: list[str]) -> None:
    code, out, _ = run("diff", SIRCAM_2001, SIRCAM_2001, *corpus, "--json", "--workers", "2")
    doc = json.loads(out)
    assert code == 0 and doc["changed"] == 0 and doc["changes"] == [] and doc["rule_changes"] == []


def test_diff_on_the_samples_frees_the_2001_false_positives() -> None:
    if not (SAMPLES / "mbox").is_dir():
        pytest.skip("sample corpus not present")
    baseline = str(ROOT / "policy" / "policies" / "baseline.policy")
    code, out, err = run("diff", SIRCAM_2001, baseline, str(SAMPLES / "mbox"), "--json")
    assert code == 0, err
    doc = json.loads(out)
    freed = {
        c["old"]["attachment"]
        for c in doc["changes"]
        if c["label"] == "benign" and c["new"]["action"] == "allow"
    }
    assert {"test.tar.gz", "test.2001.01.01"} <= freed
    assert doc["newly_delivered_malicious"] == 0


def test_diff_missing_corpus_exits_2(policies: tuple[str, str]) -> None:
    code, out, err = run("diff", *policies, "/nonexistent")
    assert code == 2 and out == "" and "cannot read corpus /nonexistent" in err


def test_semantic_diff_names_a_staged_rule_that_is_enforced(tmp_path: Path) -> None:
    staged = tmp_path / "staged.policy"
    staged.write_text(
        'block attachment extension in ["iso"] as "iso" mode audit\n'
        'block attachment extension in ["exe"] as "exe"\n'
    )
    enforced = tmp_path / "enforced.policy"
    enforced.write_text(staged.read_text().replace(" mode audit", ""))
    code, out, err = run("diff", str(staged), str(enforced), "--semantic")
    assert code == 1, err  # not equivalent
    assert "rules whose mode changes:\n  iso (line 1): audit -> enforce" in out
    assert 'attachment "a.iso"' in out and "new: block (iso)" in out
