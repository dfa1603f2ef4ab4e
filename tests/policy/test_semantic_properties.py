"""Properties of ``diff --semantic``: every counterexample really separates the two policies
(checked again with the reference evaluator), and policies declared equivalent agree on
generated messages (checked with the compiled matchers).

The policies are drawn from small pools of extensions, globs, type classes and address
lists that overlap on purpose (``*.EXE`` and ``exe``, ``*.*.*`` and double extensions,
domains and ``*@`` globs), and the second policy is often a rewrite of the first (a list
reordered, rules swapped, an ``unless`` added, an entry dropped), so that both equivalent
and different pairs come up. Messages draw names from the same pools plus the names the
engine reads apart (look-alike letters, blanks, trailing blank parts).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import TYPE_CLASSES

from mailpolicy.corpus.message import Message
from mailpolicy.policy.compile import CompiledPolicy
from mailpolicy.policy.evaluate import evaluate
from mailpolicy.policy.loader import load_text
from mailpolicy.policy.semantic import compare
from mailpolicy.policy.semantic.realize import make_attachment, make_message

STOPPING = ("block", "quarantine", "strip", "discard")
EXTS = ["exe", "pif", "scr", "bat", "txt", "doc", "gz", "com"]
GLOBS = ["*.pif", "*.exe", "*.EXE", "*.*.*", "a*", "*.[ep]xe", "invoice*", "*.{bat,cmd}", "?.txt"]
SENDERS = ["partner.example.com", "*@evil.example", "boss@corp.example"]
NAMES = [
    "a.pif",
    "A.PIF",
    ".pif",
    "a. pif",
    "a.\u03a1if",
    "x.doc.exe",
    "test.tar.gz",
    "a.b.c",
    "invoice.pdf",
    "a.exe\u00a0",
    "a.txt",
    "b.exe",
    "run.bat",
    "a.EXE",
    "report.2001.exe",
    "setup",
    "invoice.doc.pif",
    "a.scr",
]
ADDRESSES = [
    None,
    "someone@example.org",
    "a@partner.example.com",
    "x@mail.partner.example.com",
    "bad@evil.example",
    "boss@corp.example",
    "Boss@Corp.Example",
]


@st.composite
def att_conds(draw: Any, depth: int = 0) -> str:
    leaf = st.one_of(
        st.builds(
            lambda xs: f"extension in [{', '.join(map(repr, xs))}]".replace("'", '"'),
            st.lists(st.sampled_from(EXTS), min_size=1, max_size=4, unique=True),
        ),
        st.builds(lambda g: f'name matches "{g}"', st.sampled_from(GLOBS)),
        st.builds(
            lambda xs: f"double extension in [{', '.join(map(repr, xs))}]".replace("'", '"'),
            st.lists(st.sampled_from(EXTS), min_size=1, max_size=3, unique=True),
        ),
        st.builds(lambda t: f"type {t}", st.sampled_from(TYPE_CLASSES)),
        st.just("evasive name"),
    )
    if depth >= 1:
        return draw(leaf)
    kind = draw(st.sampled_from(["leaf", "leaf", "and", "or", "not"]))
    if kind == "leaf":
        return draw(leaf)
    if kind == "not":
        return f"(not {draw(att_conds(1))})"
    a, b = draw(att_conds(1)), draw(att_conds(1))
    return f"({a} {kind} {b})"


@st.composite
def rules(draw: Any) -> str:
    action = draw(st.sampled_from(["block", "quarantine", "allow", 'tag "X-A: b"']))
    when = " when" if action.startswith("tag") else ""
    rule = f"{action}{when} attachment {draw(att_conds())}"
    unless = draw(
        st.sampled_from(
            ["", "", " unless sender in partners", ' unless recipient in ["corp.example"]']
        )
    )
    return rule + unless


@st.composite
def policy_texts(draw: Any) -> tuple[str, list[str]]:
    head = f"default {draw(st.sampled_from(['allow', 'allow', 'block']))}\n"
    head += "list partners = [" + ", ".join(f'"{s}"' for s in SENDERS) + "]\n"
    return head, draw(st.lists(rules(), min_size=1, max_size=4))


@st.composite
def pairs(draw: Any) -> tuple[str, str]:
    head, old = draw(policy_texts())
    how = draw(st.sampled_from(["same", "swap", "unless", "drop", "other", "reorder-list"]))
    new = list(old)
    if how == "swap" and len(new) > 1:
        i = draw(st.integers(0, len(new) - 2))
        new[i], new[i + 1] = new[i + 1], new[i]
    elif how == "unless":
        i = draw(st.integers(0, len(new) - 1))
        if " unless " not in new[i]:
            new[i] += " unless sender in partners"
    elif how == "drop":
        new.pop(draw(st.integers(0, len(new) - 1)))
        new = new or ['block attachment name matches "*.zzz"']
    elif how == "other":
        head2, new = draw(policy_texts())
        return head + "\n".join(old), head2 + "\n".join(new)
    elif how == "reorder-list":
        new = [r.replace('"exe", "pif"', '"pif", "exe"') for r in new]
    return head + "\n".join(old), head + "\n".join(new)


@st.composite
def messages(draw: Any) -> Message:
    atts = []
    for _ in range(draw(st.integers(0, 2))):
        names = tuple(draw(st.lists(st.sampled_from(NAMES), min_size=0, max_size=2, unique=True)))
        cls = draw(st.sampled_from([*TYPE_CLASSES, "other"]))
        atts.append(make_attachment(names, cls, {}))
    sender = draw(st.sampled_from(ADDRESSES))
    rcpts = tuple(a for a in draw(st.lists(st.sampled_from(ADDRESSES[1:]), max_size=2)) if a)
    return make_message(sender, rcpts, tuple(atts), {})


def _stopped(action: str) -> bool:
    return action in STOPPING


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs(), st.lists(messages(), min_size=1, max_size=15))
def test_counterexamples_separate_and_equivalents_agree(
    pair: tuple[str, str], msgs: list[Message]
) -> None:
    old = load_text(pair[0], "old.policy")
    new = load_text(pair[1], "new.policy")
    result = compare(old, new, examples=3)
    assert result.undecided is None and not result.unconfirmed, result.to_json()
    assert len(result.messages) == len(result.newly_stopped) + len(result.newly_delivered)
    for direction, msg in result.messages:  # the reference evaluator sees the same difference
        o, n = evaluate(old, msg, trace=False), evaluate(new, msg, trace=False)
        assert _stopped(n.action) == (direction == "newly_stopped")
        assert _stopped(o.action) == (direction != "newly_stopped")
    if result.equivalent:
        mo, mn = CompiledPolicy(old), CompiledPolicy(new)
        for msg in msgs:
            assert _stopped(mo.evaluate(msg).action) == _stopped(mn.evaluate(msg).action), (
                pair,
                [(a.names, a.type_class) for a in msg.attachments],
                msg.sender,
                msg.recipients,
            )
    else:
        assert result.messages or result.opaque
