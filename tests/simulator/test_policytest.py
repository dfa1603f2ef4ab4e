"""``mailpolicy test``: tests files, their errors with positions, failures, JSON, JUnit, coverage."""

from __future__ import annotations

import io
import json
import os
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mailpolicy.corpus.types import CLASS_MIME
from mailpolicy.policy.evaluate import evaluate
from mailpolicy.policy.loader import load_text
from mailpolicy.simulator.cli import main
from mailpolicy.simulator.cli.test import pairs
from mailpolicy.simulator.policytest import build_message, load
from mailpolicy.simulator.policytest.inline import ATTACHMENT_FACTS, SpecError

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policy" / "policies"
SAMPLES = ROOT / "corpus" / "samples"

POLICY = """\
policy "t"
default allow
list trusted = ["partner.example.com"]
block attachment extension in ["exe", "pif"] unless sender in trusted as "programs"
quarantine attachment double extension in ["bat"] as "double"
block body contains "never sent" as "never"
"""


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, tests: str, policy: str = POLICY) -> tuple[str, str]:
    p = tmp_path / "t.policy"
    p.write_text(policy, encoding="utf-8")
    t = tmp_path / "t.tests.toml"
    t.write_text(textwrap.dedent(tests), encoding="utf-8")
    return str(p), str(t)


GOOD = """\
[[case]]
name = "a program"
attachment = "invoice.pdf.exe"
expect = "block"
rule = "programs"

[[case]]
name = "a partner's program"
sender = "build@partner.example.com"
attachment = "setup.exe"
expect = "allow"

[[case]]
name = "SirCam"
attachment = "書類名1.doc.bat"
expect = "quarantine"
rule = "double"
"""


# ---- the shipped policies ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["baseline", "sircam-2001"])
def test_shipped_policies_pass_their_tests_with_every_rule_covered(name: str) -> None:
    code, out, _ = run("test", str(POLICIES / f"{name}.policy"), "--min-coverage", "100", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["failed"] == 0 and doc["errors"] == 0
    cov = doc["policies"][0]["coverage"]
    assert cov["percent"] == 100 and cov["not_exercised"] == []
    cases = doc["policies"][0]["cases"]
    actions = {c["got"]["action"] for c in cases}
    assert "allow" in actions and actions & {"block", "quarantine"}  # both kinds of case


def test_shipped_tests_hold_the_2001_names() -> None:
    base = {c.name: c for c in load(str(POLICIES / "baseline.tests.toml"))}
    assert any("test.tar.gz" in n and base[n].expect == "allow" for n in base)
    assert any("書類名1.doc.bat" in n and base[n].expect == "block" for n in base)
    sircam = load(str(POLICIES / "sircam-2001.tests.toml"))
    assert any("test.tar.gz" in c.name and c.expect == "block" for c in sircam)


# ---- passing, failing --------------------------------------------------------------------
def test_all_pass(tmp_path: Path) -> None:
    policy, _ = write(tmp_path, GOOD)
    code, out, _ = run("test", policy)
    assert code == 0
    assert out.strip().splitlines()[-1] == "PASS: 3/3"


def test_verbose_lists_passing_cases(tmp_path: Path) -> None:
    policy, tests = write(tmp_path, GOOD)
    code, out, _ = run("test", policy, "-v")
    assert code == 0
    assert f'PASS {tests}:1: "a program": block (rule programs, line 4)' in out


def test_a_wrong_expectation_fails_with_the_deciding_rule(tmp_path: Path) -> None:
    policy, tests = write(
        tmp_path,
        GOOD
        + """
[[case]]
name = "wrong"
attachment = "invoice.pif"
expect = "allow"
""",
    )
    code, out, _ = run("test", policy)
    assert code == 1
    lines = out.splitlines()
    assert (
        lines[0] == f'FAIL {tests}:19: "wrong": expected allow, got block (rule programs, line 4)'
    )
    assert lines[1].startswith("    decided by line 4 block programs: MATCH: extension of")
    assert lines[-2:] == ["PASS: 3/4", "FAIL: 1/4"]


def test_a_wrong_rule_shows_why_the_expected_rule_did_not_decide(tmp_path: Path) -> None:
    policy, _ = write(
        tmp_path,
        """\
        [[case]]
        name = "exe, not bat"
        attachment = "a.doc.exe"
        expect = "block"
        rule = "never"

        [[case]]
        name = "nothing decides"
        attachment = "a.txt"
        expect = "allow"
        rule = "double"
        """,
    )
    code, out, _ = run("test", policy)
    assert code == 1
    assert "expected rule never was never reached: an earlier rule decided" in out
    assert "expected allow (rule double), got allow (default)" in out
    assert "expected rule line 5 quarantine double: no: no attachment has double extension" in out


def test_default_rule_expectation(tmp_path: Path) -> None:
    policy, _ = write(
        tmp_path, '[[case]]\nname = "x"\nattachment = "a.txt"\nexpect = "allow"\nrule = "default"\n'
    )
    assert run("test", policy)[0] == 0


# ---- bad tests files: exit 2 with a position -----------------------------------------------
@pytest.mark.parametrize(
    ("tests", "where", "says"),
    [
        ('[[case]]\nname = "x"\nexpect = "block\n', ":3:", "TOML syntax error"),
        (
            '[[case]]\nname = "x"\nattachment = "a"\nexpect = "block"\nbogus = 1\n',
            ":5:1:",
            "unknown key",
        ),
        (
            '[[case]]\nname = "x"\nexpect = "block"\nattachment = { name = "a", colour = "red" }\n',
            ":4:28:",
            "attachment.colour: unknown key",
        ),
        (
            '[[case]]\nname = "x"\nexpect = "block"\n\n[[case.attachments]]\nname = "a"\nsizes = 3\n',
            ":7:1:",
            "attachments[0].sizes: unknown key",
        ),
        (
            '[[case]]\nname = "x"\nattachment = "a"\nexpect = 3\n',
            ":4:1:",
            "expect: must be a string",
        ),
        (
            '[[case]]\nname = "x"\nattachment = "a"\nexpect = "blok"\n',
            ":4:1:",
            "did you mean 'block'",
        ),
        (
            '[[case]]\nname = "x"\nattachment = "a"\nexpect = "block"\nrule = "programz"\n',
            ":5:1:",
            "no rule 'programz' (did you mean 'programs'?)",
        ),
        (
            '[[case]]\nname = "x"\nexpect = "block"\nmessage = "m.eml"\nsender = "a@b"\n',
            ":5:1:",
            "either 'message' or an inline message",
        ),
        (
            '[[case]]\nname = "x"\nexpect = "block"\nattachment = { name = "a", type = "exec" }\n',
            ":4:28:",
            "unknown type 'exec'",
        ),
        (
            '[[case]]\nname = "x"\nexpect = "block"\nattachment = { name = "a", facts = ["has macro"] }\n',
            ":4:28:",
            "unknown fact 'has macro'",
        ),
        (
            '[[case]]\nname = "x"\nexpect = "block"\nattachment = { name = "a", size = "3 parsecs" }\n',
            ":4:28:",
            "attachment.size",
        ),
        (
            '[[case]]\nname = "x"\nexpect = "block"\n[[case]]\nname = "x"\nexpect = "allow"\n',
            ":5:1:",
            "two cases named 'x'",
        ),
        ('[[case]]\nexpect = "block"\n', ":1:1:", "needs a 'name'"),
        (
            'title = "mine"\n[[case]]\nname = "x"\nexpect = "allow"\n',
            ":1:1:",
            "unknown key 'title'",
        ),
        ("# nothing\n", ":1:1:", "no [[case]]"),
    ],
)
def test_a_bad_tests_file_is_exit_2_with_its_position(
    tmp_path: Path, tests: str, where: str, says: str
) -> None:
    policy, path = write(tmp_path, tests)
    code, out, err = run("test", policy)
    assert code == 2 and out == ""
    line = err.strip()
    assert "\n" not in line
    assert line.startswith(f"mailpolicy: error: {path}{where}"), line
    assert says in line


def test_a_missing_default_tests_file_is_exit_2(tmp_path: Path) -> None:
    p = tmp_path / "alone.policy"
    p.write_text(POLICY, encoding="utf-8")
    code, _, err = run("test", str(p))
    assert code == 2 and "alone.tests.toml: no tests file for" in err


def test_a_bad_tests_file_with_json_is_a_json_error(tmp_path: Path) -> None:
    policy, _ = write(tmp_path, '[[case]]\nname = "x"\nexpect = \n')
    code, out, _ = run("test", policy, "--json")
    doc = json.loads(out)
    assert code == 2 and doc["ok"] is False and "TOML syntax error" in doc["error"]


# ---- messages named by path ---------------------------------------------------------------
EML = (
    b"Return-Path: <mallory@example.net>\nFrom: mallory@example.net\nTo: bob@example.ac.jp\n"
    b'Subject: hi\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n'
    b"--b\nContent-Type: text/plain\n\nHi\n--b\nContent-Type: application/octet-stream\n"
    b'Content-Disposition: attachment; filename="invoice.pif"\n\nMZ\n--b--\n'
)


def test_message_files_relative_to_the_tests_file(tmp_path: Path) -> None:
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "pif.eml").write_bytes(EML)
    mbox = SAMPLES / "mbox" / "malicious" / "sircam.mbox"
    maildir = SAMPLES / "maildir" / "malicious"
    key = sorted(p.name for p in (maildir / "cur").iterdir())[0]
    rel = Path(os.path.relpath(mbox, tmp_path)).as_posix()
    policy, _ = write(
        tmp_path,
        f"""\
        [[case]]
        name = "an eml fixture"
        message = "fixtures/pif.eml"
        expect = "block"
        rule = "programs"

        [[case]]
        name = "SirCam from the mbox"
        message = "{rel}:0"
        expect = "quarantine"
        rule = "double"

        [[case]]
        name = "a Maildir message"
        message = "{maildir}:{key}"
        expect = "quarantine"
        """,
    )
    code, out, _ = run("test", policy, "-v")
    assert code == 0, out
    assert out.splitlines()[-1] == "PASS: 3/3"


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("missing.eml", "no such message file: missing.eml"),
        ("box.mbox", "box.mbox holds 2 messages: name one as FILE:KEY"),
        ("box.mbox:12345", "no message with key '12345' in box.mbox"),
    ],
)
def test_a_message_that_cannot_be_read_is_an_error(tmp_path: Path, ref: str, says: str) -> None:
    (tmp_path / "box.mbox").write_bytes(
        b"From a@b Mon Jul 16 10:00:00 2001\n"
        + EML
        + b"\nFrom a@b Mon Jul 16 10:00:00 2001\n"
        + EML
    )
    policy, tests = write(tmp_path, f'[[case]]\nname = "m"\nmessage = "{ref}"\nexpect = "block"\n')
    code, out, _ = run("test", policy)
    assert code == 2
    assert out.splitlines()[0] == f'ERROR {tests}:1: "m": {says}'
    assert out.splitlines()[-2:] == ["PASS: 0/1", "ERROR: 1/1"]


# ---- JSON, JUnit -------------------------------------------------------------------------
def test_json_has_every_case_with_its_verdict(tmp_path: Path) -> None:
    policy, tests = write(
        tmp_path, GOOD + '\n[[case]]\nname = "bad"\nattachment = "a.exe"\nexpect = "allow"\n'
    )
    code, out, _ = run("test", policy, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False and doc["exit_code"] == 1
    assert (doc["total"], doc["passed"], doc["failed"], doc["errors"]) == (4, 3, 1, 0)
    cases = doc["policies"][0]["cases"]
    assert [c["passed"] for c in cases] == [True, True, True, False]
    assert cases[3]["got"]["rule"] == "programs" and cases[3]["got"]["trace"][0]["matched"]
    assert doc["policies"][0]["tests"] == [tests] and doc["policies"][0]["coverage"] is None


def test_junit_is_well_formed_with_failures_and_errors(tmp_path: Path) -> None:
    policy, tests = write(
        tmp_path,
        GOOD
        + '\n[[case]]\nname = "bad \\u0001 <&>"\nattachment = "a.exe"\nexpect = "allow"\n'
        + '\n[[case]]\nname = "gone"\nmessage = "nope.eml"\nexpect = "allow"\n',
    )
    report = tmp_path / "junit.xml"
    code, _, _ = run("test", policy, "--junit", str(report))
    assert code == 2  # an unreadable message outweighs a failure
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "1")
    (suite,) = root.findall("testsuite")
    assert suite.get("file") == tests and suite.get("tests") == "5"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases][3] == "bad \\x{01} <&>"
    failure = cases[3].find("failure")
    assert (
        failure is not None
        and failure.get("message") == "expected allow, got block (rule programs, line 4)"
    )
    assert "decided by line 4" in (failure.text or "")
    error = cases[4].find("error")
    assert error is not None and "no such message file" in (error.get("message") or "")
    assert all(c.find("failure") is None for c in cases[:3])


def test_junit_to_an_unwritable_place_is_exit_2(tmp_path: Path) -> None:
    policy, _ = write(tmp_path, GOOD)
    code, _, err = run("test", policy, "--junit", str(tmp_path / "no" / "such" / "r.xml"))
    assert code == 2 and "cannot write JUnit report" in err


# ---- coverage ----------------------------------------------------------------------------
def test_coverage_lists_the_rules_no_case_decided(tmp_path: Path) -> None:
    policy, _ = write(tmp_path, GOOD)
    code, out, _ = run("test", policy, "--coverage")
    assert code == 0
    assert f"coverage: {policy}: 2/3 rules decided a case (66.7%)" in out
    assert "    not exercised: line 6 never (block)" in out


def test_an_exception_no_case_exercised_is_listed(tmp_path: Path) -> None:
    policy, _ = write(tmp_path, '[[case]]\nname = "p"\nattachment = "a.exe"\nexpect = "block"\n')
    _, out, _ = run("test", policy, "--coverage")
    assert "    exception never exercised: line 4 programs (unless ...)" in out
    _, out, _ = run("test", policy, "--coverage", "--json")
    cov = json.loads(out)["policies"][0]["coverage"]
    assert cov["exceptions"] == {"programs": []} and cov["counts"] == "decided"


def test_min_coverage_fails_below(tmp_path: Path) -> None:
    policy, _ = write(tmp_path, GOOD)
    assert run("test", policy, "--min-coverage", "60")[0] == 0
    code, out, err = run("test", policy, "--min-coverage", "70")
    assert code == 1 and "not exercised: line 6 never" in out
    assert err.strip() == f"mailpolicy: coverage of {policy} is 66.7%, below --min-coverage 70%"
    assert run("test", policy, "--min-coverage", "170")[0] == 2


# ---- which tests go with which policy -----------------------------------------------------
def test_pairs() -> None:
    assert pairs(["a.policy"]) == [("a.policy", ["a.tests.toml"])]
    assert pairs(["a.policy", "x.toml", "y.tests.toml", "b.policy"]) == [
        ("a.policy", ["x.toml", "y.tests.toml"]),
        ("b.policy", ["b.tests.toml"]),
    ]
    assert pairs(["d/c.tests.toml"]) == [("d/c.policy", ["d/c.tests.toml"])]


def test_several_policies_in_one_run(tmp_path: Path) -> None:
    policy, tests = write(tmp_path, GOOD)
    code, out, _ = run("test", policy, str(POLICIES / "sircam-2001.policy"), "--json")
    doc = json.loads(out)
    assert (
        code == 0
        and len(doc["policies"]) == 2
        and doc["total"] == 3 + len(load(str(POLICIES / "sircam-2001.tests.toml")))
    )


# ---- the inline builder --------------------------------------------------------------------
FACT_CONDITIONS = {
    "unscannable": "attachment unscannable",
    "archive encrypted": "attachment archive encrypted",
    "archive exceeds limits": "attachment archive exceeds limits",
    "evasive name": "attachment evasive name",
    "type mismatch": "attachment type mismatch",
    "has macros": "attachment has macros",
    "has auto-run macros": "attachment has auto-run macros",
    "has javascript": "attachment has javascript",
    "has launch action": "attachment has launch action",
    "has embedded file": "attachment has embedded file",
    "has external link": "attachment has external link",
    "smuggles a file": "attachment smuggles a file",
}


def _decides(condition: str, spec: dict[str, object]) -> bool:
    policy = load_text(f'policy "p"\ndefault allow\nblock {condition} as "r"\n')
    return evaluate(policy, build_message(spec)).rule == "r"


@pytest.mark.parametrize("fact", ATTACHMENT_FACTS)
def test_every_stated_fact_reaches_its_condition(fact: str) -> None:
    condition = FACT_CONDITIONS[fact]
    assert _decides(condition, {"attachment": {"name": "x.pdf", "facts": [fact]}})
    assert not _decides(condition, {"attachment": "x.pdf"})


@pytest.mark.parametrize("fact", [f for f in ATTACHMENT_FACTS if f.startswith(("has", "smug"))])
def test_a_members_content_fact_is_its_containers(fact: str) -> None:
    spec = {"attachment": {"name": "a.zip", "members": [{"name": "m.doc", "facts": [fact]}]}}
    assert _decides(FACT_CONDITIONS[fact], spec)
    assert _decides(
        f"attachment contains ({FACT_CONDITIONS[fact].removeprefix('attachment ')})", spec
    )


def test_message_facts_and_fields() -> None:
    spec = {
        "facts": ["message unscannable", "evasive mime"],
        "sender": "a@example.net",
        "recipient": ["b@example.ac.jp", "c@example.ac.jp"],
        "subject": "Hi",
        "headers": {"X-Mailer": "Outlook", "Received": ["one", "two"]},
        "body": "text",
        "size": "2MB",
    }
    assert _decides("message unscannable", spec) and _decides("evasive mime", spec)
    assert _decides('recipient in ["c@example.ac.jp"]', spec)
    assert _decides('header "X-Mailer" contains "outlook"', spec)
    assert _decides('subject matches "hi"', spec) and _decides('from contains "a@example"', spec)
    assert _decides("size > 1MB", spec) and not _decides("size > 2MB", spec)
    assert _decides('body contains "TEXT"', spec)
    msg = build_message(spec)
    assert msg.header("received") == ("one", "two") and msg.sender == "a@example.net"


@pytest.mark.parametrize(
    ("att", "cls", "mismatch"),
    [
        ({"name": "a.exe"}, "executable", False),
        ({"name": "a.tar.gz"}, "archive", False),
        ({"name": "a.vbs"}, "script", False),
        ({"name": "README"}, "other", False),
        ({"name": "photo.jpg", "type": "executable"}, "executable", True),
        ({"name": "photo.jpg", "type": "application/x-dosexec"}, "executable", True),
        ({"name": "x.xls", "type": "text/html"}, "text", True),
        ({"name": "data", "members": ["a.txt"]}, "archive", False),
    ],
)
def test_types_as_stated_or_as_the_name_promises(
    att: dict[str, object], cls: str, mismatch: bool
) -> None:
    (a,) = build_message({"attachment": att}).attachments
    assert (a.type_class, a.type_mismatch) == (cls, mismatch)


def test_each_class_mime_is_classed_back() -> None:
    from mailpolicy.corpus.types import classify

    assert all(classify(mime) == cls for cls, mime in CLASS_MIME.items())


def test_nested_members_and_sizes() -> None:
    (a,) = build_message(
        {
            "attachment": {
                "name": "a.zip",
                "size": 10,
                "members": [{"name": "b.7z", "members": ["c.exe"]}],
            }
        }
    ).attachments
    assert a.size == 10 and [m.part for m in a.walk()] == ["2", "2/b.7z", "2/b.7z/c.exe"]
    assert a.members[0].in_archive and a.is_archive


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"attachment": "a", "attachments": ["b"]}, "attachments"),
        ({"attachments": "a"}, "attachments"),
        ({"attachment": 3}, "attachment"),
        ({"attachment": {"name": "a", "members": "b"}}, "attachment.members"),
        ({"attachment": {"members": [{"name": 1}]}}, "attachment.members[0].name"),
        ({"recipient": [1]}, "recipient"),
        ({"headers": "x"}, "headers"),
        ({"size": -1}, "size"),
        ({"size": True}, "size"),
        ({"facts": ["has macros"]}, "facts"),
    ],
)
def test_spec_errors_name_their_key(spec: dict[str, object], key: str) -> None:
    with pytest.raises(SpecError) as exc:
        build_message(spec)
    assert exc.value.key == key
