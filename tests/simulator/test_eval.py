"""``mailpolicy eval``: a quick query on stated facts; it agrees with ``explain`` on real MIME."""

from __future__ import annotations

import io
import json
from email.message import EmailMessage
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailpolicy.simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]
BASELINE = str(ROOT / "policy" / "policies" / "baseline.policy")

POLICY = """\
policy "names"
default allow
list trusted = ["partner.example.com", "boss@example.ac.jp"]
list programs = ["exe", "pif", "scr", "bat", "com"]
allow sender in trusted and attachment extension in ["scr"] as "partner-screensaver"
block attachment double extension in programs as "double"
block attachment name matches "*.{vbs,js}" unless sender in trusted as "scripts"
quarantine attachment extension in programs unless sender matches "*@example.ac.jp" as "programs"
tag "X-Odd: yes" when attachment name in ["*~*", "*#*"] as "odd"
block size > 5MB as "big"
"""


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def test_eval_prints_action_rule_text_and_trace() -> None:
    code, out, err = run(
        "eval", BASELINE, "--attachment", "書類名1.doc.bat", "--sender", "a@b.example"
    )
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("sender:     a@b.example")
    assert lines[1].startswith("verdict:    BLOCK by rule double-extension (line ")
    assert lines[2].startswith("rule:       block attachment double extension in executable")
    assert lines[3] == "attachment: 書類名1.doc.bat (part 2)"
    assert any("double-extension" in ln and "MATCH" in ln for ln in lines[5:])


def test_eval_default_and_json() -> None:
    code, out, _ = run("eval", BASELINE, "--attachment", "test.tar.gz", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["action"] == "allow" and doc["rule"] is None and doc["text"] is None
    assert doc["trace"] and not any(s["matched"] for s in doc["trace"])


def test_eval_facts_type_size_headers(tmp_path: Path) -> None:
    policy = tmp_path / "p.policy"
    policy.write_text(
        'policy "p"\ndefault allow\n'
        'block attachment (size > 5MB and type executable) as "big-program"\n'
        'quarantine attachment has macros as "macros"\n'
        'quarantine message unscannable as "unreadable"\n'
        'tag "X-A: b" when header "X-Mailer" contains "outlook" and subject contains "hi" as "outlook"\n'
        'block recipient in ["ceo@example.ac.jp"] as "ceo"\n',
        encoding="utf-8",
    )
    p = str(policy)

    def rule(*args: str) -> str | None:
        code, out, _ = run("eval", p, *args, "--json")
        assert code == 0
        got: str | None = json.loads(out)["rule"]
        return got

    assert rule("--attachment", "a.jpg", "--type", "executable", "--size", "6MB") == "big-program"
    assert rule("--attachment", "a.jpg", "--type", "executable", "--size", "5MB") is None
    assert rule("--attachment", "a.exe", "--size", "6000001") == "big-program"
    assert rule("--attachment", "a.doc", "--fact", "has macros") == "macros"
    assert rule("--fact", "message unscannable") == "unreadable"
    assert rule("--header", "X-Mailer: Outlook 2000", "--subject", "Hi there") == "outlook"
    assert rule("--recipient", "x@example.ac.jp", "--recipient", "ceo@example.ac.jp") == "ceo"


def test_eval_bad_values_are_one_line_exit_2() -> None:
    for args, says in [
        (["--type", "exec"], "--type: unknown type 'exec'"),
        (["--size", "big"], "--size: invalid number 'big'"),
        (["--fact", "macros"], "--fact: unknown fact 'macros'"),
        (["--header", "nocolon"], "--header: expected NAME:VALUE"),
        (["--message-size", "-3"], "--message-size: invalid number '-3'"),
    ]:
        code, out, err = run("eval", BASELINE, "--attachment", "a", *args)
        assert code == 2 and out == "" and err.count("\n") == 1, args
        assert err.startswith(f"mailpolicy: error: {says}"), err
    code, out, _ = run("eval", BASELINE, "--type", "exec", "--json")
    assert code == 2 and json.loads(out)["ok"] is False


def test_eval_missing_policy_is_exit_2() -> None:
    code, _, err = run("eval", "/nonexistent.policy", "--attachment", "a")
    assert code == 2 and err.startswith("mailpolicy: error:")


# ---- eval and explain agree on a real message with the same name and sender ---------------
_STEM = st.text(alphabet="abcXYZ019_-~#書類é ", min_size=1, max_size=8).filter(
    lambda s: s.strip() == s
)
_EXT = st.sampled_from(
    [
        "exe",
        "EXE",
        "pif",
        "scr",
        "bat",
        "com",
        "vbs",
        "js",
        "doc",
        "pdf",
        "gz",
        "tar",
        "2001",
        "jpg",
    ]
)
NAMES = st.builds(
    lambda stem, exts: ".".join([stem, *exts]), _STEM, st.lists(_EXT, min_size=0, max_size=3)
).filter(lambda n: n != "--")  # argparse drops a bare '--' even in --attachment=--
SENDERS = st.sampled_from(
    [
        "a@partner.example.com",
        "x@dept.partner.example.com",
        "boss@example.ac.jp",
        "tanaka@example.ac.jp",
        "m@example.net",
    ]
)


def _mime(name: str, sender: str) -> bytes:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "tanaka@example.ac.jp"
    m["Subject"] = "files"
    m["Return-Path"] = f"<{sender}>"
    m.set_content("see attached\n")
    m.add_attachment(
        b"plain bytes\n", maintype="application", subtype="octet-stream", filename=name
    )
    return m.as_bytes()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=NAMES, sender=SENDERS)
def test_eval_agrees_with_explain_on_the_built_message(
    tmp_path: Path, name: str, sender: str
) -> None:
    policy = tmp_path / "names.policy"
    policy.write_text(POLICY, encoding="utf-8")
    eml = tmp_path / "m.eml"
    eml.write_bytes(_mime(name, sender))
    code, out, _ = run("explain", str(policy), str(eml), "--json")
    assert code == 0
    explained = json.loads(out)
    assert explained["attachment"] is None or explained["attachment"]["names"] == [name]
    code, out, _ = run("eval", str(policy), f"--attachment={name}", f"--sender={sender}", "--json")
    assert code == 0
    evaluated = json.loads(out)
    assert (evaluated["action"], evaluated["rule"]) == (explained["action"], explained["rule"])
    assert [s["matched"] for s in evaluated["trace"]] == [s["matched"] for s in explained["trace"]]
