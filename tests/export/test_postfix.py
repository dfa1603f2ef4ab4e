"""The postfix target against the real postmap: tables load without warnings and match.

Needs ``postmap`` with the ``pcre`` map type (``.ci/install-mta.sh``); a missing tool is
a failure, never a skip.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import forgeable_baseline
from toolsupport import tool_missing

from mailpolicy.policy import globs, loader
from mailpolicy.policy.diagnostics import PolicyError
from mailpolicy.policy.export import export
from mailpolicy.policy.export.postfix import (
    PostfixExporter,
    PostfixRunner,
    check_delimiters,
    line_regex,
)
from mailpolicy.policy.export.runner import need
from mailpolicy.policy.globs import parse as glob_pattern
from mailpolicy.policy.printer import quote
from mailpolicy.simulator.verify import compare

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policy" / "policies"
SAMPLES = ROOT / "corpus" / "samples" / "maildir"


def postmap(table_text: str, key: str) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory() as d:
        Path(d, "main.cf").write_text("compatibility_level = 3.6\n")
        os.utime(Path(d, "main.cf"), (0, 0))  # a fresh main.cf makes postmap wait 2 s
        Path(d, "t.pcre").write_text(table_text, encoding="utf-8")
        p = subprocess.run(
            [need("postmap"), "-c", d, "-q", key, f"pcre:{d}/t.pcre"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        return p.returncode, p.stdout, p.stderr


def test_strict_refuses_name_rules_and_says_why() -> None:
    r = export(loader.load_policy(str(POLICIES / "sircam-2001.policy"), lint=True), "postfix")
    assert not r.ok
    names = [d for d in r.diagnostics if "RFC 2047" in d.message and "(line " in d.message]
    assert len(names) == 6


def test_two_stage_files_and_bounce_warning() -> None:
    r = export(forgeable_baseline(), "postfix", approximate=True)
    assert list(r.files) == [
        "mime_header_checks.pcre",
        "mime_header_checks_exempt.pcre",
        "sender_access.pcre",
        "main.cf.fragment",
        "master.cf.fragment",
    ]
    assert "BOUNCES" in r.files["mime_header_checks.pcre"]
    assert (
        "executable-extension"
        not in r.files["mime_header_checks_exempt.pcre"].split("Rules for senders")[1]
    )
    assert "FILTER smtp:[127.0.0.1]:10026" in r.files["main.cf.fragment"]
    for name, text in r.files.items():
        if name.endswith(".pcre"):
            rc, _, err = postmap(text, 'Content-Disposition: attachment; filename="a.txt"')
            assert "warning" not in err and rc in (0, 1), (name, err)


HEADERS = {
    'Content-Disposition: attachment; filename="a.doc.bat"': True,
    'Content-Type: application/octet-stream; name="invoice.pif"': False,
    'Content-Disposition: attachment; filename="say \\"hi\\".bat"': True,
    'Content-Disposition: attachment; filename="evil.bat.  "': True,
    "Content-Disposition: attachment; filename=evil.bat": True,
    "Content-Disposition: attachment; filename=evil.bat.": True,
    'Content-Disposition: attachment;\n\tfilename="shortcut.BAT"': True,
    "Content-Disposition: attachment; filename*=UTF-8''%E5%90%8C.xls.bat": True,
    'Content-Disposition: attachment; x="; filename=evil.bat"; filename=ok.txt': False,
    'Content-Disposition: attachment; filename="evil.bat.txt"': False,
    'Content-Disposition: attachment; filename="test.tar.gz"': False,
}


def test_robust_header_forms() -> None:
    table = f"/{line_regex(glob_pattern('*.bat'))}/ REJECT x\n"
    for header, want in HEADERS.items():
        if "\n" in header:
            continue  # postmap -q takes one line; folded headers are in the -hm verify run
        rc, _, err = postmap(table, header)
        assert err == "" and (rc == 0) == want, header


def test_verify_samples() -> None:
    for name in ("sircam-2001", "baseline"):
        ex = PostfixExporter(
            loader.load_policy(str(POLICIES / f"{name}.policy"), lint=True), approximate=True
        )
        rows, unreadable = compare(ex, ex.export(), [str(SAMPLES)])
        assert unreadable == 0 and len(rows) >= 50
        assert [r for r in rows if r.engine != r.target and r.explained_by is None] == []
        assert not [r for r in rows if r.target == "error"]


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


_TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=20
)
_NAME = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="/\\"),
    min_size=1,
    max_size=16,
).filter(lambda s: not s.endswith("."))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(glob=_TEXT, entry=_TEXT, reason=_TEXT)
def test_arbitrary_values_load_without_warning(glob: str, entry: str, reason: str) -> None:
    src = (
        f"list t = [{quote(entry)}]\n"
        f"block attachment name matches {quote(glob)} unless sender in t "
        f"reason {quote(reason)}\n"
    )
    try:
        p = loader.load_text(src, "h.policy")
    except PolicyError:  # an invalid glob is the checker's business
        return
    r = export(p, "postfix", approximate=True)
    assert r.ok
    for name, text in r.files.items():
        if name.endswith(".pcre"):
            for line in text.splitlines():
                if line.startswith("/"):  # the pattern ends at the first unescaped "/"
                    end = 1
                    while line[end] != "/":
                        end += 2 if line[end] == "\\" else 1
                    check_delimiters(line[1:end])
                    assert line[end + 1 :].split(" ", 2)[1] in ("REJECT", "HOLD", "OK"), line
            _, _, err = postmap(text, 'Content-Disposition: attachment; filename="x"')
            assert err == "", (name, text, err)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_NAME)
def test_literal_name_matches_exactly(name: str) -> None:
    p = loader.load_text(
        f'block attachment name matches {quote(globs.escape(name))} as "lit"\n', "l.policy"
    )
    r = export(p, "postfix", approximate=True)
    table = r.files["mime_header_checks.pcre"]
    for value in (_quoted(name), _quoted(name + ". ")):
        rc, out, err = postmap(table, f"Content-Disposition: attachment; filename={value}")
        assert err == "" and rc == 0 and "rule lit]" in out, value
    for other in (name + "x", "x" + name, name[:-1] or "y"):
        if other.lower() == name.lower():
            continue
        rc, out, err = postmap(table, f"Content-Disposition: attachment; filename={_quoted(other)}")
        assert err == "" and "rule lit]" not in out, other


def test_runner_uses_exempt_table_for_trusted_sender() -> None:
    ex = PostfixExporter(forgeable_baseline(), approximate=True)
    result = ex.export()
    with tempfile.TemporaryDirectory() as d:
        runner = PostfixRunner(result, d)
        assert runner.check() is None
        assert runner.exempt_sender("build@partner.example.com")
        assert runner.exempt_sender("POSTMASTER@example.ac.jp")
        assert not runner.exempt_sender("build@evil.partner.example.com.example")
        assert not runner.exempt_sender("mallory@example.net")
    assert os.path.basename(d)


# ---- raw names, big lists and the postmap gate ---------------------------------------------
RAW_POLICY = """\
policy "raw"
default allow
block attachment extension in ["pif"] as "ext"
quarantine attachment name matches "*.*.*" as "double"
"""


def _raw_message(name: bytes) -> bytes:
    return (
        b"From: m@example.net\nTo: bob@example.com\nSubject: t\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nhi\n'
        b"--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; "
        b'filename="' + name + b'"\nContent-Transfer-Encoding: base64\n\naGk=\n--b--\n'
    )


def _verdicts(src: str, messages: list[bytes]) -> list[tuple[tuple[str, str | None], ...]]:
    from mailpolicy.corpus.readers import RawMessage
    from mailpolicy.simulator.replay import ReferenceMatcher, parse

    policy = loader.load_text(src, "raw.policy")
    result = PostfixExporter(policy, approximate=True).export()
    assert result.ok, [d.message for d in result.diagnostics]
    engine = ReferenceMatcher(policy)
    out = []
    with tempfile.TemporaryDirectory() as d:
        runner = PostfixRunner(result, d)
        assert runner.check() is None
        for data in messages:
            e = engine.evaluate(parse(RawMessage("m", None, data, None)))
            t = runner.run(data, "mallory@example.net", ())
            out.append(((e.action, e.rule), (t.action, t.rule)))
    return out


def test_raw_8bit_names_with_unicode_spaces_and_trailing_runs() -> None:
    from mailpolicy.policy.export.sieve_names import SPACES

    names = [f"invoice.pif{c}".encode() for c in SPACES] + [f"x.{c}pif".encode() for c in SPACES]
    names += [b"invoice.pif\xa0", b"invoice.pif\x81\x40"]  # Windows-1252 and Shift_JIS
    names += [b"invoice.pif.", b"invoice.pif . .", b"report.doc.", b"a.b. ", b"a.b.c"]
    pairs = _verdicts(RAW_POLICY, [_raw_message(n) for n in names])
    assert [(n, p) for n, p in zip(names, pairs) if p[0] != p[1]] == []
    assert {p[0][0] for p in pairs} == {"block", "quarantine", "allow"}


def test_a_large_list_is_split_under_the_pcre_limit_and_every_line_loads() -> None:
    from mailpolicy.policy.export.postfix_names import MAX_WEIGHT, weight

    globs_ = [f"quarterly-report-{i}-[0-9][0-9]*.{{pdf,doc}}.exe" for i in range(200)]
    listed = ", ".join(quote(g) for g in globs_)
    src = f'policy "big"\ndefault allow\nlist big = [{listed}]\nblock attachment name in big as "big"\n'
    pairs = _verdicts(
        src,
        [
            _raw_message(b"quarterly-report-199-12.pdf.exe"),
            _raw_message(b"quarterly-report-0-99x.doc.exe"),
            _raw_message(b"quarterly-report-200-12.pdf.exe"),
        ],
    )
    assert [p[1] for p in pairs] == [("block", "big"), ("block", "big"), ("allow", None)]
    assert [p[0] for p in pairs] == [p[1] for p in pairs]
    r = PostfixExporter(loader.load_text(src, "big.policy"), approximate=True).export()
    lines = [ln for ln in r.files["mime_header_checks.pcre"].splitlines() if ln.startswith("/")]
    assert len(lines) > 2 and all(weight(ln) <= MAX_WEIGHT + 200 for ln in lines)


def test_a_table_postmap_refuses_is_an_error_and_nothing_is_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mailpolicy.policy.export import postfix, toolcheck

    monkeypatch.setattr(postfix, "split", lambda p: [p])  # one regex for the whole list
    globs_ = [f"quarterly-report-{i}-[0-9][0-9]*.{{pdf,doc}}.exe" for i in range(200)]
    listed = ", ".join(quote(g) for g in globs_)
    src = f'policy "big"\ndefault allow\nlist big = [{listed}]\nblock attachment name in big as "big"\n'
    exporter = PostfixExporter(loader.load_text(src, "big.policy"), approximate=True)
    r = exporter.export()
    checked = toolcheck.check(exporter, r)
    if checked.missing:
        tool_missing(checked.missing)
    assert checked.problem is not None and "too large" in checked.problem
    toolcheck.rejected(exporter, r, checked.problem)
    assert not r.ok and r.files == {}
    assert any(d.code == "E305" and "too large" in d.message for d in r.diagnostics)
