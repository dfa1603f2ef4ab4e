"""The milter in operation: per-rule audit headers, SMTP AUTH, kept messages, the decision
log's rotation and reopening, policy reload, worker processes killed and replaced,
bounded buffers, and shutdown with a message in flight."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kilter.protocol import messages as km
from test_milter import client, run_milter

from mailpolicy.corpus.message import Message
from mailpolicy.policy import loader
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.evaluate import Verdict
from mailpolicy.simulator import milter, milter_judge, milter_log, milter_pool
from mailpolicy.simulator.budget import Budget

POLICY = """\
policy "ops"
block attachment extension in ["exe"] as "exe" reason "executables refused"
quarantine message unscannable as "unread" reason "not read completely"
"""
OTHER = POLICY.replace("executables refused", "no programs")
MAIL = b"From: a@example.org\nTo: b@example.net\nSubject: hi\nMessage-ID: <m1@x>\n\nhello\n"
EXE = (
    b"From: a@example.org\nSubject: x\nMIME-Version: 1.0\n"
    b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nhi\n'
    b'--b\nContent-Type: application/octet-stream; name="setup.exe"\n\nMZ\n--b--\n'
)


def cfg(**kw: Any) -> milter.Config:
    kw.setdefault("isolation", "thread")
    return milter.Config(loader.load_text(POLICY), "1" * 64, **kw)


async def _serve(m: milter.Milter) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(m.handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def run(c: milter.Config, *messages: bytes, **kw: Any) -> list[list[km.Message]]:
    return run_milter(c, list(messages), **kw)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


# -- per-rule audit ------------------------------------------------------------------------
def test_audited_rules_add_would_headers_and_the_enforced_verdict_applies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    staged = (
        Verdict("block", "new-exe", "staged block", name="a.exe"),
        Verdict("quarantine", "new-iso", "staged hold"),
    )

    def evaluate(policy: CheckedPolicy, msg: Message, trace: bool = True) -> Verdict:
        return Verdict("tag", "t", "tagged", header="X-Tag: yes", audited=staged)

    monkeypatch.setattr(milter_judge, "evaluate", evaluate)
    log = tmp_path / "d.jsonl"
    with open(log, "w", encoding="utf-8") as fh:
        (got,) = run(cfg(decision_log=fh), MAIL)
    assert isinstance(got[-1], km.Accept)
    added = [(e.name, bytes(e.value)) for e in got if isinstance(e, km.AddHeader)]
    assert added == [
        (milter.WOULD_HEADER, b" block rule=new-exe"),
        (milter.WOULD_HEADER, b" quarantine rule=new-iso"),
        ("X-Tag", b" yes"),
    ]
    (line,) = lines(log)
    assert line["action"] == "tag" and line["mode"] == "enforce"
    assert line["audited"] == [
        {"action": "block", "rule": "new-exe", "reason": "staged block", "attachment": "a.exe"},
        {"action": "quarantine", "rule": "new-iso", "reason": "staged hold", "attachment": None},
    ]


# -- SMTP AUTH -----------------------------------------------------------------------------
def test_auth_macro_reaches_the_judged_message_and_the_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[str | None] = []
    real = milter_judge.evaluate

    def evaluate(policy: CheckedPolicy, msg: Message, trace: bool = True) -> Verdict:
        seen.append(msg.smtp_auth)
        return real(policy, msg, trace=trace)

    monkeypatch.setattr(milter_judge, "evaluate", evaluate)
    log = tmp_path / "d.jsonl"
    utf8 = b"M" + b"{auth_authen}\0" + "jörg@example.org".encode() + b"\0"
    with open(log, "w", encoding="utf-8") as fh:
        run(cfg(decision_log=fh), MAIL, macros={"{auth_authen}": "alice"})
        run(cfg(decision_log=fh), MAIL, raw_macro=b"D" + utf8)  # the codec would raise
        run(cfg(decision_log=fh), MAIL)
    assert seen == ["alice", "jörg@example.org", None]
    assert [x["auth"] for x in lines(log)] == ["alice", "jörg@example.org", None]


# -- keep ----------------------------------------------------------------------------------
def test_keep_writes_each_message_once_under_its_sha256(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    keep.mkdir()
    log = tmp_path / "d.jsonl"
    with open(log, "w", encoding="utf-8") as fh:
        run(cfg(decision_log=fh, keep=str(keep)), MAIL, MAIL, EXE)
    got = lines(log)
    files = sorted(p.name for p in keep.iterdir())
    assert len(files) == 2 and not [f for f in files if not f.endswith(".eml")]
    for line in got:
        kept = Path(line["kept"])
        assert kept == keep / f"{line['sha256']}.eml"
        assert milter_log.digest(kept.read_bytes()) == line["sha256"]
    assert got[0]["sha256"] == got[1]["sha256"] != got[2]["sha256"]
    assert (keep / f"{got[2]['sha256']}.eml").read_bytes() == EXE


def test_without_keep_the_line_has_the_sha256_and_no_kept(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    with open(log, "w", encoding="utf-8") as fh:
        run(cfg(decision_log=fh), MAIL)
    (line,) = lines(log)
    assert line["sha256"] == milter_log.digest(MAIL) and "kept" not in line


def test_the_sha256_is_taken_where_the_message_is_judged_and_only_when_wanted() -> None:
    policy = loader.load_text(POLICY)
    wanted = milter_judge.judge(policy, EXE, Budget(), "t")
    unwanted = milter_judge.judge(policy, EXE, Budget(), "t", hashed=False)
    assert wanted.sha256 == milter_log.digest(EXE) and unwanted.sha256 == ""
    assert wanted.decision == unwanted.decision and wanted.decision is not None


# -- the decision log ----------------------------------------------------------------------
def test_rotation_keeps_every_line_whole_and_in_order(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    log = milter_log.DecisionLog(str(path), max_bytes=300, keep=50)
    for n in range(40):
        log.write({"n": n, "pad": "x" * (n % 7) * 10})
    log.close()
    files = [path] + [tmp_path / f"d.jsonl.{k}" for k in range(1, 51)]
    found = [f for f in files if f.exists()]
    assert len(found) > 5
    for f in found:
        assert f.stat().st_size <= 300 and f.read_bytes().endswith(b"\n")
    numbers = [x["n"] for f in reversed(found) for x in lines(f)]
    assert numbers == list(range(40))


def test_rotation_drops_the_oldest_beyond_keep(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    log = milter_log.DecisionLog(str(path), max_bytes=100, keep=2)
    for n in range(30):
        log.write({"n": n})
    log.close()
    assert not (tmp_path / "d.jsonl.3").exists()
    numbers = [x["n"] for f in ("d.jsonl.2", "d.jsonl.1", "d.jsonl") for x in lines(tmp_path / f)]
    assert numbers == list(range(30 - len(numbers), 30))


def test_reopen_follows_logrotate_create(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    log = milter_log.DecisionLog(str(path))
    log.write({"n": 1})
    os.replace(path, tmp_path / "d.jsonl.old")
    log.write({"n": 2})  # still the old file, as with any daemon until it reopens
    log.reopen()
    log.write({"n": 3})
    log.close()
    assert [x["n"] for x in lines(tmp_path / "d.jsonl.old")] == [1, 2]
    assert [x["n"] for x in lines(path)] == [3]


# -- reload --------------------------------------------------------------------------------
def test_reload_swaps_the_policy_and_in_flight_messages_finish_on_the_old(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started, release = threading.Event(), threading.Event()
    real = milter_judge.judge

    def judge(policy: CheckedPolicy, data: bytes, *a: Any) -> milter_judge.Outcome:
        if b"slow" in data:
            started.set()
            release.wait(10)
        return real(policy, data, *a)

    monkeypatch.setattr(milter_judge, "judge", judge)
    log = tmp_path / "d.jsonl"
    said: list[str] = []

    async def go() -> list[list[km.Message]]:
        with open(log, "w", encoding="utf-8") as fh:
            m = milter.Milter(cfg(decision_log=fh), said.append)
            server, port = await _serve(m)
            slow = asyncio.create_task(client(port, EXE.replace(b"Subject: x", b"Subject: slow")))
            await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
            assert await m.reload(lambda: (loader.load_text(OTHER), "2" * 64))
            release.set()
            first = await slow
            second = await client(port, EXE)

            def broken() -> tuple[CheckedPolicy, str]:
                return loader.load_text("policy x\nblok attachment\n"), "3" * 64

            assert not await m.reload(broken)
            third = await client(port, EXE)
            server.close()
            m.close()
            return [first, second, third]

    first, second, third = asyncio.run(go())
    texts = [
        bytes(r[-1].content) for r in (first, second, third) if isinstance(r[-1], km.ReplyCode)
    ]
    assert [t.split(b" ", 2)[2].rstrip(b"\0") for t in texts] == [
        b"executables refused",
        b"no programs",
        b"no programs",
    ]
    got = lines(log)
    events = [x for x in got if "event" in x]
    assert [(e["ok"], e["policy_sha256"]) for e in events] == [(True, "2" * 64), (False, "2" * 64)]
    assert "error" in events[1] and "line" not in events[1]["error"][:0]
    decided = [x["policy_sha256"] for x in got if "event" not in x]
    assert decided == ["1" * 64, "2" * 64, "2" * 64]
    assert any(f"sha256 {'2' * 64}" in s for s in said)
    assert any("reload failed" in s for s in said)


# -- worker processes ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def pool() -> Any:
    r = milter_pool.ProcessRunner(loader.load_text(POLICY), Budget(2.0, 100 << 20), 1)
    yield r
    r.close()


def workers(pool: milter_pool.ProcessRunner) -> list[int]:
    """The idle workers' pids, once a replaced one has started."""
    deadline = time.monotonic() + 20
    while not (pids := milter_pool.pid_of_workers(pool)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids


def test_a_worker_holds_an_address_space_limit(pool: milter_pool.ProcessRunner) -> None:
    (pid,) = workers(pool)
    limits = Path(f"/proc/{pid}/limits").read_text()
    row = next(x for x in limits.splitlines() if x.startswith("Max address space"))
    assert row.split()[3] != "unlimited", row


def test_a_worker_past_its_limit_is_killed_and_replaced(pool: milter_pool.ProcessRunner) -> None:
    (before,) = workers(pool)
    os.kill(before, signal.SIGSTOP)  # a runaway analysis, as far as the server can tell
    out = pool.call(milter_pool.Job(EXE, "t"), 0.5)
    assert out.decision is None and "worker was stopped" in out.error
    (after,) = workers(pool)
    assert after != before and not Path(f"/proc/{before}/cmdline").exists()
    good = pool.call(milter_pool.Job(EXE, "t"), 30.0)
    assert good.decision is not None and good.decision.action == "block"


def test_a_worker_that_dies_is_replaced(pool: milter_pool.ProcessRunner) -> None:
    (pid,) = workers(pool)
    os.kill(pid, 9)
    time.sleep(0.2)
    out = pool.call(milter_pool.Job(MAIL, "t"), 30.0)
    assert out.decision is None and "died" in out.error
    workers(pool)
    good = pool.call(milter_pool.Job(MAIL, "t"), 30.0)
    assert good.decision is not None and good.decision.action == "allow"


def test_process_isolation_decides_as_threads_do(tmp_path: Path) -> None:
    a = run(cfg(isolation="process"), MAIL, EXE)
    b = run(cfg(isolation="thread"), MAIL, EXE)
    assert [type(r[-1]) for r in a] == [type(r[-1]) for r in b] == [km.Accept, km.ReplyCode]


# -- bounded memory ------------------------------------------------------------------------
def test_a_message_past_max_message_is_judged_on_what_was_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(milter, "MAX_MESSAGE", 4000)
    monkeypatch.setattr(milter_judge, "MAX_MESSAGE", 4000)
    log = tmp_path / "d.jsonl"
    big = MAIL + b"x" * 70 + (b"\n" + b"y" * 70) * 200
    with open(log, "w", encoding="utf-8") as fh:
        (got,) = run(cfg(decision_log=fh), big)
    assert any(isinstance(e, km.Quarantine) for e in got)
    (line,) = lines(log)
    assert line["rule"] == "unread" and line["sha256"] != milter_log.digest(big)


def test_past_max_buffered_a_message_gets_451_and_the_milter_goes_on(tmp_path: Path) -> None:
    log = tmp_path / "d.jsonl"
    fh = open(log, "w", encoding="utf-8")  # noqa: SIM115 - closed below

    async def go() -> tuple[list[km.Message], list[km.Message], int]:
        m = milter.Milter(cfg(max_buffered=1000, decision_log=fh))
        server, port = await _serve(m)
        refused = await client(port, MAIL + b"z" * 2000)
        fine = await client(port, MAIL)
        held = m.buffered
        server.close()
        m.close()
        return refused, fine, held

    refused, fine, held = asyncio.run(go())
    fh.close()
    assert [x["action"] for x in lines(log)] == ["tempfail", "allow"]
    assert "max-buffered" in lines(log)[0]["reason"]
    assert isinstance(refused[-1], km.ReplyCode)
    assert bytes(refused[-1].content).startswith(b"451 4.3.2")
    assert isinstance(fine[-1], km.Accept) and held == 0


# -- shutdown ------------------------------------------------------------------------------
def test_shutdown_refuses_new_connections_and_answers_the_message_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = threading.Event()
    real = milter_judge.judge

    def judge(*a: Any) -> milter_judge.Outcome:
        started.set()
        time.sleep(0.8)
        return real(*a)

    monkeypatch.setattr(milter_judge, "judge", judge)
    from mailpolicy.policy.export.postfix_instance import free_port

    port = free_port()

    async def go() -> tuple[list[km.Message], bool, float]:
        m = milter.Milter(cfg())
        ready = asyncio.Event()
        serving = asyncio.create_task(m.serve(f"127.0.0.1:{port}", ready.set))
        await ready.wait()
        idle = await asyncio.open_connection("127.0.0.1", port)  # between messages
        flight = asyncio.create_task(client(port, EXE))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        serving.cancel()
        await asyncio.sleep(0.1)
        try:
            await asyncio.open_connection("127.0.0.1", port)
            refused = False
        except OSError:
            refused = True
        answer = await flight
        closed = await asyncio.wait_for(idle[0].read(), 5) == b""
        idle[1].close()
        t0 = time.monotonic()
        await serving
        return answer, refused and closed, time.monotonic() - t0

    answer, refused, tail = asyncio.run(go())
    assert refused
    assert isinstance(answer[-1], km.ReplyCode) and b"550 5.7.1" in bytes(answer[-1].content)
    assert tail < 5


def test_cli_start_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    import io

    from mailpolicy.simulator.cli import main

    bad = tmp_path / "bad.policy"
    bad.write_text('policy "x"\nblok attachment extension in ["exe"]\n')
    for argv in (
        ["milter", str(bad), "--listen", "127.0.0.1:1"],
        ["milter", str(bad).replace("bad", "missing"), "--listen", "127.0.0.1:1"],
        ["milter", str(tmp_path / "x"), "--listen", "127.0.0.1:99999"],
        ["milter", str(bad), "--listen", "127.0.0.1:1", "--max-buffered", "lots"],
    ):
        err = io.StringIO()
        assert main(argv, io.StringIO(), err) == 2, argv
        assert len(err.getvalue().strip().splitlines()) == 1, err.getvalue()


def test_dataclasses_cross_processes() -> None:
    import pickle

    d = milter_judge.Decision("block", "r", "why", audited=(milter_judge.Decision("tag", "t", ""),))
    out = milter_judge.Outcome(dataclasses.replace(d, refused="x"))
    assert pickle.loads(pickle.dumps(out)) == out
