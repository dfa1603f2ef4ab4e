"""The exim target: golden files, the support table, strict failures, escaping, and the
real Exim (exim4-daemon-heavy, ``.ci/install-exim.sh``) in its ``-bV``/``-be``/``-bh`` modes.

Golden files: ``tests/export/golden/exim/<policy>.<mode>.<file>``; run with
``MAILPOLICY_UPDATE_GOLDEN=1`` to rewrite them, then read the diff. Tests that need Exim
skip with the reason when it is not installed (never pass silently).
"""

from __future__ import annotations

import os
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import Unsupported, check_support
from toolsupport import IN_CI

from mailpolicy.corpus import names
from mailpolicy.policy import globs, loader
from mailpolicy.policy.diagnostics import PolicyError
from mailpolicy.policy.export.base import E_UNSAFE, E_UNSUPPORTED
from mailpolicy.policy.export.exim import EximExporter
from mailpolicy.policy.export.exim_runner import EximRunner, find_exim
from mailpolicy.policy.printer import quote
from mailpolicy.simulator.verify import compare, render, unexplained

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policy" / "policies"
GOLDEN = Path(__file__).parent / "golden" / "exim"
SAMPLES = ROOT / "corpus" / "samples" / "maildir"
UPDATE = os.environ.get("MAILPOLICY_UPDATE_GOLDEN") == "1"
EXIM = find_exim()
needs_exim = pytest.mark.skipif(
    EXIM is None and not IN_CI,
    reason="exim4-daemon-heavy not installed (run .ci/install-exim.sh or set MAILPOLICY_EXIM)",
)


class Exim(EximExporter):
    """Strict exports in these tests accept the target-wide limits (each stated by name
    with ``--accept-loss``), so what a strict export refuses is a rule's own."""

    def export(self):  # type: ignore[no-untyped-def]
        if not self.approximate:
            probe = EximExporter(self.policy, approximate=True).export()
            wide = {x.key for x in probe.losses if x.rule == "*" and not x.sound}
            self.accept = self.accept | wide
        return super().export()


@pytest.fixture(autouse=True)
def _fixed_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")


def export(text: str, *, approximate: bool = False):  # type: ignore[no-untyped-def]
    return Exim(loader.load_text(text), approximate=approximate).export()


# ---- golden files ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy", "mode"),
    [("sircam-2001", "strict"), ("sircam-2001", "approximate"), ("baseline", "approximate")],
)
def test_golden(policy: str, mode: str) -> None:
    result = Exim(
        loader.load_policy(str(POLICIES / f"{policy}.policy"), lint=True),
        approximate=mode == "approximate",
    ).export()
    assert result.ok, result.diagnostics
    for name, text in result.files.items():
        path = GOLDEN / f"{policy}.{mode}.{name}"
        if UPDATE:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        assert path.exists(), f"run with MAILPOLICY_UPDATE_GOLDEN=1 to create {path.name}"
        assert text == path.read_text(encoding="utf-8"), f"{path.name} differs"


def test_output_is_deterministic() -> None:
    pol = loader.load_policy(str(POLICIES / "baseline.policy"), lint=True)
    one = Exim(pol, approximate=True).export().files
    two = Exim(pol, approximate=True).export().files
    assert one == two


def test_baseline_strict_names_every_unsupported_rule() -> None:
    policy = loader.load_policy(str(POLICIES / "baseline.policy"), lint=True)
    result = Exim(policy).export()
    assert not result.ok and not result.files
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert {d.code for d in errors} == {E_UNSUPPORTED}
    text = "\n".join(d.message for d in errors)
    for rid in [
        "unscannable",
        "evasive-mime",
        "smuggling",
        "auto-run-macros",
        "encrypted-archive",
        "evasive-name",
        "contained-executable",
        "executable-content",
        "type-mismatch",
        "sircam-body",
        "partner-executable",
    ]:
        assert f"rule {rid} (line {policy.rule(rid).line})" in text
    golden = GOLDEN / "baseline.strict.error"
    if UPDATE:
        golden.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == golden.read_text(encoding="utf-8")


# ---- support table: policy line -> a fragment of the output, or Unsupported -----------------------
TABLE: list[tuple[str, str | type[Unsupported]]] = [
    ('block attachment "*.pif"', r"\.pif)(?<![. ])[. ]*\z"),
    ('block attachment extension in ["exe"]', "(?:exe)"),
    ('block attachment double extension in ["bat"]', "(?:bat)"),
    ('block attachment declared type "application/x-msdownload"', "$mime_content_type"),
    ('block attachment (not name matches "*.txt")', "$mime_content_disposition"),
    ('allow sender in ["a@example.org"]', "match_address{$sender_address}"),
    ('block recipient in ["example.com"]', "forany{<, $recipients}"),
    ('block subject contains "I send you"', "$h_subject:"),
    ('tag "X-Checked: yes" when attachment "*.zip"', "add_header = X-Checked: yes"),
    ('discard attachment "*.scr"', "discard "),
    ('quarantine attachment "*.pif"', Unsupported),
    ('strip attachment "*.hta"', Unsupported),
    ("block attachment type executable", Unsupported),
    ('block attachment archive contains extension in ["exe"]', Unsupported),
    ("block attachment archive encrypted", Unsupported),
    ("block attachment size > 10MB", Unsupported),
    ("block attachment evasive name", Unsupported),
    ('block body contains "x"', Unsupported),
    ('block header "X-Mailer" contains "x"', Unsupported),
]


@pytest.mark.parametrize(("line", "want"), TABLE)
def test_support_table(line: str, want: str | type[Unsupported]) -> None:
    check_support(export(line + "\n"), want)


def test_approximate_strip_freezes_and_reports() -> None:
    result = export('strip attachment "*.hta"\n', approximate=True)
    assert result.ok
    assert "control = freeze/no_tell" in (result.files["mime.acl"] + result.files["data.acl"])
    whats = [loss.what for loss in result.losses if loss.rule != "*"]
    assert any("cannot remove single attachments" in w for w in whats)
    assert any("no quarantine" in w for w in whats)
    assert "Loss report" in result.files["macros.conf"]


def test_approximate_widens_block_and_narrows_allow() -> None:
    text = (
        'allow attachment ("*.exe" and type executable)\n'
        'block attachment ("*.exe" and size > 1MB)\n'
    )
    result = export(text, approximate=True)
    acl = result.files["mime.acl"] + result.files["data.acl"]
    assert result.ok
    # the allow rule lost its only attachment test that holds: it is left out
    assert "action=allow\n" in acl and acl.count("action=") == 2
    assert "action=block" in acl
    assert all(loss.sound for loss in result.losses if loss.rule != "*")


# ---- escaping -----------------------------------------------------------------------------------
def test_control_characters_are_refused() -> None:
    result = export('block attachment "*.pif" reason "bell\x07 begin acl"\n')
    assert not result.ok and not result.files
    assert any(d.code == E_UNSAFE and "line 1" in d.message for d in result.diagnostics)


def test_reason_is_escaped_for_expansion() -> None:
    result = export('block attachment "*.pif" reason "cost ${run{/bin/sh}} \\\\N"\n')
    assert result.ok
    line = next(
        ln
        for ln in (result.files["mime.acl"] + result.files["data.acl"]).splitlines()
        if "message =" in ln
    )
    assert "${" not in line and "\\x24\\x7brun\\x7b/bin/sh\\x7d\\x7d \\x5cN" in line


@pytest.mark.parametrize(
    "entry",
    [
        "^.*",
        ":",
        "!x@y.org",
        "+local_domains",
        "*",
        "lsearch;/etc/passwd",
        "a;b@x.org",
        "\\N@x.org",
        "${run{/bin/true}}@x.org",
    ],
)
def test_address_entries_cannot_change_meaning(entry: str) -> None:
    try:
        result = export(f'allow sender in [{quote(entry)}]\nblock attachment "*.pif"\n')
    except PolicyError as exc:  # the language refuses what no address can hold
        assert "address" in str(exc)
        return
    if not result.ok:  # an entry that is not a valid glob is refused with the rule named
        assert any("rule" in d.message for d in result.diagnostics)
        return
    main = result.files["macros.conf"]
    items = next(ln for ln in main.splitlines() if ln.startswith("addresslist"))
    # one anchored regex item (it starts with '^': else Exim reads a literal), whatever
    # the entry held
    assert items.count("\\N") == 2 and " ; " not in items and "<; \\N^(?i)\\A" in items


# ---- the real Exim --------------------------------------------------------------------------------
def _conf(result) -> EximRunner:  # type: ignore[no-untyped-def]
    return EximRunner(result, "/tmp", exim=EXIM)


@needs_exim
@pytest.mark.parametrize("policy", ["sircam-2001", "baseline"])
def test_exim_accepts_the_golden_config(policy: str) -> None:
    result = Exim(
        loader.load_policy(str(POLICIES / f"{policy}.policy"), lint=True), approximate=True
    ).export()
    runner = _conf(result)
    try:
        assert runner.check() is None
    finally:
        runner.close()


@needs_exim
@pytest.mark.skipif(not SAMPLES.is_dir(), reason="corpus/samples not present")
@pytest.mark.parametrize(("policy", "approximate"), [("sircam-2001", False), ("baseline", True)])
def test_verify_on_sample_corpus(policy: str, approximate: bool) -> None:
    exporter = Exim(
        loader.load_policy(str(POLICIES / f"{policy}.policy"), lint=True), approximate=approximate
    )
    result = exporter.export()
    rows, unreadable = compare(exporter, result, [str(SAMPLES)])
    assert rows and unexplained(rows) == [], render("exim", rows, unreadable)
    assert [r for r in rows if r.target == "error"] == []


@needs_exim
def test_verify_sees_first_rule_across_parts() -> None:
    """allow *.exe before block *.pif: Exim must allow [x.pif, y.exe] like the policy."""
    result = export('allow attachment "*.exe"\nblock attachment "*.pif"\n')
    runner = _conf(result)
    msg = (
        b"From: a@example.net\nTo: b@example.com\nSubject: t\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\nhi\n'
        b'--B\nContent-Type: application/octet-stream; name="x.pif"\n\nAA\n'
        b'--B\nContent-Type: application/octet-stream; name="y.exe"\n\nAA\n--B--\n'
    )
    try:
        assert runner.check() is None
        verdict = runner.run(msg, "a@example.net", ("b@example.com",))
        assert verdict.action == "allow" and verdict.rule is not None
        alone = msg.replace(b'name="y.exe"', b'name="y.txt"')
        assert runner.run(alone, "a@example.net", ("b@example.com",)).action == "block"
    finally:
        runner.close()


def _be(conf: str, expr: str) -> str:
    assert EXIM is not None
    # on stdin: an -be argument is limited to 256 bytes
    p = subprocess.run(
        [EXIM, "-C", conf, "-be"],
        input=expr.encode("utf-8") + b"\n",
        capture_output=True,
        timeout=30,
        check=False,
    )
    return p.stdout.decode("utf-8", "replace").replace(">", "").strip()


_name_chars = st.characters(
    blacklist_categories=("Cc", "Cs"), blacklist_characters="\x85\u2028\u2029"
)


@needs_exim
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.text(_name_chars, min_size=1, max_size=12), reason=st.text(_name_chars, max_size=20))
def test_literal_name_rule_matches_exactly_that_name(name: str, reason: str) -> None:
    glob = globs.escape(name)
    text = f"block attachment name matches {quote(glob)} reason {quote(reason)}\n"
    try:
        pol = loader.load_text(text)
    except Exception:  # noqa: BLE001 a reason or name the language itself refuses
        return
    result = Exim(pol).export()
    assert result.ok, [d.message for d in result.diagnostics]
    runner = _conf(result)
    try:
        assert runner.check() is None
        cond = next(
            ln
            for ln in (result.files["mime.acl"] + result.files["data.acl"]).splitlines()
            if "match{$mime_filename}" in ln
        )
        regex = re.search(r"match\{\$mime_filename\}\{\\N(.*?)\\N\}", cond)
        assert regex is not None, cond
        regex = regex.group(1)
        for candidate in (name, name + "x", "x" + name, name.upper(), name + ". ", name[:-1]):
            if not candidate or unicodedata.normalize("NFC", candidate) != candidate:
                continue  # Exim does no NFC: a stated limit ("rfc2047-charset")
            want = globs.match(glob, names.normalize(candidate))
            if "\\" in candidate or "}" in candidate or "{" in candidate or "$" in candidate:
                continue  # not expressible as an -be literal without another escape layer
            got = _be(
                runner.conf, f"${{if match{{\\N{candidate}\\N}}{{\\N{regex}\\N}}{{yes}}{{no}}}}"
            )
            assert got == ("yes" if want else "no"), (candidate, regex)
    finally:
        runner.close()


# ---- sender and recipient lists under exim -bh ------------------------------------------------
_ENVELOPE_POLICY = """\
list bad = ["evil.example", "mallory@example.net"]
list trusted = ["partner.example", "ci@build.example"]
list internal = ["staff.example"]
block sender in bad
block attachment "*.pif" unless sender in trusted
quarantine recipient in internal and attachment "*.zip"
"""
_SENDERS = [
    "mallory@example.net",  # listed address
    "MALLORY@Example.NET",  # case
    "x@evil.example",  # listed domain
    "x@sub.EVIL.example",  # subdomain, case
    "x@notevil.example",  # a suffix that is not a subdomain
    "bob@partner.example",
    "bob@a.partner.example",
    "bob@partnerxexample",  # the dot is literal
    "CI@build.example",
    "ci@other.example",
    "",  # the null sender
]


def _with_part(name: str) -> bytes:
    return (
        b"From: a@example.net\nTo: b@example.com\nSubject: t\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\nhi\n'
        b"--B\nContent-Type: application/octet-stream\n"
        b'Content-Disposition: attachment; filename="' + name.encode() + b'"\n\nAA\n--B--\n'
    )


@needs_exim
@pytest.mark.parametrize("sender", _SENDERS)
@pytest.mark.parametrize("name", ["a.txt", "a.pif", "a.zip"])
@pytest.mark.parametrize("rcpt", ["u@example.com", "u@Staff.Example", "u@x.staff.example"])
def test_envelope_lists_decide_like_the_engine(sender: str, name: str, rcpt: str) -> None:
    """block sender in L and unless sender in L really match under exim -bh: listed,
    unlisted, subdomain and case, as the engine reads them."""
    from mailpolicy.corpus.mime import parse_message
    from mailpolicy.policy.evaluate import evaluate

    pol = loader.load_text(_ENVELOPE_POLICY)
    result = Exim(pol, approximate=True).export()
    runner = _conf(result)
    data = _with_part(name)
    try:
        assert runner.check() is None
        got = runner.run(data, sender or None, (rcpt,))
    finally:
        runner.close()
    msg = parse_message(data)
    msg.sender, msg.recipients = sender or None, (rcpt,)
    want = evaluate(pol, msg, trace=False)
    assert (got.action, got.rule) == (want.action, want.rule), (sender, name, rcpt, got)


@needs_exim
@pytest.mark.parametrize(
    ("disposition", "want"),
    [
        (b'filename="evil.ex\\e"', "block"),  # Exim keeps the backslash: evil.ex\e
        (b'filename="evil.e\\x\\e"', "block"),
        (b'filename="a\\\\b.exe"', "block"),
        (b"filename*=UTF-8''a%5Cb.exe", "block"),
        (b'filename="evil.ex\\e.txt"', "allow"),
        (b'filename="evil.txt"', "allow"),
    ],
)
def test_quoted_pairs_are_undone(disposition: bytes, want: str) -> None:
    """The engine reads "evil.ex\\e" as evil.exe; the export tests the name Exim gives
    and the name with its quoted-pairs undone, so Exim blocks it too."""
    result = export('block attachment extension in ["exe"]\n')
    runner = _conf(result)
    data = _with_part("x").replace(b'filename="x"', disposition)
    try:
        assert runner.check() is None
        assert runner.run(data, "a@example.net", ("b@example.com",)).action == want
    finally:
        runner.close()


@needs_exim
@pytest.mark.parametrize("op", [">", ">=", "<", "<=", "==", "!="])
def test_message_size_is_expressed(op: str) -> None:
    """size OP N over $message_size: the same verdict as the engine on LF messages of
    sizes around N (the stated loss covers CRLF-stored messages)."""
    from mailpolicy.corpus.mime import parse_message
    from mailpolicy.policy.evaluate import evaluate

    base = _with_part("a.txt")
    n = len(base) + 5
    pol = loader.load_text(f"block size {op} {n}\n")
    exporter = Exim(pol)
    exporter.accept = frozenset({f"{pol.rules[0].id}:message-size"})  # accepted by name
    result = exporter.export()
    assert result.ok, [d.message for d in result.diagnostics]
    assert any(x.key.endswith(":message-size") and x.acknowledged for x in result.losses)
    runner = _conf(result)
    try:
        assert runner.check() is None
        for pad in range(3, 8):
            data = base.replace(b"\nhi\n", b"\nhi" + b"x" * pad + b"\n")
            want = evaluate(pol, parse_message(data), trace=False).action
            got = runner.run(data, "a@example.net", ("b@example.com",)).action
            assert got == want, (op, len(data), n)
    finally:
        runner.close()
