"""Ctrl-C during a long replay: exit 130, partial results written and marked, every
decision written is counted, no worker left behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from simsupport import policy_file, write_large_mbox


def test_sigint_writes_a_partial_report(tmp_path: Path) -> None:
    corpus = tmp_path / "big.mbox"
    write_large_mbox(corpus, 60_000)
    policy = policy_file(tmp_path, 'block attachment extension in ["pif"] as "pif"')
    decisions, report = tmp_path / "d.jsonl", tmp_path / "r.html"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailpolicy.simulator.cli",
            "simulate",
            str(policy),
            str(corpus),
            "--json",
            "--workers",
            "2",
            "--decisions",
            str(decisions),
            "--report",
            str(report),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not (decisions.exists() and decisions.stat().st_size > 0):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no decision written within 60 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err.decode()
    doc = json.loads(out)
    assert doc["partial"] is True
    written = decisions.read_text().splitlines()
    assert 0 < doc["messages"] + doc["unreadable"] == len(written) < 60_000
    assert doc["actions"]["block"] == sum('"action": "block"' in line for line in written)
    assert "Partial results" in report.read_text()
    assert b"interrupted after" in err and b"Traceback" not in err
