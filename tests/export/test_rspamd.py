"""The rspamd target: golden files, the support table, strict failures, escaping, map regex
validity, ``rspamadm configtest -s`` and a real daemon on loopback (``--verify``).

Golden files: ``tests/export/golden/rspamd/<policy>.<mode>.<file>`` (``/`` in a file name
written as ``.``); ``MAILPOLICY_UPDATE_GOLDEN=1`` rewrites them. Tests that need rspamd skip
with the reason when it is not installed or does not start (never pass silently). The
daemon is started twice in the whole module: once for the sircam fixture, once by
``simulator.verify.compare`` for the baseline policy.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import Unsupported, check_support
from toolsupport import IN_CI, tool_missing

from mailpolicy.corpus import mime, names, readers
from mailpolicy.policy import globs, loader
from mailpolicy.policy.evaluate import evaluate
from mailpolicy.policy.export.base import E_UNSAFE, E_UNSUPPORTED
from mailpolicy.policy.export.losses import explaining
from mailpolicy.policy.export.rspamd import RspamdExporter
from mailpolicy.policy.export.rspamd_runner import RspamdRunner, find_rspamd
from mailpolicy.policy.printer import quote
from mailpolicy.simulator.verify import VerifyError, compare, render, unexplained

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policy" / "policies"
GOLDEN = Path(__file__).parent / "golden" / "rspamd"
SAMPLES = ROOT / "corpus" / "samples" / "maildir"
UPDATE = os.environ.get("MAILPOLICY_UPDATE_GOLDEN") == "1"
MISSING = find_rspamd()
needs_rspamd = pytest.mark.skipif(MISSING is not None and not IN_CI, reason=MISSING or "")


class Rspamd(RspamdExporter):
    """Strict exports in these tests accept the target-wide limits (each stated by name
    with ``--accept-loss``), so what a strict export refuses is a rule's own."""

    def export(self):  # type: ignore[no-untyped-def]
        if not self.approximate:
            probe = RspamdExporter(self.policy, approximate=True).export()
            wide = {x.key for x in probe.losses if x.rule == "*" and not x.sound}
            self.accept = self.accept | wide
        return super().export()


@pytest.fixture(autouse=True)
def _fixed_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")


def export(text: str, *, approximate: bool = False):  # type: ignore[no-untyped-def]
    return Rspamd(loader.load_text(text), approximate=approximate).export()


# ---- golden files ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy", "mode"), [("sircam-2001", "strict"), ("baseline", "approximate")]
)
def test_golden(policy: str, mode: str) -> None:
    result = Rspamd(
        loader.load_policy(str(POLICIES / f"{policy}.policy"), lint=True),
        approximate=mode == "approximate",
    ).export()
    assert result.ok, result.diagnostics
    for name, text in result.files.items():
        path = GOLDEN / f"{policy}.{mode}.{name.replace('/', '.')}"
        if UPDATE:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        assert path.exists(), f"run with MAILPOLICY_UPDATE_GOLDEN=1 to create {path.name}"
        assert text == path.read_text(encoding="utf-8"), f"{path.name} differs"


def test_output_is_deterministic_and_writes_subdirectories(tmp_path: Path) -> None:
    pol = loader.load_policy(str(POLICIES / "baseline.policy"), lint=True)
    one = Rspamd(pol, approximate=True).export()
    assert one.files == Rspamd(pol, approximate=True).export().files
    written = one.write(str(tmp_path / "out"), multi=True)
    assert (tmp_path / "out" / "force_actions.conf").is_file()
    assert any(p.endswith(".map") for p in written)


def test_baseline_strict_names_every_unsupported_rule() -> None:
    result = Rspamd(loader.load_policy(str(POLICIES / "baseline.policy"), lint=True)).export()
    assert not result.ok and not result.files
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert {d.code for d in errors} == {E_UNSUPPORTED}
    text = "\n".join(d.message for d in errors)
    for rid in (
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
    ):
        assert re.search(rf"rule {rid} \(line \d+\)", text), rid
    golden = GOLDEN / "baseline.strict.error"
    if UPDATE:
        golden.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == golden.read_text(encoding="utf-8")


# ---- support table ------------------------------------------------------------------------------
TABLE: list[tuple[str, str | type[Unsupported]]] = [
    ('block attachment "*.pif"', 'type = "filename"; skip_archives = true; skip_detected = true'),
    ('block attachment extension in ["exe"]', "(?:exe)"),
    ('block attachment double extension in ["bat"]', "(?:bat)"),
    ('block attachment ("*.exe" or "*.scr")', "MAILPOLICY_T1 | MAILPOLICY_T2"),
    ('block attachment ("a*" and "*.exe")', "(?="),
    (
        'block attachment "*.pif" unless sender in ["a@example.org"]',
        'type = "from"; filter = "email:addr"',
    ),
    ('block recipient in ["example.com"] and attachment "*.exe"', 'type = "rcpt"'),
    ('quarantine attachment "*.pif"', 'action = "quarantine"'),
    ('discard attachment "*.scr"', 'action = "discard"'),
    ('allow attachment "*.txt"\nblock attachment "*.pif"', "!(MAILPOLICY_T1)"),
    ('tag "X-Checked: yes" when attachment "*.zip"', Unsupported),
    ('strip attachment "*.hta"', Unsupported),
    ("block attachment type executable", Unsupported),
    ('block attachment archive contains extension in ["exe"]', Unsupported),
    ("block attachment archive encrypted", Unsupported),
    ("block attachment size > 10MB", Unsupported),
    ("block attachment evasive name", Unsupported),
    ('block attachment (not "*.txt")', Unsupported),
    ('block body contains "x"', Unsupported),
    ('block subject contains "x"', Unsupported),
]


@pytest.mark.parametrize(("line", "want"), TABLE)
def test_support_table(line: str, want: str | type[Unsupported]) -> None:
    check_support(export(line + "\n"), want)


def test_first_match_guards_every_later_rule() -> None:
    result = export(
        'allow attachment "*.txt"\nblock attachment "*.pif"\nquarantine attachment "*.zip"\n'
    )
    fa = result.files["force_actions.conf"]
    assert 'expression = "(MAILPOLICY_T3) & !(MAILPOLICY_T1) & !(MAILPOLICY_T2)"' in fa
    # allow forces no action, yielding to a stop rspamd reaches on its own
    r1 = fa[fa.index("MAILPOLICY_R1 {") : fa.index("MAILPOLICY_R2 {")]
    assert 'action = "no action";' in r1
    assert 'honor_action = ["reject", "soft reject", "quarantine", "discard"];' in r1
    r3 = fa[fa.index("MAILPOLICY_R3 {") :]
    assert 'action = "quarantine";' in r3 and 'honor_action = ["reject"];' in r3
    assert result.meta["forces"]["FORCE_ACTION_MAILPOLICY_R1"][1] == "allow"


def test_the_default_allow_forces_nothing_and_tag_is_the_least_action() -> None:
    result = export('tag "X-Zip: yes" when attachment "*.zip"\n', approximate=True)
    fa = result.files["force_actions.conf"]
    assert fa.count("MAILPOLICY_R") == 1
    assert 'action = "add header";' in fa and "least = true;" in fa
    assert "honor_action" not in fa


@pytest.mark.parametrize(
    ("policy", "declared"),
    [
        ('block attachment "*.pif"\n', ""),
        ('quarantine attachment "*.pif"\n', "quarantine"),
        ('discard attachment "*.pif"\nquarantine attachment "*.scr"\n', "quarantine discard"),
        ('block attachment "*.pif"\ndefault quarantine\n', "quarantine"),
    ],
)
def test_no_site_file_is_written_and_actions_only_when_needed(policy: str, declared: str) -> None:
    result = export(policy)
    assert result.ok, result.diagnostics
    # the export's own directory only: no local.d/override.d file, no mime_types switch
    assert all("/" not in name for name in result.files)
    assert "mime_types" not in "".join(result.files)
    assert ("actions.conf" in result.files) == bool(declared)
    if declared:
        body = [ln for ln in result.files["actions.conf"].splitlines() if not ln.startswith("#")]
        assert body == [f'{a} {{ flags = ["no_threshold"]; }}' for a in declared.split()]
    header = result.files["multimap.conf"]
    assert ("local.d/actions.conf" in header) == bool(declared)
    for site in ("multimap.conf", "force_actions.conf"):
        assert f'"$LOCAL_CONFDIR/mailpolicy/{site}"\' >> /etc/rspamd/local.d/{site}' in header
    for words in ("systemctl reload rspamd", "smtpd_milters = inet:localhost:11332", "Undo"):
        assert words in header


def test_own_scoring_is_a_sound_target_wide_limit() -> None:
    result = export('block attachment "*.pif"\n')
    own = [x for x in result.losses if x.key == "rspamd:own-scoring"]
    assert len(own) == 1 and own[0].sound and own[0].rule == "*"


@pytest.mark.parametrize(
    ("action", "symbols", "want"),
    [
        ("reject", ["FORCE_ACTION_MAILPOLICY_R2"], ("block", "b")),
        ("no action", ["FORCE_ACTION_MAILPOLICY_R1"], ("allow", "a")),
        ("add header", ["FORCE_ACTION_MAILPOLICY_R3"], ("tag", "t")),
        ("rewrite subject", ["FORCE_ACTION_MAILPOLICY_R3"], ("tag", "t")),
        ("reject", ["FORCE_ACTION_MAILPOLICY_R3"], ("block", None)),  # least: rspamd's reject
        ("soft reject", [], ("block", None)),
        ("quarantine", [], ("quarantine", None)),
        ("add header", [], ("allow", None)),
        ("greylist", [], ("allow", None)),
        ("no action", ["FORCE_ACTION_MAILPOLICY_R2"], ("error", "b")),
    ],
)
def test_parse_reads_the_forced_rule_else_rspamds_own_action(
    action: str, symbols: list[str], want: tuple[str, str | None]
) -> None:
    result = export(
        'allow attachment "*.txt"\nblock attachment "*.pif"\ntag "X: y" when attachment "*.zip"\n',
        approximate=True,
    )
    result.meta["forces"] = {
        "FORCE_ACTION_MAILPOLICY_R1": ("a", "allow"),
        "FORCE_ACTION_MAILPOLICY_R2": ("b", "block"),
        "FORCE_ACTION_MAILPOLICY_R3": ("t", "tag"),
    }
    runner = RspamdRunner(result)
    try:
        got = runner.parse({"action": action, "score": 1.0, "symbols": dict.fromkeys(symbols, {})})
    finally:
        runner.close()
    assert (got.action, got.rule) == want, got.detail


def test_approximate_archive_and_type_are_reported_unsound() -> None:
    result = export(
        'block attachment archive contains extension in ["exe"]\n'
        "block attachment type executable\n",
        approximate=True,
    )
    assert result.ok
    rules = [loss for loss in result.losses if loss.rule != "*"]
    assert len(rules) == 2 and not any(loss.sound for loss in rules)
    assert "skip_detected = true;" in result.files["multimap.conf"]
    assert "Loss report" in result.files["force_actions.conf"]


# ---- escaping -----------------------------------------------------------------------------------
def test_control_characters_are_refused() -> None:
    result = export('block attachment "*.pif" reason "bell\x07 x"\n')
    assert not result.ok and not result.files
    assert any(d.code == E_UNSAFE and "line 1" in d.message for d in result.diagnostics)


def test_reason_cannot_break_out_of_ucl_or_selectors() -> None:
    result = export('block attachment "*.pif" reason "a\\"; action = \\"no action\\"; ${x} \\\\"\n')
    assert result.ok
    line = next(ln for ln in result.files["force_actions.conf"].splitlines() if "message =" in ln)
    assert line.count('"') == 2 and "${" not in line and "\\" not in line


def _map_lines(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        ln
        for name, text in result.files.items()
        if name.endswith(".map")
        for ln in text.splitlines()
        if not ln.startswith("#")
    ]


def _py(line: str) -> re.Pattern[bytes]:
    assert line.startswith("/") and line.endswith("/")
    return re.compile(line[1:-1].replace(r"\z", r"\Z").encode("ascii"))


_name_chars = st.characters(
    blacklist_categories=("Cc", "Cs"), blacklist_characters="\x85\u2028\u2029"
)


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    name=st.text(_name_chars, min_size=1, max_size=12),
    entry=st.text(_name_chars, min_size=1, max_size=12),
    reason=st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
)
def test_literal_name_rule_matches_exactly_that_name(name: str, entry: str, reason: str) -> None:
    glob = globs.escape(name)
    text = (
        f"block attachment name matches {quote(glob)} unless sender in [{quote(entry)}] "
        f"reason {quote(reason)}\n"
    )
    try:
        pol = loader.load_text(text)
    except Exception:  # noqa: BLE001 a value the language itself refuses
        return
    result = Rspamd(pol).export()
    if not result.ok:  # only a control character or an invalid address glob may refuse
        assert all(
            d.code in (E_UNSAFE, E_UNSUPPORTED) and "line 1" in d.message
            for d in result.diagnostics
        )
        return
    lines = _map_lines(result)
    assert all(_py(ln) for ln in lines)  # every map line compiles (rspamd would drop it)
    rx = _py(
        next(
            ln
            for name_, t in result.files.items()
            if name_.endswith("t1.map")
            for ln in t.splitlines()
            if not ln.startswith("#")
        )
    )
    for cand in (name, name + "x", "x" + name, name.upper(), name + ". ", name[:-1]):
        if not cand:
            continue
        want = globs.match(glob, names.normalize(cand))
        assert bool(rx.search(cand.encode("utf-8"))) == want, (cand, rx.pattern)


# ---- the real rspamd ------------------------------------------------------------------------------
def test_configtest_accepts_the_exports() -> None:
    if MISSING:
        tool_missing(MISSING)
    for pol, approximate in (("sircam-2001", False), ("baseline", True)):
        result = Rspamd(
            loader.load_policy(str(POLICIES / f"{pol}.policy"), lint=True), approximate=approximate
        ).export()
        runner = RspamdRunner(result)
        try:
            assert runner.configtest() is None
        finally:
            runner.close()
    every_action = export(
        'allow attachment "*.txt"\ndiscard attachment "*.scr"\ntag "X: y" when attachment '
        '"*.zip"\nquarantine attachment "*.pif"\nblock attachment "*.exe"\n',
        approximate=True,
    )
    runner = RspamdRunner(every_action)
    try:
        assert runner.configtest() is None
    finally:
        runner.close()


def test_configtest_refuses_a_broken_expression() -> None:
    if MISSING:
        tool_missing(MISSING)
    result = export('block attachment "*.pif"\n')
    result.files["force_actions.conf"] = result.files["force_actions.conf"].replace(
        "MAILPOLICY_T1", "MAILPOLICY_TX"
    )
    runner = RspamdRunner(result)
    try:
        assert runner.configtest() is not None
    finally:
        runner.close()


def test_check_refuses_a_map_line_rspamd_cannot_compile() -> None:
    # configtest never reads maps, and the daemon drops such a line and starts anyway
    if MISSING:
        tool_missing(MISSING)
    result = export('block attachment "*.pif"\n')
    assert result.ok
    runner = RspamdRunner(result)
    try:
        assert runner.check() is None
    finally:
        runner.close()
    result.files["mailpolicy_t1.map"] += "/\\.(pif|bat$/i\n"
    runner = RspamdRunner(result)
    try:
        problem = runner.check()
    finally:
        runner.close()
    assert problem is not None and "mailpolicy_t1.map:" in problem and "cannot compile" in problem


@pytest.fixture(scope="module")
def sircam() -> Iterator[tuple[RspamdExporter, RspamdRunner]]:
    if MISSING:
        tool_missing(MISSING)
    exporter = Rspamd(loader.load_policy(str(POLICIES / "sircam-2001.policy"), lint=True))
    result = exporter.export()
    runner = RspamdRunner(result)
    try:
        assert runner.check() is None  # rspamadm configtest -s
        problem = runner.start()
        if problem:
            if IN_CI:
                pytest.fail(f"rspamd did not start: {problem}")
            pytest.skip(f"rspamd did not start: {problem}")
        yield exporter, runner
    finally:
        runner.close()


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="corpus/samples not present")
def test_sample_corpus_agrees_or_loss_explains(sircam: tuple[RspamdExporter, RspamdRunner]) -> None:
    exporter, runner = sircam
    rows = 0
    for item in readers.iter_raw([SAMPLES]):
        assert isinstance(item, readers.RawMessage)
        msg = mime.parse_message(item.data)
        engine = evaluate(exporter.policy, msg, trace=False)
        target = runner.run(item.data, msg.sender, tuple(msg.recipients))
        rows += 1
        assert target.action != "error", target.detail
        if target.action != engine.action:
            why = explaining(
                runner.result.losses,
                msg,
                engine.rule,
                engine.action,
                engine.attachment,
                target.rule,
                target.action,
            )
            assert why, (item.path, engine, target)
        elif engine.action == "block":
            assert target.rule == engine.rule
    assert rows >= 50


_MSG = (
    "From: a@example.net\nTo: b@example.com\nSubject: t\nMIME-Version: 1.0\n"
    'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\nhi\n'
    "--B\nContent-Type: application/octet-stream\nContent-Disposition: attachment; {}\n"
    "Content-Transfer-Encoding: base64\n\nQUFBQQ==\n--B--\n"
)


@pytest.mark.parametrize(
    "param",
    [
        'filename="evil.PIF.  "',
        'filename="dir/sub\\\\x.bat"',
        "filename*=iso-8859-1''caf%E9.bat",
        'filename="report.pdf"',
        'filename="a.b.c"',
        'filename="archive.2001.txt"',
        'filename="x.pif.txt"',
        'filename="dir.pif/readme"',
    ],
)
def test_real_rspamd_on_crafted_names(
    sircam: tuple[RspamdExporter, RspamdRunner], param: str
) -> None:
    exporter, runner = sircam
    data = _MSG.format(param).encode("latin-1")
    engine = evaluate(exporter.policy, mime.parse_message(data), trace=False)
    got = runner.run(data, "a@example.net", ("b@example.com",))
    assert (got.action, got.rule) == (engine.action, engine.rule), got.detail


@needs_rspamd
@pytest.mark.skipif(not SAMPLES.is_dir(), reason="corpus/samples not present")
def test_verify_cli_path_on_baseline() -> None:
    exporter = Rspamd(
        loader.load_policy(str(POLICIES / "baseline.policy"), lint=True), approximate=True
    )
    result = exporter.export()
    try:
        rows, unreadable = compare(exporter, result, [str(SAMPLES)])
    except VerifyError as exc:
        if "did not" not in str(exc):
            raise
        pytest.skip(f"rspamd did not start: {exc}")
    assert rows and unexplained(rows) == [], render("rspamd", rows, unreadable)


def test_rspamd_version_is_3() -> None:
    if MISSING:
        tool_missing(MISSING)
    p = subprocess.run(["rspamd", "--version"], capture_output=True, text=True, check=False)
    assert re.search(r"version 3\.", p.stdout), p.stdout
