"""``mailpolicy milter`` as a process: SIGHUP reloads the policy only when it checks clean and
reopens the decision log, a policy from standard input is hashed and cannot be reloaded,
SIGTERM stops it cleanly, and every option is in ``--help``."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailpolicy.policy.export.postfix_instance import free_port
from mailpolicy.simulator.cli import main

POLICY = 'policy "live"\nblock attachment extension in ["exe"] as "exe" reason "no exe"\n'
ARGV = [sys.executable, "-m", "mailpolicy.simulator.cli", "milter"]


class Proc:
    def __init__(self, *args: str, stdin: bytes | None = None) -> None:
        self.p = subprocess.Popen(
            [*ARGV, *args, "--listen", f"127.0.0.1:{free_port()}", "--isolation", "thread"],
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if stdin is not None:
            assert self.p.stdin is not None
            self.p.stdin.write(stdin)
            self.p.stdin.close()
        self.seen: list[str] = []

    def wait_for(self, text: str, seconds: float = 20) -> str:
        """The first stderr line (from now on) holding ``text``."""
        assert self.p.stderr is not None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.p.stderr], [], [], 0.2)
            if ready:
                line = self.p.stderr.readline().decode()
                self.seen.append(line)
                if text in line:
                    return line
        raise AssertionError(f"no {text!r} on stderr: {self.seen}")

    def stop(self) -> int:
        self.p.send_signal(signal.SIGTERM)
        code = self.p.wait(20)
        assert self.p.stderr is not None
        self.p.stderr.close()
        return code


@pytest.fixture
def proc() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        if p.p.poll() is None:
            p.p.kill()
            p.p.wait(10)
        if p.p.stderr is not None and not p.p.stderr.closed:
            p.p.stderr.close()


def test_sighup_reloads_a_clean_policy_keeps_the_old_on_errors_and_reopens_the_log(
    tmp_path: Path, proc: list[Proc]
) -> None:
    policy = tmp_path / "live.policy"
    policy.write_text(POLICY)
    log = tmp_path / "decisions.jsonl"
    p = Proc(str(policy), "--decision-log", str(log))
    proc.append(p)
    first = hashlib.sha256(POLICY.encode()).hexdigest()
    assert first in p.wait_for("listening on")
    newer = POLICY.replace("no exe", "no programs")
    policy.write_text(newer)
    log.rename(tmp_path / "decisions.jsonl.1")  # logrotate's create: moved, then SIGHUP
    p.p.send_signal(signal.SIGHUP)
    second = hashlib.sha256(newer.encode()).hexdigest()
    assert second in p.wait_for("policy reloaded")
    policy.write_text("policy x\nblok attachment\n")
    p.p.send_signal(signal.SIGHUP)
    assert second[:12] in p.wait_for("reload failed")
    assert p.p.poll() is None
    assert p.stop() == 0
    events = [json.loads(x) for x in log.read_text().splitlines()]
    assert [(e["event"], e["ok"], e["policy_sha256"]) for e in events] == [
        ("reload", True, second),
        ("reload", False, second),
    ]


def test_a_policy_from_stdin_is_hashed_and_sighup_says_once_it_cannot_reload(
    proc: list[Proc],
) -> None:
    p = Proc("-", stdin=POLICY.encode())
    proc.append(p)
    assert hashlib.sha256(POLICY.encode()).hexdigest() in p.wait_for("listening on")
    p.p.send_signal(signal.SIGHUP)
    p.wait_for("cannot reload")
    p.p.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    assert p.stop() == 0
    assert p.p.stderr is not None
    assert sum("cannot reload" in x for x in p.seen) == 1


def test_every_option_is_in_help() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["milter", "--help"]) == 0
    text = out.getvalue()
    for option in (
        "--listen",
        "--audit",
        "--decision-log",
        "--decision-log-max-bytes",
        "--decision-log-keep",
        "--keep",
        "--fallback",
        "--max-concurrent",
        "--isolation",
        "--max-buffered",
        "--time-budget",
        "--memory-budget",
        "--list-root",
    ):
        assert option in text, option


def test_a_port_in_use_is_one_line_exit_2() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = subprocess.run(
            [*ARGV, "-", "--listen", f"127.0.0.1:{port}"],
            input=POLICY.encode(),
            capture_output=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert (
        done.stderr.decode().strip().splitlines()[-1].startswith("mailpolicy: error: cannot listen")
    )
    assert b"Traceback" not in done.stderr
