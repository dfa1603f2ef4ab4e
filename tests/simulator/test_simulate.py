"""``mailpolicy simulate`` end to end, in-process through the CLI, on the bundled samples and
on small corpora generated here (corrupt mbox entries, junk in a Maildir)."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from simsupport import CorpusFiles, mbox_message, policy_file

from mailpolicy.corpus import readers
from mailpolicy.corpus.readers import iter_raw
from mailpolicy.simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "corpus" / "samples"
POLICIES = ROOT / "policy" / "policies"
BASELINE = str(POLICIES / "baseline.policy")
SIRCAM_2001 = str(POLICIES / "sircam-2001.policy")
#: A file name a hostile sender could choose (no "/": names are cut to their basename).
HOSTILE = "<img src=x onerror=alert(1)>&amp;<script>alert(2).tar.gz"
SAMPLE_CORPUS = [str(SAMPLES / "maildir"), str(SAMPLES / "mbox")]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def run_json(*argv: str) -> dict[str, Any]:
    code, out, err = run(*argv, "--json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def samples() -> list[str]:
    if not (SAMPLES / "maildir").is_dir():
        pytest.skip("sample corpus not present")
    return SAMPLE_CORPUS


# ---- the bundled corpus ------------------------------------------------------------------------
def test_baseline_has_no_false_positives_or_negatives(samples: list[str]) -> None:
    doc = run_json("simulate", BASELINE, *samples, "--workers", "2", "--samples", "100")
    fp = [
        (s["path"], s["key"], s["attachment"], s["rule"]) for s in doc["samples"]["false_positives"]
    ]
    fn = [(s["path"], s["key"], s["attachments"]) for s in doc["samples"]["false_negatives"]]
    assert (doc["false_positives"], doc["false_negatives"]) == (0, 0), (fp, fn)
    assert doc["unreadable"] == 0
    raws = [r for r in readers.iter_raw(samples) if isinstance(r, readers.RawMessage)]
    benign = sum("benign" in r.path for r in raws)
    assert doc["messages"] == len(raws) > 150 and benign > 60
    assert doc["labels"]["benign"]["allow"] + doc["labels"]["benign"].get("tag", 0) == benign
    assert doc["precision"] == 1.0 and doc["recall"] == 1.0


def test_2001_policy_shows_its_false_positives_by_name(samples: list[str]) -> None:
    code, out, err = run("simulate", SIRCAM_2001, *samples, "--workers", "1", "--samples", "50")
    assert code == 0, err
    for name in ("test.tar.gz", "archive.sit.bin", "test.2001.01.01"):
        assert name in out
    doc = run_json("simulate", SIRCAM_2001, *samples, "--workers", "1", "--samples", "50")
    by_name = {s["attachment"]: s["rule"] for s in doc["samples"]["false_positives"]}
    for name in ("test.tar.gz", "archive.sit.bin", "test.2001.01.01"):
        assert by_name[name] == "double-extension-2001"
    rule = next(r for r in doc["rules"] if r["id"] == "double-extension-2001")
    assert rule["benign_hits"] >= 6  # three names, two forms of the corpus
    assert doc["false_positives_by_extension"]["gz"] >= 2
    # names-only rules let the renamed executable through
    assert any(s["attachments"] == ["photo.jpg"] for s in doc["samples"]["false_negatives"])


def test_json_has_the_promised_keys(samples: list[str]) -> None:
    doc = run_json("simulate", SIRCAM_2001, samples[1], "--workers", "1")
    for key in (
        "messages",
        "unreadable",
        "actions",
        "labels",
        "false_positives",
        "false_negatives",
        "rules",
        "samples",
        "elapsed_s",
        "messages_per_s",
        "precision",
        "recall",
        "partial",
    ):
        assert key in doc
    assert doc["partial"] is False
    assert set(doc["rules"][0]) >= {"id", "hits", "benign_hits", "malicious_hits"}
    assert sum(doc["actions"].values()) == doc["messages"]


def test_workers_give_identical_decisions(samples: list[str], tmp_path: Path) -> None:
    outs = []
    for n in ("1", "2", "3"):
        path = tmp_path / f"d{n}.jsonl"
        code, _, err = run("simulate", BASELINE, *samples, "--workers", n, "--decisions", str(path))
        assert code == 0, err
        outs.append(path.read_bytes())
    assert outs[0] == outs[1] == outs[2]


def test_reference_and_compiled_evaluators_agree(samples: list[str], tmp_path: Path) -> None:
    got = []
    for ev in ("reference", "compiled"):
        path = tmp_path / f"{ev}.jsonl"
        code, _, err = run(
            "simulate",
            BASELINE,
            *samples,
            "--evaluator",
            ev,
            "--workers",
            "1",
            "--decisions",
            str(path),
        )
        assert code == 0, err
        got.append([(d["action"], d["rule"], d["attachment"]) for d in lines(path)])
    assert got[0] == got[1]


def test_every_message_is_accounted_for_in_corpus_order(samples: list[str], tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    doc = run_json("simulate", BASELINE, *samples, "--workers", "2", "--decisions", str(path))
    found = [(i.path, i.key) for i in iter_raw(samples)]
    decided = [(d["path"], d["key"]) for d in lines(path)]
    assert decided == found
    assert doc["messages"] + doc["unreadable"] == len(found)


def _snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.stat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            out[str(p.relative_to(root))] = (digest, st.st_mtime_ns, st.st_mode)
    return out


def test_corpus_is_unchanged_after_a_run(samples: list[str], tmp_path: Path) -> None:
    before = _snapshot(SAMPLES)
    code, _, err = run(
        "simulate",
        BASELINE,
        *samples,
        "--workers",
        "2",
        "--decisions",
        str(tmp_path / "d.jsonl"),
        "--report",
        str(tmp_path / "r.html"),
    )
    assert code == 0, err
    assert _snapshot(SAMPLES) == before


# ---- broken input ------------------------------------------------------------------------------
def test_corrupt_message_in_the_middle_of_an_mbox(tmp_path: Path) -> None:
    mbox = tmp_path / "malicious" / "inbox.mbox"
    mbox.parent.mkdir()
    mbox.write_bytes(
        mbox_message(1, "a.pif")
        + b"From x@example.com Mon Jul 16 10:00:00 2001\n"
        + b"\x00\x01garbage\xff\n" * 5
        + b"\n"
        + mbox_message(3, "b.pif")
    )
    decisions = tmp_path / "d.jsonl"
    doc = run_json(
        "simulate", SIRCAM_2001, str(mbox.parent), "--workers", "2", "--decisions", str(decisions)
    )
    assert (doc["messages"], doc["unreadable"]) == (2, 1)
    assert doc["actions"] == {"block": 2}
    assert doc["labels"]["malicious"] == {"block": 2, "unreadable": 1}
    rows = lines(decisions)
    assert [r["action"] for r in rows] == ["block", "unreadable", "block"]
    assert "NUL" in rows[1]["reason"] and rows[1]["key"] is not None
    code, out, _ = run("simulate", SIRCAM_2001, str(mbox), "--workers", "1")
    assert code == 0 and "unreadable: 1" in out


def test_unreadable_file_in_a_maildir(tmp_path: Path) -> None:
    md = CorpusFiles(tmp_path / "benign")
    md.maildir_message("1:2,S", 1, "report.pdf")
    md.maildir_raw("2:2,S", b"\x89PNG\r\n\x1a\n\x00\x00 not mail")
    md.maildir_message("3:2,S", 3, "notes.txt")
    decisions = tmp_path / "d.jsonl"
    doc = run_json(
        "simulate", SIRCAM_2001, str(md.root), "--workers", "2", "--decisions", str(decisions)
    )
    assert (doc["messages"], doc["unreadable"]) == (2, 1)
    assert doc["false_positives"] == 0
    rows = lines(decisions)
    assert [(r["key"], r["action"]) for r in rows] == [
        ("1:2,S", "allow"),
        ("2:2,S", "unreadable"),
        ("3:2,S", "allow"),
    ]
    assert doc["samples"]["unreadable"][0]["key"] == "2:2,S"


def test_mime_defects_are_reported_and_the_message_still_decided(tmp_path: Path) -> None:
    md = CorpusFiles(tmp_path / "malicious")
    md.maildir_raw(
        "1:2,S",
        b"From: a@example.com\nSubject: x\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=B\n\n--B\n"
        b'Content-Type: application/octet-stream; name="x.pif"\n\nMZ\n',
    )
    doc = run_json("simulate", SIRCAM_2001, str(md.root), "--workers", "1")
    assert doc["actions"] == {"block": 1}
    assert doc["defective"] == 1 and doc["samples"]["defective"][0]["defects"]


def test_hostile_names_are_plain_data(tmp_path: Path) -> None:
    md = CorpusFiles(tmp_path / "benign")
    md.maildir_message("1:2,S", 1, HOSTILE)
    doc = run_json("simulate", SIRCAM_2001, str(md.root), "--workers", "1")
    assert doc["samples"]["false_positives"][0]["attachment"] == HOSTILE


# ---- usage errors ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--labels", "/nonexistent/labels.csv"], "cannot read labels"),
        (["--report", "/nonexistent/dir/r.html"], "cannot write report"),
        (["--decisions", "/nonexistent/dir/d.jsonl"], "cannot write decisions"),
        (["--workers", "0"], "--workers"),
    ],
)
def test_bad_options_exit_2(samples: list[str], extra: list[str], message: str) -> None:
    code, out, err = run("simulate", BASELINE, samples[1], *extra)
    assert code == 2 and message in err and out == ""
    assert len(err.strip().splitlines()) == 1


def test_missing_corpus_exits_2() -> None:
    code, _out, err = run("simulate", BASELINE, "/nonexistent/corpus")
    assert code == 2
    assert err.strip() == (
        "mailpolicy: error: cannot read corpus /nonexistent/corpus: no such file or directory"
    )


def test_labels_file_overrides_by_message_id(samples: list[str], tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("message_id,label\n<benign-02@samples.mailpolicy.example>,malicious\n")
    before = run_json("simulate", SIRCAM_2001, samples[1], "--workers", "2")
    doc = run_json("simulate", SIRCAM_2001, samples[1], "--workers", "2", "--labels", str(labels))
    # test.tar.gz, blocked by the 2001 rules, is now "malicious": one more caught, one less FP
    caught = before["labels"]["malicious"]["block"]
    assert doc["labels"]["malicious"]["block"] == caught + 1
    assert doc["false_positives"] == before["false_positives"] - 1


def test_compiled_falls_back_with_one_note(
    samples: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "mailpolicy.policy.compile", None)
    code, _, err = run("diff", SIRCAM_2001, BASELINE, samples[1], "--workers", "1")
    assert code == 0
    assert err.count("compiled evaluator is not available") == 1


def test_spawned_workers_get_the_policy(
    samples: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import multiprocessing

    from mailpolicy.simulator import replay

    monkeypatch.setattr(replay, "_context", lambda: multiprocessing.get_context("spawn"))
    a, b = tmp_path / "spawn.jsonl", tmp_path / "one.jsonl"
    assert run("simulate", BASELINE, samples[1], "--workers", "2", "--decisions", str(a))[0] == 0
    assert run("simulate", BASELINE, samples[1], "--workers", "1", "--decisions", str(b))[0] == 0
    assert a.read_bytes() == b.read_bytes()


def test_policy_helper_round_trip(tmp_path: Path) -> None:
    path = policy_file(tmp_path, 'block attachment extension in ["pif"] as "pif"')
    md = CorpusFiles(tmp_path / "malicious")
    md.maildir_message("1:2,S", 1, "x.pif")
    doc = run_json("simulate", str(path), str(md.root), "--workers", "1")
    assert doc["rules"][0] == {
        "id": "pif",
        "action": "block",
        "line": 1,
        "hits": 1,
        "benign_hits": 0,
        "malicious_hits": 1,
    }


def test_no_worker_outlives_the_run(samples: list[str]) -> None:
    import multiprocessing

    assert run("simulate", SIRCAM_2001, samples[1], "--workers", "2")[0] == 0
    assert multiprocessing.active_children() == []


def test_progress_only_on_a_terminal(samples: list[str]) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out, err = io.StringIO(), Tty()
    assert main(["simulate", SIRCAM_2001, samples[1], "--workers", "1"], out=out, err=err) == 0
    assert "messages," in err.getvalue() and "ETA" in err.getvalue()
    assert "messages," not in run("simulate", SIRCAM_2001, samples[1], "--workers", "1")[2]
