"""Both deciders, the reference evaluator and the compiled matcher, on one case table that
names every kind of condition, and on generated policies and messages (Hypothesis).

The table: ``POLICY`` holds a rule for every kind in ``conditions.ENTRIES`` (a test holds
that), each case is a message and the verdict wanted, and every case runs against both
deciders. The property: for any valid policy the strategies can write (every kind of
condition, every action, ``unless``, nesting) and any message built from the policy's own
words, the two deciders give the same action and rule, and the same staged rules
(``mode audit``) recorded in ``audited``; and a policy decides as it does without its
staged rules.
"""

from __future__ import annotations

import dataclasses
import gzip
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from strategies import attachment_tests, checked_policies, entries, message_tests, modes

from mailpolicy.corpus.message import ArchiveListing, Attachment, Message
from mailpolicy.policy import ast, loader
from mailpolicy.policy.checked import CheckedPolicy, assign_ids
from mailpolicy.policy.compile import compile_policy
from mailpolicy.policy.conditions import ENTRIES
from mailpolicy.policy.evaluate import evaluate
from mailpolicy.policy.verdict import Verdict

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "corpus" / "samples"))
import content_files as cf  # noqa: E402  (the samples' inert builders)

PE = b"MZ\x90\x00" + b"\x00" * 56 + b"\x40\x00\x00\x00" + b"PE\x00\x00" + b"\x00" * 200
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
TEXT = b"hello world\n"
#: one real file per active-content fact, so the property meets them too
ACTIVE = (
    cf.doc_with_macros(),
    cf.pdf_openaction_js(),
    cf.pdf_launch(),
    cf.docx_follina(),
    cf.smuggling_html(PE),
    cf.pdf_embedded_file("a.txt", b"hello"),
)

POLICY = """
policy "every-kind"
list executable = ["exe", "pif", "scr", "bat", "com", "lnk", "vbs"]
list trusted = ["*@partner.example.com", "example.ac.jp"]
block attachment has auto-run macros as "auto-run"
quarantine attachment has macros unless sender in trusted as "macros"
block attachment has external link as "external-link"
block attachment has launch action as "launch"
quarantine attachment has embedded file as "embedded"
block attachment smuggles a file as "smuggling"
quarantine attachment has javascript as "javascript"
block attachment contains type in ["application/pdf", disk-image] as "contains"
tag "X-Spreadsheet: html" when attachment (extension "xls" and type in ["text/html"]) as "html-xls"
quarantine attachment declared type in ["application/x-msdownload", "application/hta"] as "declared-in"
block attachment evasive name as "evasive"
block attachment archive encrypted as "encrypted"
quarantine attachment archive exceeds limits as "limits"
block attachment archive contains (extension in executable or type executable) as "in-archive"
block attachment double extension in executable as "double"
block attachment "*.pif" as "pif"
block attachment name in ["worm*", "*.scr"] as "name-in"
block attachment type "application/*exec*" unless sender in trusted as "mime"
block attachment extension in executable unless sender in trusted as "exe-name"
block attachment declared type "audio/*" as "audio"
quarantine attachment type mismatch as "mismatch"
quarantine attachment (type image and size > 100KB) as "big-image"
strip attachment extension "hta" as "strip-hta"
quarantine sender matches "*@spam.example" as "sender-glob"
discard recipient matches "trap-*@example.com" as "trap"
tag "X-Exec: yes" when recipient in ["ceo@example.com"] and attachments > 0 as "ceo"
quarantine subject contains "how are you" or body contains "have your advice" as "sircam"
quarantine subject matches "URGENT*" as "urgent"
block from contains "virus" as "from"
quarantine header "X-Mailer" contains "worm" as "mailer"
quarantine header "X-Spam-Flag" matches "Y*" as "spam-flag"
block size > 20MB as "huge"
block attachments > 3 and not sender in trusted as "many"
quarantine message unscannable as "message-unscannable"
quarantine evasive mime as "evasive-mime"
quarantine attachment unscannable as "unscannable"
"""


def msg(
    *atts: Attachment,
    sender: str | None = "mallory@example.net",
    rcpt: str = "bob@example.com",
    headers: tuple[tuple[str, str], ...] = (("Subject", "hello"),),
    body: str = "",
    size: int = 1000,
    unscannable: tuple[str, ...] = (),
    tricks: tuple[str, ...] = (),
) -> Message:
    return Message(
        path="m.eml",
        sender=sender,
        recipients=(rcpt,),
        headers=headers,
        body=body,
        size=size,
        attachments=atts,
        unscannable=unscannable,
        tricks=tricks,
    )


def att(
    name: str | None, data: bytes = TEXT, *more: str, declared: str = "application/octet-stream"
) -> Attachment:
    names = tuple(n for n in (name, *more) if n is not None)
    return Attachment(names=names, data=data, declared_type=declared, part="2")


def archive(
    name: str,
    *members: Attachment,
    encrypted: bool = False,
    exceeds: bool = False,
) -> Attachment:
    listing = ArchiveListing(
        members=members,
        encrypted=encrypted,
        exceeds_limits=exceeds,
        problems=("too many members",) if exceeds else (),
        is_archive=True,
    )
    return Attachment(names=(name,), data=b"PK\x03\x04", part="2", member_loader=lambda _a: listing)


def member(name: str, data: bytes = TEXT) -> Attachment:
    return Attachment(names=(name,), data=data, part="2.1", in_archive=True)


# (message, action, deciding rule, witness name)
CASES: list[tuple[Message, str, str | None, str | None]] = [
    (msg(att("INVOICE.PIF.")), "block", "evasive", "INVOICE.PIF."),
    (msg(archive("a.zip", member("x.txt"), encrypted=True)), "block", "encrypted", "a.zip"),
    (msg(archive("b.zip", member("x.txt"), exceeds=True)), "quarantine", "limits", "b.zip"),
    (msg(archive("c.zip", member("setup.exe"))), "block", "in-archive", "c.zip"),
    (msg(archive("d.zip", member("photo.jpg", PE))), "block", "in-archive", "d.zip"),
    (msg(archive("e.zip", member("notes.txt"))), "allow", None, None),
    (msg(att("書類名1.doc.bat")), "block", "double", "書類名1.doc.bat"),
    (msg(att("test.tar.gz", gzip.compress(TEXT))), "allow", None, None),
    (msg(att("invoice.pif")), "block", "pif", "invoice.pif"),
    (msg(att("worm5-setup.dat")), "block", "name-in", "worm5-setup.dat"),
    (msg(att("photo.jpg", PE)), "block", "mime", "photo.jpg"),
    (
        msg(att("photo.jpg", PE), sender="build@partner.example.com"),
        "quarantine",
        "mismatch",
        "photo.jpg",
    ),
    (msg(att("John.Smith.bat")), "block", "exe-name", "John.Smith.bat"),
    (msg(att("installer.exe", PE), sender="pm@mail.example.ac.jp"), "allow", None, None),
    (msg(att("song.mp3", declared="audio/mpeg")), "block", "audio", "song.mp3"),
    (msg(att("report.jpg", PDF)), "quarantine", "mismatch", "report.jpg"),
    (msg(att("big.png", PNG + b"\0" * 200_000)), "quarantine", "big-image", "big.png"),
    (msg(att("small.png", PNG)), "allow", None, None),
    (msg(att("report.pdf", PDF), att("help.hta")), "strip", "strip-hta", "help.hta"),
    (msg(sender="x@spam.example"), "quarantine", "sender-glob", None),
    (msg(rcpt="trap-7@example.com"), "discard", "trap", None),
    (msg(att("a.txt"), rcpt="ceo@example.com"), "tag", "ceo", None),
    (msg(rcpt="ceo@example.com"), "allow", None, None),
    (msg(headers=(("Subject", "Hi! How are you?"),)), "quarantine", "sircam", None),
    (msg(body="I send you this file in order to have your advice"), "quarantine", "sircam", None),
    (msg(headers=(("Subject", "urgent: pay now"),)), "quarantine", "urgent", None),
    (msg(headers=(("From", "Virus Scanner <v@x.y>"),)), "block", "from", None),
    (msg(headers=(("X-Mailer", "WormMail 1.0"),)), "quarantine", "mailer", None),
    (msg(headers=(("X-Spam-Flag", "YES"),)), "quarantine", "spam-flag", None),
    (msg(headers=(("X-Spam-Flag", "NO"),)), "allow", None, None),
    (msg(size=30_000_000), "block", "huge", None),
    (msg(*(att(f"{i}.txt") for i in range(4))), "block", "many", None),
    (
        msg(*(att(f"{i}.txt") for i in range(4)), sender="a@partner.example.com"),
        "allow",
        None,
        None,
    ),
    (msg(unscannable=("MIME nesting deeper than 40",)), "quarantine", "message-unscannable", None),
    (msg(tricks=("ambiguous-mime",)), "quarantine", "evasive-mime", None),
    (
        msg(Attachment(names=("a.txt",), data=TEXT, part="2", unscannable=("corrupt",))),
        "quarantine",
        "unscannable",
        "a.txt",
    ),
    (
        msg(archive("f.zip", Attachment(names=("in.doc",), data=TEXT, unscannable=("method 9",)))),
        "quarantine",
        "unscannable",
        "f.zip",
    ),
    (msg(sender=None), "allow", None, None),
    # active content: each fact on a real file, and its benign look-alike
    (msg(att("report.doc", cf.doc_with_macros())), "block", "auto-run", "report.doc"),
    (msg(att("prices.xls", cf.xls_with_xlm())), "block", "auto-run", "prices.xls"),
    (msg(att("form.xlsm", cf.xlsm_with_xlm())), "block", "auto-run", "form.xlsm"),
    (
        msg(att("tables.docm", cf.docm_with_macros(cf.PLAIN_MACRO))),
        "quarantine",
        "macros",
        "tables.docm",
    ),
    (
        msg(
            att("tables.docm", cf.docm_with_macros(cf.PLAIN_MACRO)), sender="a@partner.example.com"
        ),
        "allow",
        None,
        None,
    ),
    (msg(att("minutes.docx", cf.docx_follina())), "block", "external-link", "minutes.docx"),
    (msg(att("minutes.docx", cf.docx_remote_template())), "block", "external-link", "minutes.docx"),
    (msg(att("minutes.docx", cf.docx_with_hyperlink())), "allow", None, None),
    (msg(att("scan.pdf", cf.pdf_launch())), "block", "launch", "scan.pdf"),
    (
        msg(att("scan.pdf", cf.pdf_embedded_file("a.txt", b"hello"))),
        "quarantine",
        "embedded",
        "scan.pdf",
    ),
    (msg(att("scan.pdf", cf.pdf_openaction_js())), "quarantine", "javascript", "scan.pdf"),
    (msg(att("scan.pdf", cf.pdf_js_in_object_stream())), "quarantine", "javascript", "scan.pdf"),
    (msg(att("links.pdf", cf.pdf_with_links())), "allow", None, None),
    (
        msg(att("invoice.html", cf.smuggling_html(cf.ole_file({"a": b"x"})))),
        "block",
        "smuggling",
        "invoice.html",
    ),
    (msg(att("logo.svg", cf.smuggling_svg(PE))), "block", "smuggling", "logo.svg"),
    (msg(att("news.html", cf.newsletter_html())), "allow", None, None),
    (msg(att("logo.svg", cf.svg_logo())), "allow", None, None),
    (msg(archive("h.zip", member("doc.pdf", PDF))), "block", "contains", "h.zip"),
    (msg(att("report.xls", cf.erp_export_xls())), "tag", "html-xls", "report.xls"),
    (
        msg(att("setup.txt", declared="application/x-msdownload")),
        "quarantine",
        "declared-in",
        "setup.txt",
    ),
]

# An archive over a limit is unscannable too (the rule for it comes later in POLICY).
LIMITS_ARE_UNSCANNABLE = archive("g.zip", member("x.txt"), exceeds=True)

Decider = Callable[[CheckedPolicy, Message], Verdict]


def _reference(policy: CheckedPolicy, m: Message) -> Verdict:
    return evaluate(policy, m, trace=False)


def _compiled(policy: CheckedPolicy, m: Message) -> Verdict:
    return compile_policy(policy).evaluate(m)


DECIDERS = {"reference": _reference, "compiled": _compiled}


@pytest.fixture(scope="module")
def policy() -> CheckedPolicy:
    return loader.load_text(POLICY, "every-kind.policy")


@pytest.mark.parametrize("decider", sorted(DECIDERS))
@pytest.mark.parametrize(("message", "action", "rule", "name"), CASES)
def test_case_table(
    policy: CheckedPolicy,
    decider: str,
    message: Message,
    action: str,
    rule: str | None,
    name: str | None,
) -> None:
    v = DECIDERS[decider](policy, message)
    assert (v.action, v.rule, v.name) == (action, rule, name)


def test_table_names_every_kind_and_every_rule_decides(policy: CheckedPolicy) -> None:
    kinds = {
        type(n)
        for r in policy.rules
        for c in (r.rule.condition, r.rule.unless)
        if c
        for n in ast.walk(c)
        if isinstance(n, ast.Leaf)
    }
    assert kinds == set(ENTRIES)
    assert {rule for _, _, rule, _ in CASES} - {None} == {r.id for r in policy.rules}


def test_an_archive_over_a_limit_is_unscannable() -> None:
    p = loader.load_text("quarantine attachment unscannable", "p.policy")
    for decide in DECIDERS.values():
        v = decide(p, msg(LIMITS_ARE_UNSCANNABLE))
        assert (v.action, v.name) == ("quarantine", "g.zip")
    assert "too many members" in evaluate(p, msg(LIMITS_ARE_UNSCANNABLE)).reason


def test_strip_and_tag_read_the_same_from_both(policy: CheckedPolicy) -> None:
    m = msg(att("report.pdf", PDF), att("help.hta"), att("x.hta"))
    for decide in DECIDERS.values():
        assert [a.name for a in decide(policy, m).stripped] == ["help.hta", "x.hta"]
    tagged = msg(att("a.txt"), rcpt="ceo@example.com")
    assert {d(policy, tagged).header for d in DECIDERS.values()} == {"X-Exec: yes"}


# ---- the property ---------------------------------------------------------------------------
def _words(policy: CheckedPolicy) -> list[str]:
    """Every string the policy names: list entries and operand texts, wildcards dropped."""
    out: set[str] = {e for entries in policy.lists.values() for e in entries}
    for r in policy.rules:
        for c in (r.rule.condition, r.rule.unless):
            for n in ast.walk(c) if c is not None else ():
                op = getattr(n, "operand", None)
                if isinstance(op, ast.Str):
                    out.add(op.value)
                elif isinstance(op, ast.ListLit):
                    out.update(i.value for i in op.items)
                if isinstance(n, (ast.HeaderContains, ast.HeaderMatches)):
                    out.add(n.header)
    return sorted({w.replace("*", "").replace("?", "") for w in out} | {"exe", "pif", "a"})


def _numbers(policy: CheckedPolicy) -> list[int]:
    found = [
        n.operand.value
        for r in policy.rules
        for c in (r.rule.condition, r.rule.unless)
        if c is not None
        for n in ast.walk(c)
        if isinstance(getattr(n, "operand", None), ast.Number)
    ]
    return sorted({v + d for v in found for d in (-1, 0, 1) if v + d >= 0} | {0, 5})


@st.composite
def messages(draw: Any, policy: CheckedPolicy) -> Message:
    """A message made of the policy's own words, so that its conditions are met often."""
    words = _words(policy)
    word = st.sampled_from(words)
    name = st.one_of(
        st.builds(lambda w, e: f"{w}.{e}", word, word),
        st.builds(lambda w, e, t: f"{w}.{e}.{t}", word, word, word),
        word,
        st.sampled_from(["invoice.pif.", "photo.jpg", "a.doc .exe", "x\u202etxt.exe"]),
    )
    data = st.sampled_from([PE, PDF, PNG, TEXT, b"", *ACTIVE])
    declared = st.one_of(
        word, st.sampled_from(["application/octet-stream", "audio/mpeg", "text/plain"])
    )

    def leaf(in_archive: bool) -> st.SearchStrategy[Attachment]:
        return st.builds(
            lambda ns, d, t, u: Attachment(
                names=tuple(ns),
                data=d,
                declared_type=t,
                part="2",
                in_archive=in_archive,
                unscannable=u,
            ),
            st.lists(name, max_size=2),
            data,
            declared,
            st.sampled_from([(), (), ("corrupt",)]),
        )

    def listing(members: st.SearchStrategy[Attachment]) -> st.SearchStrategy[ArchiveListing]:
        return st.builds(
            lambda ms, enc, exc: ArchiveListing(
                members=tuple(ms),
                encrypted=enc,
                exceeds_limits=exc,
                problems=("depth",) if exc else (),
                is_archive=True,
            ),
            st.lists(members, max_size=2),
            st.booleans(),
            st.booleans(),
        )

    def archive(in_archive: bool, members: Any) -> st.SearchStrategy[Attachment]:
        return st.builds(
            lambda n, found: Attachment(
                names=(n,),
                data=b"PK\x03\x04",
                part="3",
                in_archive=in_archive,
                member_loader=lambda _a: found,
            ),
            name,
            listing(members),
        )

    # an archive whose members may be archives too (``contains`` reads every depth)
    archives = archive(False, st.one_of(leaf(True), leaf(True), archive(True, leaf(True))))
    address = st.one_of(
        st.builds(lambda w, d: f"{w}@{d}", word, word),
        word,
        st.sampled_from(["a@partner.example.com", "x@spam.example"]),
    )
    header_names = st.one_of(word, st.sampled_from(["Subject", "From", "X-Mailer"]))
    return Message(
        path="gen.eml",
        sender=draw(st.none() | address),
        recipients=tuple(draw(st.lists(address, max_size=2))),
        headers=tuple(draw(st.lists(st.tuples(header_names, word), max_size=3))),
        body=draw(word),
        size=draw(st.sampled_from(_numbers(policy))),
        unscannable=draw(st.sampled_from([(), ("parts",)])),
        tricks=draw(st.sampled_from([(), ("ambiguous-mime",)])),
        attachments=tuple(draw(st.lists(st.one_of(leaf(False), archives), max_size=3))),
    )


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_compiled_equals_reference_on_every_kind(data: st.DataObject) -> None:
    policy = data.draw(checked_policies())
    compiled = compile_policy(policy)
    for _ in range(3):
        m = data.draw(messages(policy))
        # action and rule: the rest of a verdict is built from the deciding rule by the one
        # function both deciders call (explain.decided), so comparing it proves nothing;
        # the staged rules that matched, each by rule and action, likewise
        got, want = compiled.evaluate(m), evaluate(policy, m, trace=False)
        assert _outcome(got) == _outcome(want)


def _outcome(v: Verdict) -> tuple[str, str | None, tuple[tuple[str, str | None], ...]]:
    """What both deciders must agree on: action, rule, and the staged rules that matched."""
    return v.action, v.rule, tuple((a.action, a.rule) for a in v.audited)


def enforced_only(policy: CheckedPolicy) -> CheckedPolicy:
    """``policy`` without its staged rules, every other rule keeping its id."""
    kept = [r for r in policy.rules if not r.rule.audit]
    tree = dataclasses.replace(
        policy.ast,
        statements=tuple(
            s for s in policy.ast.statements if not (isinstance(s, ast.Rule) and s.audit)
        ),
    )
    rules = tuple(dataclasses.replace(r, index=k) for k, r in enumerate(kept))
    return dataclasses.replace(policy, ast=tree, rules=rules)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_staged_rules_change_no_enforced_verdict(data: st.DataObject) -> None:
    """A policy with staged rules decides, with either decider, exactly as the same policy
    with its staged rules removed; ``audited`` holds exactly the staged rules that match
    and come before the deciding rule, in order."""
    policy = data.draw(checked_policies())
    bare = enforced_only(policy)
    deciders = (compile_policy(policy).evaluate, compile_policy(bare).evaluate)
    for _ in range(3):
        m = data.draw(messages(policy))
        full, without = evaluate(policy, m), evaluate(bare, m, trace=False)
        assert (full.action, full.rule) == (without.action, without.rule)
        assert [deciders[0](m).rule, deciders[1](m).rule] == [full.rule, full.rule]
        steps = full.trace
        if full.rule is not None:  # the trace ends at the deciding rule, an enforced one
            assert (steps[-1].rule, steps[-1].audit) == (full.rule, False)
            steps = steps[:-1]
        staged = [s.rule for s in steps if s.audit and s.matched]
        assert [a.rule for a in full.audited] == staged
        assert all(policy.rule(a.rule or "").rule.audit for a in full.audited)


def _rules_over(
    draw: Any,
    entries_: tuple[str, ...],
    cond: st.SearchStrategy[ast.Cond],
    unless: st.SearchStrategy[ast.Cond],
    count: int,
) -> CheckedPolicy:
    """A policy of ``count`` rules drawn from ``cond`` (and maybe ``unless``), over the list
    ``l`` of ``entries_``, default allow; about one rule in four staged (``mode audit``)."""
    rules = [
        ast.Rule(
            action=draw(st.sampled_from(["allow", "block", "quarantine", "discard"])),
            condition=draw(cond),
            unless=draw(st.none() | unless),
            mode=draw(modes),
        )
        for _ in range(count)
    ]
    tree = ast.Policy(
        statements=(
            ast.Default(action="allow"),
            ast.ListDef(name="l", items=tuple(ast.Str(value=e) for e in entries_)),
            *rules,
        )
    )
    lists = {"l": entries_}
    return CheckedPolicy(ast=tree, rules=assign_ids(tree.rules), lists=lists, source_sha256="")


def _agree(data: st.DataObject, policy: CheckedPolicy, rounds: int) -> None:
    """Both deciders give the same action, rule and staged rules on ``rounds`` messages."""
    compiled = compile_policy(policy)
    for _ in range(rounds):
        m = data.draw(messages(policy))
        got, want = compiled.evaluate(m), evaluate(policy, m, trace=False)
        assert _outcome(got) == _outcome(want)


@st.composite
def many_rule_policies(draw: Any) -> CheckedPolicy:
    """20 to 60 rules, most of them message-level (addresses, texts, headers, counts), some
    joined with an attachment test, some with an ``unless``: the shape the rule index files
    by every kind of key at once."""
    lists = {"l": tuple(draw(st.lists(entries, max_size=5)))}
    msg_leaf = message_tests(("l",))
    att_leaf = st.builds(lambda p: ast.AnyAttachment(pred=p), attachment_tests(("l",)))
    cond = st.one_of(
        msg_leaf,
        msg_leaf,
        att_leaf,
        st.builds(lambda a, b: ast.And(items=(a, b)), msg_leaf, st.one_of(msg_leaf, att_leaf)),
        st.builds(lambda a, b: ast.Or(items=(a, b)), msg_leaf, msg_leaf),
    )
    return _rules_over(draw, lists["l"], cond, msg_leaf, draw(st.integers(20, 60)))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_compiled_equals_reference_on_many_message_level_rules(data: st.DataObject) -> None:
    _agree(data, data.draw(many_rule_policies()), 5)


@st.composite
def contains_policies(draw: Any) -> CheckedPolicy:
    """10 to 40 rules, most of them ``attachment contains P`` (``P`` on names, on other
    facts, nested ``contains``, ``and``/``or``/``not``), among attachment and message rules:
    the shapes the rule index files under the members' names or under "has members"."""
    lists = {"l": tuple(draw(st.lists(entries, max_size=5)))}
    att = attachment_tests(("l",))
    inner = st.one_of(
        att,
        att,
        st.builds(lambda a, b: ast.Or(items=(a, b)), att, att),
        st.builds(lambda a, b: ast.And(items=(a, b)), att, att),
        st.builds(lambda a: ast.Not(item=a), att),
        st.builds(lambda a: ast.ArchiveContains(pred=a), att),
    )
    contains = st.builds(lambda p: ast.ArchiveContains(pred=p), inner)
    cond = st.one_of(
        st.builds(lambda p: ast.AnyAttachment(pred=p), contains),
        st.builds(lambda p: ast.AnyAttachment(pred=p), contains),
        st.builds(lambda a, b: ast.AnyAttachment(pred=ast.Or(items=(a, b))), contains, att),
        st.builds(lambda a, b: ast.AnyAttachment(pred=ast.And(items=(a, b))), contains, att),
        st.builds(lambda p: ast.AnyAttachment(pred=p), att),
        message_tests(("l",)),
    )
    return _rules_over(draw, lists["l"], cond, cond, draw(st.integers(10, 40)))


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_compiled_equals_reference_on_many_contains_rules(data: st.DataObject) -> None:
    _agree(data, data.draw(contains_policies()), 5)


@pytest.mark.parametrize("kind", sorted(ENTRIES, key=lambda k: k.__name__))
def test_the_generator_writes_every_kind(kind: type) -> None:
    """The property above sees every kind of condition: the strategies can write each."""
    leaves = st.one_of(message_tests(("l",)), attachment_tests(("l",)))
    assert isinstance(find(leaves, lambda n: isinstance(n, kind)), kind)


# ---- authenticated trust: the table's rule and cases ------------------------------------------
# A partner's log file passes only when the partner is authenticated: by a field of the
# named server, or by SMTP AUTH; a field from another server, or none, is not enough.
POLICY += """authserv-id "mx1.example.ac.jp"
quarantine attachment extension "log" unless sender in trusted authenticated as "log-trust"
"""
_PARTNER = "ann@partner.example.com"
_DKIM_OURS = ("Authentication-Results", "mx1.example.ac.jp; dkim=pass header.d=partner.example.com")
_DKIM_THEIRS = ("Authentication-Results", "mx.evil.example; dkim=pass header.d=partner.example.com")
CASES += [
    (msg(att("disk.log"), sender=_PARTNER), "quarantine", "log-trust", "disk.log"),
    (msg(att("disk.log"), sender=_PARTNER, headers=(_DKIM_OURS,)), "allow", None, None),
    (
        msg(att("disk.log"), sender=_PARTNER, headers=(_DKIM_THEIRS,)),
        "quarantine",
        "log-trust",
        "disk.log",
    ),
    (
        dataclasses.replace(msg(att("disk.log"), sender=_PARTNER), smtp_auth="ann"),
        "allow",
        None,
        None,
    ),
    (
        msg(att("disk.log"), sender="mallory@example.net", headers=(_DKIM_OURS,)),
        "quarantine",
        "log-trust",
        "disk.log",
    ),
]
