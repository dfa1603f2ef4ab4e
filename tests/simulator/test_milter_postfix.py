"""The milter behind a real private Postfix on loopback (``postfix_rig``): one Postfix for
the module, one SMTP port per route, each route with its own ``mailpolicy milter`` process
(or a stand-in: nothing listening, a listener that never answers). Messages go in with
smtplib; outcomes are read in the queue (``postqueue -j``, ``postcat``) and at the sink.

Skipped without Postfix or root; with ``CI=1`` a missing tool fails."""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import re
import signal
import smtplib
import tempfile
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import loadgen
import postfix_rig as rig
import pytest

BASELINE = str(Path(__file__).resolve().parents[2] / "policy" / "policies" / "baseline.policy")
POLICY = """\
policy "live"
block attachment extension in ["exe"] as "exe" reason "executables refused"
quarantine attachment extension in ["scr"] as "scr" reason "screensavers held"
tag "X-Policy-Tag: spreadsheet seen" when attachment extension in ["xls"] as "xls"
discard attachment extension in ["pif"] as "pif" reason "dropped"
strip attachment extension in ["js"] as "js" reason "scripts removed"
block attachment extension in ["bat"] as "bat-staged" reason "staged" mode audit
"""
AUTH_POLICY = """\
policy "auth"
block attachment extension in ["exe"] unless sender in ["a@example.org"] authenticated
    as "exe" reason "executables refused"
"""


class Live:
    """The module's Postfix and milters."""

    def __init__(self, work: Path) -> None:
        policy = work / "live.policy"
        policy.write_text(POLICY)
        self.keep = work / "kept"
        self.keep.mkdir()
        self.reload_policy = work / "reload.policy"
        self.reload_policy.write_text(POLICY)
        self.milters = {
            "enforce": rig.MilterProcess(work, "enforce", str(policy), "--keep", str(self.keep)),
            "audit": rig.MilterProcess(work, "audit", str(policy), "--audit"),
            "reject": rig.MilterProcess(
                work, "reject", str(policy), "--fallback", "reject", "--time-budget", "0.5"
            ),
            "reload": rig.MilterProcess(
                work, "reload", str(self.reload_policy), "--decision-log-max-bytes", "2K"
            ),
            "restart": rig.MilterProcess(work, "restart", BASELINE),
        }
        auth = work / "auth.policy"
        auth.write_text(AUTH_POLICY)
        self.milters["auth"] = rig.MilterProcess(work, "auth", str(auth))
        # the same policy on a unix socket, where the milter asks for no-reply stages
        self.milters["local"] = rig.MilterProcess(work, "local", str(policy), local=True)
        self.silent = rig.Silent()
        routes = {name: rig.Route(m.address) for name, m in self.milters.items()}
        routes["down"] = rig.Route(rig.free_port())
        routes["silent"] = rig.Route(self.silent.port, {"milter_command_timeout": "1s"})
        self.rig = rig.Rig(work, routes)

    def start(self) -> None:
        starting = [threading.Thread(target=m.start) for m in self.milters.values()]
        for t in starting:
            t.start()
        for t in starting:
            t.join()
        self.rig.start()

    def stop(self) -> dict[str, int | None]:
        self.rig.stop()
        self.silent.close()
        return {name: m.stop() for name, m in self.milters.items()}


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    problem = rig.missing()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    with tempfile.TemporaryDirectory(prefix="mailpolicy-milter-") as d:
        setup = Live(Path(d))
        try:
            setup.start()
            yield setup
        finally:
            codes = setup.stop()
        assert all(c == 0 for c in codes.values()), codes  # SIGTERM: a clean exit


def message(name: str, data: bytes = b"MZ\x90\x00 not really") -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "a@example.org", "b@example.net", f"file {name}"
    m["Message-ID"] = f"<{name}.{time.time_ns()}@example.org>"
    m.set_content("see attached\n")
    m.add_attachment(data, "application", "octet-stream", filename=name)
    return m


def send(port: int, msg: EmailMessage, login: str | None = None, sender: str = "") -> bytes:
    """Send ``msg`` (from ``sender``, else its From); the bytes sent."""
    data = msg.as_bytes(policy=SMTP)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo()
        if login is not None:
            assert s.docmd(f"XCLIENT LOGIN={login}")[0] == 220
            s.ehlo()  # XCLIENT starts the session again
        utf8 = ["SMTPUTF8"] if not sender.isascii() else []
        s.sendmail(sender or str(msg["From"]), [str(msg["To"])], data, utf8)
    return data


def body(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else data.split(b"\n\n", 1)[1]


def field(data: bytes, name: str) -> bytes | None:
    """The raw value (after the colon, unfolded) of header field ``name`` at the top of a
    captured message, or None."""
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    for line in re.sub(rb"\n[ \t]", b" ", head).split(b"\n"):
        if line.lower().startswith(name.lower().encode() + b":"):
            return line[len(name) + 1 :]
    return None


def mid(msg: EmailMessage) -> str:
    return str(msg["Message-ID"])


def decision(live: Live, route: str, message_id: str) -> dict[str, object]:
    m = live.milters[route]
    found: list[dict[str, object]] = []
    rig.wait_for(
        lambda: (
            bool(found.extend(d for d in m.decisions_read() if d.get("message_id") == message_id))
            or bool(found)
        ),
        10,
    )
    assert found, f"no decision for {message_id} in {m.decisions}"
    return found[-1]


#: Enforcement through a milter on TCP (every stage answered) and on a unix socket (the
#: no-reply stages negotiated): the same outcomes.
ENFORCING = pytest.mark.parametrize("route", ["enforce", "local"], ids=["tcp", "unix"])


# -- enforce ----------------------------------------------------------------------------------
@ENFORCING
def test_blocked_message_gets_550_with_the_rules_reason(live: Live, route: str) -> None:
    with pytest.raises(smtplib.SMTPDataError) as exc:
        send(live.rig.port(route), message("setup.exe"))
    assert exc.value.smtp_code == 550
    assert exc.value.smtp_error.startswith(b"5.7.1 executables refused")


@ENFORCING
def test_quarantined_message_is_in_the_hold_queue(live: Live, route: str) -> None:
    held = message("pretty.scr")
    send(live.rig.port(route), held)
    found: dict[str, bytes] = {}
    assert rig.wait_for(lambda: bool(found.update(live.rig.held())) or mid(held) in found, 15)
    assert b"Subject: file pretty.scr" in found[mid(held)]
    assert decision(live, route, mid(held))["rule"] == "scr"
    assert mid(held) not in live.rig.delivered()


@ENFORCING
def test_tagged_message_arrives_with_the_rules_header(live: Live, route: str) -> None:
    tagged = message("budget.xls", b"\xd0\xcf\x11\xe0 sheet")
    send(live.rig.port(route), tagged)
    got = live.rig.arrived(mid(tagged))
    assert got is not None, "tagged message not delivered"
    value = field(got, "X-Policy-Tag")
    assert value is not None and value.strip() == b"spreadsheet seen"


@ENFORCING
def test_added_header_keeps_the_space_after_the_colon(live: Live, route: str) -> None:
    tagged = message("space.xls", b"\xd0\xcf\x11\xe0 sheet")
    send(live.rig.port(route), tagged)
    got = live.rig.arrived(mid(tagged))
    assert got is not None
    assert field(got, "X-Policy-Tag") == b" spreadsheet seen"


@ENFORCING
def test_discarded_message_is_accepted_and_never_arrives(live: Live, route: str) -> None:
    dropped, after = message("invoice.pif"), message("after-the-pif.txt", b"plain")
    send(live.rig.port(route), dropped)  # no exception: 250
    send(live.rig.port(route), after)
    assert live.rig.arrived(mid(after)) is not None
    assert live.rig.settle(20)
    assert mid(dropped) not in live.rig.delivered()
    assert mid(dropped) not in live.rig.held()
    assert decision(live, route, mid(dropped))["action"] == "discard"


@ENFORCING
def test_clean_message_arrives_byte_for_byte(live: Live, route: str) -> None:
    clean = message("report.txt", bytes(range(256)) * 40)
    sent = send(live.rig.port(route), clean)
    got = live.rig.arrived(mid(clean))
    assert got is not None, "clean message not delivered"
    # smtp-sink stores LF line ends and one empty line after each message
    assert body(got) == body(sent).replace(b"\r\n", b"\n") + b"\n"
    head = got.split(b"\n\n", 1)[0] if b"\r\n\r\n" not in got else got.split(b"\r\n\r\n", 1)[0]
    assert b"X-Mailpolicy" not in head and b"X-Policy" not in head
    assert decision(live, route, mid(clean))["action"] == "allow"


@ENFORCING
def test_strip_removes_the_part_and_keeps_the_others(live: Live, route: str) -> None:
    """The ``js`` part is replaced by a text note naming it; the other parts arrive byte for
    byte."""
    msg = message("tool.js", b"WScript.Echo('x');\n")
    msg.add_attachment(b"%PDF-1.4 keep me\n", "application", "pdf", filename="keep.pdf")
    whole = msg.as_bytes(policy=SMTP).replace(b"\r\n", b"\n")  # sets the boundary
    boundary = msg.get_boundary()
    assert boundary is not None
    sent = whole.split(f"--{boundary}".encode())
    send(live.rig.port(route), msg)
    got = live.rig.arrived(mid(msg))
    assert got is not None, "stripped message not delivered"
    assert field(got, "X-Mailpolicy-Strip") is None
    parts = got.split(f"--{boundary}".encode())
    assert parts[1] == sent[1] and parts[3] == sent[3]  # the text body and keep.pdf
    leaves = [p for p in email.message_from_bytes(got, policy=email.policy.default).walk()]
    payloads = [p.get_payload(decode=True) or b"" for p in leaves if not p.is_multipart()]
    assert not any(b"WScript" in p for p in payloads)
    assert any(b"tool.js" in p for p in payloads[1:])  # the note names what was removed


# -- audit ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "would"),
    [
        ("setup.exe", "block rule=exe"),
        ("pretty.scr", "quarantine rule=scr"),
        ("invoice.pif", "discard rule=pif"),
        ("notes.txt", "allow rule=default"),
    ],
)
def test_audit_delivers_everything_with_what_would_happen(
    live: Live, name: str, would: str
) -> None:
    msg = message(name)
    send(live.rig.port("audit"), msg)
    got = live.rig.arrived(mid(msg))
    assert got is not None, f"{name} not delivered in audit mode"
    value = field(got, "X-Mailpolicy-Would")
    assert value is not None and value.strip() == would.encode()
    line = decision(live, "audit", mid(msg))
    assert line["mode"] == "audit" and line["action"] == would.split()[0]


# -- when the milter cannot answer ------------------------------------------------------------
@pytest.mark.parametrize("route", ["down", "silent"])
def test_a_milter_down_or_hung_gives_4xx(live: Live, route: str) -> None:
    msg = message(f"{route}.txt", b"plain")
    with pytest.raises(smtplib.SMTPResponseException) as exc:
        send(live.rig.port(route), msg)
    assert 400 <= exc.value.smtp_code < 500
    assert live.rig.arrived(mid(msg), seconds=1) is None


def test_the_milters_own_fallback_when_the_analysis_is_too_slow(live: Live) -> None:
    """The analysis workers are frozen (SIGSTOP): the milter gives up after its limit
    (``--time-budget 0.5`` plus the grace) and answers with ``--fallback reject``; frozen
    workers are replaced and the next message is judged as usual."""
    m = live.milters["reject"]
    frozen = m.descendants()
    assert frozen, "no analysis worker processes"
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(smtplib.SMTPDataError) as exc:
            send(live.rig.port("reject"), message("slow.txt", b"plain"))
    finally:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    assert exc.value.smtp_code == 550
    assert b"could not be analysed" in exc.value.smtp_error
    after = message("after-slow.txt", b"plain")
    send(live.rig.port("reject"), after)
    assert live.rig.arrived(mid(after)) is not None


def test_a_utf8_envelope_sender_is_judged_and_delivered(live: Live) -> None:
    """SMTPUTF8: the sender reaches the milter in a macro with UTF-8 bytes."""
    msg = message("utf8.txt", b"plain")
    send(live.rig.port("enforce"), msg, sender="dépôt@example.org")  # 250
    # (smtp-sink does not offer SMTPUTF8, so Postfix bounces it on the way out)
    line = decision(live, "enforce", mid(msg))
    assert line["sender"] == "dépôt@example.org" and line["action"] == "allow"


# -- authenticated sessions -------------------------------------------------------------------
def test_xclient_login_is_an_authenticated_session_the_milter_decides(live: Live) -> None:
    msg = message("signed.txt", b"plain")
    send(live.rig.port("enforce"), msg, login="alice")
    got = live.rig.arrived(mid(msg))
    assert got is not None
    assert b"with ESMTPA id" in got  # Postfix took LOGIN=alice as SMTP AUTH
    assert decision(live, "enforce", mid(msg))["action"] == "allow"


def test_an_exception_for_authenticated_senders_holds_only_when_authenticated(
    live: Live,
) -> None:
    """``unless sender in L authenticated``: the same sender and message are refused in a
    plain session and delivered in one authenticated with ``XCLIENT LOGIN`` (the milter
    reads ``{auth_authen}``)."""
    with pytest.raises(smtplib.SMTPDataError) as exc:
        send(live.rig.port("auth"), message("setup.exe"))
    assert exc.value.smtp_code == 550
    signed = message("setup.exe")
    send(live.rig.port("auth"), signed, login="a")
    assert live.rig.arrived(mid(signed)) is not None
    assert decision(live, "auth", mid(signed))["action"] == "allow"


# -- staged rules, kept messages, reload, log rotation ---------------------------------------
def test_a_staged_rule_is_reported_in_a_header_and_not_enforced(live: Live) -> None:
    msg = message("run.bat", b"@echo off")
    send(live.rig.port("enforce"), msg)
    got = live.rig.arrived(mid(msg))
    assert got is not None, "a message matched only by a 'mode audit' rule was not delivered"
    value = field(got, "X-Mailpolicy-Would")
    assert value is not None and value.strip() == b"block rule=bat-staged"


def test_keep_writes_the_judged_message_for_replay(live: Live) -> None:
    msg = message("kept.txt", b"plain")
    sent = send(live.rig.port("enforce"), msg)
    line = decision(live, "enforce", mid(msg))
    kept = Path(str(line["kept"]))
    if not kept.is_absolute():
        kept = live.keep / kept
    assert kept.parent == live.keep
    assert body(kept.read_bytes()).replace(b"\r\n", b"\n") == body(sent).replace(b"\r\n", b"\n")


def test_sighup_reloads_a_clean_policy_and_keeps_the_old_one_otherwise(live: Live) -> None:
    m, port = live.milters["reload"], live.rig.port("reload")
    with pytest.raises(smtplib.SMTPDataError):
        send(port, message("before.exe"))
    live.reload_policy.write_text('policy "open"\nblock attachment extension in ["scr"]\n')
    m.signal(signal.SIGHUP)
    assert rig.wait_for(lambda: "policy reloaded" in m.log(), 10)
    opened = message("after.exe")
    send(port, opened)  # exe no longer blocked
    assert live.rig.arrived(mid(opened)) is not None
    live.reload_policy.write_text('policy "broken"\nblock attachment extension in [\n')
    m.signal(signal.SIGHUP)
    assert rig.wait_for(lambda: "reload failed" in m.log(), 10)
    still = message("still.exe")
    send(port, still)  # the open policy stays
    assert live.rig.arrived(mid(still)) is not None
    lines = m.decisions_read(Path(f"{m.decisions}.1")) + m.decisions_read()  # may have rotated
    events = [d for d in lines if d.get("event") == "reload"]
    assert [e["ok"] for e in events][-2:] == [True, False]


def test_the_decision_log_rotates_between_whole_lines(live: Live) -> None:
    m, port = live.milters["reload"], live.rig.port("reload")
    sent = [message(f"rotate{i}.txt", b"plain") for i in range(8)]
    for msg in sent:
        send(port, msg)
    rotated = Path(f"{m.decisions}.1")
    assert rig.wait_for(rotated.exists, 10), "no rotated decision log"
    assert m.decisions.stat().st_size <= 2048
    lines = m.decisions_read(rotated) + m.decisions_read()  # every line is whole JSON
    ids = {d.get("message_id") for d in lines}
    assert mid(sent[-1]) in ids


# -- restart under load -----------------------------------------------------------------------
def test_restart_under_load_loses_and_duplicates_nothing(live: Live) -> None:
    """200 messages through 8 sessions while the milter is stopped (SIGTERM) and started
    again: every 250 arrives exactly once, every 4xx was retried and then arrived once,
    every 550 never arrives."""
    mails = loadgen.workload(200, seed=7, tag="restart")
    m = live.milters["restart"]
    done: list[list[loadgen.Result]] = []
    sender = threading.Thread(
        target=lambda: done.append(
            loadgen.send(live.rig.port("restart"), mails, 8, retry_delay=0.2)
        )
    )
    sender.start()
    time.sleep(1.5)
    assert m.stop() == 0
    time.sleep(0.5)
    m.start()
    sender.join(120)
    assert done, "the load generator did not finish"
    results = done[0]
    assert live.rig.settle(30)
    delivered = live.rig.delivered()
    codes = {r.mail.mid: r.code for r in results}
    assert sorted(set(codes.values())) in ([250, 550], [250]), {
        r.mail.mid: (r.code, r.reply, r.tempfails[-1:]) for r in results if r.code not in (250, 550)
    }
    retried = [r for r in results if r.tempfails]
    assert retried, "the restart was not seen by any session"
    for r in results:
        copies = len(delivered.get(r.mail.mid, []))
        want = 1 if r.code == 250 else 0
        assert copies == want, (r.mail.mid, r.code, copies)
        assert (r.code == 550) == (r.mail.kind in loadgen.BLOCKED)
