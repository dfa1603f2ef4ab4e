"""The postfix target end to end: a real Postfix on 127.0.0.1 runs the two-stage export.

One private instance (``postfix_instance.PostfixInstance``) serves the whole module: started
once with the baseline export, reloaded with the small policy's export. It needs root,
``postfix`` with ``pcre:`` and ``smtp-sink`` (``.ci/install-mta.sh``). Outside CI a
missing tool or a non-root user skips the module; with ``CI=1`` it fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import postfix_rig
import pytest
from support import forgeable_baseline

from mailpolicy.corpus import readers
from mailpolicy.policy import loader
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.export import postfix_instance, postfix_live
from mailpolicy.policy.export.base import ExportResult
from mailpolicy.policy.export.postfix import PostfixExporter, PostfixRunner
from mailpolicy.policy.export.postfix_instance import PostfixInstance
from mailpolicy.policy.export.postfix_live import Delivery, LivePostfixRunner
from mailpolicy.policy.export.runner import VerifyError
from mailpolicy.simulator.verify import Row, compare

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policy" / "policies"
CORPUS = [str(ROOT / "corpus" / "samples" / "maildir"), str(ROOT / "corpus" / "samples" / "mbox")]
TOOLS = ("postfix", "postmap", "postqueue", "smtp-sink")

TRUSTED, STRANGER = "boss@trusted.example", "mallory@example.net"
SMALL = f"""\
policy "small-live"
default allow
list trusted = ["{TRUSTED}"]
block attachment extension in ["pif"] as "pif" reason "pif refused"
block attachment extension in ["exe"] unless sender in trusted as "exe" reason "exe refused"
quarantine attachment extension in ["scr"] unless sender in trusted as "scr"
discard attachment extension in ["vbs"] unless sender in trusted as "vbs"
"""


def _export(policy: CheckedPolicy) -> tuple[PostfixExporter, ExportResult]:
    ex = PostfixExporter(policy, approximate=True)
    result = ex.export()
    assert result.ok
    return ex, result


def _live(ex: PostfixExporter, pf: PostfixInstance) -> None:
    """Make ``compare`` use the module's instance instead of starting its own."""
    ex.runner = lambda result, workdir: LivePostfixRunner(  # type: ignore[method-assign]
        result, workdir, pf
    )


def _require() -> None:
    """Skip without the tools or root; with ``CI`` set, fail instead."""
    problem = postfix_rig.missing(TOOLS, " (run .ci/install-mta.sh)")
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"live Postfix verification cannot run in CI: {problem}")
        pytest.skip(problem)


@pytest.fixture(scope="module")
def pf() -> Iterator[PostfixInstance]:
    _require()
    with tempfile.TemporaryDirectory(prefix="mailpolicy-live-") as d:
        inst = PostfixInstance(d)
        _, result = _export(forgeable_baseline())
        inst.configure(result)
        inst.start()
        master = inst.master_pid()
        try:
            yield inst
        finally:
            inst.stop()
        assert master is not None and not postfix_instance._alive(master), "master left running"


@pytest.fixture(scope="module")
def baseline_rows(pf: PostfixInstance) -> list[Row]:
    ex, result = _export(forgeable_baseline())
    _live(ex, pf)
    rows, unreadable = compare(ex, result, CORPUS)
    assert unreadable == 0
    return rows


def test_hook_picks_live_runner_only_for_sender_exceptions(tmp_path: Path) -> None:
    ex, result = _export(forgeable_baseline())
    assert isinstance(ex.runner(result, str(tmp_path)), LivePostfixRunner)
    ex, result = _export(loader.load_policy(str(POLICIES / "sircam-2001.policy"), lint=True))
    assert type(ex.runner(result, str(tmp_path))) is PostfixRunner


def test_adapt_master_moves_ports_and_turns_chroot_off() -> None:
    _, result = _export(forgeable_baseline())
    text = postfix_instance.adapt_master(result.files["master.cf.fragment"], "/x/conf", 2525, 2526)
    services = [ln.split() for ln in text.splitlines() if ln and ln[0] not in "# \t"]
    assert [s[0] for s in services] == ["127.0.0.1:2525", "mailpolicy_cleanup1", "127.0.0.1:2526"]
    assert {s[4] for s in services} == {"n"}
    assert "pcre:/x/conf/mime_header_checks_exempt.pcre" in text
    main = postfix_instance.adapt_main(result.files["main.cf.fragment"], "/x/conf", 2526)
    assert "FILTER smtp:[127.0.0.1]:2526" in main and "/etc/postfix" not in main
    with pytest.raises(VerifyError, match="master.cf.fragment"):
        postfix_instance.adapt_master("smtp inet n - y - - smtpd\n", "/x", 1, 2)


def test_baseline_samples_agree_or_are_explained(baseline_rows: list[Row]) -> None:
    rows = baseline_rows
    messages = [m for m in readers.iter_raw(CORPUS) if isinstance(m, readers.RawMessage)]
    assert len(rows) == len(messages) > 100
    assert not [r for r in rows if r.target == "error"], [
        r.detail for r in rows if r.target == "error"
    ]
    assert [r for r in rows if r.engine != r.target and r.explained_by is None] == []
    counts = Counter(r.target for r in rows)
    assert counts["allow"] and counts["block"] and counts["quarantine"]
    assert sum(r.engine == r.target for r in rows) >= 70


def test_baseline_live_differs_from_tables_only_by_stage_one_hold(
    baseline_rows: list[Row], tmp_path: Path
) -> None:
    """The table runner models one pass of the full table; the real two-stage set-up
    HOLDs in stage 1 (the exempt table also has the encoded-name catch-all) before stage 2
    can REJECT. Both stop the message; nothing else differs."""
    ex, result = _export(forgeable_baseline())
    ex.runner = lambda res, wd: PostfixRunner(res, wd)  # type: ignore[method-assign]
    tables, _ = compare(ex, result, CORPUS)
    diff = [
        (a, b)
        for a, b in zip(baseline_rows, tables, strict=True)
        if (a.target, a.target_rule) != (b.target, b.target_rule)
    ]
    for live, table in diff:
        assert (live.target, table.target) == ("quarantine", "block"), live.message
        assert live.detail.startswith("stage 1 HOLD"), live.detail
    assert len(diff) <= 4


def _message(sender: str, name: str) -> bytes:
    return (
        f"Return-Path: <{sender}>\nFrom: {sender}\nTo: bob@example.com\n"
        f"Subject: {name}\nMessage-ID: <{name}.{sender}>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\n'
        f'see attached\n--b\nContent-Type: application/octet-stream; name="{name}"\n'
        f'Content-Disposition: attachment; filename="{name}"\n'
        "Content-Transfer-Encoding: base64\n\naGVsbG8=\n--b--\n"
    ).encode()


@pytest.fixture(scope="module")
def small(pf: PostfixInstance) -> Iterator[tuple[PostfixExporter, ExportResult, str]]:
    policy = loader.load_text(SMALL, "small-live.policy")
    ex, result = _export(policy)
    assert "sender_access.pcre" in result.files
    with tempfile.TemporaryDirectory() as corpus:
        for sender in (TRUSTED, STRANGER):
            for name in ("setup.exe", "run.pif", "saver.scr", "macro.vbs", "notes.txt"):
                Path(corpus, f"{sender.split('@')[0]}-{name}.eml").write_bytes(
                    _message(sender, name)
                )
        _live(ex, pf)
        pf.configure(result)  # tests that call run() directly need this export loaded
        yield ex, result, corpus


def test_small_policy_agrees_with_engine(small: tuple[PostfixExporter, ExportResult, str]) -> None:
    ex, result, corpus = small
    rows, unreadable = compare(ex, result, [corpus])
    assert unreadable == 0 and len(rows) == 10
    got = {Path(r.message).name: (r.target, r.target_rule) for r in rows}
    assert [r for r in rows if r.engine != r.target or r.engine_rule != r.target_rule] == []
    assert got == {
        "boss-setup.exe.eml": ("allow", None),
        "mallory-setup.exe.eml": ("block", "exe"),
        "boss-run.pif.eml": ("block", "pif"),
        "mallory-run.pif.eml": ("block", "pif"),
        "boss-saver.scr.eml": ("allow", None),
        "mallory-saver.scr.eml": ("quarantine", "scr"),
        "boss-macro.vbs.eml": ("allow", None),
        "mallory-macro.vbs.eml": ("discard", "vbs"),
        "boss-notes.txt.eml": ("allow", None),
        "mallory-notes.txt.eml": ("allow", None),
    }


def _run(pf: PostfixInstance, result: ExportResult, sender: str, name: str) -> Delivery:
    runner = LivePostfixRunner(result, os.path.dirname(pf.root), pf)
    delivery = runner.deliver(_message(sender, name), sender, ("bob@example.com",))
    assert runner.run(_message(sender, name), sender, ("bob@example.com",)) == delivery.verdict
    return delivery


def test_second_stage_stop_is_a_bounce_not_an_smtp_reject(
    pf: PostfixInstance, small: tuple[PostfixExporter, ExportResult, str]
) -> None:
    """As the export's header says: a rule with a sender exception is checked in stage 2,
    after stage 1 answered 250 to the client; the reject becomes a bounce, a DSN sent to
    the (possibly forged) envelope sender. Rules without the exception reject in SMTP."""
    _, result, _ = small
    assert "BOUNCES" in result.files["mime_header_checks.pcre"]
    v = _run(pf, result, STRANGER, "setup.exe")
    assert (v.verdict.action, v.verdict.rule, v.how, v.stage) == ("block", "exe", "bounce", 2)
    assert v.reply.startswith("2.0.0 Ok: queued as ")  # the client was told: accepted
    assert v.dsn is not None
    dsn = Path(v.dsn).read_text(encoding="utf-8", errors="replace")
    assert f"X-Rcpt-Args: <{STRANGER}>" in dsn and "X-Mail-Args: <>" in dsn
    assert "report-type=delivery-status" in dsn
    assert "Diagnostic-Code: smtp; 550 5.7.1 exe refused [mailpolicy rule exe]" in dsn

    v = _run(pf, result, STRANGER, "run.pif")
    assert (v.verdict.action, v.verdict.rule, v.how, v.stage) == ("block", "pif", "smtp-reject", 1)
    assert v.dsn is None
    assert v.reply.startswith("5.7.1 ") and v.queue_ids == ()

    v = _run(pf, result, TRUSTED, "setup.exe")
    assert (v.verdict.action, v.how, v.stage) == ("allow", "delivered", 1)
    assert pf.captured(f" id {v.queue_ids[-1]}".encode(), headers_only=True)

    v = _run(pf, result, STRANGER, "notes.txt")
    assert (v.verdict.action, v.how, v.stage, len(v.queue_ids)) == ("allow", "delivered", 2, 2)


def test_hold_is_in_the_hold_queue(
    pf: PostfixInstance, small: tuple[PostfixExporter, ExportResult, str]
) -> None:
    v = _run(pf, small[1], STRANGER, "saver.scr")
    assert (v.verdict.action, v.verdict.rule, v.how, v.stage) == ("quarantine", "scr", "hold", 2)
    assert pf.held(v.queue_ids[-1]) and not pf.held(v.queue_ids[0])


def test_missing_tool_is_an_error_not_a_pass(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, result = _export(loader.load_text(SMALL, "small-live.policy"))

    def need(tool: str) -> str:
        raise VerifyError(f"{tool} is not installed (run .ci/install-mta.sh)")

    monkeypatch.setattr(postfix_live, "need", need)
    with pytest.raises(VerifyError, match="is not installed"):
        LivePostfixRunner(result, str(tmp_path)).check()


def test_start_failure_is_an_error_and_leaves_nothing_running(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _require()
    _, result = _export(loader.load_text(SMALL, "small-live.policy"))
    real = postfix_instance.need
    monkeypatch.setattr(
        postfix_instance,
        "need",
        lambda tool: shutil.which("false") if tool == "postfix" else real(tool),
    )
    inst = PostfixInstance(str(tmp_path))
    inst.configure(result)
    with pytest.raises(VerifyError, match="start failed"):
        inst.start()
    assert inst.sink is None and not inst.running
    assert not postfix_instance.listening(inst.sink_port)


def test_not_root_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(VerifyError, match="root"):
        PostfixInstance(str(tmp_path)).start()


def test_deferred_or_foreign_bounce_is_an_error_at_once(tmp_path: Path) -> None:
    """Postfix would retry a deferred message minutes later: the verdict is ``error`` now,
    never a wait for the timeout nor a pass; a bounce not from stage 2 is no policy block."""
    _, result = _export(loader.load_text(SMALL, "small-live.policy"))
    runner = LivePostfixRunner(result, str(tmp_path))
    runner.pf.port2, runner.pf.sink_port = 10026, 2525
    for relay, status in (
        ("127.0.0.1[127.0.0.1]:2525", "deferred"),
        ("127.0.0.1[127.0.0.1]:2525", "bounced"),
    ):
        q = postfix_instance.Queued(deliveries=[("bob@example.com", relay, status, "x")])
        v = runner._decide(q, ["4jQID0000001"], 1, STRANGER, "250 Ok")
        assert isinstance(v, Delivery) and v.verdict.action == "error"
        assert status in v.verdict.detail


def test_raw_8bit_names_with_unicode_spaces_are_stopped_live(pf: PostfixInstance) -> None:
    """Raw 8-bit names (UTF-8, Windows-1252, Shift_JIS) padded with a no-break or an
    ideographic space: cleanup's mime_header_checks see the bytes and reject them."""
    policy = loader.load_text(
        'policy "raw-live"\ndefault allow\nblock attachment extension in ["pif"] as "pif"\n',
        "raw-live.policy",
    )
    _, result = _export(policy)
    pf.configure(result)
    runner = LivePostfixRunner(result, os.path.dirname(pf.root), pf)
    for name in (
        b"a.pif\xc2\xa0",
        b"a.pif\xe3\x80\x80",
        b"a.\xe2\x80\x83pif",
        b"a.pif\xa0",
        b"a.pif\x81\x40",
        b"a.txt\xc2\xa0",
    ):
        data = (
            b"From: m@example.net\nTo: bob@example.com\nSubject: raw\nMIME-Version: 1.0\n"
            b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\n'
            b"hi\n--b\nContent-Type: application/octet-stream\n"
            b'Content-Disposition: attachment; filename="' + name + b'"\n'
            b"Content-Transfer-Encoding: base64\n\naGk=\n--b--\n"
        )
        verdict = runner.run(data, STRANGER, ("bob@example.com",))
        want = ("allow", None) if name.startswith(b"a.txt") else ("block", "pif")
        assert (verdict.action, verdict.rule) == want, (name, verdict)
