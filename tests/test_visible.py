"""``corpus.visible``: the shown form of a name has no invisible character and maps back."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from mailpolicy.corpus.visible import SPACE_MARK, invisible, visible

_TOKEN = re.compile(
    r"\\\\|\\u([0-9A-F]{4})|\\U([0-9A-F]{8})|" + SPACE_MARK + r"×(\d+)|" + SPACE_MARK + "|.",
    re.S,
)


def shown_back(shown: str) -> str:
    """The one string ``visible`` shows as ``shown``."""
    out = []
    for m in _TOKEN.finditer(shown):
        tok = m.group()
        if tok == "\\\\":
            out.append("\\")
        elif m.group(1) or m.group(2):
            out.append(chr(int(m.group(1) or m.group(2), 16)))
        elif m.group(3):
            out.append(" " * int(m.group(3)))
        elif tok == SPACE_MARK:
            out.append(" ")
        else:
            out.append(tok)
    return "".join(out)


def test_examples() -> None:
    assert visible("invoice\u202egpj.exe") == "invoice\\u202Egpj.exe"
    assert visible("document.pdf" + " " * 20 + ".exe") == "document.pdf␠×20.exe"
    assert visible("setup.exe   ") == "setup.exe␠␠␠"
    assert visible("my report.pdf") == "my report.pdf"
    assert visible("a\u200bb\ufeffc\u00a0d") == "a\\u200Bb\\uFEFFc\\u00A0d"
    assert visible("tag\U000e0041") == "tag\\U000E0041"
    assert visible(None) == ""


@given(st.text())
def test_shown_form_has_no_invisible_character_and_maps_back(text: str) -> None:
    shown = visible(text)
    assert not any(invisible(ch) for ch in shown)
    assert not shown.endswith(" ") and not shown.startswith(" ")
    assert "  " not in shown
    assert shown_back(shown) == text


@given(st.text(), st.text())
def test_two_names_never_show_alike(a: str, b: str) -> None:
    if a != b:
        assert visible(a) != visible(b)
