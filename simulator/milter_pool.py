"""Where the milter's analyses run: worker processes (isolated, with hard limits) or threads.

Contract:
- ``Runner.call(job, limit)`` runs ``milter_judge.judge`` on one ``Job`` and returns its
  ``Outcome`` within about ``limit`` seconds, or an ``Outcome`` without a decision (the
  fallback) saying why; it never raises. It blocks: the server calls it from a thread.
- ``ProcessRunner`` (``--isolation process``): a pool of ``size`` worker processes
  (started by a fork server that has the analysis modules loaded), each holding the policy
  and a ``RLIMIT_AS`` of its address space at start plus the budget's memory plus room for
  the largest message kept (``ROOM``). In a worker the analysis runs in the main thread,
  so the budget's watchdog and its per-message memory limit hold as in ``simulate``. A
  worker that has not answered by ``limit`` is killed and replaced: the message gets the
  fallback and the reason says so; a worker that dies (out of memory) likewise.
- ``ThreadRunner`` (``--isolation thread``): the analysis runs in the calling thread;
  only the cooperative archive deadline holds there, and a runaway analysis keeps its
  thread until it ends (the server still answers the MTA on time).
- ``close()`` stops the workers (processes: at once; the server calls it once nothing is
  in flight on that runner).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import resource
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Protocol

from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.simulator import budget as _budget
from mailpolicy.simulator import milter_judge
from mailpolicy.simulator.milter_judge import Outcome

ISOLATIONS = ("process", "thread")
#: Seconds a new worker may take to be ready.
START_SECONDS = 30.0
#: Address space a worker may map beyond the budget: the message, its reassembly and a
#: rebuilt copy for a strip, and the interpreter's own slack.
ROOM = 3 * milter_judge.MAX_MESSAGE + (64 << 20)


@dataclass(frozen=True, slots=True)
class Job:
    data: bytes
    where: str
    auth: str | None = None
    truncated: bool = False
    #: the envelope: MAIL FROM ("" for the null sender) and RCPT TO, None when unknown
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    #: take the message's sha256 while judging it (a decision log or ``--keep`` wants it)
    hashed: bool = True


class Runner(Protocol):
    def call(self, job: Job, limit: float) -> Outcome: ...

    def close(self) -> None: ...


class ThreadRunner:
    """Analyses in the caller's thread (the server's thread pool)."""

    def __init__(self, policy: CheckedPolicy, budget: _budget.Budget) -> None:
        self.policy = policy
        self.budget = budget

    def call(self, job: Job, limit: float) -> Outcome:
        # Looked up at call time, so that a test can stand in for the judge.
        judge: Callable[..., Outcome] = milter_judge.judge
        return judge(
            self.policy, job.data, self.budget, job.where, job.auth, job.truncated, job, job.hashed
        )

    def close(self) -> None:
        pass


def _limit_address_space(memory: int | None) -> None:
    if memory is None:
        return
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        want = _budget.address_space() + memory + ROOM
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        if soft == resource.RLIM_INFINITY or want < soft:
            resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    except (OSError, ValueError):  # no /proc, or a limit we may not set: time still holds
        pass


def _worker(conn: Connection, policy: CheckedPolicy, budget: _budget.Budget) -> None:
    """A worker's life: judge each job sent, answer, until the pipe closes. Ctrl-C and a
    hangup reach the whole process group: they are the server's to act on (it answers the
    messages in flight, then stops the workers). SIGTERM keeps its default, so that
    multiprocessing's exit handler can stop a worker left over."""
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    _limit_address_space(budget.memory)
    # The modules and the policy live as long as the worker: out of the collector's way,
    # so that no full collection (20 ms, measured) lands on a message.
    gc.collect()
    gc.freeze()
    conn.send(os.getpid())  # ready: limits set, policy loaded
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        try:
            out = milter_judge.judge(
                policy, job.data, budget, job.where, job.auth, job.truncated, job, job.hashed
            )
        except BaseException as exc:  # noqa: BLE001 - answer, then go on or die
            out = Outcome(None, f"analysis failed: {type(exc).__name__}")
        del job
        try:
            conn.send(out)
        except MemoryError:
            conn.send(Outcome(None, "analysis failed: out of memory sending the result"))
        except (OSError, ValueError):
            return


class _Worker:
    def __init__(self, proc: BaseProcess, conn: Connection) -> None:
        self.proc = proc
        self.conn = conn

    def stop(self) -> None:
        if self.proc.exitcode is not None and self.conn.closed:
            return
        try:
            self.proc.kill()
            self.proc.join(5)
        except (OSError, ValueError, AssertionError):
            pass
        self.conn.close()


class ProcessRunner:
    """A pool of worker processes; see the module docstring."""

    def __init__(self, policy: CheckedPolicy, budget: _budget.Budget, size: int) -> None:
        self.policy = policy
        self.budget = budget
        self.ctx = multiprocessing.get_context("forkserver")
        self.ctx.set_forkserver_preload(["mailpolicy.simulator.milter_pool"])
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []
        self.every: set[_Worker] = set()  # idle and busy
        self.closed = False
        #: workers killed or lost so far (for tests and the log)
        self.replaced = 0
        for _ in range(size):
            self.idle.append(self._start())

    def _start(self) -> _Worker:
        mine, theirs = self.ctx.Pipe()
        proc = self.ctx.Process(
            target=_worker, args=(theirs, self.policy, self.budget), daemon=True
        )
        proc.start()
        theirs.close()
        w = _Worker(proc, mine)
        with self.lock:
            self.every.add(w)
        try:
            if mine.poll(START_SECONDS) and mine.recv() == proc.pid:
                return w
        except (EOFError, OSError):
            pass
        w.stop()
        with self.lock:
            self.every.discard(w)
        raise OSError(f"an analysis worker did not start within {START_SECONDS:g} s")

    def _take(self) -> _Worker:
        with self.lock:
            if self.idle:
                return self.idle.pop()
        return self._start()

    def call(self, job: Job, limit: float) -> Outcome:
        try:
            w = self._take()
        except OSError as exc:
            return Outcome(None, f"no analysis worker could be started: {exc}")
        try:
            w.conn.send(job)
            if w.conn.poll(max(limit, 0.0)):
                out: Outcome = w.conn.recv()
            else:
                self._lose(w)
                return Outcome(
                    None, f"analysis did not finish within {limit:.3g} s: its worker was stopped"
                )
        except (EOFError, OSError, ValueError) as exc:
            code = w.proc.exitcode
            self._lose(w)
            why = f"exit code {code}" if code is not None else type(exc).__name__
            return Outcome(None, f"analysis worker died ({why})")
        with self.lock:
            if not self.closed:
                self.idle.append(w)
                return out
        w.stop()
        return out

    def _lose(self, w: _Worker) -> None:
        w.stop()
        with self.lock:
            self.every.discard(w)
            self.replaced += 1
            if self.closed:
                return
        threading.Thread(target=self._replace, daemon=True).start()

    def _replace(self) -> None:
        try:
            fresh = self._start()
        except OSError:
            return  # started on the next call that finds no idle worker
        with self.lock:
            if not self.closed:
                self.idle.append(fresh)
                return
        fresh.stop()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.idle = []
            every, self.every = self.every, set()
        for w in every:  # a busy one too: its caller gets "worker died" at once
            w.stop()


def runner(isolation: str, policy: CheckedPolicy, budget: _budget.Budget, size: int) -> Runner:
    """The runner ``--isolation`` names."""
    if isolation == "thread":
        return ThreadRunner(policy, budget)
    return ProcessRunner(policy, budget, size)


def pid_of_workers(r: Runner) -> list[int]:
    """The process ids of a process runner's idle workers (tests)."""
    if isinstance(r, ProcessRunner):
        with r.lock:
            return [w.proc.pid for w in r.idle if w.proc.pid is not None]
    return [os.getpid()]
