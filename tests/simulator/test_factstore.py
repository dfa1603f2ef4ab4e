"""simulator/factstore.py and its hook in replay: the same decisions with and without the store.

Every decision (all of ``Decision``: what ``--decisions`` writes and what the summary counts)
is compared message for message, for both shipped policies, over the bundled samples and the
third-party corpus, with an empty store, a full one, and one and two workers. Then what
the store must survive: a row that disagrees with the mail, a new extraction version, a
corrupt or unusable file, an interrupted run, budgets that run out.
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from simsupport import policy_file, write_large_mbox

from mailpolicy.corpus import facts as F
from mailpolicy.policy.loader import load_policy
from mailpolicy.simulator import factstore, replay
from mailpolicy.simulator.budget import Budget
from mailpolicy.simulator.cli import cache_options, main
from mailpolicy.simulator.factstore import FactStore

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "corpus" / "samples"
#: the shared third-party corpus (tests/conftest.py finds it the same way)
_CANDIDATES = [
    ROOT.parent / "shared" / "corpora" / "thirdparty",
    Path("/work/shared/corpora/thirdparty"),
]
THIRDPARTY = Path(
    os.environ.get("MAILPOLICY_THIRDPARTY")
    or next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[0])
)
POLICIES = sorted(str(p) for p in (ROOT / "policy" / "policies").glob("*.policy"))


def corpus() -> list[str]:
    paths = [str(SAMPLES / "mbox"), str(SAMPLES / "maildir")]
    return paths + ([str(THIRDPARTY)] if THIRDPARTY.is_dir() else [])


def decisions(
    policy: str,
    paths: list[str],
    store: FactStore | None,
    workers: int = 1,
    budget: Budget | None = None,
) -> list[tuple[replay.Decision, ...]]:
    matcher = replay.make_matcher(load_policy(policy), "compiled")
    judge = replay.Decide((matcher,), None, budget or Budget(), facts=store)
    return list(replay.replay(judge, paths, workers=workers))


def rows(store: FactStore) -> int:
    with sqlite3.connect(store.path) as db:
        return int(db.execute("SELECT count(*) FROM facts").fetchone()[0])


def test_there_are_two_policies() -> None:
    assert len(POLICIES) == 2


@pytest.mark.parametrize("policy", POLICIES, ids=os.path.basename)
def test_decisions_are_the_same_with_and_without_the_store(policy: str, tmp_path: Path) -> None:
    paths = corpus()
    store = FactStore.open(str(tmp_path))
    without = decisions(policy, paths, None)
    first = decisions(policy, paths, store)  # an empty store: every message read and kept
    assert store.misses > 0 and store.stored > 0
    kept = rows(store)
    second = decisions(policy, paths, store)  # a full one: no message parsed
    assert first == without
    assert second == without
    assert len(without) > 300
    assert rows(store) == kept
    again = FactStore.open(str(tmp_path))
    assert decisions(policy, paths, again, workers=2) == without
    assert again.hits == 0  # the workers hit, each with its own connection; the parent did not
    assert rows(store) == kept


def test_a_changed_policy_reads_facts_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FactStore.open(str(tmp_path))
    decisions(POLICIES[0], corpus(), store)
    expected = decisions(POLICIES[1], corpus(), None)
    parsed: list[object] = []
    monkeypatch.setattr(replay, "parse", parsed.append)
    assert decisions(POLICIES[1], corpus(), store) == expected
    assert parsed == []


def test_the_store_of_a_diff_serves_two_policies(tmp_path: Path) -> None:
    store = FactStore.open(str(tmp_path))
    matchers = tuple(replay.make_matcher(load_policy(p), "compiled") for p in POLICIES)
    paths = corpus()
    without = list(replay.replay(replay.Decide(matchers), paths, workers=1))
    for _ in range(2):
        assert (
            list(replay.replay(replay.Decide(matchers, facts=store), paths, workers=1)) == without
        )
    read = sum(1 for (d, _) in without if not d.unreadable)
    assert store.hits + store.misses == 2 * read
    assert store.hits >= read  # the second run: every message from the store


# ---- never trusted over the mail -------------------------------------------------------------
def _one_message_store(
    tmp_path: Path,
) -> tuple[FactStore, list[str], list[tuple[replay.Decision, ...]]]:
    store = FactStore.open(str(tmp_path / "cache"))
    mbox = tmp_path / "one.mbox"
    write_large_mbox(mbox, 3)
    paths = [str(mbox)]
    without = decisions(POLICIES[0], paths, None)
    assert decisions(POLICIES[0], paths, store) == without
    assert rows(store) == 3
    return store, paths, without


@pytest.mark.parametrize(
    "spoil",
    [
        "UPDATE facts SET size = size + 1",
        "UPDATE facts SET record = substr(record, 1, length(record) - 1)",
        "UPDATE facts SET seal = zeroblob(16)",
        "UPDATE facts SET record = x'00'",
    ],
)
def test_a_row_that_disagrees_with_the_mail_is_not_used(tmp_path: Path, spoil: str) -> None:
    store, paths, without = _one_message_store(tmp_path)
    with sqlite3.connect(store.path) as db:
        db.execute(spoil)
    fresh = FactStore.open(store.directory)
    assert decisions(POLICIES[0], paths, fresh) == without
    assert (fresh.hits, fresh.rejected, fresh.stored) == (0, 3, 3)  # read and kept anew
    again = FactStore.open(store.directory)
    assert decisions(POLICIES[0], paths, again) == without
    assert again.hits == 3


def test_a_record_that_does_not_rebuild_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, paths, without = _one_message_store(tmp_path)
    monkeypatch.setattr(F, "SCHEMA", F.SCHEMA + 1)  # every stored record has the old one
    fresh = FactStore.open(store.directory)
    assert decisions(POLICIES[0], paths, fresh) == without
    assert fresh.rejected == 3


def test_a_new_extraction_version_invalidates_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, paths, without = _one_message_store(tmp_path)
    monkeypatch.setattr(F, "EXTRACTION_VERSION", F.EXTRACTION_VERSION + ".next")
    newer = FactStore.open(store.directory)
    assert newer.version != store.version
    assert rows(newer) == 0  # the old version's rows are gone
    assert decisions(POLICIES[0], paths, newer) == without
    assert (newer.hits, newer.misses, newer.stored) == (0, 3, 3)


def test_the_same_content_twice_is_one_row(tmp_path: Path) -> None:
    store = FactStore.open(str(tmp_path / "cache"))
    mbox = tmp_path / "twice.mbox"
    write_large_mbox(mbox, 2)
    paths = [str(mbox), str(mbox)]
    out = decisions(POLICIES[0], paths, store)
    assert [d.location for (d,) in out][:2] == [d.location for (d,) in out][2:]
    assert rows(store) == 2


# ---- budgets ---------------------------------------------------------------------------------
def test_messages_out_of_budget_are_not_kept(tmp_path: Path) -> None:
    store = FactStore.open(str(tmp_path / "cache"))
    mbox = tmp_path / "m.mbox"
    write_large_mbox(mbox, 5)
    tiny = Budget(seconds=1e-9, memory=None)
    out = decisions(POLICIES[0], [str(mbox)], store, budget=tiny)
    assert all(d.exhausted == "time" for (d,) in out)
    assert rows(store) == 0 and store.stored == 0


def test_an_extraction_out_of_budget_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FactStore.open(str(tmp_path / "cache"))
    mbox = tmp_path / "m.mbox"
    write_large_mbox(mbox, 4)
    real = F.extract

    def slow(msg: object, seen: object) -> object:
        time.sleep(0.3)
        return real(msg, seen)  # type: ignore[arg-type]

    monkeypatch.setattr(F, "extract", slow)
    out = decisions(POLICIES[0], [str(mbox)], store, budget=Budget(seconds=0.2, memory=None))
    assert not any(d.exhausted for (d,) in out)  # the decisions were within their budget
    assert out == decisions(POLICIES[0], [str(mbox)], None)
    assert rows(store) == 0


def test_unscannable_messages_are_kept_with_their_reasons(tmp_path: Path) -> None:
    deep = b"".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n'.encode() for i in range(120)
    )
    msg = tmp_path / "deep.eml"
    msg.write_bytes(b"From: a@example.com\nMIME-Version: 1.0\n" + deep + b"\nx\n")
    store = FactStore.open(str(tmp_path / "cache"))
    policy = str(policy_file(tmp_path, "quarantine message unscannable"))
    first = decisions(policy, [str(msg)], store)
    assert first[0][0].action == "quarantine"
    assert rows(store) == 1
    assert decisions(policy, [str(msg)], store) == first
    assert store.hits == 1


# ---- what cannot be used is a warning, never a wrong verdict ---------------------------------
def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    cache_options.add_cache_options(p)
    return p.parse_args(list(argv))


def test_a_file_that_is_not_a_store_is_a_warning_then_replaced(tmp_path: Path) -> None:
    (tmp_path / factstore.FILENAME).write_bytes(b"not a database at all" * 100)
    err = io.StringIO()
    assert cache_options.fact_store(_args("--cache", str(tmp_path)), err) is None
    assert err.getvalue().count("\n") == 1
    assert "mailpolicy: warning: cannot use the fact store" in err.getvalue()
    assert "file is not a database" in err.getvalue()
    err = io.StringIO()
    store = cache_options.fact_store(_args("--cache", str(tmp_path)), err)
    assert store is not None and rows(store) == 0
    assert "was corrupt (file is not a database); started an empty one" in err.getvalue()


def test_a_directory_that_cannot_be_made_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    err = io.StringIO()
    assert cache_options.fact_store(_args("--cache", str(tmp_path / "file" / "sub")), err) is None
    assert err.getvalue().startswith("mailpolicy: warning: cannot use the fact store")
    assert err.getvalue().count("\n") == 1


def test_a_store_that_breaks_during_the_run_is_turned_off(tmp_path: Path) -> None:
    store, paths, without = _one_message_store(tmp_path)
    Path(store.path).write_bytes(b"\0" * 8192)  # the file under the store's feet
    for suffix in ("-wal", "-shm"):
        Path(store.path + suffix).unlink(missing_ok=True)
    fresh = FactStore(store.directory, store.version)  # as a worker has it: opened earlier
    assert decisions(POLICIES[0], paths, fresh) == without
    assert fresh.failed
    err = io.StringIO()
    cache_options.after_run(fresh, err)
    assert "was turned off during the run" in err.getvalue()
    assert err.getvalue().count("\n") == 1


def test_options() -> None:
    assert _args("--no-cache").no_cache is True
    assert cache_options.fact_store(_args("--no-cache"), io.StringIO()) is None
    with pytest.raises(SystemExit):
        _args("--cache", "x", "--no-cache")


def test_the_default_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_options.default_cache_dir() == str(tmp_path / "mailpolicy")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_options.default_cache_dir() == str(tmp_path / "home" / ".cache" / "mailpolicy")
    store = cache_options.fact_store(_args(), io.StringIO())
    assert store is not None
    assert store.path == str(tmp_path / "home" / ".cache" / "mailpolicy" / factstore.FILENAME)


def test_the_store_pickles_without_its_connection(tmp_path: Path) -> None:
    store, paths, _ = _one_message_store(tmp_path)
    assert store._conns
    copy = pickle.loads(pickle.dumps(store))
    assert copy._conns == {} and copy.version == store.version
    assert decisions(POLICIES[0], paths, copy) and copy.hits == 3


def test_each_thread_has_its_own_connection(tmp_path: Path) -> None:
    store, paths, without = _one_message_store(tmp_path)
    got: list[object] = []
    worker = threading.Thread(target=lambda: got.append(decisions(POLICIES[0], paths, store)))
    worker.start()
    worker.join()
    assert got == [without]
    assert store.failed is None and store.hits == 3 and len(store._conns) == 2
    store.close()
    assert store._conns == {}


# ---- interrupted runs ------------------------------------------------------------------------
def test_a_failed_batch_leaves_no_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FactStore.open(str(tmp_path))
    store.put(b"k" * 32, 10, {"schema": F.SCHEMA})
    store.put(b"l" * 32, 10, {"schema": F.SCHEMA})
    real = store._connect

    def connect() -> sqlite3.Connection:
        conn = real()
        # the second row of the batch fails to encode: the first must not stay either
        conn.create_function("boom", 0, lambda: 1 / 0)
        conn.execute(
            "CREATE TEMP TRIGGER t AFTER INSERT ON facts WHEN new.digest = x'"
            + (b"l" * 32).hex()
            + "' BEGIN SELECT boom(); END"
        )
        return conn

    monkeypatch.setattr(store, "_connect", connect)
    store.flush()
    assert rows(store) == 0
    assert store.stored == 0


KILLED = """
import sys
from mailpolicy.policy.loader import load_policy
from mailpolicy.simulator import replay
from mailpolicy.simulator.factstore import FactStore
store = FactStore.open(sys.argv[1])
matcher = replay.make_matcher(load_policy(sys.argv[2]), "compiled")
for i, _ in enumerate(replay.replay(replay.Decide((matcher,), facts=store), [sys.argv[3]], workers=2)):
    if i == 3 * replay.BATCH_MESSAGES:
        print("written", flush=True)
"""


def test_a_killed_run_leaves_only_whole_rows(tmp_path: Path) -> None:
    mbox = tmp_path / "big.mbox"
    total = 12 * replay.BATCH_MESSAGES
    write_large_mbox(mbox, total)
    cache = tmp_path / "cache"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(cache), POLICIES[0], str(mbox)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"written\n"
    os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers, mid-batch
    proc.wait()
    proc.stdout.close()
    store = FactStore.open(str(cache))
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    kept = rows(store)
    assert 0 < kept <= total
    assert kept % replay.BATCH_MESSAGES == 0  # whole batches only
    without = decisions(POLICIES[0], [str(mbox)], None)
    assert decisions(POLICIES[0], [str(mbox)], store) == without
    assert store.hits == kept and store.rejected == 0


# ---- the command line ----------------------------------------------------------------------
@pytest.mark.parametrize("policy", POLICIES, ids=os.path.basename)
def test_simulate_json_and_decisions_are_the_same(policy: str, tmp_path: Path) -> None:
    def run(*extra: str) -> tuple[dict[str, object], str]:
        import json

        out, dec = io.StringIO(), tmp_path / "d.jsonl"
        argv = ["simulate", policy, *corpus(), "--json", "--decisions", str(dec), *extra]
        assert main(argv, out=out, err=io.StringIO()) == 0
        doc = json.loads(out.getvalue())
        for timing in ("elapsed_s", "messages_per_s", "mb_per_s"):
            doc.pop(timing, None)
        return doc, dec.read_text()

    cache = str(tmp_path / "cache")
    without = run("--no-cache")
    assert run("--cache", cache) == without
    assert run("--cache", cache) == without
