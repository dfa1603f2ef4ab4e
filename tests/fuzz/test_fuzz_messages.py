"""Mutated mail through the whole replay path: every message decided, fail-closed, in time.

Seeds are the bundled samples and the third-party messages (read in place from
``../shared/corpora/thirdparty``, never copied into the repository). Mutations: flipped
bytes, truncation, duplicated header lines, deep multipart nesting, huge folded headers,
many parts, a boundary that never closes. Each mutated message is written to a temporary
corpus and replayed by ``simulate`` in this process (``--decisions``), then shown by
``inspect`` and ``explain``. Asserted: exit 0 or 2 with no traceback, every message
accounted for, a message that ran out of its budget quarantined by the policy's first
rule, and memory held (the process's peak grows by less than the budget).
"""

from __future__ import annotations

import json
import resource
from pathlib import Path

import pytest
from fuzzsupport import FAST, LONG, SAMPLES, THIRDPARTY, hostile_shapes, nest, run_verb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

POLICY = """policy "fail-closed"
quarantine message unscannable as "message-unscannable"
quarantine attachment unscannable as "attachment-unscannable"
block attachment extension in ["exe", "pif", "scr", "bat", "com", "lnk", "vbs", "js"] as "exe"
block attachment archive contains extension in ["exe", "pif", "scr", "js"] as "archived-exe"
block attachment type executable as "executable"
"""
_NOT_MAIL = {"SOURCES.md", ".gitattributes", "README.txt", "NOTICE", "NOTICE.txt", "MIT-LICENSE"}


def _seeds() -> list[Path]:
    found = sorted(p for p in (SAMPLES / "maildir").rglob("*") if p.is_file() and p.name != ".keep")
    if THIRDPARTY.is_dir():
        found += sorted(
            p
            for p in THIRDPARTY.rglob("*")
            if p.is_file() and p.name not in _NOT_MAIL and "LICENSE" not in p.name.upper()
        )
    return found


SEEDS = _seeds()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """One seed message, mutated by one to three edits."""
    data = bytearray(draw(st.sampled_from(SEEDS)).read_bytes()[: 2 << 20])
    for _ in range(draw(st.integers(1, 3))):
        op = draw(
            st.sampled_from(["flip", "truncate", "dup-header", "nest", "fold", "parts", "open"])
        )
        if op == "flip" and data:
            for _ in range(draw(st.integers(1, 20))):
                i = draw(st.integers(0, len(data) - 1))
                data[i] = draw(st.integers(0, 255))
        elif op == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif op == "dup-header":
            head, _, body = bytes(data).partition(b"\n\n")
            lines = head.split(b"\n")
            line = lines[draw(st.integers(0, len(lines) - 1))]
            lines[1:1] = [line] * draw(st.integers(1, 3000))
            data = bytearray(b"\n".join(lines) + b"\n\n" + body)
        elif op == "nest":
            data = bytearray(nest(draw(st.integers(1, 400)), bytes(data[:4096])))
        elif op == "fold":
            fold = b"Subject: x\n" + b" =?utf-8?b?QUJD?=\n" * draw(st.integers(1, 60000))
            data = bytearray(fold + bytes(data))
        elif op == "parts":
            part = b'--p\nContent-Type: application/octet-stream; name="a.exe"\n\nMZ\n'
            n = draw(st.integers(1, 5000))
            data = bytearray(
                b"From: a@example.com\nContent-Type: multipart/mixed; boundary=p\n\n"
                + part * n
                + b"--p--\n"
            )
        else:  # a boundary that never closes, and a huge base64 line
            data += b"\n--never\nContent-Type: application/zip\n"
            data += b"Content-Transfer-Encoding: base64\n\n" + b"UEsDB" * 200000
    return bytes(data)


def replay_all(messages: list[bytes], folder: Path, workers: int = 1) -> list[dict[str, object]]:
    corpus = folder / "corpus"
    corpus.mkdir(exist_ok=True)
    for old in corpus.iterdir():
        old.unlink()
    for i, data in enumerate(messages):
        (corpus / f"{i:04d}.eml").write_bytes(b"From: fuzz@example.com\n" + data)
    policy = folder / "fail-closed.policy"
    policy.write_text(POLICY, encoding="utf-8")
    decisions = folder / "decisions.jsonl"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code, _, _ = run_verb(
        [
            "simulate",
            str(policy),
            str(corpus),
            "--workers",
            str(workers),
            "--decisions",
            str(decisions),
            "--json",
        ]  # fmt: skip
    )
    # a corpus with no readable message at all exits 2 (nothing was judged); else 0
    assert code in (0, 2)
    # JSON Lines: split at "\n" only (a name may hold U+0085 or U+2028, which JSON allows)
    lines = decisions.read_text(encoding="utf-8").split("\n")
    rows = [json.loads(line) for line in lines if line]
    assert len(rows) == len(messages)  # every message accounted for
    for row in rows:
        if row["exhausted"]:  # out of budget: decided by the first rule, fail closed
            assert row["action"] == "quarantine" and row["rule"] == "message-unscannable", row
        assert row["action"] == "unreadable" or row["rule"] is not None or row["action"] == "allow"
    for i in range(min(len(messages), 2)):
        one = str(corpus / f"{i:04d}.eml")
        assert run_verb(["inspect", one])[0] in (0, 2)
        assert run_verb(["explain", str(policy), one, "--json"])[0] in (0, 2)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak
    assert grown_kb < 200 * 1024, grown_kb
    return rows


_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


@settings(max_examples=FAST, **_COMMON)  # type: ignore[arg-type]
@given(data=mutated())
def test_mutated_messages_are_decided(data: bytes, fuzz_dir: Path) -> None:
    replay_all([data], fuzz_dir)


@pytest.mark.fuzz
@settings(max_examples=LONG, **_COMMON)  # type: ignore[arg-type]
@given(data=st.lists(mutated(), min_size=1, max_size=4))
def test_mutated_messages_are_decided_long(data: list[bytes], fuzz_dir: Path) -> None:
    replay_all(data, fuzz_dir)


def test_hostile_shapes_in_worker_processes(fuzz_dir: Path) -> None:
    """The worker-process path (fork, budget set per message there) on every shape."""
    shapes = list(hostile_shapes().values())
    rows = replay_all(shapes, fuzz_dir, workers=2)
    assert [r["action"] for r in rows].count("allow") < len(rows)
