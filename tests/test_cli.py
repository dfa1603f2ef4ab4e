"""The command line, in-process: every verb's exit codes and one-line errors, no tracebacks."""

from __future__ import annotations

import io
import json
import os
import pwd
import stat
from pathlib import Path

import pytest

from mailpolicy.corpus.readers import iter_raw
from mailpolicy.policy import loader
from mailpolicy.policy.export import TARGETS
from mailpolicy.simulator.cli import main

ROOT = Path(__file__).resolve().parent.parent
BASELINE = str(ROOT / "policy" / "policies" / "baseline.policy")
SIRCAM = str(ROOT / "policy" / "policies" / "sircam-2001.policy")
SAMPLES = ROOT / "corpus" / "samples"
MALICIOUS_MBOX = str(SAMPLES / "mbox" / "malicious" / "sircam.mbox")
#: messages in that mailbox (the sample generator adds some now and then)
MBOX_MESSAGES = sum(1 for _ in iter_raw([MALICIOUS_MBOX]))


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
    rules = len(loader.load_policy(str(BASELINE)).rules)
    assert f"baseline.policy: ok ({rules} rules" in out
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
    assert code == 0 and len(docs) == MBOX_MESSAGES
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
    from mailpolicy.policy import ir, loader

    code, out, _ = run("export", BASELINE, "--target", "json")
    assert code == 0
    assert ir.loads(out).rules == loader.load_policy(str(BASELINE)).rules


def test_export_strict_failure_names_the_rule() -> None:
    code, out, err = run("export", BASELINE, "--target", "sieve")
    assert code == 1 and out == ""
    assert "rule executable-content" in err and "nothing written" in err


def test_fmt_check() -> None:
    assert run("fmt", "--check", BASELINE, SIRCAM)[0] == 0


def test_exit_codes_are_one_enum() -> None:
    from mailpolicy.simulator.cli import ExitCode

    assert [(c.name, int(c)) for c in ExitCode] == [
        ("OK", 0),
        ("FAIL", 1),
        ("USAGE", 2),
        ("INTERRUPTED", 130),
    ]


def _not_mail(tmp_path: Path) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text('{"not": "mail"}\n')
    return path


def test_inspect_unreadable_message_exits_2(tmp_path: Path) -> None:
    code, out, err = run("inspect", str(_not_mail(tmp_path)))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "unreadable" in err and "not mail" in err


def test_inspect_json_lists_the_unreadable_message_and_exits_2(tmp_path: Path) -> None:
    path = _not_mail(tmp_path)
    code, out, _ = run("inspect", "--json", str(one_message(tmp_path)), str(path))
    docs = [json.loads(line) for line in out.splitlines()]
    assert code == 2
    assert docs[0]["attachments"][0]["name"] == "書類名1.doc.bat"
    assert docs[1]["path"] == str(path) and "not mail" in docs[1]["unreadable"]


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "{}"],
        ["explain", "{}", MALICIOUS_MBOX],
        ["simulate", "{}", MALICIOUS_MBOX],
        ["diff", BASELINE, "{}", MALICIOUS_MBOX],
        ["export", "{}", "--target", "json"],
    ],
    ids=lambda argv: argv[0],
)
def test_every_verb_reports_a_missing_policy_in_one_line(tmp_path: Path, argv: list[str]) -> None:
    missing = str(tmp_path / "nope.policy")
    code, out, err = run(*[missing if a == "{}" else a for a in argv])
    assert (code, out) == (2, "")
    assert err == f"mailpolicy: error: cannot read policy {missing}: no such file\n"


# ---- the JSON form of a policy ---------------------------------------------------------
@pytest.fixture
def baseline_json(tmp_path: Path) -> str:
    path = tmp_path / "baseline.json"
    code, _, err = run("export", BASELINE, "--target", "json", "-o", str(path))
    assert code == 0, err
    return str(path)


def _untimed(doc: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in doc.items() if k not in ("elapsed_s", "messages_per_s", "mb_per_s")}


def test_simulate_reads_the_json_form(baseline_json: str) -> None:
    argv = [str(SAMPLES / "maildir"), "--json", "--workers", "1"]
    code, text_out, _ = run("simulate", BASELINE, *argv)
    code_json, json_out, _ = run("simulate", baseline_json, *argv)
    assert code == code_json == 0
    assert _untimed(json.loads(json_out)) == _untimed(json.loads(text_out))


@pytest.mark.parametrize("flags", [[], ["--json"]], ids=["text", "json"])
def test_explain_reads_the_json_form(baseline_json: str, flags: list[str]) -> None:
    from_text = run("explain", BASELINE, MALICIOUS_MBOX, *flags)
    from_json = run("explain", baseline_json, MALICIOUS_MBOX, *flags)
    assert from_text[0] == 0 and from_text[1]
    assert from_json == from_text


def test_diff_reads_the_json_form(baseline_json: str) -> None:
    code, out, _ = run("diff", BASELINE, baseline_json, MALICIOUS_MBOX, "--json", "--workers", "1")
    doc = json.loads(out)
    assert code == 0 and doc["messages"] == MBOX_MESSAGES
    assert (doc["changed"], doc["rule_changes"]) == (0, [])


@pytest.mark.parametrize("target", list(TARGETS))
def test_export_reads_the_json_form(
    baseline_json: str, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "995240220")
    from_text = run("export", BASELINE, "--target", target, "--approximate")
    from_json = run("export", baseline_json, "--target", target, "--approximate")
    assert from_text[0] == 0 and from_text[1]
    assert from_json == from_text


def test_export_strict_failure_from_the_json_form(baseline_json: str) -> None:
    code, out, err = run("export", baseline_json, "--target", "sieve")
    assert (code, out) == (1, "")
    assert "rule executable-content" in err and "nothing written" in err


def test_check_reads_the_json_form(baseline_json: str) -> None:
    code, out, err = run("check", baseline_json)
    assert (code, err) == (0, "")
    policy = loader.load_policy(baseline_json)
    assert out == (
        f"{baseline_json}: ok ({len(policy.rules)} rules, {len(policy.lists)} lists, 0 warnings)\n"
    )


@pytest.mark.parametrize(
    ("edit", "where", "code"),
    [
        (lambda doc: doc["rules"][0]["condition"].update(test="sendr"), "rules[0]", "E100"),
        (lambda doc: doc.update(version=99), "version", "E100"),
        (lambda doc: doc["rules"][1].update(action="tag"), "rules[1]", "E102"),
    ],
    ids=["unknown-field", "version", "checker"],
)
def test_an_invalid_json_form_is_one_line_exit_1(
    baseline_json: str, tmp_path: Path, edit: object, where: str, code: str
) -> None:
    doc = json.loads(Path(baseline_json).read_text(encoding="utf-8"))
    doc["rules"][0]["condition"] = {"test": "sender", "op": "in", "value": {"list": "trusted"}}
    edit(doc)  # type: ignore[operator]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    for verb in (["explain", str(bad), MALICIOUS_MBOX], ["simulate", str(bad), MALICIOUS_MBOX]):
        status, out, err = run(*verb)
        assert (status, out) == (1, ""), err
        assert err.count("\n") == 1
        assert err.startswith(f"{bad}: error: policy in JSON form: {where}")
        assert err.endswith(f"[{code}]\n")
    status, out, _ = run("check", "--json", str(bad))
    assert status == 1 and json.loads(out)[0]["diagnostics"][0]["code"] == code


def test_text_that_is_not_json_is_one_line_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"format": "mailpolicy-ir",\n', encoding="utf-8")
    code, _, err = run("export", str(bad), "--target", "json")
    assert code == 1 and err.count("\n") == 1
    assert "policy in JSON form: not JSON" in err and "line 2" in err


def test_fmt_formats_text_only(baseline_json: str) -> None:
    code, out, err = run("fmt", baseline_json)
    assert (code, out) == (2, "")
    assert (
        err
        == f"mailpolicy fmt: {baseline_json} is a policy in JSON form; fmt formats policy text only\n"
    )


# ---- fmt --------------------------------------------------------------------------------
def test_fmt_prints_checks_and_writes(tmp_path: Path) -> None:
    path = tmp_path / "a.policy"
    path.write_text("block   *.pif\n", encoding="utf-8")
    pretty = 'block attachment name matches "*.pif"\n'
    assert run("fmt", str(path)) == (0, pretty, "")
    assert run("fmt", "--check", str(path)) == (1, "", f"would reformat {path}\n")
    assert run("fmt", "--write", str(path)) == (0, "", f"reformatted {path}\n")
    assert path.read_text(encoding="utf-8") == pretty
    assert run("fmt", "--check", str(tmp_path)) == (0, "", "")


def test_fmt_usage_and_input_errors_exit_2(tmp_path: Path) -> None:
    code, _, err = run("fmt", "--check", "--write", BASELINE)
    assert code == 2 and "not allowed with" in err
    code, _, err = run("fmt", str(tmp_path / "nope.policy"))
    assert code == 2 and err.startswith("mailpolicy fmt: cannot read")


def test_fmt_write_keeps_a_symlink_and_writes_through_it(tmp_path: Path) -> None:
    real = tmp_path / "real.policy"
    real.write_text("block   *.pif\n", encoding="utf-8")
    real.chmod(0o640)
    link = tmp_path / "link.policy"
    link.symlink_to(real.name)
    assert run("fmt", "--write", str(link)) == (0, "", f"reformatted {link}\n")
    assert link.is_symlink() and os.readlink(link) == "real.policy"
    assert real.read_text(encoding="utf-8") == 'block attachment name matches "*.pif"\n'
    assert stat.S_IMODE(real.stat().st_mode) == 0o640


def test_fmt_write_refuses_what_the_mode_forbids_even_for_root(tmp_path: Path) -> None:
    """A read-only file of another user is never rewritten (root's override is not used),
    and one its mode opens to us keeps its owner and mode."""
    nobody = pwd.getpwnam("nobody")
    locked = tmp_path / "locked.policy"
    locked.write_text("block   *.pif\n", encoding="utf-8")
    shared = tmp_path / "shared.policy"
    shared.write_text("block   *.pif\n", encoding="utf-8")
    try:
        os.chown(locked, nobody.pw_uid, nobody.pw_gid)
        os.chown(shared, nobody.pw_uid, nobody.pw_gid)
    except PermissionError:
        pytest.skip("needs root to give a file to another user")
    locked.chmod(0o444)
    shared.chmod(0o646)
    code, _, err = run("fmt", "--write", str(locked))
    assert code == 2 and err.startswith(f"mailpolicy fmt: cannot write {locked}: permission")
    assert err.count("\n") == 1
    assert locked.read_text(encoding="utf-8") == "block   *.pif\n"
    assert run("fmt", "--write", str(shared)) == (0, "", f"reformatted {shared}\n")
    st = shared.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (
        nobody.pw_uid,
        nobody.pw_gid,
        0o646,
    )
    assert shared.read_text(encoding="utf-8") == 'block attachment name matches "*.pif"\n'


@pytest.mark.parametrize(
    "verb", [["check"], ["fmt"], ["explain"], ["simulate"], *(["export", t] for t in TARGETS)]
)
def test_a_309_digit_number_is_an_error_in_every_verb(verb: list[str], tmp_path: Path) -> None:
    path = tmp_path / "big.policy"
    path.write_text(f"block attachment size > {'9' * 309}\n", encoding="utf-8")
    argv = [verb[0], str(path)]
    if verb[0] in ("explain", "simulate"):
        argv.append(MALICIOUS_MBOX)
    if verb[0] == "export":
        argv += ["--target", verb[1]]
    code, _, err = run(*argv)
    assert code == 1 and "[E109]" in err and "is too large" in err


def test_numbers_up_to_the_bound_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "n.policy"
    path.write_text(
        "block attachment size > 9007199254740992\nblock attachment size > 8PB\n"
        "block attachment size > 1000TiB\n",
        encoding="utf-8",
    )
    code, _, err = run("check", str(path))
    assert code == 1 and err.count("error:") == 1 and ":2:" in err  # 8PB: no such unit
    path.write_text(
        "block attachment size > 9007199254740992\nblock attachment size > 1000TiB\n",
        encoding="utf-8",
    )
    assert run("check", str(path))[0] == 0
    path.write_text("block attachment size > 9007199254740993\n", encoding="utf-8")
    code, _, err = run("check", str(path))
    assert code == 1 and "[E109]" in err


def test_postfix_export_of_a_non_sender_unless_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "p.policy"
    path.write_text('block attachment "*.pif" unless attachment "*.exe"\n', encoding="utf-8")
    code, _, err = run("export", str(path), "--target", "postfix")
    assert code == 1 and "only except a rule by its envelope sender" in err and "[E301]" in err
    code, out, err = run("export", str(path), "--target", "postfix", "--approximate")
    assert code == 0 and "REJECT" in out and "envelope sender" in err
