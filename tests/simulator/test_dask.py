"""The Dask engine gives the local engine's rows, message for message, in corpus order.

The corpus parts (``corpus.mbox_index``) are checked against ``iter_raw`` without Dask,
with Hypothesis over generated mboxes. The engine runs on one ``LocalCluster`` of two
worker processes for the module: the same rows, JSON and decisions file as the local
engine on the bundled samples (Maildir and mbox) for both shipped policies, an mbox split
into many byte ranges, a message that kills its worker (an unreadable row, never a lost
message), closing the rows mid-run (nothing left on the cluster), and the options.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simsupport import mbox_message, write_large_mbox

from mailpolicy.corpus import mbox_index
from mailpolicy.corpus.labels import Labels
from mailpolicy.corpus.readers import RawMessage, Unreadable, iter_raw
from mailpolicy.policy.diagnostics import InputError
from mailpolicy.policy.loader import load_policy
from mailpolicy.simulator import replay
from mailpolicy.simulator.cli import engine_options, main

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "corpus" / "samples"
POLICIES = sorted(str(p) for p in (ROOT / "policy" / "policies").glob("*.policy"))
CORPORA = [str(SAMPLES / "maildir"), str(SAMPLES / "mbox")]
#: What differs between two runs of the same replay: how long it took.
TIMINGS = ("elapsed_s", "messages_per_s", "mb_per_s")

try:
    import dask
    from distributed import Client

    from mailpolicy.simulator import dask_engine
except ImportError as exc:  # the 'dask' extra is not installed
    if os.environ.get("CI"):
        raise
    MISSING: str | None = f"dask.distributed is not installed ({exc.name})"
else:
    MISSING = None

needs_dask = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


# ---- the parts, without Dask -----------------------------------------------------------------
def _parts_items(paths: list[str], **limits: int) -> list[RawMessage | Unreadable]:
    return [i for p in mbox_index.plan(paths, **limits) for i in mbox_index.read_part(p)]


ENVELOPES = [
    b"From sender@example.com Mon Jul 16 10:00:00 2001\n",
    b"From x\n",  # no date: a separator only after a blank line
    b"From a@b Sun Jun 16 10:00:00 2002\r\n",
]
BODY_LINES = [
    b"Subject: hi\n",
    b"From: a@b\n",
    b"\n",
    b"From the desk of the dean\n",  # a body line, or a separator after a blank line
    b">From quoted\n",
    b">>From twice\n",
    b"From b@c Mon Jul 16 10:00:00 2001\n",  # a separator even without a blank line
    b"hello\r\n",
    b"\x00binary\n",
    b"x" * 300 + b"\n",
]


@st.composite
def mboxes(draw: st.DrawFn) -> bytes:
    out = b""
    for _ in range(draw(st.integers(1, 12))):
        out += draw(st.sampled_from(ENVELOPES))
        out += b"".join(draw(st.lists(st.sampled_from(BODY_LINES), max_size=8)))
        if draw(st.booleans()):
            out += b"\n"
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mboxes(), st.integers(1, 5), st.integers(1, 400))
def test_mbox_parts_read_as_iter_raw(data: bytes, messages: int, part_bytes: int) -> None:
    """However an mbox is cut into ranges, the ranges read back as ``iter_raw`` reads it:
    the same messages, keys (offsets in the whole file), labels and reasons."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "box.mbox")
        with open(path, "wb") as fh:
            fh.write(data)
        whole = list(iter_raw([path]))
        parts = list(
            mbox_index.plan([path], split_bytes=0, part_messages=messages, part_bytes=part_bytes)
        )
        assert [i for p in parts for i in mbox_index.read_part(p)] == whole
        ranges = [e for p in parts for e in p.entries if isinstance(e, mbox_index.MboxRange)]
        with open(path, "rb") as fh:
            offsets = [o for o, _ in mbox_index.mbox_offsets(fh)]
        # Ranges start at From lines, follow each other without a gap and cover the file.
        assert set(r.start for r in ranges) <= set(offsets)
        assert [r.end for r in ranges[:-1]] == [r.start for r in ranges[1:]]
        assert (ranges[0].start, ranges[-1].end) == (0, len(data))
        assert all(1 <= r.messages <= messages for r in ranges)
        assert sum(r.messages for r in ranges) == len(offsets) == len(whole)


def test_parts_of_the_samples_read_as_iter_raw(tmp_path: Path) -> None:
    """Maildir, MH, mbox, an mbox inside a Maildir (keys ``NAME:OFFSET``), junk, a missing
    path and ``PATH:KEY``: the parts concatenate to ``iter_raw``, labels included."""
    inner = tmp_path / "box" / "cur"
    inner.mkdir(parents=True)
    (inner / "boxed").write_bytes(b"".join(mbox_message(n, f"f{n}.pif") for n in range(5)))
    (tmp_path / "box" / "new").mkdir()
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01not mail")
    mbox = next(iter_raw([str(SAMPLES / "mbox")]))
    paths = [
        str(SAMPLES),
        str(tmp_path),
        str(tmp_path / "missing"),
        f"{mbox.path}:{mbox.key}",
        str(SAMPLES / "maildir"),  # read already: a loop, reported once
    ]
    whole = list(iter_raw(paths))
    assert any(i.key == "boxed:0" for i in whole)
    assert any(isinstance(i, Unreadable) for i in whole)
    for limits in ({}, {"split_bytes": 0, "part_messages": 1}, {"part_messages": 7}):
        assert _parts_items(paths, **limits) == whole


def test_a_large_mbox_is_split_at_from_lines(tmp_path: Path) -> None:
    path = tmp_path / "large.mbox"
    write_large_mbox(path, 300)
    parts = list(mbox_index.plan([str(path)], split_bytes=1, part_messages=64))
    ranges = [e for p in parts for e in p.entries]
    assert [r.messages for r in ranges if isinstance(r, mbox_index.MboxRange)] == [64] * 4 + [44]
    data = path.read_bytes()
    assert all(
        data[r.start : r.start + 5] == b"From "
        for r in ranges
        if isinstance(r, mbox_index.MboxRange)
    )
    assert [i for p in parts for i in mbox_index.read_part(p)] == list(iter_raw([str(path)]))


def test_a_range_of_an_mbox_rewritten_since_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "box.mbox"
    write_large_mbox(path, 20)
    parts = list(mbox_index.plan([str(path)], split_bytes=1, part_messages=5))
    path.write_bytes(b"X" + path.read_bytes())  # every offset now one byte off
    items = list(mbox_index.read_part(parts[1]))
    assert len(items) == 1 and isinstance(items[0], Unreadable)
    assert "mbox changed since it was indexed" in items[0].reason


# ---- the engine ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    if MISSING is not None:
        pytest.skip(MISSING)
    # Dask's default HTTP port taken (by another cluster on the machine): no warning, which
    # this suite would raise. One retry before KilledWorker (Dask's default is 3) makes the
    # worker-killing test faster.
    with socket.socket() as taken, dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        with contextlib.suppress(OSError):  # taken already
            taken.bind(("0.0.0.0", 8787))
            taken.listen()
        c = dask_engine.connect(None, 2)
    assert len(c.client.nthreads()) == 2
    yield c
    c.close()


def _judge(policies: list[str]) -> replay.Decide:
    return replay.Decide(tuple(replay.make_matcher(load_policy(p), "compiled") for p in policies))


@needs_dask
@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: Path(p).stem)
@pytest.mark.parametrize("corpus", CORPORA, ids=lambda p: Path(p).name)
def test_same_rows_as_the_local_engine(cluster: Any, policy: str, corpus: str) -> None:
    judge = _judge([policy])
    local = list(replay.replay(judge, [corpus], workers=1))
    rows = list(dask_engine.replay(judge, [corpus], cluster=cluster))
    assert rows == local
    assert {r[0].action for r in rows} >= {"allow", "block"}


@needs_dask
def test_same_rows_for_diff_over_an_mbox_in_many_ranges(cluster: Any) -> None:
    """Both policies per message (``diff``'s judge), the mbox cut into ranges of 3 messages."""
    judge = _judge(POLICIES)
    progress = replay.Progress()
    plan = mbox_index.plan(CORPORA, split_bytes=0, part_messages=3)
    rows = list(dask_engine.replay(judge, CORPORA, cluster=cluster, progress=progress, plan=plan))
    assert rows == list(replay.replay(judge, CORPORA, workers=1))
    assert progress.messages == len(rows)
    ranges = [
        e
        for p in mbox_index.plan(CORPORA, split_bytes=0, part_messages=3)
        for e in p.entries
        if isinstance(e, mbox_index.MboxRange)
    ]
    assert len({r.open_as for r in ranges}) < len(ranges)  # some mbox is in several ranges


@needs_dask
def test_two_runs_of_one_policy_share_a_cluster(cluster: Any) -> None:
    """Two administrators replay the same policy on one cluster: the first to finish does
    not take the judge away from the other."""
    judge = _judge(POLICIES[:1])
    local = list(replay.replay(judge, CORPORA, workers=1))
    small = mbox_index.plan(CORPORA, split_bytes=0, part_messages=2)
    first = dask_engine.replay(judge, CORPORA, cluster=cluster)
    second = dask_engine.replay(judge, CORPORA, cluster=cluster, plan=small)
    started = [next(first), next(second)]
    assert [started[0], *first] == local
    assert [started[1], *second] == local


@needs_dask
def test_the_fact_store_fills_from_the_workers(cluster: Any, tmp_path: Path) -> None:
    """With a fact store the workers store the facts of the contents they read (the same
    ones the local engine stores), and a second run with the store filled gives the same
    rows again."""
    from mailpolicy.simulator.factstore import FactStore

    plain = _judge(POLICIES[:1])
    local = list(replay.replay(plain, CORPORA, workers=1))
    store = FactStore.open(str(tmp_path / "facts"))
    judge = dataclasses.replace(plain, facts=store)
    assert list(dask_engine.replay(judge, CORPORA, cluster=cluster)) == local
    here = FactStore.open(str(tmp_path / "here"))
    list(replay.replay(dataclasses.replace(plain, facts=here), CORPORA, workers=1))
    kept = [_count_facts(s.path) for s in (store, here)]
    assert kept[0] == kept[1] > 0  # the same contents stored as by the local engine
    assert list(dask_engine.replay(judge, CORPORA, cluster=cluster)) == local


def _count_facts(path: str) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        (n,) = db.execute("SELECT count(*) FROM facts").fetchone()
    return int(n)


def _verb(argv: list[str], decisions: Path) -> tuple[dict[str, Any], str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--json", "--workers", "2", "--decisions", str(decisions)], out, err)
    doc: dict[str, Any] = json.loads(out.getvalue())
    assert code == 0, err.getvalue()
    for key in TIMINGS:
        doc.pop(key, None)
    return doc, decisions.read_text(encoding="utf-8")


@needs_dask
@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: Path(p).stem)
def test_simulate_writes_the_same_json_and_decisions(
    cluster: Any, policy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``simulate`` end to end with its replay on the cluster: the same document and the
    same decisions file, byte for byte, as with the local engine."""
    argv = ["simulate", policy, *CORPORA]
    local = _verb(argv, tmp_path / "local.jsonl")

    def on_cluster(judge: Any, paths: Any, labels: Any = None, **kw: Any) -> Any:
        return dask_engine.replay(judge, paths, labels, cluster=cluster, progress=kw["progress"])

    monkeypatch.setattr(replay, "replay", on_cluster)
    assert _verb(argv, tmp_path / "dask.jsonl") == local
    assert local[1].count("\n") == local[0]["messages"] + local[0].get("unreadable", 0)


@needs_dask
def test_labels_match_from_the_clients_directory(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A labels file with an absolute ``path:key`` entry and a ``..`` entry, a corpus named
    relative to a directory the workers are not in: labelled as the local engine does."""
    monkeypatch.chdir(SAMPLES / "maildir")  # the workers stay in the directory they started in
    corpus = ["../mbox"]
    first, second = [i for i in iter_raw(corpus) if isinstance(i, RawMessage)][:2]
    labels_file = tmp_path / "labels.csv"
    labels_file.write_text(
        f"path,label\n{os.path.abspath(first.path)}:{first.key},spam\n{second.path},ham\n",
        encoding="utf-8",
    )
    labels = Labels.load(str(labels_file))
    judge = replay.Decide(_judge(POLICIES[:1]).matchers, labels)
    local = list(replay.replay(judge, corpus, labels, workers=1))
    assert {r[0].label for r in local} >= {"spam", "ham"}
    assert list(dask_engine.replay(judge, corpus, labels, cluster=cluster)) == local


#: How many times this process unpickled a ``Counted`` judge (read in the workers).
UNPICKLED = 0


class Counted:
    """A judge that counts how often it is unpickled, in the process that unpickles it."""

    def __init__(self, inner: replay.Decide) -> None:
        self.inner = inner

    def __setstate__(self, state: dict[str, Any]) -> None:
        global UNPICKLED
        UNPICKLED += 1
        self.__dict__.update(state)

    def decide(self, raw: RawMessage) -> Any:
        return self.inner.decide(raw)

    def unreadable(self, item: Unreadable) -> Any:
        return self.inner.unreadable(item)


def _unpickled() -> int:
    return UNPICKLED


@needs_dask
def test_the_policy_reaches_each_worker_once(cluster: Any) -> None:
    """Thirty parts, two workers: the judge (the compiled policy) is unpickled once in each
    worker, by the plugin, never with a task."""
    judge = Counted(_judge(POLICIES[:1]))
    plan = mbox_index.plan(CORPORA, split_bytes=0, part_messages=6)
    rows = list(dask_engine.replay(judge, CORPORA, cluster=cluster, plan=plan))
    assert rows == list(replay.replay(_judge(POLICIES[:1]), CORPORA, workers=1))
    assert len(list(mbox_index.plan(CORPORA, split_bytes=0, part_messages=6))) >= 30
    assert list(cluster.client.run(_unpickled).values()) == [1, 1]


# A judge that kills its worker process on one message (a reader that segfaults).
class KillOn:
    def __init__(self, inner: replay.Decide, key: str) -> None:
        self.inner, self.key = inner, key

    def decide(self, raw: RawMessage) -> Any:
        if raw.key == self.key:
            os._exit(70)
        return self.inner.decide(raw)

    def unreadable(self, item: Unreadable) -> Any:
        return self.inner.unreadable(item)


@needs_dask
def test_a_message_that_kills_its_worker_is_an_unreadable_row(cluster: Any) -> None:
    judge = _judge(POLICIES[:1])
    corpus = [str(SAMPLES / "mbox")]
    local = list(replay.replay(judge, corpus, workers=1))
    victim = local[7][0]
    assert victim.key is not None and not victim.unreadable
    plan = mbox_index.plan(corpus, split_bytes=0, part_messages=5)
    rows = list(dask_engine.replay(KillOn(judge, victim.key), corpus, cluster=cluster, plan=plan))
    assert len(rows) == len(local)
    assert rows[:7] + rows[8:] == local[:7] + local[8:]
    (found,) = rows[7]
    assert (found.path, found.key, found.label) == (victim.path, victim.key, victim.label)
    assert found.unreadable and "ended the Dask worker process" in found.reason
    deadline = time.monotonic() + 60  # the nanny restarts the killed workers
    while len(cluster.client.nthreads()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(cluster.client.nthreads()) == 2


def _ours(dask_scheduler: Any) -> list[str]:
    return [str(k) for k in dask_scheduler.tasks if str(k).startswith("mailpolicy-")]


def _plugins(dask_worker: Any) -> list[str]:
    return [n for n in dask_worker.plugins if n.startswith("mailpolicy-")]


@needs_dask
def test_closing_the_rows_cancels_the_work(cluster: Any, tmp_path: Path) -> None:
    """What Ctrl-C does (``common.consume`` closes the rows): nothing of the run is left on
    the scheduler, and the workers drop the judge."""
    path = tmp_path / "large.mbox"
    write_large_mbox(path, 2000)
    plan = mbox_index.plan([str(path)], split_bytes=0, part_messages=10)
    rows = dask_engine.replay(_judge(POLICIES[:1]), [str(path)], cluster=cluster, plan=plan)
    first = [next(rows) for _ in range(3)]
    assert [r[0].key for r in first] == [i.key for i, _ in zip(iter_raw([str(path)]), range(3))]
    rows.close()
    client: Client = cluster.client
    deadline = time.monotonic() + 30
    while client.run_on_scheduler(_ours) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.run_on_scheduler(_ours) == []
    assert all(not names for names in client.run(_plugins).values())


CTRL_C_SCRIPT = """
import argparse, sys
from mailpolicy.policy.loader import load_policy
from mailpolicy.simulator import replay
from mailpolicy.simulator.cli import common, engine_options

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    engine_options.add_engine_options(p)
    judge = replay.Decide((replay.make_matcher(load_policy(sys.argv[1]), "compiled"),))
    rows = engine_options.replay(
        p.parse_args(["--engine", "dask"]), judge, [sys.argv[2]], None, workers=2,
        progress=replay.Progress(),
    )
    got = []

    def each(row):
        got.append(row)
        if len(got) == 100:
            print("running", flush=True)

    partial = common.consume(rows, None, each)
    print("partial", partial, len(got), sum(r[0].unreadable for r in got), flush=True)
"""


@needs_dask
def test_ctrl_c_at_a_terminal_stops_the_run_not_the_workers(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group, the local cluster's processes included: the
    replay stops between two messages, nothing is unreadable, and every process ends."""
    script = tmp_path / "run.py"
    script.write_text(CTRL_C_SCRIPT, encoding="utf-8")
    corpus = tmp_path / "large.mbox"
    write_large_mbox(corpus, 20000)
    proc = subprocess.Popen(
        [sys.executable, str(script), POLICIES[0], str(corpus)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "running"
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    word, partial, rows, unreadable = out.split()
    assert (word, partial, unreadable) == ("partial", "True", "0")
    assert 100 <= int(rows) < 20000
    assert proc.returncode == 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("processes of the local cluster outlived the run")


@needs_dask
def test_a_worker_without_the_corpus_is_a_usage_error(cluster: Any, tmp_path: Path) -> None:
    with pytest.raises(dask_engine.EngineError, match="same absolute path"):
        dask_engine.check_paths(cluster, [str(tmp_path / "not-there")])
    dask_engine.check_paths(cluster, CORPORA)


# ---- the options -----------------------------------------------------------------------------
def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    engine_options.add_engine_options(p)
    return p.parse_args(list(argv))


def test_engine_options() -> None:
    assert engine_options.check(_args()) == "local"
    assert engine_options.check(_args("--engine", "dask")) == "dask"
    assert engine_options.check(_args("--scheduler", "tcp://h:8786")) == "dask"
    with pytest.raises(InputError, match="--scheduler needs --engine dask"):
        engine_options.check(_args("--engine", "local", "--scheduler", "tcp://h:8786"))


def test_the_local_engine_is_replay() -> None:
    judge = _judge(POLICIES[:1])
    progress = replay.Progress()
    rows = engine_options.replay(_args(), judge, CORPORA, None, workers=1, progress=progress)
    assert list(rows) == list(replay.replay(judge, CORPORA, workers=1))
    assert progress.messages > 0


@needs_dask
def test_an_unreachable_scheduler_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT", "1s")
    args = _args("--scheduler", "tcp://127.0.0.1:9")
    with pytest.raises(
        InputError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"
    ):
        engine_options.replay(
            args, _judge(POLICIES[:1]), CORPORA, None, workers=1, progress=replay.Progress()
        )
