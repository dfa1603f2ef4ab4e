"""Replay on a Dask cluster (dask.distributed): the rows ``replay.replay`` yields, in corpus order.

Contract:
- ``connect(scheduler, workers)``: a ``Cluster`` holding a ``Client`` of the scheduler at
  ``scheduler`` (``tcp://host:8786``), or of a ``LocalCluster`` of ``workers`` processes
  with one thread each when ``scheduler`` is None. ``EngineError`` (one line) when the
  scheduler cannot be reached, or a worker cannot read a corpus path.
- ``replay(judge, paths, labels, cluster=...)`` yields ``judge.decide(raw)`` for every
  message and ``judge.unreadable(item)`` for every item the readers could not read, in
  corpus order: the very rows of ``replay.replay(judge, paths, labels)``, so the verbs
  write the same JSON and the same decisions file. The corpus is split by
  ``corpus.mbox_index.plan``: batches of files (a Maildir of millions of messages is
  thousands of tasks, not millions) and byte ranges of each large mbox (its ``From ``
  lines indexed here, in the client); the workers read the files themselves.
- The judge (the compiled policies) reaches each worker once: a ``WorkerPlugin`` named
  after the hash of its pickle and the run, unpickled once in each worker (also in one
  that joins or restarts later) and dropped at the end of the run; tasks carry the part
  and that name, never the policy.
- At most ``INFLIGHT_PER_THREAD`` parts per worker thread are in flight, so memory does
  not grow with the corpus; results that finish early wait in order. Progress comes from
  the futures as they complete (``as_completed``): ``Progress.bytes_read`` counts the bytes
  of finished parts, ``Progress.messages`` the rows handed on.
- Fail closed: a worker that dies is replaced and its task retried by Dask
  (``distributed.scheduler.allowed-failures``). A part that still fails (``KilledWorker``,
  or an error in a task) is read here and its messages are sent one by one; a message
  that fails alone becomes ``judge.unreadable`` with the reason. Never a lost message.
- Closing the generator (Ctrl-C in the verb) cancels the futures in flight, drops the
  plugin, and closes the client (and the local cluster it started).

Limits: workers need this package installed and the corpus at the same absolute path
(checked on the workers present when the run starts; ``PATH:KEY`` arguments and standard
input are read here and their bytes travel with the tasks). Tasks run in a worker thread,
where the per-message budget holds only its cooperative deadline (``simulator.budget``:
the watchdog and the memory limit need the main thread); the nanny's memory limit still
ends a worker that runs away, and the message is then found and reported as above. A
worker thread shares the GIL: run workers with one thread each (``dask worker --nthreads
1``), one per core.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import logging
import os
import pickle
import signal
import threading
import time
import uuid
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import distributed
from distributed import Future, WorkerPlugin

from mailpolicy.corpus import mbox_index
from mailpolicy.corpus.readers import STDIN, RawMessage, Unreadable, split_key
from mailpolicy.simulator.replay import Decide, Judge, Progress, flush_facts

if TYPE_CHECKING:
    from distributed import Worker

    from mailpolicy.corpus.labels import Labels

R = TypeVar("R")
#: distributed's client API is partly untyped (no-untyped-call under --strict): reached
#: through ``Any`` here, in this one module.
_dd: Any = distributed

#: Parts in flight per worker thread.
INFLIGHT_PER_THREAD = 2
#: Seconds to wait for the scheduler to answer.
CONNECT_TIMEOUT = "10s"


class EngineError(Exception):
    """The cluster cannot be used (unreachable, or a worker cannot read the corpus)."""


# ---- worker side -----------------------------------------------------------------------------
#: The judges (and labels) the plugins installed in this worker, by hash.
_JUDGES: dict[str, tuple[Judge[Any], Labels | None]] = {}


class JudgePlugin(WorkerPlugin):
    """Installs one judge in every worker, once: unpickling the plugin builds the compiled
    policies; ``setup`` files them under ``key`` for the tasks."""

    def __init__(self, key: str, judge: Judge[Any], labels: Labels | None) -> None:
        self.key, self.judge, self.labels = key, judge, labels

    def setup(self, worker: Worker) -> None:
        _JUDGES[self.key] = (self.judge, self.labels)
        # The compiled policy lives as long as the run: out of the collector's walks, as in
        # the local engine's workers (BENCHMARKS.md, rule index).
        gc.freeze()

    def teardown(self, worker: Worker) -> None:
        _JUDGES.pop(self.key, None)
        gc.unfreeze()  # a worker outlives the run: let the collector have the policy back


def run_part(key: str, part: mbox_index.Part) -> list[Any]:
    """The task: the judge's result for every item of ``part``, in order; the facts it
    read are written to the judge's fact store (``Decide.facts``), if any, in this worker."""
    try:
        judge, labels = _JUDGES[key]
    except KeyError:  # the plugin is set up before a worker takes tasks: a bug if not
        raise RuntimeError(f"judge {key} is not installed in this worker") from None
    out = [
        judge.decide(item) if isinstance(item, RawMessage) else judge.unreadable(item)
        for item in mbox_index.read_part(part, labels)
    ]
    flush_facts(judge)  # the part's facts in one transaction, as after a local batch
    return out


# ---- the cluster -----------------------------------------------------------------------------
@dataclass
class Cluster:
    """A client, and the local cluster it runs on when this process started one."""

    client: Any  # distributed.Client
    local: Any = None  # distributed.LocalCluster, when this process started it

    @property
    def threads(self) -> int:
        threads: dict[str, int] = self.client.nthreads()
        return max(1, sum(threads.values()))

    def close(self) -> None:
        self.client.close()
        if self.local is not None:
            self.local.close()


def connect(scheduler: str | None, workers: int) -> Cluster:
    """A client of ``scheduler``, or of a new local cluster of ``workers`` processes."""
    if scheduler is None:
        try:
            with _deaf_to_ctrl_c():
                local = _dd.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # a free port: 8787 may be taken
                    silence_logs=logging.ERROR,
                )
        except Exception as exc:  # noqa: BLE001 - Dask says RuntimeError, with the cause below
            cause = exc.__cause__ or exc
            raise EngineError(f"cannot start a local Dask cluster: {cause}") from None
        return Cluster(_dd.Client(local), local)
    try:
        client = _dd.Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise EngineError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    return Cluster(client)


@contextmanager
def _deaf_to_ctrl_c() -> Iterator[None]:
    """SIGINT ignored while the local cluster starts. Its processes inherit that (Python
    and asyncio leave an ignored SIGINT ignored), so Ctrl-C at a terminal, which reaches
    the whole process group, stops the replay in this process (``common.consume``) and
    not the workers under it, which would leave the run waiting for them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def check_paths(cluster: Cluster, paths: Sequence[str]) -> None:
    """``EngineError`` naming the first worker that cannot read a corpus path (by the
    absolute path the workers open)."""
    wanted = [
        os.path.abspath(p) for p in paths if p != STDIN and (os.path.exists(p) or not split_key(p))
    ]
    if not wanted:
        return
    found: dict[str, list[str]] = cluster.client.run(_missing, wanted)
    for worker, missing in sorted(found.items()):
        if missing:
            raise EngineError(
                f"Dask worker {worker} cannot read {missing[0]}: every worker needs the "
                "corpus at the same absolute path"
            )


def _missing(paths: list[str]) -> list[str]:
    return [p for p in paths if not os.access(p, os.R_OK)]


def judge_key(judge: Judge[Any], labels: Labels | None) -> str:
    """The name a judge is installed under: the hash of what the workers unpickle."""
    return hashlib.sha256(pickle.dumps((judge, labels))).hexdigest()[:16]


# ---- client side -----------------------------------------------------------------------------
def replay(
    judge: Judge[R],
    paths: Sequence[str],
    labels: Labels | None = None,
    *,
    cluster: Cluster,
    progress: Progress | None = None,
    owned: bool = False,
    plan: Iterator[mbox_index.Part] | None = None,
) -> Generator[R, None, None]:
    """The judge's result for every corpus item, in corpus order, computed on ``cluster``
    (see the module docstring); ``owned``: close the cluster at the end. ``plan`` replaces
    ``mbox_index.plan(paths, labels)`` (tests split finer)."""
    progress = progress if progress is not None else Progress()
    progress.started = time.monotonic()
    if labels is not None:  # matched from this directory, not each worker's
        labels = mbox_index.anchored(labels)
    if isinstance(judge, Decide) and judge.labels is not None:
        judge = dataclasses.replace(judge, labels=mbox_index.anchored(judge.labels))
    run = _Run(judge, labels, cluster)
    try:
        yield from run.rows(plan if plan is not None else mbox_index.plan(paths, labels), progress)
    finally:
        run.stop()
        if owned:
            cluster.close()


class _Run:
    """One replay on the cluster: the plugin, the parts in flight, the order of results."""

    def __init__(self, judge: Judge[Any], labels: Labels | None, cluster: Cluster) -> None:
        self.judge, self.labels, self.cluster = judge, labels, cluster
        run = uuid.uuid4().hex[:12]
        # The policy's hash names what is installed; the run's own id keeps two runs of
        # the same policy on one cluster from removing each other's judge at their end.
        self.key = f"{judge_key(judge, labels)}-{run}"
        self.plugin = f"mailpolicy-judge-{self.key}"
        self.prefix = f"mailpolicy-part-{run}"
        self.inflight: dict[str, tuple[int, mbox_index.Part, Future[Any]]] = {}
        #: a message of a failed part, sent alone
        self.single: Future[Any] | None = None
        self.registered = False

    def rows(self, parts: Iterator[mbox_index.Part], progress: Progress) -> Iterator[Any]:
        client = self.cluster.client
        client.register_plugin(JudgePlugin(self.key, self.judge, self.labels), name=self.plugin)
        self.registered = True
        finished: dict[int, list[Any]] = {}
        done = _dd.as_completed()
        submitted = wanted = 0
        more = True
        while True:
            window = INFLIGHT_PER_THREAD * self.cluster.threads  # workers come and go
            while more and len(self.inflight) + len(finished) < window:
                part = next(parts, None)
                if part is None:
                    more = False
                    break
                fut = self._submit(part, f"{self.prefix}-{submitted}")
                self.inflight[str(fut.key)] = (submitted, part, fut)
                done.add(fut)
                submitted += 1
            if wanted == submitted:
                return
            while wanted not in finished:
                fut = next(done)
                index, part, _ = self.inflight.pop(str(fut.key))
                finished[index] = self._result(fut, part)
                progress.bytes_read += part.size
            for row in finished.pop(wanted):
                progress.messages += 1
                yield row
            wanted += 1

    def _submit(self, part: mbox_index.Part, name: str) -> Future[Any]:
        fut: Future[Any] = self.cluster.client.submit(
            run_part, self.key, part, key=name, pure=False
        )
        return fut

    def _result(self, fut: Future[Any], part: mbox_index.Part) -> list[Any]:
        """The rows of a finished part; the future is released at once (a failed one, held
        by its traceback, would otherwise keep its task on the scheduler)."""
        try:
            try:
                out: list[Any] = fut.result()
            except Exception:  # noqa: BLE001 - KilledWorker, or a task that failed
                return self._salvage(part)
            return out
        finally:
            _release(fut)

    def _salvage(self, part: mbox_index.Part) -> list[Any]:
        """A part whose task failed: read it here and send its messages one at a time (one
        in flight, so a message that kills its worker takes no other single message with
        it); one that fails alone is unreadable, with the reason."""
        out: list[Any] = []
        for item in mbox_index.read_part(part, self.labels):
            if isinstance(item, Unreadable):
                out.append(self.judge.unreadable(item))
                continue
            one = mbox_index.Part((item,), len(item.data))
            self.single = self._submit(one, f"{self.prefix}-one-{uuid.uuid4().hex[:12]}")
            try:
                (row,) = self.single.result()
            except Exception as again:  # noqa: BLE001 - this message, alone, fails the worker
                row = self.judge.unreadable(
                    Unreadable(item.path, item.key, _failure(again), item.label)
                )
            finally:
                _release(self.single)
                self.single = None
            out.append(row)
        return out

    def stop(self) -> None:
        """Cancel what is in flight and drop the plugin; never raises (it runs on Ctrl-C)."""
        client = self.cluster.client
        try:
            pending = [f for _, _, f in self.inflight.values()]
            if self.single is not None:
                pending.append(self.single)
            if pending:
                client.cancel(pending, force=True)
            if self.registered:
                client.unregister_worker_plugin(self.plugin)
        except Exception:  # noqa: BLE001, S110 - the cluster may be gone already
            pass
        self.inflight.clear()
        self.single = None


def _release(fut: Any) -> None:
    """``Future.release`` (untyped upstream): the client stops wanting the task's result."""
    fut.release()


def _failure(exc: BaseException) -> str:
    """The unreadable reason of a message whose task failed alone."""
    if type(exc).__name__ == "KilledWorker":
        return (
            "reading or deciding it ended the Dask worker process every time it was tried "
            "(KilledWorker): not decided"
        )
    return f"reading or deciding it failed on the Dask worker: {type(exc).__name__}: {exc}"
