"""The export framework: targets table, strict/approximate, losses, escaping, goldens."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from support import accepting

from mailpolicy.corpus.mime import parse_message
from mailpolicy.policy import ir, loader
from mailpolicy.policy.diagnostics import PolicyError
from mailpolicy.policy.export import TARGETS, export, when
from mailpolicy.policy.export.base import (
    E_ACCEPT,
    E_UNSAFE,
    E_UNSOUND,
    E_UNSUPPORTED,
    Exporter,
    Limit,
    generation_date,
)
from mailpolicy.simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policy" / "policies"
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("MAILPOLICY_UPDATE_GOLDEN") == "1"


class Unsupported:
    """Marker: the target cannot express the construct (``--strict`` fails)."""


#: construct -> expected per target: True (exact), Unsupported
SUPPORT: list[tuple[str, dict[str, object]]] = [
    ('block attachment "*.pif"', {"sieve": True, "json": True}),
    ('block attachment extension in ["exe"]', {"sieve": True, "json": True}),
    ('block attachment double extension in ["exe"]', {"sieve": True, "json": True}),
    (
        "block attachment type executable",
        {"sieve": Unsupported, "postfix": Unsupported, "json": True},
    ),
    (
        "block attachment type mismatch",
        {"sieve": Unsupported, "postfix": Unsupported, "json": True},
    ),
    (
        'block attachment archive contains extension in ["exe"]',
        {"sieve": Unsupported, "postfix": Unsupported, "json": True},
    ),
    ("quarantine attachment archive encrypted", {"sieve": Unsupported, "postfix": Unsupported}),
    (
        "quarantine attachment archive exceeds limits",
        {"sieve": Unsupported, "postfix": Unsupported},
    ),
    ("block attachment evasive name", {"sieve": Unsupported, "postfix": Unsupported}),
    ("block attachment size > 1MB", {"sieve": Unsupported, "postfix": Unsupported}),
    ('quarantine body contains "advice"', {"sieve": True, "postfix": Unsupported}),
    ('quarantine subject contains "how are you"', {"sieve": True, "postfix": Unsupported}),
    ('quarantine header "X-Mailer" matches "Sir*"', {"sieve": True, "postfix": Unsupported}),
    ('block sender matches "*@evil.example"', {"sieve": True, "postfix": Unsupported}),
    ('strip attachment extension in ["hta"]', {"sieve": Unsupported, "postfix": Unsupported}),
    ('tag "X-Seen: yes" when subject contains "x"', {"sieve": True, "postfix": Unsupported}),
    ('discard subject contains "x"', {"sieve": True, "postfix": Unsupported}),
    (
        'block attachment (extension in ["exe"] and size > 1MB)',
        {"sieve": Unsupported, "postfix": Unsupported},
    ),
]


def policy(text: str, name: str = "t"):  # type: ignore[no-untyped-def]
    return loader.load_text(f'policy "{name}"\n{text}\n', "t.policy")


@pytest.mark.parametrize(("rule", "want"), SUPPORT, ids=[r for r, _ in SUPPORT])
def test_support_table(rule: str, want: dict[str, object]) -> None:
    p = policy(rule)
    for target, expected in want.items():
        strict = export(p, target)
        if expected is Unsupported:
            assert not strict.ok, (target, rule)
            codes = {d.code for d in strict.diagnostics}
            assert E_UNSUPPORTED in codes and codes <= {E_UNSUPPORTED, E_UNSOUND}
            assert all("line 2" in d.message for d in strict.diagnostics if d.code == E_UNSUPPORTED)
            approx = export(p, target, approximate=True)
            assert approx.ok and approx.losses, (target, rule)
        else:
            strict = accepting(p, target)
            assert strict.ok, (target, rule, [d.message for d in strict.diagnostics])


def test_targets_table_is_explicit() -> None:
    assert {"sieve", "postfix", "json"} <= set(TARGETS)
    for name, cls in TARGETS.items():
        assert issubclass(cls, Exporter) and cls.target == name and cls.filenames


def test_strict_error_names_rule_line_and_what() -> None:
    p = policy('block attachment "*.pif"\nblock attachment type executable as "exe-content"')
    r = export(p, "sieve")
    assert not r.ok and r.files == {}
    (d,) = [d for d in r.diagnostics if d.code != E_UNSOUND]
    assert (d.code, d.severity, d.span.line) == (E_UNSUPPORTED, "error", 3)
    assert "rule exe-content (line 3)" in d.message and "true type" in d.message


def test_approximate_drops_unexpressible_block_and_says_unsound() -> None:
    p = policy('block attachment type executable as "exe-content"\nblock attachment "*.pif"')
    r = export(p, "sieve", approximate=True)
    assert r.ok
    (loss,) = [x for x in r.losses if x.rule == "exe-content"]
    assert not loss.sound and loss.line == 2
    assert "exe-content" in r.stdout_text() and "UNSOUND" in r.stdout_text()


def test_approximate_dropping_an_unless_is_sound() -> None:
    p = policy(
        'list t = ["a@b.example"]\nblock attachment "*.pif" unless sender in t as "r"'
        '\nblock attachment "*.exe" unless sender in t and subject contains "x" as "s"'
    )
    r = export(p, "postfix", approximate=True)
    assert r.ok
    s_losses = [x for x in r.losses if x.rule == "s"]
    assert s_losses and all(x.sound for x in s_losses)
    table = r.files["mime_header_checks_exempt.pcre"]
    assert "rule s]" in table and "rule r]" not in table


def test_approximate_narrows_allow_rules() -> None:
    p = policy('allow attachment type executable as "a"\nblock attachment "*.exe" as "b"')
    r = export(p, "sieve", approximate=True)
    assert r.ok and [x.sound for x in r.losses if x.rule == "a"] == [True]
    assert "# rule a (line 2): allow" not in r.stdout_text()


@pytest.mark.parametrize("target", ["sieve", "postfix"])
@pytest.mark.parametrize("bad", ["a\nb", "x\r", "nul\x00", "del\x7f", "ls\u2028"])
def test_control_characters_are_rejected_with_the_rule(target: str, bad: str) -> None:
    quoted = bad.replace("\\", "\\\\")
    for text in (
        f'block attachment "*.pif" reason "{quoted}" as "r1"',
        f'block attachment name in ["{quoted}"] as "r1"',
    ):
        try:
            p = policy(text)
        except PolicyError:  # the parser refused it first: also fine
            continue
        r = export(p, target, approximate=True)
        assert not r.ok
        assert any(d.code == E_UNSAFE and "rule r1" in d.message for d in r.diagnostics)


def test_header_date_is_source_date_epoch_else_mtime_else_1970(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "dated.policy"
    path.write_text('policy "dated"\nblock attachment "*.pif"\n', encoding="utf-8")
    os.utime(path, (0, 1_000_000_000))  # 2001-09-09 01:46:40 UTC
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "995240220")  # 2001-07-15 23:37:00 UTC
    assert generation_date(str(path)) == "2001-07-15"
    assert generation_date("/nonexistent") == "2001-07-15"
    assert (
        "# date:    2001-07-15\n"
        in accepting(loader.load_policy(str(path), lint=True), "sieve").stdout_text()
    )
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "not a number")
    assert generation_date(str(path)) == "2001-09-09"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert generation_date(str(path)) == "2001-09-09"
    assert (
        "# date:    2001-09-09\n"
        in accepting(loader.load_policy(str(path), lint=True), "sieve").stdout_text()
    )
    assert generation_date(str(tmp_path / "missing.policy")) == "1970-01-01"


def test_json_target_is_the_ir() -> None:
    p = loader.load_policy(str(POLICIES / "baseline.policy"), lint=True)
    assert export(p, "json").stdout_text() == ir.dumps(p)


CASES = [
    ("sircam-2001", "sieve", False),
    ("baseline", "sieve", True),
    ("sircam-2001", "postfix", True),
    ("baseline", "postfix", True),
    ("sircam-2001", "json", False),
    ("baseline", "json", False),
]


@pytest.mark.parametrize(("name", "target", "approximate"), CASES)
def test_golden(name: str, target: str, approximate: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "995240220")
    p = loader.load_policy(
        os.path.relpath(POLICIES / f"{name}.policy", ROOT)
        if Path.cwd() == ROOT
        else str(POLICIES / f"{name}.policy"),
        lint=True,
    )
    r = accepting(p, target, approximate)
    assert r.ok, [d.message for d in r.diagnostics]
    text = r.stdout_text()
    if target == "json":  # the IR carries the path it was loaded from
        import json

        doc = json.loads(text)
        doc["source"]["path"] = f"{name}.policy"
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    golden = GOLDEN / f"{name}.{target}"
    if UPDATE or not golden.exists():
        golden.write_text(text, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"golden file {golden.name} was missing and has been written")
    assert text == golden.read_text(encoding="utf-8")
    assert accepting(p, target, approximate).stdout_text() == r.stdout_text()


# ---- losses as conditions ---------------------------------------------------------------------
def test_every_loss_has_a_stable_key_and_registered_predicates() -> None:
    p = loader.load_policy(str(POLICIES / "baseline.policy"), lint=True)
    for target in ("sieve", "postfix", "exim", "rspamd", "amavis"):
        r = export(p, target, approximate=True)
        keys = [x.key for x in r.losses]
        assert len(keys) == len(set(keys)), target
        for x in r.losses:
            owner = target if x.rule == "*" else x.rule
            assert x.key.startswith(f"{owner}:"), x
            assert x.when and all(k in when.PREDICATES for k in x.when), x
        assert export(p, target, approximate=True).losses == r.losses  # deterministic


def test_a_relaxed_node_names_the_facts_it_reads() -> None:
    p = policy(
        'block attachment "*.pif" and attachment type executable as "t"\n'
        'block attachment archive contains extension in ["exe"] as "a"\n'
        'block attachment evasive name as "e"'
    )
    r = export(p, "sieve", approximate=True)
    by_key = {x.key: x for x in r.losses}
    assert by_key["t:type-class"].when == ("true-type",)
    assert by_key["a:left-out"].when == ("always",) and not by_key["a:left-out"].sound
    assert by_key["e:left-out"].when == ("always",)
    assert by_key["sieve:embedded"].when == ("embedded-part",)


def test_a_limit_must_name_registered_facts() -> None:
    with pytest.raises(KeyError, match="names no predicate"):
        Limit("my-own-limit", "what", "how")
    with pytest.raises(KeyError, match="no predicate 'nonsense'"):
        Limit("x", "what", "how", when="nonsense")
    key = when.register("test-fact", lambda msg, att: att is not None, replace=True)
    assert Limit("x", "what", "how", when=key).loss("sieve").key == "sieve:x"
    with pytest.raises(ValueError, match="already registered"):
        when.register("always", lambda msg, att: False)


NAMES = [
    (b'filename="=?UTF-8?B?ZXZpbC5leGU=?="', {"encoded-name"}),
    (b"filename*=UTF-8''evil%2Eexe", {"encoded-name"}),
    (b'filename="evil.ex\\e"', {"quoted-pair"}),
    (b'filename="evil.exe."', {"trailing-dot"}),
    ('filename="evil\u00a0.exe"'.encode(), {"unicode-space", "non-ascii-name", "raw-8bit-name"}),
    ('filename="\u8acb\u6c42.exe"'.encode("shift_jis"), {"raw-8bit-name", "non-ascii-name"}),
    (b'filename="a.txt"; filename="b.exe"', {"several-filenames", "duplicate-header"}),
    (
        'filename="evil.\u0435\u0445\u0435"'.encode(),
        {"homoglyph", "non-ascii-name", "raw-8bit-name"},
    ),
]
NAME_FACTS = {
    "encoded-name",
    "quoted-pair",
    "trailing-dot",
    "unicode-space",
    "non-ascii-name",
    "raw-8bit-name",
    "several-filenames",
    "duplicate-header",
    "homoglyph",
    "embedded-part",
    "attached-message",
}


@pytest.mark.parametrize(("param", "facts"), NAMES, ids=[str(p) for p, _ in NAMES])
def test_name_predicates_read_the_wire_and_decoded_names(param: bytes, facts: set[str]) -> None:
    data = (
        b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
        + param
        + b"\r\n\r\nAAAA\r\n--B--\r\n"
    )
    msg = parse_message(data)
    (att,) = msg.attachments
    held = {k for k in NAME_FACTS if when.holds((k,), msg, att)}
    assert held == facts


def test_embedded_and_attached_message_predicates() -> None:
    data = (
        b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
        b"Content-Type: text/plain\r\n\r\nbegin 644 evil.exe\r\n#86)C\r\n`\r\nend\r\n--B\r\n"
        b"Content-Type: message/rfc822\r\n\r\nContent-Type: application/octet-stream; "
        b'name="x.exe"\r\n\r\nAAAA\r\n--B--\r\n'
    )
    msg = parse_message(data)
    uu, inner = msg.attachments
    assert when.holds(("embedded-part",), msg, uu) and not when.holds(
        ("embedded-part",), msg, inner
    )
    assert when.holds(("attached-message",), msg, inner)
    assert not when.holds(("attached-message",), msg, uu)
    # no deciding attachment: every attachment is asked
    assert when.holds(("embedded-part",), msg, None)
    assert not when.holds(("embedded-part",), parse_message(b"Subject: x\r\n\r\nhi\r\n"), None)


# ---- strict means strict ----------------------------------------------------------------------
NAME_RULE = 'list trusted = ["boss@example.com"]\nblock attachment extension in ["pif"] unless sender in trusted as "pif"'


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("target", ["sieve", "postfix", "exim", "rspamd", "amavis"])
def test_strict_fails_on_every_unsound_target_wide_loss(target: str) -> None:
    p = policy(NAME_RULE)
    wide = TARGETS[target].unsound_limits()
    assert {f"{target}:homoglyph", f"{target}:ambiguous-mime"} <= wide
    r = export(p, target)
    assert not r.ok and r.files == {}
    unsound = [d for d in r.diagnostics if d.code == E_UNSOUND]
    assert {k for k in wide if any(f"[{k}]" in d.message for d in unsound)} == wide
    assert all(f"--accept-loss {d.message[1:].split(']')[0]}" in d.message for d in unsound)


def test_accepting_each_loss_by_name_exports_and_reports_it() -> None:
    p = policy(NAME_RULE)
    ex = TARGETS["sieve"](p)
    ex.accept = ex.unsound_limits()
    r = ex.export()
    assert r.ok, [d.message for d in r.diagnostics]
    text = r.stdout_text()
    assert "# accepted losses: sieve:" in text
    for key in ex.accept:
        assert f"[{key}] UNSOUND" in text
    assert all(x.acknowledged for x in r.losses if not x.sound)
    # one left out: strict fails again, naming only that one
    missing = sorted(ex.accept)[0]
    ex = TARGETS["sieve"](p)
    ex.accept = ex.unsound_limits() - {missing}
    r = ex.export()
    assert [d.message.split("]")[0] for d in r.diagnostics] == [f"[{missing}"]


def test_accepting_a_rule_loss_in_strict_mode_relaxes_only_that_node() -> None:
    p = policy('block attachment "*.pif" and attachment type executable as "t"')
    ex = TARGETS["sieve"](p)
    ex.accept = ex.unsound_limits() | {"t:type-class"}
    r = ex.export()
    assert r.ok, [d.message for d in r.diagnostics]
    (loss,) = [x for x in r.losses if x.rule == "t"]
    assert loss.key == "t:type-class" and loss.acknowledged and loss.sound


def test_an_unknown_accept_key_is_an_error() -> None:
    p = policy(NAME_RULE)
    ex = TARGETS["sieve"](p, approximate=True)
    ex.accept = frozenset({"sieve:homoglyp"})
    r = ex.export()
    assert not r.ok and r.files == {}
    (d,) = r.diagnostics
    assert d.code == E_ACCEPT and "did you mean 'sieve:homoglyph'" in d.message


def test_cli_accept_loss(tmp_path: Path) -> None:
    path = tmp_path / "t.policy"
    path.write_text(f'policy "t"\n{NAME_RULE}\n', encoding="utf-8")
    code, out, err = cli("export", str(path), "--target", "sieve")
    assert (code, out) == (1, "")
    lines = [ln for ln in err.splitlines() if "[E303]" in ln]
    assert len(lines) == len(TARGETS["sieve"].unsound_limits())
    keys = sorted(TARGETS["sieve"].unsound_limits())
    first, rest = keys[0], ",".join(keys[1:])
    code, out, err = cli(
        "export", str(path), "--target", "sieve", "--accept-loss", first, "--accept-loss", rest
    )
    assert code == 0 and "# accepted losses: " + ", ".join(keys) in out
    assert f"{len(keys)} accepted with --accept-loss" in err
    code, out, err = cli("export", str(path), "--target", "sieve", "--accept-loss", "sieve:*")
    assert (code, out) == (2, "") and "wildcards are not accepted" in err
    code, out, err = cli("export", str(path), "--target", "json", "--accept-loss", "json:nothing")
    assert (code, out) == (1, "") and "--accept-loss json:nothing: no loss" in err
    code, out, err = cli("export", str(path), "--target", "sieve", "--approximate")
    assert code == 0 and "UNSOUND" in err  # approximate mode: the report, as before


def test_a_kept_type_test_names_the_targets_own_type_limit() -> None:
    p = policy('block attachment type executable as "x"')
    r = export(p, "amavis", approximate=True)
    (loss,) = [x for x in r.losses if x.rule == "x"]
    assert (loss.key, loss.when) == ("x:file-types", ("true-type-differs",))
