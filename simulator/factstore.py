"""The fact store: the facts of every message content read once, kept for the next replay.

Administrators replay the same months of mail again and again while they edit a policy.
Parsing MIME, decoding payloads, sniffing types, opening archives and reading Office, PDF
and HTML content is nearly all of a replay's cost, and none of it depends on the policy. The
store keeps those facts (``corpus.facts``: a plain record) keyed by the blake2b hash of the
message's raw bytes and the extraction version, so a second ``simulate`` or ``diff`` over
the same corpus reads the mail only to hash it, and builds each ``Message`` from its facts.

Contract:
- ``FactStore.open(directory)`` creates or opens ``directory/FILENAME``, checks that it is
  a store, and drops the facts of other extraction versions; ``StoreError`` (one line)
  when it cannot. The object holds no connection: each process that uses it (the parent,
  each worker) opens its own on first use, so it pickles into worker processes.
- ``Reading(store, raw)``, in ``simulator.replay``: ``message(parse)`` is the message
  built from stored facts when the store has the content, else ``parse(raw)``, watched
  (``corpus.facts.watch``); ``keep(msg, budget)``, after the message was decided, extracts
  the parsed message's facts under a budget of its own and queues them. ``flush()`` writes
  the queue in one transaction (``replay`` calls it after every batch).
- Never trusted over the mail: a row is used only when its extraction version is this
  one, its stored size is the size of the bytes just read, and its seal (a blake2b of the
  size and the record, keyed with the content's hash) matches; anything else is a miss, the
  mail is parsed, and the fresh facts replace the row. A record that does not rebuild
  (``corpus.facts.RecordError``) is a miss too.
- Safe to interrupt: rows are written whole, one transaction per batch, in WAL mode; a run
  stopped mid-batch (Ctrl-C, a killed worker) leaves the batch out, never half of a row.
- Fails closed: any SQLite error while the run goes on turns the store off in that process
  (``failed`` says why) and the mail is read; a corrupt database file is noted beside it
  (``CORRUPT``), reported once, and replaced by an empty store at the next ``open``.

What is stored: every message the parser read and the policy decided within its budget,
including those with ``unscannable`` reasons, structural tricks or defects (those are facts
of the bytes and come back with them). Not stored: a message whose time or memory budget
ran out while it was read, decided or extracted (that depends on the machine's load and on
``--budget``, not on the bytes; the next run reads it again), and a message the parser
raised on.

Why SQLite and not Parquet: it is in the standard library; a lookup by key is one B-tree
probe, where Parquet is made for scanning columns and has no point lookup; a transaction
commits a batch whole or not at all, and with WAL several worker processes read while one
writes, each with its own connection; appending to Parquet from several processes needs a
single writer and new files per batch.

Limits: the store grows with the corpora replayed (about 1 KB per message compressed,
more for long bodies); delete the directory to empty it. Facts are per content: the same
message in two places is read once.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailpolicy.corpus import facts as _facts
from mailpolicy.simulator import budget as _budget

if TYPE_CHECKING:
    from mailpolicy.corpus.message import Message
    from mailpolicy.corpus.readers import RawMessage

#: The database file in the cache directory (a new layout gets a new name).
FILENAME = "facts-v1.sqlite3"
#: Written beside the database by a process that found it corrupt.
CORRUPT = "facts-v1.corrupt"
#: How long a writer waits for another process's transaction (seconds).
BUSY_SECONDS = 10.0

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS facts (version TEXT NOT NULL, digest BLOB NOT NULL,"
    " size INTEGER NOT NULL, seal BLOB NOT NULL, record BLOB NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS facts_key ON facts (version, digest)",
)

# Connections a forked process inherited: never used nor closed there (SQLite connections
# must not cross a fork), kept so that collecting them does not close the parent's files.
_INHERITED: list[sqlite3.Connection] = []


class StoreError(Exception):
    """The store cannot be used (one line, naming the file)."""


def digest(data: bytes) -> bytes:
    """The content key: blake2b (32 bytes) of the raw message bytes."""
    return hashlib.blake2b(data, digest_size=32).digest()


def version() -> str:
    """The extraction version rows are kept under: ``EXTRACTION_VERSION`` and the digest of
    the readers' sources."""
    return f"{_facts.EXTRACTION_VERSION}/{_facts.readers_digest()}"


def _seal(key: bytes, size: int, blob: bytes) -> bytes:
    h = hashlib.blake2b(size.to_bytes(8, "big"), digest_size=16, key=key)
    h.update(blob)
    return h.digest()


def _is_corruption(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)


class FactStore:
    """A fact store in one directory (see the module docstring)."""

    def __init__(self, directory: str, version: str, notice: str | None = None) -> None:
        self.directory = directory
        self.path = os.path.join(directory, FILENAME)
        self.version = version
        #: said once by whoever opened it (a corrupt store replaced), else None
        self.notice = notice
        #: why this process stopped using the store, or None
        self.failed: str | None = None
        #: this process's counts: messages built from facts, messages parsed, rows refused
        #: (size, seal or record), rows written, rows lost to a busy or full database
        self.hits = self.misses = self.rejected = self.stored = self.dropped = 0
        self._queue: list[tuple[bytes, int, dict[str, Any]]] = []
        #: this process's connections, one per thread (SQLite's own rule)
        self._conns: dict[int, sqlite3.Connection] = {}
        self._pid = 0

    # ---- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: str) -> FactStore:
        """The store in ``directory``, created if need be; ``StoreError`` when unusable."""
        path = os.path.join(directory, FILENAME)
        notice = None
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            marker = Path(directory, CORRUPT)
            if marker.exists():
                why = marker.read_text(encoding="utf-8", errors="replace").strip()[:200]
                for stale in (path, path + "-wal", path + "-shm", str(marker)):
                    Path(stale).unlink(missing_ok=True)
                notice = f"fact store {path} was corrupt ({why}); started an empty one"
            store = cls(directory, version(), notice)
            conn = store._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA:
                    conn.execute(statement)
                # Facts of other extraction versions are never used again.
                conn.execute(
                    "DELETE FROM facts WHERE version < ? OR version > ?",
                    (store.version, store.version),
                )
                conn.execute("SELECT 1 FROM facts LIMIT 1").fetchall()
                conn.execute("COMMIT")
            finally:
                conn.close()
        except (sqlite3.Error, OSError) as exc:
            why = _one_line(exc)
            if isinstance(exc, sqlite3.Error) and _is_corruption(exc):
                _mark_corrupt(directory, why)
                why += " (an empty store replaces it at the next run)"
            raise StoreError(f"cannot use the fact store {path}: {why}") from None
        return store

    def _connect(self) -> sqlite3.Connection:
        # one thread uses it; close() may come from another
        conn = sqlite3.connect(
            self.path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL: a crash loses at most the last transactions, never consistency.
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _db(self) -> sqlite3.Connection | None:
        if self.failed is not None:
            return None
        if self._pid != os.getpid():
            _INHERITED.extend(self._conns.values())
            self._conns, self._pid = {}, os.getpid()
        conn = self._conns.get(threading.get_ident())
        if conn is None:
            try:
                conn = self._conns[threading.get_ident()] = self._connect()
            except sqlite3.Error as exc:
                self._fail(exc)
                return None
        return conn

    def _fail(self, exc: sqlite3.Error) -> None:
        self.failed = _one_line(exc)
        self._queue.clear()
        if _is_corruption(exc):
            _mark_corrupt(self.directory, self.failed)

    # ---- rows --------------------------------------------------------------------------------
    def get(self, key: bytes, size: int) -> dict[str, Any] | None:
        """The record stored for content ``key`` of ``size`` bytes, or None (a miss)."""
        conn = self._db()
        if conn is None:
            return None
        try:
            row = conn.execute(
                "SELECT size, seal, record FROM facts WHERE version = ? AND digest = ?",
                (self.version, key),
            ).fetchone()
        except sqlite3.Error as exc:
            self._fail(exc)
            return None
        if row is None:
            return None
        stored, seal, blob = row
        if stored != size or seal != _seal(key, size, blob):
            self.rejected += 1
            return None
        try:
            record: dict[str, Any] = json.loads(zlib.decompress(blob))
        except (zlib.error, ValueError):
            self.rejected += 1
            return None
        return record

    def put(self, key: bytes, size: int, record: dict[str, Any]) -> None:
        """Queue a record; ``flush`` writes it."""
        if self.failed is None:
            self._queue.append((key, size, record))

    def flush(self) -> None:
        """Write the queued records in one transaction (all or none of them)."""
        if not self._queue:
            return
        queue, self._queue = self._queue, []
        rows = []
        for key, size, record in queue:
            blob = zlib.compress(json.dumps(record, separators=(",", ":")).encode("ascii"), 1)
            rows.append((self.version, key, size, _seal(key, size, blob), blob))
        conn = self._db()
        if conn is None:
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR REPLACE INTO facts VALUES (?, ?, ?, ?, ?)", rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError:  # busy past BUSY_SECONDS, a full disk: a lost batch
            self.dropped += len(rows)
            return
        except sqlite3.Error as exc:
            self._fail(exc)
            return
        self.stored += len(rows)

    def close(self) -> None:
        """Write what is queued and close this process's connection."""
        self.flush()
        if self._pid == os.getpid():
            for conn in self._conns.values():
                conn.close()
        self._conns = {}

    def corrupt(self) -> str | None:
        """Why the store was found corrupt during the run (by any process), or None."""
        try:
            text = Path(self.directory, CORRUPT).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        return text.strip()[:200] or "corrupt"

    # ---- pickling: into worker processes, without a connection --------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_conns={}, _pid=0, _queue=[])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _mark_corrupt(directory: str, why: str) -> None:
    try:
        Path(directory, CORRUPT).write_text(why + "\n", encoding="utf-8")
    except OSError:
        pass


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# ---- the replay's hook -----------------------------------------------------------------------
class Reading:
    """One raw message read through the store (see the module docstring)."""

    def __init__(self, store: FactStore, raw: RawMessage) -> None:
        self.store = store
        self.raw = raw
        self.key = digest(raw.data)
        self._watched: _facts.Watched | None = None

    def message(self, parse: Callable[[RawMessage], Message]) -> Message:
        """The message of the stored facts, or ``parse(raw)`` watched for ``keep``."""
        raw = self.raw
        try:
            record = self.store.get(self.key, len(raw.data))
            if record is not None:
                msg = _facts.from_record(record, path=raw.path, key=raw.key, label=raw.label)
                self.store.hits += 1
                return msg
        except Exception:  # noqa: BLE001 - a record that does not rebuild: read the mail
            self.store.rejected += 1
        self.store.misses += 1
        msg = parse(raw)
        self._watched = _facts.watch(msg)
        return msg

    def keep(self, msg: Message, budget: _budget.Budget) -> None:
        """Queue the facts of ``msg`` (freshly parsed and decided within its budget); a
        message whose extraction runs out of budget or fails is not kept. Never raises."""
        watched = self._watched
        if watched is None:
            return
        self._watched = None

        def extract() -> dict[str, Any] | None:
            record = _facts.extract(msg, watched)
            return None if _budget.overran() else record

        try:
            record = _budget.within(budget, extract)
        except _budget.Exhausted:
            return
        except Exception:  # noqa: BLE001 - a fact that fails to read is read again next time
            return
        if record is not None:
            self.store.put(self.key, len(self.raw.data), record)
