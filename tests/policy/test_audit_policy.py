"""Staged rules (``mode audit``): tried in place, recorded when they match, never deciding.

Both deciders on one table; the trace and the JSON form of a verdict; a staged rule keeps
its id when it is enforced; exports leave staged rules out with a sound note; the
semantic comparison compares enforced behaviour; lint does not blame a staged rule.
"""

from __future__ import annotations

import re

import pytest

from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy import lint, loader
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.compile import compile_policy
from mailpolicy.policy.evaluate import evaluate
from mailpolicy.policy.export import TARGETS
from mailpolicy.policy.semantic import compare

POLICY = """\
policy "staging"
default allow
list executable = ["exe", "pif", "scr"]
block attachment extension in ["iso", "img"] as "iso" reason "disk images are refused" mode audit
allow sender in ["partner.example.com"] as "partner"
block attachment extension in executable as "exe"
quarantine attachment extension in ["img", "exe", "doc"] as "wide" mode audit
allow attachment extension "doc" as "doc-ok" mode audit
strip attachment extension "hta" as "hta"
"""

PE = b"MZ\x90\x00" + b"\x00" * 200


def msg(*names: str, sender: str = "x@example.net") -> Message:
    atts = tuple(
        Attachment(names=(n,), data=PE if n.endswith(".exe") else b"hello\n", part=str(i + 2))
        for i, n in enumerate(names)
    )
    return Message(path="m.eml", sender=sender, recipients=("r@example.org",), attachments=atts)


# (attachment names, sender, enforced action, deciding rule, staged rules that matched)
CASES = [
    (("a.iso",), "x@example.net", "allow", None, ("iso",)),
    (("a.img",), "x@example.net", "allow", None, ("iso", "wide")),
    (("a.exe",), "x@example.net", "block", "exe", ()),
    (("a.iso", "b.exe"), "x@example.net", "block", "exe", ("iso",)),
    (("a.iso",), "a@partner.example.com", "allow", "partner", ("iso",)),
    (("a.doc",), "x@example.net", "allow", None, ("wide", "doc-ok")),
    (("a.doc", "h.hta"), "x@example.net", "strip", "hta", ("wide", "doc-ok")),
    (("a.txt",), "x@example.net", "allow", None, ()),
]


@pytest.fixture(scope="module")
def policy() -> CheckedPolicy:
    return loader.load_text(POLICY, "staging.policy")


@pytest.mark.parametrize(("names", "sender", "action", "rule", "audited"), CASES)
def test_both_deciders_record_staged_rules_and_decide_as_without_them(
    policy: CheckedPolicy,
    names: tuple[str, ...],
    sender: str,
    action: str,
    rule: str | None,
    audited: tuple[str, ...],
) -> None:
    m = msg(*names, sender=sender)
    bare = loader.load_text(re.sub(r".* mode audit\n", "", POLICY), "bare.policy")
    for v in (evaluate(policy, m), compile_policy(policy).evaluate(m)):
        assert (v.action, v.rule) == (action, rule)
        assert tuple(a.rule for a in v.audited) == audited
        assert all(a.audited == () and a.trace == () for a in v.audited)
    for v in (evaluate(bare, m), compile_policy(bare).evaluate(m)):
        assert (v.action, v.rule, v.audited) == (action, rule, ())


def test_a_staged_verdict_is_what_enforcing_it_would_do(policy: CheckedPolicy) -> None:
    m = msg("a.img")
    for v in (evaluate(policy, m), compile_policy(policy).evaluate(m)):
        iso, wide = v.audited
        assert (iso.action, iso.line, iso.reason, iso.name) == (
            "block",
            4,
            "disk images are refused",
            "a.img",
        )
        assert (wide.action, wide.rule, wide.line) == ("quarantine", "wide", 7)
        assert "a.img" in wide.reason


def test_the_trace_marks_staged_rules_and_goes_on(policy: CheckedPolicy) -> None:
    v = evaluate(policy, msg("a.iso", "b.exe"))
    steps = [(s.rule, s.matched, s.audit) for s in v.trace]
    assert steps == [("iso", True, True), ("partner", False, False), ("exe", True, False)]
    doc = v.to_json()
    assert [s["mode"] for s in doc["trace"]] == ["audit", "enforce", "enforce"]
    assert [(a["rule"], a["action"], a["line"]) for a in doc["audited"]] == [("iso", "block", 4)]
    assert "trace" not in doc["audited"][0] and doc["rule"] == "exe"


def test_a_staged_rule_keeps_its_derived_id_when_enforced() -> None:
    staged = loader.load_text('block attachment extension "iso" mode audit\n', "a.policy")
    enforced = loader.load_text('block attachment extension "iso"\n', "b.policy")
    assert staged.rules[0].id == enforced.rules[0].id
    assert staged.rules[0].rule.audit and not enforced.rules[0].rule.audit


def test_compiled_reaches_staged_rules_through_the_index(policy: CheckedPolicy) -> None:
    compiled = compile_policy(policy)
    ids = [r.id for r in policy.rules]
    # the staged rules are filed under their extensions like the others: a .txt message
    # does not make them candidates, an .iso one does
    assert ids.index("iso") not in compiled.candidates(msg("a.txt"))
    assert ids.index("iso") in compiled.candidates(msg("a.iso"))
    assert compiled.match(msg("a.iso")) is None
    assert [r.id for r in compiled.walk(msg("a.img"))[1]] == ["iso", "wide"]


# ---- exports ----------------------------------------------------------------------------
EXPORT_POLICY = """\
policy "export-staging"
default allow
block attachment extension in ["exe", "pif"] as "exe"
block attachment type disk-image as "disk" mode audit
quarantine attachment extension "iso" as "iso" mode audit
"""


@pytest.mark.parametrize("target", sorted(t for t in TARGETS if t != "json"))
def test_exports_leave_staged_rules_out_with_a_sound_note(target: str) -> None:
    staged = loader.load_text(EXPORT_POLICY, "p.policy")
    bare = loader.load_text(re.sub(r".* mode audit\n", "", EXPORT_POLICY), "p.policy")
    got = TARGETS[target](staged, approximate=True).export()
    want = TARGETS[target](bare, approximate=True).export()
    notes = [x for x in got.losses if x.key.endswith(":staged")]
    assert [(x.rule, x.sound, x.key) for x in notes] == [
        ("disk", True, "disk:staged"),
        ("iso", True, "iso:staged"),
    ]
    assert "staged (mode audit); not exported" in notes[0].text()
    assert [x for x in got.losses if x not in notes] == want.losses

    def without_notes(files: dict[str, str]) -> dict[str, str]:
        return {
            name: "\n".join(
                ln
                for ln in text.splitlines()
                if "staged (mode audit)" not in ln and "sha256" not in ln
            )
            for name, text in files.items()
        }

    assert without_notes(got.files) == without_notes(want.files)


def test_a_strict_export_does_not_fail_on_a_staged_rule_it_could_not_express() -> None:
    # sieve cannot tell true types: enforced, this rule fails a strict export
    text = 'policy "p"\nblock attachment type disk-image as "disk"{}\n'

    def strict(mode: str) -> list[str]:
        exporter = TARGETS["sieve"](loader.load_text(text.format(mode), "p.policy"))
        return [d.code for d in exporter.export().diagnostics]

    assert strict("") == ["E301"]
    assert strict(" mode audit") == []


def test_the_json_export_keeps_staged_rules() -> None:
    staged = loader.load_text(EXPORT_POLICY, "p.policy")
    text = TARGETS["json"](staged).export().files["policy.json"]
    assert text.count('"mode": "audit"') == 2


# ---- semantic comparison ----------------------------------------------------------------
def test_semantic_diff_compares_enforced_behaviour() -> None:
    old = loader.load_text(EXPORT_POLICY, "old.policy")
    extra = loader.load_text(EXPORT_POLICY + 'block size > 1MB as "big" mode audit\n', "x.policy")
    assert compare(old, extra).equivalent
    enforced = loader.load_text(EXPORT_POLICY.replace('"iso" mode audit', '"iso"'), "new.policy")
    result = compare(old, enforced)
    assert not result.equivalent
    assert [e["new"]["rule"] for e in result.newly_stopped] == ["iso"]
    assert result.mode_changes == [{"rule": "iso", "old": "audit", "new": "enforce", "line": 5}]
    assert result.to_json()["mode_changes"] == result.mode_changes


# ---- lint -------------------------------------------------------------------------------
LINT_POLICY = """\
default allow
block attachment extension in ["exe", "pif"] as "stage" mode audit
quarantine attachment extension "pif" as "pif"
block attachment extension "exe" as "exe"
quarantine attachment extension "exe" as "exe2" mode audit
"""


def test_a_staged_rule_shadows_nothing() -> None:
    found = [
        (d.code, d.span.line)
        for d in lint.lint(loader.load_text(LINT_POLICY, "l.policy"))
        if d.code == "W201"
    ]
    # only the staged rule after an enforced rule that always decides first: it can never
    # match before the deciding rule, so staging it can never show anything
    assert found == [("W201", 5)]
