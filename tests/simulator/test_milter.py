"""The milter: the verdict it enforces is the verdict ``explain`` gives for the same bytes,
audit mode, the decision log, and the fallback; through a small MTA-side client, no MTA."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kilter.protocol import messages as km
from kilter.protocol.buffer import SimpleBuffer
from kilter.protocol.exceptions import NeedsMore

from mailpolicy.simulator import explain, milter, milter_judge
from mailpolicy.simulator.budget import Budget
from mailpolicy.simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]
BASELINE = str(ROOT / "policy" / "policies" / "baseline.policy")
SAMPLES = ROOT / "corpus" / "samples" / "maildir"
FINAL = (km.Accept, km.ReplyCode, km.Discard, km.TemporaryFailure, km.Reject, km.Continue)


def split(data: bytes) -> tuple[list[tuple[str, bytes]], bytes]:
    """Header fields (name, value with its leading space) and body, as an MTA sends them."""
    end = data.find(b"\n\n")
    head, body = (data, b"") if end == -1 else (data[: end + 1], data[end + 2 :])
    fields: list[tuple[str, bytes]] = []
    for line in head.split(b"\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + b"\n" + line)
        else:
            name, _, value = line.partition(b":")
            fields.append((name.decode("ascii", "replace"), value))
    return fields, body


async def client(
    port: int,
    data: bytes,
    sender: str = "a@example.org",
    rcpt: str = "b@example.net",
    macros: dict[str, str] | None = None,
    raw_macro: bytes | None = None,
) -> list[km.Message]:
    """Send one message as an MTA does; the filter's replies to end of message."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    buf = SimpleBuffer(1 << 20)

    async def send(*ms: km.Message) -> None:
        for m in ms:
            b = SimpleBuffer(1 << 20)
            m.pack(b)
            writer.write(b[:].tobytes())
        await writer.drain()

    async def replies(final: bool = True) -> list[km.Message]:
        got: list[km.Message] = []
        while True:
            try:
                m, size = km.Message.unpack(buf)
            except NeedsMore:
                chunk = await reader.read(buf.available)
                assert chunk, "the filter closed the connection"
                buf[:] = chunk
                continue
            m.freeze()
            del buf[:size]
            got.append(m)
            if not final or isinstance(m, FINAL):
                return got

    await send(km.Negotiate(6, km.ActionFlags.ALL, km.ProtocolFlags.HDR_LEADSPC))
    await replies(final=False)
    await send(km.Macro(ord("M"), {"i": "4ABC", **(macros or {})}))
    if raw_macro is not None:  # a macro the codec cannot write (a UTF-8 value)
        writer.write(len(raw_macro).to_bytes(4, "big") + raw_macro)
    await send(km.EnvelopeFrom(f"<{sender}>".encode()))
    await replies()
    await send(km.EnvelopeRecipient(f"<{rcpt}>".encode()))
    await replies()
    fields, body = split(data)
    for name, value in fields:
        await send(km.Header(name, value))
        await replies()
    await send(km.EndOfHeaders())
    await replies()
    for i in range(0, len(body), 65535):
        await send(km.Body(body[i : i + 65535]))
        await replies()
    await send(km.EndOfMessage(b""))
    out = await replies()
    await send(km.Close())
    writer.close()
    return out


@contextlib.asynccontextmanager
async def connected(
    cfg: milter.Config, path: Path | None = None
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A milter serving ``cfg`` on loopback (or on the unix socket ``path``), and one
    connection to it; both closed afterwards."""
    m = milter.Milter(cfg)
    if path is not None:
        server = await asyncio.start_unix_server(m.handle, str(path))
        reader, writer = await asyncio.open_unix_connection(str(path))
    else:
        server = await asyncio.start_server(m.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        server.close()
        m.close()


def run_milter(cfg: milter.Config, messages: list[bytes], **kw: Any) -> list[list[km.Message]]:
    async def go() -> list[list[km.Message]]:
        m = milter.Milter(cfg)
        server = await asyncio.start_server(m.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            out = []
            for data in messages:  # the envelope delivery recorded, unless one is given
                sender, rcpt = delivered_envelope(data)
                out.append(await client(port, data, **{"sender": sender, "rcpt": rcpt, **kw}))
            return out
        finally:
            server.close()
            m.close()

    return asyncio.run(go())


def samples() -> Iterator[Path]:
    found = (p for p in SAMPLES.glob("*/*/*") if p.is_file() and p.parent.name != "tmp")
    return iter(sorted(found))


@pytest.fixture(scope="module")
def config() -> milter.Config:
    return milter.Config(*milter_judge.load_source(BASELINE))


def test_reassembled_bytes_are_the_bytes_sent() -> None:
    checked = 0
    for path in samples():
        data = path.read_bytes()
        if b"\r" in data:
            continue
        checked += 1
        fields, body = split(data)
        env = milter.Envelope(headers=fields, body=bytearray(body), leading_space=True)
        assert milter.reassemble(env) == data, path
    assert checked > 50


def expected(action: str) -> type:
    """The final reply for a verdict's action."""
    return {"block": km.ReplyCode, "discard": km.Discard}.get(action, km.Accept)


def delivered_envelope(data: bytes) -> tuple[str, str]:
    """MAIL FROM and RCPT TO of a recorded message: its Return-Path and Delivered-To (what
    delivery wrote), else a stranger's address and the To: field."""
    head = data.split(b"\n\n", 1)[0].decode("utf-8", "replace")

    def field(name: str) -> str | None:
        found = re.search(rf"^{name}:\s*<?([^>\s]*)>?", head, re.I | re.M)
        return found.group(1) if found else None

    sender = field("Return-Path")
    return (
        "a@example.org" if sender is None else sender,
        field("Delivered-To") or field("To") or "b@example.net",
    )


def test_enforced_verdict_is_explains_on_every_sample(config: milter.Config) -> None:
    """The milter, given the envelope the MTA gave (what delivery recorded as Return-Path
    and Delivered-To), decides as ``explain`` on the delivered message."""
    paths = list(samples())
    found = run_milter(config, [p.read_bytes() for p in paths])
    actions = set()
    for path, got in zip(paths, found, strict=True):
        (ex,) = list(explain.explain(config.policy, [str(path)]))
        assert isinstance(ex, explain.Explained)
        v = ex.verdict
        actions.add(v.action)
        final = got[-1]
        assert isinstance(final, expected(v.action)), (path, got)
        edits = got[:-1]
        if v.action == "block":
            assert isinstance(final, km.ReplyCode)
            text = bytes(final.content).rstrip(b"\0").decode()
            assert text.startswith("550 5.7.1 "), text
            assert v.reason.split()[0] in text
        elif v.action == "quarantine":
            assert any(isinstance(e, km.Quarantine) and v.rule in e.reason for e in edits)
        elif v.action == "tag":
            assert v.header is not None
            name = v.header.partition(":")[0].strip()
            assert any(isinstance(e, km.AddHeader) and e.name == name for e in edits)
        elif v.action == "strip":  # carried out, or quarantined when it cannot be done safely
            bodies = [e for e in edits if isinstance(e, km.ReplaceBody)]
            held = [e for e in edits if isinstance(e, km.Quarantine)]
            assert bool(bodies) != bool(held), (path, edits)
        else:
            assert edits == []
    assert {"allow", "block"} <= actions


def test_audit_accepts_and_logs_what_enforcement_would_do(
    config: milter.Config, tmp_path: Path
) -> None:
    paths = list(samples())[:: max(1, len(list(samples())) // 12)]
    log_path = tmp_path / "decisions.jsonl"
    with open(log_path, "w", encoding="utf-8") as log:
        cfg = milter.Config(config.policy, config.policy_hash, audit=True, decision_log=log)
        found = run_milter(cfg, [p.read_bytes() for p in paths])
    lines = [json.loads(x) for x in log_path.read_text().splitlines()]
    assert len(lines) == len(paths)
    for path, got, line in zip(paths, found, lines, strict=True):
        (ex,) = list(explain.explain(config.policy, [str(path)]))
        assert isinstance(ex, explain.Explained)
        assert isinstance(got[-1], km.Accept)
        (would,) = [e for e in got[:-1] if isinstance(e, km.AddHeader)]
        assert would.name == milter.WOULD_HEADER
        rule = ex.verdict.rule or "default"
        # the MTA sends values with their leading space (HDR_LEADSPC): so must the filter
        assert bytes(would.value).decode() == f" {ex.verdict.action} rule={rule}"
        assert line["action"] == ex.verdict.action and line["rule"] == ex.verdict.rule
        assert line["mode"] == "audit" and line["queue_id"] == "4ABC"
        sender, rcpt = delivered_envelope(path.read_bytes())
        assert line["sender"] == sender and line["recipients"] == [rcpt]
        assert line["policy_sha256"] == config.policy_hash and len(line["policy_sha256"]) == 64
        if ex.msg.message_id:
            assert ex.msg.message_id in line["message_id"]


@pytest.mark.parametrize(
    ("fallback", "kind"),
    [("tempfail", b"451 4.7.1"), ("reject", b"550 5.7.1"), ("accept", None)],
)
def test_failed_analysis_gets_the_fallback(
    config: milter.Config, monkeypatch: pytest.MonkeyPatch, fallback: str, kind: bytes | None
) -> None:
    def boom(*_: object) -> milter.Outcome:
        raise RuntimeError("reader bug")

    monkeypatch.setattr(milter_judge, "judge_raw", boom)
    cfg = milter.Config(config.policy, config.policy_hash, fallback=fallback, isolation="thread")
    (got,) = run_milter(cfg, [next(samples()).read_bytes()])
    if kind is None:
        assert isinstance(got[-1], km.Accept)
    else:
        assert isinstance(got[-1], km.ReplyCode) and bytes(got[-1].content).startswith(kind)


def test_analysis_past_its_limit_gets_the_fallback_and_the_milter_answers(
    config: milter.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow(*_: object) -> milter.Outcome:
        time.sleep(1.0)
        return milter.Outcome(None, "late")

    monkeypatch.setattr(milter_judge, "judge", slow)
    monkeypatch.setattr(milter, "GRACE", 0.0)
    cfg = milter.Config(
        config.policy, config.policy_hash, budget=Budget(0.2, None), isolation="thread"
    )
    start = time.monotonic()
    (got,) = run_milter(cfg, [next(samples()).read_bytes()])
    assert time.monotonic() - start < 0.9
    assert isinstance(got[-1], km.ReplyCode) and bytes(got[-1].content).startswith(b"451 4.7.1")


def test_cli_rejects_a_bad_listen_address() -> None:
    import io

    err = io.StringIO()
    assert main(["milter", BASELINE, "--listen", "nowhere"], io.StringIO(), err) == 2
    assert re.search(r"--listen wants HOST:PORT", err.getvalue())


def test_cli_offers_every_fallback_the_milter_knows() -> None:
    from mailpolicy.simulator.cli import milter as verb

    assert verb.FALLBACKS == milter.FALLBACKS


def test_sigterm_stops_the_milter_cleanly() -> None:
    import signal
    import subprocess
    import sys

    from mailpolicy.policy.export.postfix_instance import free_port

    argv = [sys.executable, "-m", "mailpolicy.simulator.cli", "milter", BASELINE]
    proc = subprocess.Popen(
        [*argv, "--listen", f"127.0.0.1:{free_port()}"], stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    assert "listening on" in proc.stderr.readline()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert "stopped" in proc.stderr.read()
    proc.stderr.close()


def test_the_envelope_is_the_sender_and_a_written_return_path_is_not(tmp_path: Path) -> None:
    """``sender`` is MAIL FROM (what delivery records as Return-Path), and ``recipient`` is
    RCPT TO; a Return-Path the client wrote into the message is not believed."""
    path = tmp_path / "p.policy"
    path.write_text(
        'block attachment extension in ["exe"] unless sender in ["build@partner.example"]\n'
        '    as "exe"\nblock recipient in ["ceo@example.net"] as "ceo"\n',
        encoding="utf-8",
    )
    cfg = milter.Config(*milter_judge.load_source(str(path)))
    forged = (
        b"Return-Path: <build@partner.example>\nFrom: build@partner.example\n"
        b"To: staff@example.net\nSubject: x\nMIME-Version: 1.0\n"
        b'Content-Type: application/octet-stream; name="setup.exe"\n'
        b"Content-Transfer-Encoding: base64\n\nTVqQAA==\n"
    )
    (refused,) = run_milter(cfg, [forged], sender="mallory@evil.example", rcpt="staff@example.net")
    assert isinstance(refused[-1], km.ReplyCode)
    (accepted,) = run_milter(cfg, [forged], sender="build@partner.example", rcpt="staff@x.net")
    assert isinstance(accepted[-1], km.Accept)
    (to_ceo,) = run_milter(cfg, [forged], sender="build@partner.example", rcpt="CEO@Example.NET")
    assert isinstance(to_ceo[-1], km.ReplyCode)


@pytest.mark.parametrize("local", [False, True], ids=["tcp", "unix"])
def test_no_reply_stages_are_asked_for_on_a_local_socket_only(
    config: milter.Config, local: bool, tmp_path: Path
) -> None:
    """An MTA that offers no-reply stages (Postfix does) is asked for them on a ``unix:``
    socket, where the header fields, the end of headers and the body chunks then get no
    reply; over TCP it is not (measured behind Postfix they only add latency there:
    ``milter_wire``), and every stage gets its reply. The verdict comes either way."""
    exe = (
        b"From: m@example.org\nTo: b@example.net\nSubject: x\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\n'
        + b"hello\n"
        * 20000  # body chunks: more than one
        + b'--b\nContent-Type: application/octet-stream; name="setup.exe"\n'
        b"Content-Transfer-Encoding: base64\n\nTVqQAA==\n--b--\n"
    )
    fields, body = split(exe)
    assert len(body) > 65535
    f = km.ProtocolFlags
    quiet = f.NR_HEADER | f.NR_BODY | f.NR_END_OF_HEADERS | f.NR_CONNECT

    async def go() -> tuple[km.Negotiate, list[km.Message]]:
        async with connected(config, tmp_path / "milter.sock" if local else None) as (
            reader,
            writer,
        ):
            buf = SimpleBuffer(1 << 20)

            def send(*ms: km.Message) -> None:
                for one in ms:
                    b = SimpleBuffer(1 << 20)
                    one.pack(b)
                    writer.write(b[:].tobytes())

            async def reply() -> km.Message:
                while True:
                    try:
                        got, size = km.Message.unpack(buf)
                    except NeedsMore:
                        buf[:] = await reader.read(buf.available)
                        continue
                    got.freeze()
                    del buf[:size]
                    return got

            send(km.Negotiate(6, km.ActionFlags.ALL, km.ProtocolFlags.HDR_LEADSPC | quiet))
            negotiated = await reply()
            assert isinstance(negotiated, km.Negotiate)
            send(km.EnvelopeFrom(b"<m@example.org>"))
            assert isinstance(await reply(), km.Continue)
            send(km.EnvelopeRecipient(b"<b@example.net>"))
            assert isinstance(await reply(), km.Continue)
            chunks = [km.Body(body[i : i + 65535]) for i in range(0, len(body), 65535)]
            stages = [*(km.Header(n, v) for n, v in fields), km.EndOfHeaders(), *chunks]
            send(*stages, km.EndOfMessage(b""))
            got = [await reply() for _ in range(1 if local else len(stages) + 1)]
            send(km.Close())
            return negotiated, got

    negotiated, got = asyncio.run(go())
    assert negotiated.protocol_flags & quiet == (quiet if local else 0)
    *continues, final = got
    assert all(isinstance(c, km.Continue) for c in continues)
    assert len(continues) == (0 if local else len(fields) + 1 + 2)
    assert isinstance(final, km.ReplyCode)
    assert bytes(final.content).startswith(b"550 5.7.1")


@pytest.mark.parametrize(
    ("now", "seconds"),
    [
        ("2026-12-01T23:59:59", 2.0),
        ("2026-12-01T00:00:00", 86401.0),
        ("2026-12-01T00:00:01", 86400.0),
        ("2026-12-31T12:00:00.5", 43200.5),
    ],
)
def test_the_daily_reload_comes_just_after_midnight_utc(now: str, seconds: float) -> None:
    at = datetime.datetime.fromisoformat(now).replace(tzinfo=datetime.UTC)
    assert milter.until_next_day(at) == pytest.approx(seconds)


def test_a_reload_on_a_new_day_stops_an_expired_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checker judges expiry when it loads: the reload the milter does after midnight
    makes an entry whose ``until`` day has passed stop applying."""
    from mailpolicy.policy import expiry
    from mailpolicy.simulator import milter_judge

    path = tmp_path / "p.policy"
    path.write_text(
        'list partners = ["build@partner.example" until 2026-12-01]\n'
        'block attachment extension in ["exe"] unless sender in partners as "exe"\n',
        encoding="utf-8",
    )
    exe = (
        b"From: build@partner.example\nTo: b@example.net\nSubject: x\nMIME-Version: 1.0\n"
        b'Content-Type: application/octet-stream; name="setup.exe"\n'
        b"Content-Transfer-Encoding: base64\n\nTVqQAA==\n"
    )
    monkeypatch.setattr(expiry, "today", lambda: datetime.date(2026, 12, 1))
    policy, sha = milter_judge.load_source(str(path))
    cfg = milter.Config(policy, sha, isolation="thread")

    async def go() -> tuple[list[km.Message], list[km.Message]]:
        m = milter.Milter(cfg)
        server = await asyncio.start_server(m.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            before = await client(port, exe, sender="build@partner.example")
            monkeypatch.setattr(expiry, "today", lambda: datetime.date(2026, 12, 2))
            assert await m.reload(lambda: milter_judge.load_source(str(path)))
            after = await client(port, exe, sender="build@partner.example")
            return before, after
        finally:
            server.close()
            m.close()

    before, after = asyncio.run(go())
    assert isinstance(before[-1], km.Accept)  # the entry's last day: it applies
    assert isinstance(after[-1], km.ReplyCode)  # the day after: it no longer does


@pytest.mark.parametrize(
    "frame",
    [
        (2).to_bytes(4, "big") + b"Zx",  # a command the protocol does not have
        (1 << 30).to_bytes(4, "big") + b"B",  # a body chunk of 1 GB announced
        (0).to_bytes(4, "big") + b"B",  # a frame shorter than its command byte
    ],
    ids=["unknown-command", "huge-frame", "empty-frame"],
)
def test_a_frame_that_cannot_be_read_gets_the_fallback_and_the_connection_closes(
    config: milter.Config, frame: bytes
) -> None:
    async def go() -> tuple[bytes, bytes]:
        async with connected(config) as (reader, writer):
            b = SimpleBuffer(1 << 16)
            km.Negotiate(6, km.ActionFlags.ALL, km.ProtocolFlags(0)).pack(b)
            writer.write(b[:].tobytes() + frame)
            negotiated = await reader.readexactly(4 + 13)
            rest = await asyncio.wait_for(reader.read(), 10)  # the milter closes
            return negotiated, rest

    negotiated, rest = asyncio.run(go())
    assert negotiated[4:5] == b"O"
    assert rest[4:5] == b"y" and b"451 4.7.1" in rest  # the fallback: tempfail


@pytest.mark.parametrize("mode", [0o660, 0o666])
def test_a_unix_socket_gets_the_mode_asked_for(
    config: milter.Config, tmp_path: Path, mode: int
) -> None:
    import dataclasses
    import stat

    path = tmp_path / "milter.sock"

    async def go() -> int:
        m = milter.Milter(dataclasses.replace(config, socket_mode=mode, isolation="thread"))
        ready = asyncio.Event()
        task = asyncio.create_task(m.serve(f"unix:{path}", ready.set))
        await asyncio.wait_for(ready.wait(), 10)
        found = stat.S_IMODE(path.stat().st_mode)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return found

    assert asyncio.run(go()) == mode


def test_cli_refuses_a_socket_mode_that_is_not_octal() -> None:
    import io

    err = io.StringIO()
    argv = ["milter", BASELINE, "--listen", "unix:/tmp/x.sock", "--socket-mode", "999"]
    assert main(argv, io.StringIO(), err) == 2
    assert "octal mode" in err.getvalue()
