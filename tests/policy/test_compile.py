"""The compiled matcher agrees with the reference evaluator (action and rule), always."""

from __future__ import annotations

import pickle
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy import loader
from mailpolicy.policy.compile import compile_policy
from mailpolicy.policy.evaluate import evaluate
from mailpolicy.policy.globs import match
from mailpolicy.policy.sets import AddressSet, GlobSet, address_in

PE = b"MZ\x90\x00" + b"\x00" * 56 + b"\x40\x00\x00\x00" + b"PE\x00\x00" + b"\x00" * 200

EXTS = [
    "exe",
    "pif",
    "bat",
    "com",
    "lnk",
    "doc",
    "xls",
    "zip",
    "gz",
    "tar",
    "jpg",
    "txt",
    "01",
    "EXE",
    "Pif",
    "hta",
    "{3050F4D8-98B5-11CF-BB82-00AA00BDCE0B}",
]
STEMS = [
    "test",
    "書類名1",
    "同窓会名簿",
    "invoice",
    "John.Smith",
    "archive",
    "a",
    "",
    "ſ",
    "K",
    "\u212aworm",
    "İnvoice",
    "wor\u0131m",
]
TRICK = ["", ".", " ", ". .", "\u202e", "   "]
SENDERS = [
    None,
    "mallory@example.net",
    "build@partner.example.com",
    "x@sub.partner.example.com",
    "postmaster@example.ac.jp",
    "PostMaster@Example.AC.JP",
    "weird",
]
GLOBS = [
    "*.pif",
    "*.PIF",
    "worm*.exe",
    "in*f",
    "a*a",
    "*.{doc,xls}.{bat,com,lnk,pif}",
    "*.*.*",
    "invoice*",
    "test.tar.gz",
    "*[0-9].*",
    "?.exe",
    "*.ex?",
    "書類*",
    "*.doc.bat",
    "*\u202e*",
    "*",
    "a\\*b",
]
LISTS = {
    "executable": '["exe", "pif", "bat", "com", "lnk", "scr", "HTA", "vbs"]',
    "trusted": '["*@partner.example.com", "example.ac.jp", "Weird", "post*@example.ac.jp"]',
    "globs": "[" + ", ".join('"' + g.replace("\\", "\\\\") + '"' for g in GLOBS) + "]",
}

name_st = st.builds(
    lambda s, e, t: s + "".join("." + x for x in e) + t,
    st.sampled_from(STEMS),
    st.lists(st.sampled_from(EXTS), max_size=3),
    st.sampled_from(TRICK),
)
att_pred = st.one_of(
    st.sampled_from(GLOBS).map(lambda g: 'name matches "' + g.replace("\\", "\\\\") + '"'),
    st.just("name in globs"),
    st.just("extension in executable"),
    st.sampled_from(EXTS).map(lambda e: f'extension "{e}"'),
    st.just("double extension in executable"),
    st.just("type executable"),
    st.just("evasive name"),
    st.just("size > 100"),
)
msg_pred = st.one_of(
    st.just("sender in trusted"),
    st.just('sender matches "*@example.net"'),
    st.just('subject contains "how are"'),
    st.just("attachments > 1"),
    att_pred.map(lambda p: "attachment " + p),
    st.tuples(att_pred, att_pred).map(lambda t: f"attachment ({t[0]} and {t[1]})"),
    st.tuples(att_pred, att_pred).map(lambda t: f"attachment ({t[0]} or not {t[1]})"),
)
cond_st = st.one_of(
    msg_pred,
    st.tuples(msg_pred, msg_pred).map(lambda t: f"{t[0]} and {t[1]}"),
    st.tuples(msg_pred, msg_pred).map(lambda t: f"{t[0]} or {t[1]}"),
    msg_pred.map(lambda p: f"not ({p})"),
)
rule_st = st.builds(
    lambda action, cond, unless: f"{action} {cond}" + (f" unless {unless}" if unless else ""),
    st.sampled_from(["block", "quarantine", "allow", "discard"]),
    cond_st,
    st.one_of(st.none(), msg_pred),
)
policy_st = st.lists(rule_st, min_size=1, max_size=12).map(
    lambda rules: "\n".join(f"list {k} = {v}" for k, v in LISTS.items()) + "\n" + "\n".join(rules)
)
attachment_st = st.builds(
    lambda names, exe: Attachment(
        names=tuple(names), data=PE if exe else b"plain text\n", part="2"
    ),
    st.lists(name_st, min_size=0, max_size=2),
    st.booleans(),
)
message_st = st.builds(
    lambda atts, sender, subject: Message(
        path="m",
        sender=sender,
        recipients=("bob@example.com",),
        headers=(("Subject", subject),),
        attachments=tuple(atts),
    ),
    st.lists(attachment_st, max_size=3),
    st.sampled_from(SENDERS),
    st.sampled_from(["Hi! How are you?", "minutes"]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_st, st.lists(message_st, min_size=1, max_size=4))
def test_compiled_equals_reference(text: str, messages: list[Message]) -> None:
    policy = loader.load_text(text, "gen.policy")
    compiled = compile_policy(policy)
    for m in messages:
        want = evaluate(policy, m, trace=False)
        got = compiled.evaluate(m)
        assert (got.action, got.rule) == (want.action, want.rule), text


@given(st.lists(st.sampled_from(GLOBS), min_size=1), name_st)
def test_globset_equals_glob_match(patterns: list[str], name: str) -> None:
    gs = GlobSet(patterns)
    want = sorted(i for i, g in enumerate(gs.patterns) if match(g, name))
    assert sorted(gs.matching(name)) == want
    assert gs.any(name) == bool(want)


@given(
    st.lists(
        st.sampled_from(["*@partner.example.com", "example.ac.jp", "a@b.c", "*.org", "", "@x.y"]),
        min_size=1,
    ),
    st.sampled_from(
        [s for s in SENDERS if s] + ["a@B.C", "z@x.y", "q@deep.sub.example.ac.jp", "m@x.org"]
    ),
)
def test_addressset_equals_address_in(entries: list[str], address: str) -> None:
    assert AddressSet(entries).contains(address) == any(address_in(e, address) for e in entries)


def test_fold_table_is_exactly_what_ignorecase_matches() -> None:
    """Every code point that re.IGNORECASE matches to an ASCII letter is in _FOLD."""
    from mailpolicy.policy.sets import FOLD as _FOLD

    letter = re.compile("[a-z]", re.IGNORECASE)
    found = {
        chr(c): next(a for a in "abcdefghijklmnopqrstuvwxyz" if re.match(a, chr(c), re.IGNORECASE))
        for c in range(0x80, 0x110000)
        if letter.match(chr(c))
    }
    assert found == _FOLD


def test_compiled_policy_pickles() -> None:
    policy = loader.load_text(
        'list x = ["exe"]\nblock attachment extension in x unless sender in ["a.b"]', "p"
    )
    compiled = pickle.loads(pickle.dumps(compile_policy(policy)))
    m = Message(sender="z@q.r", attachments=(Attachment(names=("a.exe",), data=b"x"),))
    assert compiled.evaluate(m).action == "block"


def test_only_indexed_rules_are_tried() -> None:
    rules = "\n".join(f'block attachment extension "x{i}"' for i in range(1000))
    text = rules + '\nblock body contains "zzz"\nblock not sender in ["a.example"]'
    compiled = compile_policy(loader.load_text(text, "p"))
    m = Message(attachments=(Attachment(names=("file.x500",), data=b"x"),))
    # the body rule has a needle the body lacks; the `not` rule has no known need
    assert compiled.candidates(m) == [500, 1001]
    assert compiled.candidates(Message(body="a zzz b")) == [1000, 1001]
