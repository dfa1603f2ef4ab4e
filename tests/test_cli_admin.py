"""What an administrator sees, in-process: tricks made visible, exit codes that agree with
the JSON, widths that follow the terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path

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
    assert summary._clip("setup.exe   ", 60) == "setup.exe␠␠␠"
