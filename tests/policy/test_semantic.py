"""``diff --semantic``: the comparison of two policies without a corpus (policy.semantic)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from mailpolicy.policy import globs
from mailpolicy.policy.loader import load_policy, load_text
from mailpolicy.policy.semantic import Result, compare
from mailpolicy.policy.semantic.automata import Alphabet, ExtLeaf, GlobLeaf, Query
from mailpolicy.simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]
BASELINE = str(ROOT / "policy" / "policies" / "baseline.policy")
SIRCAM = str(ROOT / "policy" / "policies" / "sircam-2001.policy")


def cmp(old: str, new: str) -> Result:
    return compare(load_text(old, "old.policy"), load_text(new, "new.policy"))


def names(examples: list[dict[str, Any]]) -> list[str]:
    return [n for e in examples for a in e["message"]["attachments"] for n in a["names"]]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


# ---- what the issue asks ------------------------------------------------------------------------
def test_removing_pif_gives_a_name_ending_in_pif() -> None:
    r = cmp(
        'block attachment extension in ["exe", "pif", "scr"]',
        'block attachment extension in ["exe", "scr"]',
    )
    assert not r.equivalent and not r.newly_stopped
    assert names(r.newly_delivered) and all(
        n.lower().endswith(".pif") for n in names(r.newly_delivered)
    )
    e = r.newly_delivered[0]
    assert e["old"]["action"] == "block" and e["new"] == {
        "action": "allow",
        "rule": None,
        "stopped": False,
    }


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            'block attachment extension in ["exe", "pif", "scr"]',
            'block attachment extension in ["scr", "pif", "exe"]',
        ),
        (
            'list x = ["pif", "bat"]\nblock *.pif',
            'list y = ["bat", "pif"]\nblock attachment name matches "*.pif"',
        ),
        ('block attachment name matches "*.EXE"', 'block attachment name matches "*.exe"'),
        ('block attachment extension "pif"', 'block attachment extension in ["PIF", "pif"]'),
        ("block attachment has macros", "block attachment has macros"),
        (
            'block attachment type executable\nblock attachment extension "exe"',
            'block attachment extension "exe"\nblock attachment type executable',
        ),
        ("block attachment size > 10MB", "block attachment size > 10000000"),
    ],
)
def test_rewrites_that_mean_the_same_are_equivalent(old: str, new: str) -> None:
    r = cmp(old, new)
    assert r.equivalent, r.to_json()
    assert r.newly_stopped == r.newly_delivered == []


def test_an_exception_for_a_list_gives_a_sender_from_the_list() -> None:
    r = cmp(
        'list partners = ["partner.example.com", "*@other.example.net"]\n'
        'block attachment extension "exe"',
        'list partners = ["partner.example.com", "*@other.example.net"]\n'
        'block attachment extension "exe" unless sender in partners',
    )
    assert not r.equivalent and r.newly_delivered and not r.newly_stopped
    for e in r.newly_delivered:
        sender = e["message"]["sender"]
        assert sender.endswith(("partner.example.com", "@other.example.net")), sender
        assert names([e])[0].lower().endswith(".exe")


def test_rule_order_with_two_attachments() -> None:
    """Allow-before-block against block-before-allow: only a message with both kinds of
    attachment tells them apart, and that is the counterexample."""
    r = cmp(
        'allow attachment extension "txt"\nblock attachment extension "exe"',
        'block attachment extension "exe"\nallow attachment extension "txt"',
    )
    assert not r.equivalent and not r.newly_delivered
    assert sorted(n.rsplit(".", 1)[1] for n in names(r.newly_stopped)) == ["exe", "txt"]


def test_a_glob_and_an_extension_differ_on_names_the_engine_reads_apart() -> None:
    r = cmp('block attachment name matches "*.pif"', 'block attachment extension "pif"')
    stopped_only_by_glob = names(r.newly_delivered)
    stopped_only_by_extension = names(r.newly_stopped)
    assert stopped_only_by_glob == [".pif"]  # no stem: no extension
    # a look-alike letter, blanks, or a blank part: the extension is still pif
    assert stopped_only_by_extension and "*.pif" not in stopped_only_by_extension
    assert not globs.match("*.pif", stopped_only_by_extension[0])


def test_default_action_and_type_classes() -> None:
    r = cmp(
        "default block\nallow attachment type image",
        "default block\nallow attachment type in [image, document]",
    )
    assert [a["type"] for e in r.newly_stopped for a in e["message"]["attachments"]] == []
    assert [a["type"] for e in r.newly_delivered for a in e["message"]["attachments"]] == [
        "document"
    ]


def test_sizes_are_compared_by_value() -> None:
    r = cmp("block attachment size > 10MB", "block attachment size > 5MB")
    sizes = [a["size"] for e in r.newly_stopped for a in e["message"]["attachments"]]
    assert sizes and 5_000_000 < sizes[0] <= 10_000_000  # MB is 10^6 bytes
    assert not cmp("block attachment size > 10MB", "block attachment size > 10MiB").equivalent


def test_conditions_it_cannot_read_are_listed_never_equal() -> None:
    r = cmp('block attachment has macros as "m"', "default allow")
    assert not r.equivalent
    assert r.opaque and "has macros" in r.opaque[0]["needs"][0]
    assert r.not_compared == [
        {"condition": "has macros", "old_rules": ["m"], "new_rules": [], "as_atom": False}
    ]
    same = cmp('block subject contains "x" as "s"', 'block subject contains "x" as "t"')
    assert same.equivalent
    assert same.not_compared[0]["as_atom"] is True


def test_recipients() -> None:
    r = cmp(
        'block attachment extension "exe" unless recipient in ["it.example.org"]',
        'block attachment extension "exe"',
    )
    assert [e["message"]["recipients"] for e in r.newly_stopped] == [["a@it.example.org"]] or all(
        any(x.endswith("it.example.org") for x in e["message"]["recipients"])
        for e in r.newly_stopped
    )


def test_every_counterexample_was_replayed() -> None:
    """The messages kept with the result are the ones both matchers separated."""
    from mailpolicy.policy.compile import CompiledPolicy

    old = load_policy(BASELINE)
    new = load_policy(SIRCAM)
    r = compare(old, new)
    assert r.newly_stopped and r.newly_delivered and not r.unconfirmed
    for direction, msg in r.messages:
        o, n = CompiledPolicy(old).evaluate(msg), CompiledPolicy(new).evaluate(msg)
        assert (n.action in ("block", "quarantine", "strip", "discard")) == (
            direction == "newly_stopped"
        )
        assert (o.action in ("block", "quarantine", "strip", "discard")) != (
            direction == "newly_stopped"
        )


# ---- the automata -----------------------------------------------------------------------------------
def test_reversed_extension_lists_are_fast() -> None:
    big = frozenset(
        line.strip()
        for line in (ROOT / "policy/policies/lists/windows-executable.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    alphabet = Alphabet("", True)
    started = time.monotonic()
    q = Query(
        frozenset({ExtLeaf(big)}), frozenset({GlobLeaf(globs.parse("*.exe"))}), alphabet, True
    )
    found = q.find()
    assert found is not None and not globs.match("*.exe", found)
    assert time.monotonic() - started < 10


# ---- the command line ----------------------------------------------------------------------------
def test_cli_semantic_json_and_exit_codes(tmp_path: Path) -> None:
    old = tmp_path / "old.policy"
    new = tmp_path / "new.policy"
    old.write_text('block attachment extension in ["exe", "pif"]\n', encoding="utf-8")
    new.write_text('block attachment extension in ["pif", "exe"]\n', encoding="utf-8")
    code, out, err = run("diff", str(old), str(new), "--semantic", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["equivalent"] is True and doc["ok"] is True
    assert {"newly_stopped", "newly_delivered", "not_compared"} <= doc.keys()
    new.write_text('block attachment extension in ["exe"]\n', encoding="utf-8")
    code, out, err = run("diff", str(old), str(new), "--semantic")
    assert code == 1
    assert "not equivalent" in out and ".pif" in out.lower()


def test_cli_semantic_usage_errors(tmp_path: Path) -> None:
    code, _, err = run("diff", BASELINE, SIRCAM)
    assert code == 2 and "needs a corpus" in err
    code, _, err = run("diff", BASELINE, SIRCAM, str(ROOT / "corpus/samples/maildir"), "--semantic")
    assert code == 2 and "give no corpus" in err


def test_shipped_policies_time() -> None:
    started = time.monotonic()
    code, out, _ = run("diff", BASELINE, SIRCAM, "--semantic", "--json")
    elapsed = time.monotonic() - started
    assert code == 1
    doc = json.loads(out)
    assert doc["newly_stopped"] and doc["newly_delivered"]
    assert elapsed < 30
