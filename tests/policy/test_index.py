"""The rule index: each multi-pattern structure answers exactly what the condition's own
test answers, the need of a rule is necessary (no rule that holds is ever left out), lazy
facts wait for the rule that needs them, and the candidates stay few as rules grow."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import checked_policies, globs
from test_deciders import contains_policies, messages

from mailpolicy.corpus.message import ArchiveListing, Attachment, Message
from mailpolicy.policy import globs as glob_mod
from mailpolicy.policy import loader
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.compile import compile_policy
from mailpolicy.policy.conditions import COMPARE
from mailpolicy.policy.explain import explain_cond
from mailpolicy.policy.index import needs, trigger
from mailpolicy.policy.index_text import (
    AddressIndex,
    GlobIndex,
    Needles,
    Thresholds,
    required_literal,
)
from mailpolicy.policy.sets import address_in

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from workload import fresh_messages, mixed_policy  # noqa: E402

#: texts with the characters re.IGNORECASE folds onto ASCII letters, and others
_text = st.text(st.sampled_from("abkisx.-*@ İıſKσςΣé中 0"), max_size=12)


@given(st.lists(_text.filter(bool), max_size=8), _text, st.booleans())
def test_needles_find_exactly_the_needles_in_the_text(
    patterns: list[str], text: str, automaton: bool
) -> None:
    found = Needles(patterns, automaton=automaton).found(text)
    assert {patterns[i] for i in found} == {p for p in patterns if p in text}


@given(st.lists(st.one_of(globs(), _text), min_size=1, max_size=8), _text)
def test_globindex_equals_glob_match(patterns: list[str], text: str) -> None:
    gi = GlobIndex(patterns)
    want = sorted(i for i, g in enumerate(gi.patterns) if glob_mod.match(g, text))
    assert sorted(gi.matching(text)) == want


def test_a_middle_wildcard_glob_is_filed_under_its_longest_literal() -> None:
    assert required_literal("*invoice*.exe") == "invoice"
    assert required_literal("*[0-9]*") == ""
    assert required_literal("{a,b}*.PIF") == ".pif"
    gi = GlobIndex([f"*inv{k}*.exe" for k in range(500)] + ["*?*"])
    assert len(gi.unfiltered) == 1  # only "*?*" is tried on every name
    assert sorted(gi.matching("scan-INV42-x.EXE")) == [4, 42, 500]  # inv4 is in inv42


_entries = st.sampled_from(
    ["*@partner.example.com", "example.ac.jp", "a@b.c", "*.org", "", "@x.y", "post*@ex.jp"]
    + ["Weird", "ſub.example", "sub.example", "*@*.example", "x?.org"]
)
_addresses = st.sampled_from(
    ["a@B.C", "z@x.y", "q@deep.sub.example.ac.jp", "m@x.org", "post1@ex.jp", "n@ſub.example"]
    + ["weird", "a@SUB.example", "u@partner.example.com", "u@x1.org", "p@b.example"]
)


@given(
    st.lists(_entries, max_size=6),
    st.lists(_entries.filter(lambda e: "@" not in e), max_size=6),  # what AddressKind files
    _addresses,
)
def test_addressindex_equals_address_in(globs_: list[str], domains: list[str], addr: str) -> None:
    in_globs, in_domains = AddressIndex(globs_, domains).matching(addr)
    assert sorted(in_globs) == [k for k, g in enumerate(globs_) if glob_mod.match(g, addr)]
    assert sorted(in_domains) == [k for k, d in enumerate(domains) if address_in(d, addr)]


_ops = st.sampled_from([">", ">=", "<", "<=", "=="])


@given(st.lists(st.tuples(_ops, st.integers(0, 20)), max_size=10), st.integers(0, 20))
def test_thresholds_equal_the_comparisons(items: list[tuple[str, int]], n: int) -> None:
    want = [k for k, (op, v) in enumerate(items) if COMPARE[op](n, v)]
    assert sorted(Thresholds(items).hits(n)) == want


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_every_rule_that_holds_is_a_candidate(data: st.DataObject) -> None:
    """The need is necessary: a rule whose condition holds is never left out."""
    _holding_rules_are_candidates(data, data.draw(checked_policies()))


def _holding_rules_are_candidates(data: st.DataObject, policy: CheckedPolicy) -> None:
    compiled = compile_policy(policy)
    for _ in range(3):
        m = data.draw(messages(policy))
        holds = [
            i for i, r in enumerate(policy.rules) if explain_cond(r.rule.condition, m, policy).ok
        ]
        assert set(holds) <= set(compiled.candidates(m))


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_every_contains_rule_that_holds_is_a_candidate(data: st.DataObject) -> None:
    """The same on policies made mostly of ``contains`` rules, over nested archives."""
    _holding_rules_are_candidates(data, data.draw(contains_policies()))


def test_contains_is_filed_under_the_members_names_or_under_having_members() -> None:
    p = loader.load_text(
        'block attachment contains extension in ["js", "vbs"]\n'
        'block attachment contains (name matches "*.lnk" or extension "exe")\n'
        'block attachment archive contains contains extension "hta"\n'
        "block attachment contains type executable\n"
        'block attachment contains (extension "js" or type executable)\n'
        'block attachment contains (not extension "txt")\n'
        'block attachment (extension "zip" and contains extension "js")\n'
        'block attachment (extension "zip" or contains extension "js")\n',
        "p",
    )
    got = [needs(r.rule.condition, p) for r in p.rules]
    assert got == [
        frozenset({("member", "ext", "js"), ("member", "ext", "vbs")}),
        frozenset({("member", "glob", "*.lnk"), ("member", "ext", "exe")}),
        frozenset({("member", "ext", "hta")}),
        frozenset({("member", "any")}),
        frozenset({("member", "any")}),
        frozenset({("member", "any")}),
        frozenset({("ext", "zip")}),
        frozenset({("ext", "zip"), ("member", "ext", "js")}),
    ]
    # lint's trigger stays about the attachment's own names
    assert trigger(p.rules[0].rule.condition, p) is None


def _zip(name: str, *members: str, listed: list[str] | None = None) -> Attachment:
    def members_of(a: Attachment) -> ArchiveListing:
        if listed is not None:
            listed.append(name)
        found = tuple(
            Attachment(names=(m,), data=b"", part="2.1", in_archive=True) for m in members
        )
        return ArchiveListing(members=found, is_archive=True)

    return Attachment(names=(name,), data=b"PK\x03\x04", part="2", member_loader=members_of)


def test_contains_lists_archives_only_when_the_walk_reaches_it() -> None:
    p = compile_policy(
        loader.load_text(
            'block attachment extension "exe"\nblock attachment contains extension "js"\n'
            "quarantine attachment contains type executable\n",
            "p",
        )
    )
    listed: list[str] = []
    early = Message(
        attachments=(
            Attachment(names=("a.exe",), data=b"MZ", part="2"),
            _zip("b.zip", "c.js", listed=listed),
        )
    )
    assert p.match(early) is p.policy.rules[0]
    assert listed == []  # decided before any ``contains``: the archive was never listed
    assert p.candidates(Message(attachments=(_zip("d.zip", "e.js"),))) == [1, 2]
    assert p.candidates(Message(attachments=(_zip("d.zip", "e.txt"),))) == [2]
    assert p.candidates(Message(attachments=(_zip("d.zip"),))) == []


@pytest.mark.parametrize("rules", [10, 1000])
def test_contains_rules_tried_stay_few_as_rules_grow(rules: int) -> None:
    """1,000 ``contains extension in [...]`` rules: a message tries only those its members'
    extensions hit."""
    text = "".join(
        f'block attachment contains extension in ["x{k}a", "x{k}b"]\n' for k in range(rules)
    )
    compiled = compile_policy(loader.load_text(text, "p"))
    batch = [
        Message(attachments=(_zip("a.zip", f"m.x{k}b", "readme.txt"),)) for k in range(0, rules, 7)
    ]
    for m in batch:
        assert [r.id for r in compiled.policy.rules if compiled.match(m) is r]
        assert len(compiled.candidates(m)) == 1


def test_needs_pick_the_cheapest_item_of_an_and() -> None:
    p = loader.load_text(
        'block size > 1MB and attachment type executable and sender matches "*@x.example"\n'
        'block attachment (type executable and extension in ["exe", "scr"])\n'
        'block attachment type executable or subject contains "hi"\n'
        'block not sender in ["a.example"]\n'
        "block size != 5\n",
        "p",
    )
    got = [needs(r.rule.condition, p) for r in p.rules]
    assert got == [
        frozenset({("address", "sender", "*@x.example")}),
        frozenset({("ext", "exe"), ("ext", "scr")}),
        frozenset({("fact", "type", "class", "executable"), ("contains", "subject", "hi")}),
        None,
        None,
    ]
    # lint's trigger stays about names alone
    assert [trigger(r.rule.condition, p) for r in p.rules] == [
        None,
        frozenset({("ext", "exe"), ("ext", "scr")}),
        None,
        None,
        None,
    ]


def test_a_lazy_fact_waits_for_the_rule_that_needs_it() -> None:
    p = compile_policy(
        loader.load_text('block attachment extension "exe"\nblock attachment type executable', "p")
    )
    decided_early = Attachment(names=("a.exe",), loader=lambda: b"MZ", part="2")
    assert p.match(Message(attachments=(decided_early,))) is p.policy.rules[0]
    assert not decided_early.loaded  # its type was never detected
    later = Attachment(names=("a.txt",), loader=lambda: b"MZ" + bytes(300), part="2")
    p.match(Message(attachments=(later,)))
    assert later.loaded


@pytest.mark.parametrize("rules", [10, 10000])
def test_candidates_stay_few_as_rules_grow(rules: int) -> None:
    """The flatness the benchmarks time, counted: rules tried per message on the mixed
    workload (tests/bench/workload.py), and agreement with the reference at 10 rules."""
    policy = loader.load_text(mixed_policy(rules), "mixed.policy")
    compiled = compile_policy(policy)
    batch = fresh_messages(1, 300)
    tried = sum(len(compiled.candidates(m)) for m in batch) / len(batch)
    assert tried < 6, tried
    if rules == 10:
        from mailpolicy.policy.evaluate import evaluate

        for m in batch:
            want = evaluate(policy, m, trace=False)
            got = compiled.evaluate(m)
            assert (got.action, got.rule, got.reason) == (want.action, want.rule, want.reason)
