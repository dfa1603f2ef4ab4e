"""The command line, in-process: every verb's exit codes and one-line errors, no tracebacks."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mailpolicy.simulator.cli import main

ROOT = Path(__file__).resolve().parent.parent
BASELINE = str(ROOT / "policy" / "policies" / "baseline.policy")
SIRCAM = str(ROOT / "policy" / "policies" / "sircam-2001.policy")
SAMPLES = ROOT / "corpus" / "samples"
MALICIOUS_MBOX = str(SAMPLES / "mbox" / "malicious" / "sircam.mbox")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def one_message(tmp_path: Path) -> Path:
    path = tmp_path / "m.eml"
    path.write_bytes(
        b"Return-Path: <mallory@example.net>\nFrom: mallory@example.net\nTo: bob@example.ac.jp\n"
        b"Subject: Hi! How are you?\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nHi\n'
        b'--b\nContent-Type: application/octet-stream; name="=?ISO-2022-JP?B?GyRCPXFOYEw+GyhCMQ==?=.doc.bat"\n'
        b"Content-Transfer-Encoding: base64\n\nQGVjaG8gb2ZmCg==\n--b--\n"
    )
    return path


def test_check_ok_and_warnings() -> None:
    code, out, err = run("check", BASELINE, SIRCAM)
    assert code == 0
    assert "baseline.policy: ok (10 rules" in out
    assert "[W204]" in err  # the 2001 policy's *.*.* glob


def test_check_strict_fails_on_warnings() -> None:
    assert run("check", "--strict", SIRCAM)[0] == 1


def test_check_json() -> None:
    code, out, _ = run("check", "--json", SIRCAM)
    doc = json.loads(out)
    assert code == 0 and doc[0]["ok"] is True
    assert [d["code"] for d in doc[0]["diagnostics"]] == ["W204"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "E110"),
        (b"\x00\x01\x02binary", "E111"),
        (b'list executable = ["exe"]\nblock attachment extension in executabel\n', "did you mean"),
        (b'block attachment "*.pif\n', "unterminated string"),
    ],
)
def test_check_errors_exit_1(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "bad.policy"
    path.write_bytes(content)
    code, _, err = run("check", str(path))
    assert code == 1 and fragment in err
    assert err.startswith(f"{path}:")


def test_missing_and_directory_exit_2(tmp_path: Path) -> None:
    code, _, err = run("check", str(tmp_path / "nope.policy"))
    assert code == 2 and err.count("\n") == 1 and "no such file" in err.lower()
    code, _, err = run("explain", str(tmp_path), MALICIOUS_MBOX)
    assert code == 2 and "directory" in err


def test_usage_error_exit_2() -> None:
    code, _, err = run("explain", BASELINE)
    assert code == 2 and "error" in err
    assert run("frobnicate")[0] == 2


def test_explain_json_has_the_verdict_and_trace(tmp_path: Path) -> None:
    code, out, _ = run("explain", BASELINE, str(one_message(tmp_path)), "--json")
    doc = json.loads(out)
    assert code == 0
    assert {"action", "rule", "attachment", "reason", "trace"} <= doc.keys()
    assert (doc["action"], doc["rule"]) == ("block", "double-extension")
    assert doc["attachment"]["name"] == "書類名1.doc.bat"
    assert [s["rule"] for s in doc["trace"]][-1] == "double-extension"


def test_explain_text(tmp_path: Path) -> None:
    code, out, _ = run("explain", BASELINE, str(one_message(tmp_path)))
    assert code == 0
    assert "BLOCK by rule double-extension" in out and "書類名1.doc.bat" in out
    assert "MATCH" in out


def test_explain_every_message_of_a_mailbox() -> None:
    code, out, _ = run("explain", BASELINE, MALICIOUS_MBOX, "--json")
    docs = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(docs) == 30
    assert all(d["action"] in ("block", "quarantine") for d in docs)


def test_explain_unreadable_message(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"not": "mail"}\n')
    code, _, err = run("explain", BASELINE, str(path))
    assert code == 2 and "cannot read message" in err and "not mail" in err


def test_inspect_json_shape(tmp_path: Path) -> None:
    code, out, _ = run("inspect", str(one_message(tmp_path)), "--json")
    doc = json.loads(out)
    assert code == 0
    assert {"path", "sender", "recipients", "label", "attachments"} <= doc.keys()
    att = doc["attachments"][0]
    keys = {
        "name",
        "names",
        "normalized_name",
        "extension",
        "declared_type",
        "detected_type",
        "size",
        "sha256",
        "tricks",
        "members",
    }
    assert keys <= att.keys()
    assert (att["name"], att["extension"]) == ("書類名1.doc.bat", "bat")


def test_export_json_round_trips() -> None:
    from mailpolicy.policy import check, ir

    code, out, _ = run("export", BASELINE, "--target", "json")
    assert code == 0
    assert ir.loads(out).rules == check.load(BASELINE).rules


def test_export_strict_failure_names_the_rule() -> None:
    code, out, err = run("export", BASELINE, "--target", "sieve")
    assert code == 1 and out == ""
    assert "rule executable-content" in err and "nothing written" in err


def test_fmt_check() -> None:
    assert run("fmt", "--check", BASELINE, SIRCAM)[0] == 0
