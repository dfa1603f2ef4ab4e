"""Reading milter decision logs back (``simulator.decisionlog``) and ``simulate
--decision-log``: kept files, the archive searched by sha256 and Message-ID, lines cut
short, gzip, and the decisions that changed since."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from mailpolicy.corpus.readers import iter_raw
from mailpolicy.simulator import decisionlog
from mailpolicy.simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "corpus" / "samples"
BASELINE = str(ROOT / "policy" / "policies" / "baseline.policy")
MAILDIR = SAMPLES / "maildir"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def samples(n: int) -> list[bytes]:
    """The first ``n`` bundled sample messages, malicious ones first."""
    found = [
        item.data
        for item in iter_raw([MAILDIR / "malicious", MAILDIR / "benign"])
        if not hasattr(item, "reason")
    ]
    assert len(found) >= n
    return found[:n]


def line(data: bytes, action: str, rule: str | None, **more: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "time": "2026-12-01T10:00:00Z",
        "queue_id": more.pop("queue_id", "4ABC"),
        "message_id": decisionlog.message_id(data),
        "sender": "a@example.com",
        "recipients": ["b@example.ac.jp"],
        "action": action,
        "rule": rule,
        "reason": "",
        "policy_sha256": "0" * 64,
        "mode": "enforce",
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    record.update(more)
    return record


def write_log(path: Path, records: list[dict[str, Any]], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail, encoding="utf-8")
    return path


def keep(tmp_path: Path, data: bytes) -> str:
    keep_dir = tmp_path / "kept"
    keep_dir.mkdir(exist_ok=True)
    name = hashlib.sha256(data).hexdigest() + ".eml"
    (keep_dir / name).write_bytes(data)
    return f"kept/{name}"


def test_message_id_is_read_from_the_header_block_only() -> None:
    data = b"Subject: x\r\nMessage-ID:\r\n <a@b>\r\n\r\nMessage-ID: <body@x>\r\n"
    assert decisionlog.message_id(data) == "<a@b>"
    assert decisionlog.message_id(b"Subject: x\n\nMessage-ID: <body@x>\n") is None


def test_read_counts_bad_lines_and_events_and_reads_gzip(tmp_path: Path) -> None:
    (data,) = samples(1)
    plain = write_log(
        tmp_path / "d.log",
        [line(data, "block", "r1"), {"event": "reload", "policy_sha256": "1" * 64}],
        tail='{"time": "2026-12-01T10:00:01Z", "act',  # cut short by a crash
    )
    packed = tmp_path / "d.log.1.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(line(data, "allow", None)) + "\n[1, 2]\n{}\n")
    got = decisionlog.read([str(packed), str(plain)])
    assert [e.record["action"] for e in got.entries] == ["allow", "block"]
    assert got.events == 1
    assert [why for _, why in got.bad] == [
        "not a JSON object",
        "no action: not a decision line",
        "not JSON (a line cut short?)",
    ]
    assert got.bad[-1][0] == f"{plain}:3"


def test_locate_prefers_the_kept_file_and_checks_its_hash(tmp_path: Path) -> None:
    a, b, c = samples(3)
    kept_a = keep(tmp_path, a)
    kept_b = keep(tmp_path, b)
    (tmp_path / kept_b).write_bytes(b + b"tampered")  # no longer the logged bytes
    log = write_log(
        tmp_path / "d.log",
        [
            line(a, "block", "r1", kept=kept_a),
            line(b, "block", "r1", kept=kept_b),
            line(c, "allow", None),
        ],
    )
    found = decisionlog.locate(decisionlog.read([str(log)]))
    assert [where for _, where in found.found] == [str(tmp_path / kept_a)]
    whys = [why for _, why in found.missing]
    assert "sha256 differs" in whys[0] and "no corpus given" in whys[0]
    assert whys[1].startswith("not kept by the milter")


def test_locate_searches_the_corpus_by_hash_then_message_id(tmp_path: Path) -> None:
    a, b, c = samples(3)
    archive = tmp_path / "archive.mbox"
    # the archive holds a verbatim, and b with a header the MTA added (same Message-ID)
    archive.write_bytes(
        b"From x@y Mon Jan  1 00:00:00 2026\n"
        + a.replace(b"\r\n", b"\n")
        + b"\nFrom x@y Mon Jan  1 00:00:00 2026\nX-Archived: yes\n"
        + b.replace(b"\r\n", b"\n")
        + b"\n"
    )
    records = [line(a, "block", "r1"), line(b, "allow", None), line(c, "allow", None)]
    records[0]["sha256"] = hashlib.sha256(a.replace(b"\r\n", b"\n")).hexdigest()
    log = write_log(tmp_path / "d.log", records)
    found = decisionlog.locate(decisionlog.read([str(log)]), [str(archive)])
    where = [w for _, w in found.found]
    assert len(where) == 2 and all(w.startswith(f"{archive}:") for w in where)
    assert len(set(where)) == 2
    (missing,) = found.missing
    assert missing[0].record["message_id"] == decisionlog.message_id(c)
    assert "nor in the corpus given" in missing[1]


def test_simulate_replays_a_log_and_reports_what_changed(tmp_path: Path) -> None:
    a, b = samples(2)  # two malicious samples: the baseline stops both
    log = write_log(
        tmp_path / "d.log",
        [
            line(a, "allow", None, kept=keep(tmp_path, a), queue_id="Q1"),  # live missed it
            line(b, "allow", None, queue_id="Q2"),  # not kept, no corpus: not replayed
        ],
    )
    code, out, err = run("simulate", BASELINE, "--decision-log", str(log), "--json")
    assert code == 0, err
    doc = json.loads(out)
    section = doc["decision_log"]
    assert (section["entries"], section["replayed"], section["not_kept"]) == (2, 1, 1)
    (changed,) = section["changed"]
    assert changed["queue_id"] == "Q1" and changed["live"]["action"] == "allow"
    assert changed["now"]["action"] != "allow"
    assert doc["messages"] == 1 and doc["corpus"] == [str(log)]
    code, text, err = run("simulate", BASELINE, "--decision-log", str(log))
    assert code == 0, err
    assert "decision log: 2 decisions, 1 replayed, 1 not kept" in text
    assert "Q1: live allow (default) -> now " in text


def test_simulate_agrees_with_a_log_of_its_own_decisions(tmp_path: Path) -> None:
    """A log whose live decisions are the policy's own: nothing changed."""
    messages = samples(6)
    first = tmp_path / "first.jsonl"
    corpus = [keep(tmp_path, m) for m in messages]
    code, out, err = run(
        "simulate", BASELINE, *[str(tmp_path / c) for c in corpus], "--decisions", str(first)
    )
    assert code == 0, err
    rows = [json.loads(x) for x in first.read_text().splitlines()]
    by_path = {r["path"]: r for r in rows}
    records = []
    for data, kept in zip(messages, corpus, strict=True):
        r = by_path[str(tmp_path / kept)]
        records.append(line(data, r["action"], r["rule"], kept=kept))
    log = write_log(tmp_path / "d.log", records)
    code, out, err = run("simulate", BASELINE, "--decision-log", str(log), "--json")
    assert code == 0, err
    section = json.loads(out)["decision_log"]
    assert (section["replayed"], section["changed"]) == (6, [])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--decision-log", "/nonexistent/d.log"], "cannot read decision log /nonexistent"),
        ([], "no corpus: give CORPUS paths, or --decision-log LOG"),
    ],
)
def test_simulate_decision_log_errors(argv: list[str], message: str) -> None:
    code, out, err = run("simulate", BASELINE, *argv)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_log_with_nothing_replayable_is_a_usage_error(tmp_path: Path) -> None:
    (data,) = samples(1)
    log = write_log(tmp_path / "d.log", [line(data, "block", "r1")])
    code, out, err = run("simulate", BASELINE, "--decision-log", str(log))
    assert code == 2
    assert "no message of the decision log can be replayed (1 decisions; first: not kept" in err


def test_a_real_milter_log_replays_with_its_own_verdicts(tmp_path: Path) -> None:
    """The milter keeps every sample and logs it; replaying the log with the same policy
    changes nothing, and with another policy changes exactly the messages whose verdict
    that policy gives differently (as ``simulate`` over the kept files says)."""
    from test_milter import run_milter

    from mailpolicy.simulator import milter, milter_judge, milter_log

    found = (p.read_bytes() for p in sorted(MAILDIR.glob("*/*/*")) if p.is_file())
    messages = [m for m in found if m.strip()]  # a blank file is no message to a reader
    kept = tmp_path / "kept"
    kept.mkdir()
    log_path = tmp_path / "decisions.jsonl"
    log = milter_log.DecisionLog(str(log_path))
    cfg = milter.Config(
        *milter_judge.load_source(BASELINE),
        decision_log=log,
        keep=str(kept),
        isolation="thread",
    )
    try:
        run_milter(cfg, messages)
    finally:
        log.close()
    code, out, err = run("simulate", BASELINE, "--decision-log", str(log_path), "--json")
    assert code == 0, err
    section = json.loads(out)["decision_log"]
    assert section["entries"] == len(messages) and section["not_kept"] == 0
    assert section["changed"] == []

    other = str(ROOT / "policy" / "policies" / "sircam-2001.policy")
    code, out, err = run("simulate", other, "--decision-log", str(log_path), "--json")
    assert code == 0, err
    changed = {c["location"] for c in json.loads(out)["decision_log"]["changed"]}
    live = {
        r["kept"]: (r["action"], r["rule"])
        for r in map(json.loads, log_path.read_text().splitlines())
        if "event" not in r
    }
    decisions = tmp_path / "now.jsonl"
    code, _, err = run("simulate", other, *sorted(live), "--decisions", str(decisions))
    assert code == 0, err
    now = {
        r["path"]: (r["action"], r["rule"])
        for r in map(json.loads, decisions.read_text().splitlines())
    }
    assert changed == {p for p in live if live[p] != now[p]} and changed
