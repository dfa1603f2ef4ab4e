"""The regex dialects: one renderer over the glob tree, checked against the engine."""

from __future__ import annotations

import re

import pytest

from mailpolicy.corpus import names
from mailpolicy.policy import globs
from mailpolicy.policy.conditions import is_double_extension
from mailpolicy.policy.export.base import Unexpressible
from mailpolicy.policy.export.dialect import (
    ERE,
    EXIM,
    PCRE,
    PERL,
    address,
    address_globs,
    byte_address,
    extension_pattern,
    map_line,
    matches_key,
)
from mailpolicy.policy.sets import address_in

GLOBS = ["*.pif", "a?c", "[a-c]x", "*.{doc,xls}.{bat,com}", "x\\*y", "[!.]*", "*[é]*", "Ä*"]
NAMES = ["a.pif", "abc", "bx", "a.doc.bat", "x*y", "xzy", "q", ".q", "b.xls.com", "é", "äb", "ÄB"]


def _bytes_rx(rx: str) -> re.Pattern[bytes]:
    """An EXIM regex for Python's ``re`` (PCRE spells ``\\Z`` as ``\\z``)."""
    return re.compile(rx.replace(r"\z", r"\Z").encode("ascii"))


def test_pcre_agrees_with_the_glob_matcher() -> None:
    for g in GLOBS:
        rx = re.compile(PCRE.render(globs.parse(g)), re.IGNORECASE | re.DOTALL)
        for name in NAMES:
            assert bool(rx.fullmatch(name)) == globs.match(g, name), (g, name)


def test_exim_bytes_agree_with_the_glob_matcher_on_utf8() -> None:
    for g in GLOBS:
        rx = _bytes_rx(rf"(?i)\A(?:{EXIM.render(globs.parse(g))})\z")
        for name in NAMES:
            assert bool(rx.match(name.encode("utf-8"))) == globs.match(g, name), (g, name)


def test_exim_name_frame_matches_the_normalised_name() -> None:
    rx = _bytes_rx(EXIM.for_name(globs.parse("*.exe")))
    for raw in ["a.exe", "dir/a.exe", "C:\\x\\A.EXE. . ", "a.exe/", "a.exe.txt"]:
        want = globs.match("*.exe", names.normalize(raw))
        assert bool(rx.search(raw.encode("utf-8"))) == want, raw


def test_extension_pattern_agrees_with_evaluator() -> None:
    single = re.compile(PCRE.render(extension_pattern(["exe", "bat"])), re.I | re.S)
    double = re.compile(PCRE.render(extension_pattern(["exe", "bat"], double=True)), re.I | re.S)
    for n in [
        "a.exe",
        ".exe",
        "a.doc.bat",
        "test.tar.gz",
        "John.Smith.bat",
        "p.2001.01.exe",
        "a.12.exe",
        "a.1a.exe",
        "x.docx.exe",
        "x.abcde.exe",
        "..exe",
        "a.EXE",
        "exe",
    ]:
        exts = names.extensions(n)
        assert bool(single.fullmatch(n)) == bool(exts and exts[-1] in ("exe", "bat")), n
        want = bool(exts and exts[-1] in ("exe", "bat") and is_double_extension(exts))
        assert bool(double.fullmatch(n)) == want, n


@pytest.mark.parametrize("dialect", [PCRE, ERE, EXIM, PERL], ids=lambda d: d.name)
def test_every_punctuation_character_is_a_literal(dialect: object) -> None:
    from mailpolicy.policy.export.dialect import Dialect

    assert isinstance(dialect, Dialect)
    text = "".join(chr(c) for c in range(0x20, 0x7F) if not chr(c).isalnum())
    rendered = dialect.render(globs.Lit(text))
    if dialect is ERE:  # POSIX: check the escaping by hand, Python reads ERE escapes alike
        assert re.fullmatch(rendered, text)
    elif dialect is EXIM:
        assert _bytes_rx(rendered).fullmatch(text.encode())
        assert "\\N" not in rendered and ";" not in rendered and " " not in rendered
    elif dialect is PERL:
        assert re.fullmatch(r"(?:[A-Za-z0-9]|\\x[0-9a-f]{2})*", rendered)
        assert re.fullmatch(rendered, text)
    else:
        assert re.fullmatch(rendered, text) and "/" not in rendered.replace("\\/", "")


def test_address_reads_as_the_engine_does() -> None:
    assert address("Example.COM") == address("example.com")
    literal, wild, whole = address("example.com"), address("*.example.org"), address("*@x.net")
    assert (literal.domain, literal.subdomains) == (True, True)
    assert (wild.domain, wild.subdomains) == (True, False)
    assert (whole.domain, whole.subdomains) == (False, False)
    assert not address("x.net", domain_rule=False).domain
    keys = [matches_key(p) for p in address_globs(literal)]
    assert keys == ["*@example.com", "*@*.example.com"]
    entries = ["example.com", "*.example.org", "*@x.net", "b@y.example"]
    addrs = ["a@example.com", "a@mx.example.com", "a@badexample.com", "a@s.example.org"]
    addrs += ["a@example.org", "q@x.net", "B@Y.EXAMPLE", "b@z.example"]
    for e in entries:
        pcre = re.compile(PCRE.address(address(e)), re.I | re.S)
        exim = _bytes_rx(byte_address(e, domain_rule=True))
        for a in addrs:
            want = address_in(e, a)
            assert bool(pcre.fullmatch(a)) == want, (e, a)
            assert bool(exim.match(a.encode())) == want, (e, a)


def test_byte_address_refuses_a_malformed_glob() -> None:
    with pytest.raises(Unexpressible, match="not a valid glob"):
        byte_address("[a-", domain_rule=True)


def test_map_line_refuses_what_rspamd_would_drop() -> None:
    assert map_line(r"(?i)\Aa/b\z") == r"(?i)\Aa\x2fb\z"
    for bad in ("a\nb", "(?:x", "é"):
        with pytest.raises(Unexpressible):
            map_line(bad)
