"""The per-message budget: the time and memory reading and deciding one message may take.

Contract:
- ``Budget(seconds, memory)`` (``DEFAULT``: 1.5 s, 200 MB; ``None`` switches a part off).
- ``within(budget, work)`` runs ``work()`` and returns what it returns, or raises
  ``Exhausted`` (``kind`` ``"time"`` or ``"memory"``, ``reason`` the message-level fact,
  ``"time budget of 1.5 s exhausted ..."``) when the work ran out:

  * **time**, twice over. The archive readers' deadline (``corpus.archives.limits``,
    cooperative: checked per member and per decompressed chunk) is set to ``seconds``, so
    an archive that takes too long stops as a limit and the message is still decided on
    what was read. A watchdog (``setitimer``/``SIGALRM``) fires ``GRACE`` later and stops
    whatever has not returned (a parser loop, a third-party reader) by raising a
    ``BaseException``, which no reader's ``except Exception`` swallows; ``within`` turns it
    into ``Exhausted``. ``overran()`` tells work that did finish whether it finished past
    the deadline (the caller then records the fact all the same).
  * **memory**: the soft ``RLIMIT_AS`` is set to the process's address space at the start
    plus ``memory``, and put back afterwards (a soft limit may always be raised again to
    the hard one), so it binds one message in a worker and in ``explain``/``inspect``
    alike; a ``MemoryError`` out of ``work`` is ``Exhausted``.

Limits: the watchdog and the memory limit need the main thread (worker processes and the
command line have it); in any other thread only the cooperative deadline holds. Time is
wall-clock time, so a machine under heavy load reaches the budget with less work done; the
default leaves the regression corpus a wide margin (``tests/bench/test_budget_bench.py``).
``RLIMIT_AS`` counts address space, not resident memory: the limit is on what the process
maps, which bounds what it can touch.
"""

from __future__ import annotations

import resource
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import TypeVar

from mailpolicy.corpus.archives import limits

T = TypeVar("T")

#: How long after the cooperative deadline the watchdog stops the work outright.
GRACE = 0.25
_PAGE = resource.getpagesize()


@dataclass(frozen=True, slots=True)
class Budget:
    """Time (seconds, wall clock) and memory (bytes above the process's own) per message."""

    seconds: float | None = 1.5
    memory: int | None = 200 << 20

    def reason(self, kind: str, where: str) -> str:
        """The ``message unscannable`` fact for a budget of ``kind`` that ran out."""
        if kind == "time":
            return f"time budget of {self.seconds:g} s exhausted {where}"
        assert self.memory is not None
        return f"memory budget of {self.memory >> 20} MB exhausted {where}"


DEFAULT = Budget()
#: No budget at all (what a test of the unlimited behaviour asks for).
UNLIMITED = Budget(seconds=None, memory=None)


class Exhausted(Exception):
    """The work ran out of its budget; ``kind`` is ``"time"`` or ``"memory"``."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class _Alarm(BaseException):
    """Raised by the watchdog in the middle of the work (a BaseException on purpose)."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _Alarm


def address_space() -> int:
    """Bytes of address space this process maps now (``VmSize``)."""
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[0]) * _PAGE


@contextmanager
def _watchdog(seconds: float | None) -> Iterator[None]:
    if seconds is None:
        yield
        return
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextmanager
def _address_limit(memory: int | None) -> Iterator[None]:
    if memory is None:
        yield
        return
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        want = address_space() + memory
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        if soft != resource.RLIM_INFINITY and soft <= want:
            want = soft  # a tighter limit set by the caller stays
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    except (OSError, ValueError):  # no /proc, or a limit we may not set: time still holds
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def overran() -> bool:
    """Whether the current budget's deadline has passed (False when untimed)."""
    left = limits.time_left()
    return left is not None and left < 0


def within(budget: Budget, work: Callable[[], T], where: str = "while reading the message") -> T:
    """``work()`` under ``budget``; ``Exhausted`` when it ran out (see the module docstring)."""
    main = threading.current_thread() is threading.main_thread()
    try:
        with limits.deadline(budget.seconds):
            if not main:
                return work()
            hard = None if budget.seconds is None else budget.seconds + GRACE
            with _address_limit(budget.memory), _watchdog(hard):
                return work()
    except _Alarm:
        raise Exhausted("time", budget.reason("time", where)) from None
    except MemoryError:
        if budget.memory is None:
            raise
        raise Exhausted("memory", budget.reason("memory", where)) from None
