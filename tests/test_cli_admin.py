"""What an administrator sees, in-process: tricks made visible, exit codes that agree with
the JSON, widths that follow the terminal."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from mailpolicy.simulator.cli import main

ROOT = Path(__file__).resolve().parent.parent
BASELINE = str(ROOT / "policy" / "policies" / "baseline.policy")
RTLO = "invoice\u202egpj.exe"
PADDED = "document.pdf" + " " * 20 + ".exe"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def tricky(tmp_path: Path, name: str = RTLO) -> Path:
    """A message with one attachment named ``name`` (RFC 2231, UTF-8)."""
    from urllib.parse import quote

    path = tmp_path / "m.eml"
    path.write_bytes(
        b"From: mallory@example.net\nTo: bob@example.org\nSubject: invoice\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nHi\n'
        b"--b\nContent-Type: application/octet-stream\n"
        b"Content-Disposition: attachment; filename*=UTF-8''"
        + quote(name).encode()
        + b"\nContent-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAA=\n--b--\n"
    )
    return path


def test_inspect_table_shows_the_escape_and_json_keeps_the_name(tmp_path: Path) -> None:
    msg = str(tricky(tmp_path))
    code, out, _ = run("inspect", msg)
    assert code == 0
    assert "invoice\\u202Egpj.exe" in out and "\u202e" not in out
    code, out, _ = run("inspect", "--json", msg)
    assert json.loads(out)["attachments"][0]["name"] == RTLO


def test_explain_shows_padding_and_the_escape(tmp_path: Path) -> None:
    msg = str(tricky(tmp_path, PADDED))
    code, out, _ = run("explain", BASELINE, msg)
    assert code == 0
    assert "document.pdf␠×20.exe" in out
    code, out, _ = run("explain", "--json", BASELINE, msg)
    assert PADDED in json.dumps(json.loads(out), ensure_ascii=False)


def test_report_and_summary_cells_show_the_escape() -> None:
    from mailpolicy.simulator import report, summary

    assert report.esc(RTLO + "<") == "invoice\\u202Egpj.exe&lt;"
    assert summary._clip("setup.exe   ") == "setup.exe␠␠␠"


# ---- one truth for success -------------------------------------------------------------------
SIRCAM = str(ROOT / "policy" / "policies" / "sircam-2001.policy")  # one W204 warning
MBOX = str(ROOT / "corpus" / "samples" / "mbox" / "malicious" / "sircam.mbox")


def test_check_strict_json_says_not_ok_when_it_exits_1() -> None:
    code, out, _ = run("check", "--strict", "--json", SIRCAM)
    (doc,) = json.loads(out)
    assert code == 1 and doc["ok"] is False and doc["warnings"] == 1
    code, out, _ = run("check", "--json", SIRCAM)
    assert code == 0 and json.loads(out)[0]["ok"] is True


def test_check_strict_text_never_says_ok_when_it_fails() -> None:
    code, out, _ = run("check", "--strict", SIRCAM)
    assert code == 1 and "fails --strict" in out and ": ok" not in out


def test_check_json_on_a_missing_file_is_json(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.policy")
    code, out, err = run("check", "--json", missing, SIRCAM)
    docs = json.loads(out)
    assert code == 2 and "no such file" in err.lower()
    assert docs[0]["path"] == missing and docs[0]["ok"] is False and docs[0]["error"]
    assert docs[1]["ok"] is True


def test_every_json_error_is_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.policy"
    bad.write_text('block attachment "*.pif\n')
    for argv, code in [
        (["explain", "--json", str(tmp_path / "nope.policy"), MBOX], 2),
        (["simulate", "--json", BASELINE, str(tmp_path / "nope")], 2),
        (["explain", "--json", str(bad), MBOX], 1),
    ]:
        got, out, _ = run(*argv)
        doc = json.loads(out)
        assert got == code and doc["ok"] is False and doc["exit_code"] == code and doc["error"]
    assert doc["diagnostics"][0]["path"] == str(bad)


def test_a_run_that_read_messages_is_ok() -> None:
    code, out, _ = run("simulate", "--json", "--workers", "1", BASELINE, MBOX)
    assert code == 0 and json.loads(out)["ok"] is True
    code, out, _ = run("diff", "--json", "--workers", "1", BASELINE, BASELINE, MBOX)
    assert code == 0 and json.loads(out)["ok"] is True


# ---- width that follows the terminal ---------------------------------------------------------
POLICY = """block attachment (extension "exe" or extension "scr" or extension "com" or
    extension "pif" or extension "bat" or extension "cmd" or extension "vbs")
    unless sender matches "dev@build.partner.example.com"
    as "exe-from-outside"
"""
DECISIVE = "but unless holds: sender"


def unless_case(tmp_path: Path) -> tuple[str, str]:
    policy = tmp_path / "p.policy"
    policy.write_text(POLICY)
    msg = tmp_path / "m.eml"
    msg.write_bytes(
        b"Return-Path: <dev@build.partner.example.com>\nFrom: dev@build.partner.example.com\n"
        b'To: bob@example.org\nSubject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n'
        b'--b\nContent-Type: application/octet-stream; name="setup.exe"\n'
        b"Content-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAA=\n--b--\n"
    )
    return str(policy), str(msg)


def trace_text(out: str) -> str:
    """The trace's ``why`` cells joined back (a wrapped cell continues on the next lines)."""
    start = out.index("why\n")
    return " ".join(" ".join(out[start:].split()).split())


def test_piped_output_is_never_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    policy, msg = unless_case(tmp_path)
    code, out, _ = run("explain", policy, msg)
    assert code == 0 and "…" not in out
    line = next(x for x in out.splitlines() if DECISIVE in x)
    assert line.rstrip().endswith('matches "dev@build.partner.example.com"')
    assert len(line) > 120  # one line per rule: nothing wrapped or cut when piped


@pytest.mark.parametrize("columns", ["70", "80", "100"])
def test_columns_wraps_and_keeps_what_decided(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, columns: str
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    policy, msg = unless_case(tmp_path)
    code, out, _ = run("explain", policy, msg)
    table = out[out.index("  line") :]
    assert code == 0 and "…" not in out
    assert max(len(x) for x in table.splitlines()) <= int(columns)
    assert DECISIVE in trace_text(out) and "dev@build.partner.example.com" in out
    code, wide, _ = run("explain", "--wide", policy, msg)
    assert max(len(x) for x in wide.splitlines()) > int(columns)


def test_simulate_tables_follow_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    code, piped, _ = run("simulate", "--workers", "1", BASELINE, MBOX)
    assert code == 0 and "…" not in piped
    assert str(MBOX) in piped  # the whole path, its folder included
    monkeypatch.setenv("COLUMNS", "70")
    code, narrow, _ = run("simulate", "--workers", "1", BASELINE, MBOX)
    assert code == 0 and "…" not in narrow


def test_a_run_that_read_no_message_exits_2(tmp_path: Path) -> None:
    not_mail = tmp_path / "passwd"
    not_mail.write_bytes(b"\x00\x01\x02 root:x:0:0\n" * 3)
    (tmp_path / "empty").mkdir()
    for corpus in (str(not_mail), str(tmp_path / "empty")):
        code, out, err = run("simulate", "--json", str(BASELINE), corpus)
        assert code == 2 and json.loads(out)["ok"] is False
        assert "no message could be read" in err
        assert run("simulate", str(BASELINE), corpus)[0] == 2
        assert run("diff", str(BASELINE), str(BASELINE), corpus)[0] == 2


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["check", BASELINE], 0),
        (["simulate", BASELINE, str(ROOT / "corpus" / "samples" / "maildir" / "malicious")], 0),
        (["export", BASELINE, "--target", "json"], 0),
        (["check", "/nonexistent/x.policy"], 2),
    ],
)
def test_quiet_prints_nothing_and_keeps_the_exit_code(argv: list[str], code: int) -> None:
    loud = run(*argv)
    quiet = run(*argv[:1], "--quiet", *argv[1:])
    assert loud[0] == quiet[0] == code
    assert quiet[1] == ""
    assert loud[1] != "" or code != 0
    assert quiet[2] == ("" if code == 0 else loud[2])  # errors still said, once


def test_quiet_still_writes_the_files_asked_for(tmp_path: Path) -> None:
    report, decisions = tmp_path / "r.html", tmp_path / "d.jsonl"
    corpus = str(ROOT / "corpus" / "samples" / "maildir" / "malicious")
    code, out, err = run(
        "simulate", BASELINE, corpus, "-q", "--report", str(report), "--decisions", str(decisions)
    )
    assert (code, out) == (0, "")
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert len(decisions.read_text(encoding="utf-8").splitlines()) > 10


SAMPLES = ROOT / "corpus" / "samples"


def _decisions(tmp_path: Path, corpus: Path) -> list[dict[str, object]]:
    out = tmp_path / "d.jsonl"
    code, _, _ = run("simulate", BASELINE, str(corpus), "-q", "--decisions", str(out))
    assert code == 0
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("corpus", ["mbox/malicious", "maildir/malicious"])
def test_explain_takes_the_key_simulate_prints(tmp_path: Path, corpus: str) -> None:
    rows = _decisions(tmp_path, SAMPLES / corpus)
    for row in rows[:3] + rows[-2:]:
        location = str(row["location"])
        assert ":" in location
        code, out, err = run("explain", BASELINE, location, "--json")
        assert code == 0, err
        (verdict,) = [json.loads(line) for line in out.splitlines()]
        assert (verdict["action"], verdict["rule"]) == (row["action"], row["rule"])
        assert os.path.isfile(str(row["file"]))  # the real path of the message
        code, out, _ = run("inspect", location, "--json")
        assert code == 0 and len(out.splitlines()) == 1


def test_a_key_that_is_not_there_is_one_line_exit_2() -> None:
    mbox = SAMPLES / "mbox" / "malicious" / "sircam.mbox"
    code, out, err = run("explain", BASELINE, f"{mbox}:999999999")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "no message with key 999999999" in err


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def test_a_message_on_standard_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    message = tricky(tmp_path)
    code, want, _ = run("explain", BASELINE, str(message), "--json")
    assert code == 0
    _stdin(monkeypatch, message.read_bytes())
    code, got, err = run("explain", BASELINE, "-", "--json")
    assert code == 0, err
    strip = [{k: v for k, v in json.loads(x).items() if k != "message"} for x in (want, got)]
    assert strip[0] == strip[1] and json.loads(got)["message"] == "-"
    _stdin(monkeypatch, message.read_bytes())
    code, out, _ = run("inspect", "-")
    assert code == 0 and "\\u202E" in out


def test_an_mbox_on_standard_input_is_simulated(monkeypatch: pytest.MonkeyPatch) -> None:
    mbox = SAMPLES / "mbox" / "malicious" / "sircam.mbox"
    code, want, _ = run("simulate", BASELINE, str(mbox), "--json", "--workers", "1")
    _stdin(monkeypatch, mbox.read_bytes())
    code2, got, err = run("simulate", BASELINE, "-", "--json", "--workers", "1")
    assert code == code2 == 0, err
    assert json.loads(got)["actions"] == json.loads(want)["actions"]
    assert json.loads(got)["messages"] == json.loads(want)["messages"] > 1


def test_a_policy_on_standard_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    message = tricky(tmp_path)
    code, want, _ = run("explain", BASELINE, str(message), "--json")
    monkeypatch.chdir(ROOT / "policy" / "policies")  # its list files, from the working dir
    _stdin(monkeypatch, Path(BASELINE).read_bytes())
    code2, got, err = run("explain", "-", str(message), "--json")
    assert code == code2 == 0, err
    assert json.loads(got)["action"] == json.loads(want)["action"] == "block"
    _stdin(monkeypatch, b'policy "x"\nblock attachment extension in ["exe"]\n')
    code, out, _ = run("check", "-")
    assert code == 0 and out.startswith("-: ok")


def test_list_files_outside_need_list_root(tmp_path: Path) -> None:
    lists = tmp_path / "shared"
    lists.mkdir()
    (lists / "bad.txt").write_text("exe\n.scr\n", encoding="utf-8")
    site = tmp_path / "site"
    site.mkdir()
    policy = site / "p.policy"
    policy.write_text(
        'list bad = file "../shared/bad.txt"\nblock attachment extension in bad\n', encoding="utf-8"
    )
    code, _, err = run("check", str(policy))
    assert code == 1 and "[E103]" in err and "--list-root" in err
    code, out, err = run("check", "--list-root", str(tmp_path), str(policy), "--json")
    assert code == 1
    (diag,) = json.loads(out)[0]["diagnostics"]
    assert diag["file"].endswith("bad.txt") and diag["line"] == 2  # '.scr': did you mean scr
    code, _, err = run("check", "--list-root", str(tmp_path), str(policy))
    assert ".scr" in err and "^" in err  # the list file's line, with a caret
