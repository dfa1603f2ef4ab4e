"""The reference evaluator: a case table of policy + message + wanted verdict."""

from __future__ import annotations

import pytest

from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy import loader as policy_loader
from mailpolicy.policy.compile import compile_policy
from mailpolicy.policy.conditions import is_double_extension
from mailpolicy.policy.evaluate import evaluate
from mailpolicy.policy.sets import address_in

PE = b"MZ\x90\x00" + b"\x00" * 56 + b"\x40\x00\x00\x00" + b"PE\x00\x00" + b"\x00" * 200
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

POLICY = """
policy "cases"
list executable = ["exe", "pif", "scr", "bat", "com", "lnk", "vbs"]
list trusted = ["*@partner.example.com", "example.ac.jp"]
block attachment evasive name as "evasive"
block attachment double extension in executable as "double"
block attachment type executable unless sender in trusted as "exe-content"
block attachment extension in executable unless sender in trusted as "exe-name"
strip attachment extension in ["hta", "reg"] as "strip-hta"
tag "X-Big: yes" when attachment size > 1MB as "big"
quarantine subject contains "how are you" as "sircam-subject"
"""


def msg(
    *atts: Attachment, sender: str | None = "mallory@example.net", subject: str = "hello"
) -> Message:
    return Message(
        path="m.eml",
        sender=sender,
        recipients=("bob@example.com",),
        headers=(("Subject", subject),),
        attachments=atts,
    )


def att(
    name: str | None,
    data: bytes = b"hello world\n",
    *more: str,
    declared: str = "application/octet-stream",
) -> Attachment:
    names = tuple(n for n in (name, *more) if n is not None)
    return Attachment(names=names, data=data, declared_type=declared, part="2")


CASES = [
    # (message, action, rule, name that triggered)
    (msg(att("書類名1.doc.bat")), "block", "double", "書類名1.doc.bat"),
    (
        msg(att("同窓会名簿.xls.lnk"), sender="x@partner.example.com"),
        "block",
        "double",
        "同窓会名簿.xls.lnk",
    ),
    (msg(att("test.tar.gz")), "allow", None, None),
    (msg(att("archive.sit.bin")), "allow", None, None),
    (msg(att("test.2001.01.01")), "allow", None, None),
    (msg(att("John.Smith.bat")), "block", "exe-name", "John.Smith.bat"),
    (msg(att("photo.jpg", PE)), "block", "exe-content", "photo.jpg"),
    (msg(att("installer.exe", PE), sender="build@partner.example.com"), "allow", None, None),
    (msg(att("installer.exe", PE), sender="pm@mail.example.ac.jp"), "allow", None, None),
    (msg(att("INVOICE.PIF.")), "block", "evasive", "INVOICE.PIF."),
    (msg(att("invoice.pif")), "block", "exe-name", "invoice.pif"),
    (msg(att("innocent.txt", b"x", "evil.bat")), "block", "evasive", "innocent.txt"),
    (msg(att("report.pdf", PDF), att("help.hta")), "strip", "strip-hta", "help.hta"),
    (msg(att("big.pdf", PDF + b"\0" * 2_000_000)), "tag", "big", "big.pdf"),
    (msg(att("a.txt"), subject="Hi! How are you?"), "quarantine", "sircam-subject", None),
    (msg(sender=None), "allow", None, None),
]


@pytest.fixture(scope="module")
def policy():  # type: ignore[no-untyped-def]
    return policy_loader.load_text(POLICY, "cases.policy")


@pytest.mark.parametrize("decider", ["reference", "compiled"])
@pytest.mark.parametrize(("message", "action", "rule", "name"), CASES)
def test_case_table(policy, decider, message, action, rule, name) -> None:  # type: ignore[no-untyped-def]
    v = (
        evaluate(policy, message)
        if decider == "reference"
        else compile_policy(policy).evaluate(message)
    )
    assert (v.action, v.rule, v.name) == (action, rule, name)


def test_trace_lists_every_rule_tried(policy) -> None:  # type: ignore[no-untyped-def]
    v = evaluate(policy, msg(att("invoice.pif")))
    assert [s.rule for s in v.trace] == ["evasive", "double", "exe-content", "exe-name"]
    assert [s.matched for s in v.trace] == [False, False, False, True]
    assert "'pif'" in v.trace[-1].why


def test_strip_names_only_the_matching_parts(policy) -> None:  # type: ignore[no-untyped-def]
    v = evaluate(policy, msg(att("report.pdf", PDF), att("help.hta"), att("x.reg")))
    assert [a.name for a in v.stripped] == ["help.hta", "x.reg"]


def test_unless_reports_why_rule_did_not_fire(policy) -> None:  # type: ignore[no-untyped-def]
    v = evaluate(policy, msg(att("installer.exe", PE), sender="build@partner.example.com"))
    why = {s.rule: s.why for s in v.trace}
    assert "unless holds" in why["exe-content"]


def test_lazy_payload_not_decoded_for_name_rules() -> None:
    calls = []

    def loader() -> bytes:
        calls.append(1)
        return PE

    p = policy_loader.load_text('block attachment extension in ["pif"]', "p.policy")
    a = Attachment(names=("big.iso",), loader=loader, size=25_000_000)
    assert evaluate(p, msg(a)).action == "allow"
    assert calls == []


def test_json_shape(policy) -> None:  # type: ignore[no-untyped-def]
    doc = evaluate(policy, msg(att("書類名1.doc.bat"))).to_json()
    assert {"action", "rule", "attachment", "reason", "trace"} <= doc.keys()
    assert doc["attachment"]["name"] == "書類名1.doc.bat"


@pytest.mark.parametrize(
    ("exts", "want"),
    [
        (("doc", "bat"), True),
        (("tar", "gz"), True),
        (("2001", "01", "01"), False),
        (("smith", "bat"), False),
        (("exe",), False),
        (("jpeg", "exe"), True),
    ],
)
def test_double_extension_shape(exts, want) -> None:  # type: ignore[no-untyped-def]
    assert is_double_extension(exts) is want


@pytest.mark.parametrize(
    ("entry", "address", "want"),
    [
        ("*@partner.example.com", "Build@Partner.Example.com", True),
        ("example.ac.jp", "pm@mail.example.ac.jp", True),
        ("example.ac.jp", "pm@badexample.ac.jp", False),
        ("postmaster@example.ac.jp", "postmaster@example.ac.jp", True),
        ("postmaster@example.ac.jp", "other@example.ac.jp", False),
    ],
)
def test_address_lists(entry, address, want) -> None:  # type: ignore[no-untyped-def]
    assert address_in(entry, address) is want
