"""The per-message budget: a message that runs out of time or memory is decided on what
was read, plus ``message unscannable``, counted, and never stops the run."""

from __future__ import annotations

import io
import json
import resource
import time
from pathlib import Path

import pytest

from mailpolicy.corpus.readers import RawMessage
from mailpolicy.policy.loader import load_text
from mailpolicy.simulator import budget, replay
from mailpolicy.simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "corpus" / "samples"
POLICY = 'quarantine message unscannable as "unscannable"\n'
RAW = RawMessage("m.eml", None, b"From: a@example.com\nSubject: hi\n\nbody text\n", "benign")


def _matcher() -> replay.Matcher:
    return replay.make_matcher(load_text(POLICY), "compiled")


def test_within_budget_changes_nothing() -> None:
    (d,) = replay.decide_raw([_matcher()], RAW)
    assert (d.action, d.exhausted) == ("allow", None)
    assert resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY  # put back


def test_a_parser_that_never_returns_is_stopped_by_the_watchdog(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = replay.parse

    def spin(raw: RawMessage) -> object:
        if b"body" in raw.data:  # the whole message; its header block alone parses
            while True:
                pass
        return real(raw)

    monkeypatch.setattr(replay, "parse", spin)
    started = time.monotonic()
    (d,) = replay.decide_raw([_matcher()], RAW, budget=budget.Budget(seconds=0.2))
    assert time.monotonic() - started < 0.2 + budget.GRACE + replay.FALLBACK_SECONDS + 0.3
    assert (d.action, d.rule, d.exhausted) == ("quarantine", "unscannable", "time")
    assert "time budget of 0.2 s exhausted" in d.reason


def test_memory_exhausted_is_that_message_s_fact(monkeypatch: pytest.MonkeyPatch) -> None:
    real = replay.parse

    def hog(raw: RawMessage) -> object:
        if b"body" in raw.data:
            hoard = [bytearray(32 << 20) for _ in range(64)]  # 2 GB, over the budget
            del hoard
        return real(raw)

    monkeypatch.setattr(replay, "parse", hog)
    (d,) = replay.decide_raw([_matcher()], RAW, budget=budget.Budget(memory=100 << 20))
    assert (d.action, d.exhausted) == ("quarantine", "memory")
    assert "memory budget of 100 MB exhausted" in d.reason
    monkeypatch.undo()
    (again,) = replay.decide_raw([_matcher()], RAW)  # the limit was put back
    assert again.exhausted is None and bytearray(300 << 20)


def test_unlimited_budget_lets_the_work_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    real = replay.parse
    monkeypatch.setattr(replay, "parse", lambda raw: (time.sleep(0.3), real(raw))[1])
    (d,) = replay.decide_raw([_matcher()], RAW, budget=budget.Budget(seconds=0.1))
    assert d.exhausted == "time"
    (d,) = replay.decide_raw([_matcher()], RAW, budget=budget.UNLIMITED)
    assert (d.action, d.exhausted) == ("allow", None)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_simulate_counts_exhausted_messages(tmp_path: Path, workers: str) -> None:
    """A budget no message fits in: every one is quarantined by 'message unscannable',
    and the summary and --json say how many ran out, in the workers as in this process."""
    policy = tmp_path / "p.policy"
    policy.write_text(POLICY, encoding="utf-8")
    corpus = str(SAMPLES / "maildir")
    argv = ["simulate", str(policy), corpus, "--workers", workers, "--time-budget", "1e-9"]
    out, err = io.StringIO(), io.StringIO()
    assert main([*argv, "--json"], out, err) == 0, err.getvalue()
    doc = json.loads(out.getvalue())
    n = doc["messages"]
    assert n > 50 and doc["budget_exhausted"] == {"time": n, "memory": 0}
    assert doc["actions"] == {"quarantine": n}
    out = io.StringIO()
    assert main(argv, out, err) == 0
    assert f"budget exhausted: {n} messages (time {n}, memory 0)" in out.getvalue()
    out = io.StringIO()
    assert main(["simulate", str(policy), corpus, "--json"], out, err) == 0
    assert json.loads(out.getvalue())["budget_exhausted"] == {"time": 0, "memory": 0}


def test_explain_and_inspect_show_the_budget(tmp_path: Path) -> None:
    policy = tmp_path / "p.policy"
    policy.write_text(POLICY, encoding="utf-8")
    message = str(SAMPLES / "mbox" / "malicious" / "sircam.mbox")
    out, err = io.StringIO(), io.StringIO()
    assert main(["explain", str(policy), message, "--json", "--time-budget", "1e-9"], out, err) == 0
    first = json.loads(out.getvalue().splitlines()[0])
    assert first["exhausted"] == "time" and first["action"] == "quarantine"
    assert first["unscannable"][-1].startswith("time budget of 1e-09 s exhausted")
    out = io.StringIO()
    assert main(["inspect", message, "--json", "--time-budget", "1e-9"], out, err) == 0
    assert all(
        "time budget" in json.loads(x)["unscannable"][-1] for x in out.getvalue().split("\n") if x
    )


def test_bad_budget_is_a_usage_error() -> None:
    err = io.StringIO()
    assert (
        main(["inspect", str(SAMPLES / "maildir"), "--time-budget", "-1"], io.StringIO(), err) == 2
    )
    assert err.getvalue().count("\n") == 1
