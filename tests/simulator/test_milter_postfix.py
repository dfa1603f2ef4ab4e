"""The milter behind a real private Postfix on loopback (``postfix_instance``): a message the
policy blocks gets 550 at the end of DATA, a quarantined one lands in the hold queue, a
clean one reaches the sink with nothing added. Skipped without Postfix or root; with
``CI=1`` a missing tool fails."""

from __future__ import annotations

import asyncio
import os
import shutil
import smtplib
import tempfile
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailpolicy.policy import loader
from mailpolicy.policy.export.postfix_instance import PostfixInstance, free_port
from mailpolicy.policy.export.result import ExportResult
from mailpolicy.simulator import milter

POLICY = """\
policy "live"
block attachment extension in ["exe"] as "exe" reason "executables refused"
quarantine attachment extension in ["scr"] as "scr" reason "screensavers held"
"""


def _missing() -> str | None:
    gone = [t for t in ("postfix", "postqueue", "smtp-sink") if _tool(t) is None]
    if gone:
        return f"missing {', '.join(gone)}"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root"
    return None


def _tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")


@pytest.fixture(scope="module")
def live() -> Iterator[PostfixInstance]:
    problem = _missing()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    with tempfile.TemporaryDirectory(prefix="mailpolicy-milter-") as d:
        yield from _running(Path(d))


def _running(work: Path) -> Iterator[PostfixInstance]:
    path = work / "live.policy"
    path.write_text(POLICY)
    cfg = milter.Config(loader.load_policy(str(path)), milter.policy_hash(str(path)))
    port = free_port()
    loop = asyncio.new_event_loop()
    server = milter.Milter(cfg)
    ready = threading.Event()
    task: list[asyncio.Task[None]] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        task.append(loop.create_task(server.serve(f"127.0.0.1:{port}", ready.set)))
        try:
            loop.run_until_complete(task[0])
        finally:
            loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    fragment = (
        f"smtpd_milters = inet:127.0.0.1:{port}\n"
        "milter_protocol = 6\n"
        "milter_default_action = tempfail\n"
        "milter_connect_timeout = 5s\nmilter_command_timeout = 10s\n"
        "milter_content_timeout = 20s\n"
    )
    pf = PostfixInstance(str(work))
    pf.configure(ExportResult("postfix", files={"main.cf.fragment": fragment}))
    pf.start()
    try:
        yield pf
    finally:
        pf.stop()
        loop.call_soon_threadsafe(task[0].cancel)
        thread.join(15)


def _message(name: str) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "a@example.org", "b@example.net", f"file {name}"
    m["Message-ID"] = f"<{name}.{time.time_ns()}@example.org>"
    m.set_content("see attached")
    m.add_attachment(b"MZ\x90\x00 not really", "application", "octet-stream", filename=name)
    return m


def _send(pf: PostfixInstance, msg: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", pf.port1, timeout=30) as s:
        s.send_message(msg)


def test_blocked_message_gets_550_from_postfix(live: PostfixInstance) -> None:
    with pytest.raises(smtplib.SMTPDataError) as exc:
        _send(live, _message("setup.exe"))
    assert exc.value.smtp_code == 550
    assert b"executables refused" in exc.value.smtp_error


def _wait(check: object, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        time.sleep(0.2)
    return False


def test_clean_message_is_delivered_and_quarantined_one_is_held(live: PostfixInstance) -> None:
    clean = _message("report.txt")
    _send(live, clean)
    mid = str(clean["Message-ID"]).encode()
    assert _wait(lambda: live.captured(mid) is not None), "clean message not delivered"
    held = _message("pretty.scr")
    _send(live, held)
    hid = str(held["Message-ID"]).encode()

    def in_hold() -> bool:
        live.read_log()
        return any(live.held(q) for q in list(live.facts))

    assert _wait(in_hold), "quarantined message not in the hold queue"
    assert live.captured(hid) is None
