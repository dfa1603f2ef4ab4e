"""The HTML report as a reviewer sees it, measured in headless chromium: a corpus with a
false positive, false negatives and a right-to-left-override name; the rendered page shows
the escape and names the trick, every row an attachment, every rule id its line and text,
no word split across lines at a wide and a narrow window, a legend by every chart; and the
screenshot is a real, non-blank picture of the page."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from simbrowser import Page, open_in_chromium

from mailpolicy.simulator.cli import main

RLO = "report\u202excod.js"  # shows as "reportsj.docx" in a mail client
LONG = "Quarterly_Financial_Statement_for_the_Board_of_Directors_2024_Final.js"
POLICY = """policy "report-test"
default allow

list executable = ["exe", "scr", "pif"]

block attachment extension in executable unless sender in ["ops@partner.example"]
block attachment name matches "*.*.*" as "double-extension" reason "double extension"
"""
#: (label folder, attachment name, sender): what each message of the corpus carries
MESSAGES = [
    ("benign", "backup.tar.gz", "alice@example.org"),  # false positive: double extension
    ("benign", "installer.exe", "bob@example.org"),  # false positive: executable
    ("benign", "setup.exe", "ops@partner.example"),  # the exception: delivered
    ("benign", "notes.txt", "carol@example.org"),
    ("malicious", RLO, "mallory@example.net"),  # false negative: .js is on no list
    ("malicious", LONG, "mallory@example.net"),  # false negative, a long name
    ("malicious", "payload.scr", "mallory@example.net"),  # stopped
]


def _message(n: int, name: str, sender: str) -> bytes:
    msg = EmailMessage()
    msg["Return-Path"] = f"<{sender}>"  # the envelope sender, which `sender in` reads
    msg["From"] = sender
    msg["To"] = "rcpt@example.org"
    msg["Subject"] = f"message {n}"
    msg["Message-ID"] = f"<report-{n}@test.example>"
    msg.set_content("see the attachment\n")
    msg.add_attachment(
        b"MZ\x90\x00" if name.endswith((".exe", ".scr")) else b"hello world\n",
        maintype="application",
        subtype="octet-stream",
        filename=name,
    )
    return msg.as_bytes()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """The corpus in maildirs under ``benign``/``malicious``, simulated with ``--report``."""
    root = tmp_path_factory.mktemp("report")
    for n, (label, name, sender) in enumerate(MESSAGES):
        for sub in ("cur", "new", "tmp"):
            (root / "corpus" / label / sub).mkdir(parents=True, exist_ok=True)
        (root / "corpus" / label / "cur" / f"{n}:2,S").write_bytes(_message(n, name, sender))
    policy = root / "report-test.policy"
    policy.write_text(POLICY, encoding="utf-8")
    html = root / "report.html"
    out, err = io.StringIO(), io.StringIO()
    argv = ["simulate", str(policy), str(root / "corpus"), "--json", "--workers", "1"]
    code = main([*argv, "--report", str(html)], out=out, err=err)
    assert code == 0, err.getvalue()
    doc = json.loads(out.getvalue())
    assert (doc["false_positives"], doc["false_negatives"]) == (2, 2)
    return doc, html


Opener = Callable[[Path, int], Page]


@pytest.fixture(scope="session")
def browser(chromium: Callable[[Path], Page]) -> Opener:
    """Open a page at a window width, with a screenshot (``chromium``, from conftest, skips
    or fails in CI when there is no chromium)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe is not None

    def open_page(html: Path, width: int) -> Page:
        page = open_in_chromium(html, exe, width=width, screenshot=True)
        assert page.errors == [] and page.scripts == 0
        return page

    return open_page


def _rows(page: Page, section: str) -> list[list[str]]:
    return [r["cells"] for r in page.layout["rows"] if r["section"].startswith(section)]


def test_report_shows_rules_attachments_and_tricks(
    report: tuple[dict[str, Any], Path], browser: Opener, tmp_path: Path
) -> None:
    doc, html = report
    page = browser(html, 1100)

    # The screenshot is a picture of this page: its width, mostly white, many colours.
    shot = tmp_path / "report.png"
    shot.write_bytes(page.png)
    assert page.png[:8] == b"\x89PNG\r\n\x1a\n"
    px = page.pixels
    assert 1000 <= px["width"] <= 1100 and px["height"] > 1500
    assert 0.02 < px["nonWhite"] < 0.5 and px["colours"] > 50

    # The right-to-left override is shown as its escape, and the trick is named beside it.
    shown = "report\\u202Excod.js"
    assert shown in page.text and RLO not in page.text
    fn = _rows(page, "False negatives")
    assert len(fn) == 2
    rlo_cell = next(cells[1] for cells in fn if shown in cells[1])
    assert "bidi-control" in rlo_cell

    # Every false negative shows the attachment it carried, though no rule named one.
    for cells in fn:
        message, attachment, action, rule = cells[:4]
        assert attachment.strip() and attachment.startswith("carried: ")
        assert action == "allow" and rule.startswith("(default)")
    assert any(LONG in cells[1] for cells in fn)
    fp = _rows(page, "False positives")
    assert sorted(cells[1] for cells in fp if len(cells) == 5) == [
        "backup.tar.gz",
        "installer.exe",
    ]

    # Every rule id stands with its line and text, in the rules table and in every row.
    source = doc["rule_source"]
    rules = page.layout["rules"]
    for cell in rules:
        src = source[cell["id"]]
        where = f"line {src['line']}: " if src["line"] else ""
        assert cell["text"].split("\n") == [cell["id"], where + src["text"]]
    in_table = {c["id"] for c in rules if c["section"] == "Rules"}
    assert in_table == {r["id"] for r in doc["rules"]}
    assert len([c for c in rules if c["section"].startswith("False")]) == 4
    unless = next(c["text"] for c in rules if c["id"].startswith("block-"))
    assert "line 6: block attachment extension in executable unless sender in" in unless
    assert next(c["text"] for c in rules if c["id"] == "(default)") == "(default)\ndefault allow"

    # A legend by every chart, the single-series one included.
    charts = page.layout["charts"]
    assert [c["title"] for c in charts] == [
        "actions by label",
        "hits per rule by label",
        "false positives by extension",
    ]
    assert all(c["legend"] and c["legendVisible"] for c in charts)
    assert charts[2]["legend"] == ["benign (labelled)"]


@pytest.mark.parametrize("width", [1100, 800, 560])
def test_no_word_is_split_across_lines(
    report: tuple[dict[str, Any], Path], browser: Opener, width: int
) -> None:
    """Measured in the page: no run of letters and digits in any cell has boxes on two
    lines, no cell's content overflows it, every cell breaks words normally, and the page
    itself does not scroll sideways (a table too wide for a narrow window scrolls in its
    own box); a long name still wraps (at its ``_`` and ``.``)."""
    _, html = report
    page = browser(html, width)
    cells = page.layout["cells"]
    assert [(c["text"], c["split"]) for c in cells if c["split"]] == []
    assert [c["text"] for c in cells if c["overflows"]] == []
    assert {c["wordBreak"] for c in cells} == {"normal"}
    assert not page.layout["pageOverflows"]
    # From 800 pixels up every table fits; below, the wide ones scroll in their own box.
    assert page.layout["scrolled"] == 0 or width < 800
    long_cell = next(c for c in cells if LONG in c["text"])
    assert long_cell["lines"] >= 2  # wrapped, at its separators since no word is split


def test_the_measure_sees_split_words(tmp_path: Path, browser: Opener) -> None:
    """The split-word measure above means something: the old stylesheet
    (``overflow-wrap: anywhere`` on every cell of a squeezed table) splits ``block``."""
    squeezed = tmp_path / "squeezed.html"
    squeezed.write_text(
        "<!DOCTYPE html><html><head><style>td{overflow-wrap:anywhere}</style></head><body>"
        '<table style="width:90px"><tr><td>block</td><td>(default)</td>'
        "<td>corpus/samples/maildir/benign</td></tr></table></body></html>"
    )
    page = browser(squeezed, 400)
    split = [w for c in page.layout["cells"] for w in c["split"]]
    assert "block" in split or "default" in split
