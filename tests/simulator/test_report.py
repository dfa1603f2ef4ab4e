"""The HTML report, loaded in a real headless chromium: no console errors, no script, no
fetch, and the figures of ``simulate --json`` in the rendered page."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
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


# ---- rule text, attachments, tricks, wrapping, legends (no browser) -------------------------
def test_json_carries_each_rules_line_and_text(tmp_path: Path) -> None:
    policy = tmp_path / "p.policy"
    policy.write_text(
        'policy "p"\ndefault allow\nblock attachment extension in ["exe"] unless sender in '
        '["ops@partner.example"]\nblock attachment name matches "*.*.*" as "dots"\n'
    )
    md = CorpusFiles(tmp_path / "benign")
    md.maildir_message("1:2,S", 1, "backup.tar.gz")
    mal = CorpusFiles(tmp_path / "malicious")
    mal.maildir_message("2:2,S", 2, "photo.js")
    out, err = io.StringIO(), io.StringIO()
    argv = ["simulate", str(policy), str(md.root), str(mal.root), "--json", "--workers", "1"]
    assert main(argv, out=out, err=err) == 0, err.getvalue()
    doc = json.loads(out.getvalue())
    source = doc["rule_source"]
    assert list(source) == [r["id"] for r in doc["rules"]]  # policy order, then the default
    exe = next(r for r in doc["rules"] if r["id"].startswith("block-"))
    assert source[exe["id"]] == {
        "line": 3,
        "text": 'block attachment extension in ["exe"] unless sender in ["ops@partner.example"]',
    }
    assert source["dots"]["line"] == 4
    assert source["(default)"] == {"line": None, "text": "default allow"}
    (fp,) = doc["samples"]["false_positives"]
    assert (fp["rule"], fp["rule_line"]) == ("dots", 4) and fp["rule_text"].startswith("block")
    (fn,) = doc["samples"]["false_negatives"]
    assert (fn["rule"], fn["rule_line"], fn["rule_text"]) == (None, None, "default allow")
    assert fn["attachment"] is None and fn["attachments"] == ["photo.js"]
    page = report.render(doc)
    assert "line 4: block attachment name matches" in page and ">default allow<" in page


def test_attachment_cell_is_never_empty() -> None:
    decided = {"attachment": "a.exe", "attachments": ["notes.txt", "a.exe"]}
    cell = report.attachment_html(decided)
    assert cell.index("a.exe") < cell.index("with") < cell.index("notes.txt")
    missed = {"attachment": None, "attachments": ["photo.jpg"]}
    assert "carried: " in report.attachment_html(missed)
    typed = {**missed, "attachment_types": ["application/x-dosexec"]}
    assert "(application/x-dosexec)" in report.attachment_html(typed)
    assert "no named attachment" in report.attachment_html({"attachment": None, "attachments": []})


@pytest.mark.parametrize(
    ("name", "shown", "trick"),
    [
        ("invoice\u202egpj.exe", "invoice\\u202Egpj.exe", "bidi-control"),
        ("document.pdf" + " " * 20 + ".exe", "document.pdf\u2420\u00d720.exe", "padding"),
        ("setup.exe   ", "setup.exe\u2420\u2420\u2420", "trailing-space"),
        ("re\u200bport.exe", "re\\u200Bport.exe", "invisible-character"),
    ],
)
def test_names_show_their_tricks(name: str, shown: str, trick: str) -> None:
    cell = report.name_html(name).replace("<wbr>", "")
    assert shown in cell and f'<span class="trick">{trick}</span>' in cell
    assert name not in cell


def test_rule_cell_holds_line_and_text() -> None:
    source = {"r": {"line": 12, "text": 'block attachment extension in ["exe"]'}}
    cell = report.rule_html("r", source)
    assert 'data-rule="r"' in cell and "line 12: block attachment extension in" in cell
    assert report.rule_note(
        "(default)", {"(default)": {"line": None, "text": "default allow"}}
    ) == ("default allow")
    assert "rtext" not in report.rule_html("other", source)  # an unknown id: the id alone


def test_every_chart_has_a_legend() -> None:
    one = report.bar_chart([("gz", [3])], ["benign"], "false positives by extension")
    assert 'class="legend"' in one and "benign (labelled)" in one
    notes = report.bar_chart(
        [("r", [1, 2, 0])], ["benign", "malicious", "(none)"], "t", ["x" * 500]
    )
    assert "x" * 500 in notes and "…" in notes  # cut under the bar, whole in its tooltip


def test_breakable_breaks_long_tokens_only() -> None:
    assert report.breakable("a.b") == "a.b"
    assert report.breakable("corpus/samples/maildir/benign:1.P2:2,S x") == (
        "corpus/<wbr>samples/<wbr>maildir/<wbr>benign:<wbr>1.<wbr>P2:<wbr>2,<wbr>S x"
    )
    assert "<script>" not in report.breakable("<script>alert(1)</script>.exe.exe")


@given(st.text(max_size=80))
def test_breakable_shows_the_same_text_as_esc(text: str) -> None:
    """Only break opportunities are added: without them the cell is ``esc``'s text."""
    assert report.breakable(text).replace("<wbr>", "") == report.esc(text)
