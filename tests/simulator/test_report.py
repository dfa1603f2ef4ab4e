"""The HTML report, loaded in a real headless chromium: no console errors, no script, no
fetch, and the figures of ``simulate --json`` in the rendered page."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from simbrowser import Page
from simsupport import CorpusFiles

from mailpolicy.simulator import report
from mailpolicy.simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "corpus" / "samples"
SIRCAM_2001 = str(ROOT / "policy" / "policies" / "sircam-2001.policy")
HOSTILE = "<img src=x onerror=alert(1)>&amp;<script>alert(2).tar.gz"


def simulate(tmp_path: Path, *corpus: str) -> tuple[dict[str, Any], Path]:
    html = tmp_path / "report.html"
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [
            "simulate",
            SIRCAM_2001,
            *corpus,
            "--json",
            "--workers",
            "1",
            "--samples",
            "100",
            "--report",
            str(html),
        ],
        out=out,
        err=err,
    )
    assert code == 0, err.getvalue()
    return json.loads(out.getvalue()), html


def test_report_shows_the_json_figures(tmp_path: Path, chromium: Callable[[Path], Page]) -> None:
    if not (SAMPLES / "maildir").is_dir():
        pytest.skip("sample corpus not present")
    doc, html = simulate(tmp_path, str(SAMPLES / "maildir"), str(SAMPLES / "mbox"))
    page = chromium(html)
    assert page.errors == []
    assert page.scripts == 0 and page.svgs == 3
    f = page.figures
    assert f["messages"] == str(doc["messages"])
    assert f["unreadable"] == str(doc["unreadable"])
    assert f["false-positives"] == str(doc["false_positives"]) == f["confusion:false-positives"]
    assert f["false-negatives"] == str(doc["false_negatives"])
    for action, count in doc["actions"].items():
        assert f[f"action:{action}"] == str(count)
    for rule in doc["rules"]:
        for key in ("hits", "benign_hits", "malicious_hits"):
            assert f[f"rule:{rule['id']}:{key}"] == str(rule[key])
    for ext, count in doc["false_positives_by_extension"].items():
        assert f[f"fp-extension:{ext}"] == str(count)
    for name in ("test.tar.gz", "archive.sit.bin", "test.2001.01.01"):
        assert name in page.text
    assert "partial" not in f


def test_hostile_names_render_as_text(tmp_path: Path, chromium: Callable[[Path], Page]) -> None:
    md = CorpusFiles(tmp_path / "benign")
    md.maildir_message("1:2,S", 1, HOSTILE)
    md.maildir_raw("2:2,S", b"\x89PNG\r\n\x1a\n\x00<script>x</script>")
    doc, html = simulate(tmp_path, str(md.root))
    assert doc["false_positives"] == 1
    page = chromium(html)
    assert page.errors == []
    assert page.scripts == 0
    assert HOSTILE in page.text


def test_partial_report_is_marked(tmp_path: Path, chromium: Callable[[Path], Page]) -> None:
    md = CorpusFiles(tmp_path / "malicious")
    md.maildir_message("1:2,S", 1, "a.pif")
    doc, _ = simulate(tmp_path, str(md.root))
    doc["partial"] = True
    html = tmp_path / "partial.html"
    report.write(str(html), doc)
    page = chromium(html)
    assert page.errors == [] and "partial" in page.figures


def test_harness_sees_console_errors_and_fetches(
    tmp_path: Path, chromium: Callable[[Path], Page]
) -> None:
    """The no-error assertions above mean something: the harness does catch errors."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'\"></head><body>"
        '<img src="http://example.invalid/x.png">x</body></html>'
    )
    assert chromium(bad).errors
    noisy = tmp_path / "noisy.html"
    noisy.write_text(
        "<!DOCTYPE html><html><body><script>console.error('boom')</script></body></html>"
    )
    assert any("boom" in e for e in chromium(noisy).errors)


def test_render_escapes_everything() -> None:
    assert report.esc('<a href="x">&') == "&lt;a href=&quot;x&quot;&gt;&amp;"
    svg = report.bar_chart([("<script>", [1, 2])], ["benign", "<b>"], "t<")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
