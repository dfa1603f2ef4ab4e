"""Globs: the one parser, its Python rendering, validation and escaping."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailpolicy.policy import globs

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


@given(TEXT, TEXT)
def test_an_escaped_text_matches_itself_and_nothing_else(text: str, other: str) -> None:
    pattern = globs.escape(text)
    assert globs.validate(pattern) is None
    assert globs.match(pattern, text)
    literal = re.compile(re.escape(text), re.IGNORECASE | re.DOTALL)
    assert globs.match(pattern, other) == (literal.fullmatch(other) is not None)
    assert globs.is_literal(pattern) == (pattern == text)


@pytest.mark.parametrize(
    ("glob", "name", "want"),
    [
        ("*.pif", "INVOICE.PIF", True),
        ("*.{doc,xls}.{bat,com}", "a.xls.com", True),
        ("*.{doc,xls}.{bat,com}", "a.pdf.com", False),
        ("[!a]*", "abc", False),
        ("[a-]x", "-x", True),
        ("[]a]", "]", True),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("[a&&b]", "&", True),  # no set operations: '&' is a character
    ],
)
def test_match(glob: str, name: str, want: bool) -> None:
    assert globs.match(glob, name) is want


@pytest.mark.parametrize(
    ("glob", "problem"),
    [
        ("[abc", "never closed"),
        ("{a,b", "never closed"),
        ("a}", "no matching"),
        ("[z-a]x", "runs backwards"),
        ("{{{{{a}}}}}", "nested"),
    ],
)
def test_validate(glob: str, problem: str) -> None:
    reason = globs.validate(glob)
    assert reason is not None and problem in reason
