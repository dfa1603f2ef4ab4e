"""The limits every archive reader shares: one ``Limits`` object, one budget per attachment.

Contract:
- ``Limits`` (default ``LIMITS``) bounds one attachment's whole expansion, all members at
  all depths together: depth, members in total, expanded bytes in total, compression
  ratio per member (above a floor), and the largest member read whole.
- ``Budget`` is the running account of one expansion. Every check that can stop it lives
  here, so every format is held to the same numbers and says the same words: declared
  sizes are checked first (``Budget.declared``: a zip bomb's directory gives it away),
  then every chunk actually decompressed (``Meter`` for one member, ``Budget.stream`` for
  a whole compressed tar stream), so a member that lies about its size is caught too.
- Exceeding a limit **stops the whole expansion at once**: ``Budget.trip`` marks the
  budget stopped and returns the ``Stop`` to raise, whose message is the problem entry
  (``"members > 10000"``, ``"ratio 1032:1 for member x"``).

- **Time**: a deadline (``time.monotonic()`` seconds) may be set for the current context
  with ``deadline(seconds)`` (a context manager) or ``set_deadline(when)`` /
  ``reset_deadline(token)`` (a ``ContextVar``, so threads and asyncio tasks each have
  their own). ``check_time()`` raises ``Stop("time budget exceeded ...")`` once it has
  passed; ``Budget.check_time()`` does the same and marks the budget stopped, so the
  listing keeps what was read and reports the time budget as a limit
  (``exceeds_limits``, hence ``attachment unscannable``). Every reader calls it per
  directory entry (``Budget.count_member``) and per decompressed chunk (``Meter``), and
  the container readers (disk images, OneNote, CAB, MSI) per sector run or record scanned.
  Whoever owns the per-message time budget sets the deadline around the work on one
  message; with no deadline set, nothing is timed.

Limits of this module: a format whose reader cannot report sizes before decompressing is
only as safe as the chunk size its decompressor yields (``streams.OUT``); the time check
is cooperative: one call into a third-party parser (pycdlib, olefile) is not interrupted
in the middle, only before and after.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

from mailpolicy.corpus.archives.streams import Chunks
from mailpolicy.corpus.message import HEAD_BYTES


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one attachment's expansion (all members at all depths together)."""

    max_depth: int = 8
    max_members: int = 10_000
    max_total_bytes: int = 200 << 20
    #: uncompressed:compressed ratio allowed per member ...
    max_ratio: int = 100
    #: ... once the member is larger than this
    ratio_floor: int = 1 << 20
    #: bytes of each member read during the listing to recognise nested archives (an
    #: ISO image's descriptor is at 32 KiB: ``formats.SNIFF_BYTES``)
    head_bytes: int = max(HEAD_BYTES, 36 * 1024)
    #: largest member read whole (nested archives, and the lazy content of any member)
    max_member_bytes: int = 64 << 20


LIMITS = Limits()


def mb(n: int) -> str:
    """``n`` bytes in the words of a problem entry."""
    return f"{n / (1 << 20):g} MB"


class Stop(Exception):
    """A limit was hit; the message is the problem entry."""


#: The monotonic time after which every expansion in this context stops (None: no limit).
DEADLINE: ContextVar[float | None] = ContextVar("mailpolicy_archive_deadline", default=None)


def set_deadline(when: float | None) -> Token[float | None]:
    """Set the deadline (``time.monotonic()`` seconds, or None) for this context."""
    return DEADLINE.set(when)


def reset_deadline(token: Token[float | None]) -> None:
    DEADLINE.reset(token)


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Every expansion inside the block stops ``seconds`` from now (None: untimed).

    >>> with deadline(5.0):
    ...     check_time()  # fine for five seconds
    """
    token = set_deadline(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        reset_deadline(token)


def time_left() -> float | None:
    """Seconds left before the deadline (negative once past), or None when untimed."""
    when = DEADLINE.get()
    return None if when is None else when - time.monotonic()


def check_time() -> None:
    """Raise ``Stop`` when the deadline of this context has passed."""
    left = time_left()
    if left is not None and left < 0:
        raise Stop("time budget exceeded while reading the archive")


class Budget:
    """What one attachment's expansion has spent so far, against its ``Limits``."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.members = 0
        self.expanded = 0
        self.stopped = False

    def trip(self, problem: str) -> Stop:
        self.stopped = True
        return Stop(problem)

    def check_time(self) -> None:
        """Raise ``Stop`` (and stop the expansion) once the deadline has passed."""
        try:
            check_time()
        except Stop as stop:
            raise self.trip(str(stop)) from None

    def count_member(self) -> None:
        """One more directory entry, at any depth; raises ``Stop`` past the limit."""
        self.check_time()
        self.members += 1
        if self.members > self.limits.max_members:
            raise self.trip(f"members > {self.limits.max_members}")

    def declared(self, name: str, size: int | None, csize: int | None) -> str | None:
        """Spend a member's declared size; the problem when it breaks a limit, else None."""
        lim = self.limits
        if size is None:
            return None
        self.expanded += size
        if self.expanded > lim.max_total_bytes:
            return f"expanded size > {mb(lim.max_total_bytes)}"
        if csize is not None and size > lim.ratio_floor and size > lim.max_ratio * max(csize, 1):
            return f"ratio {size // max(csize, 1)}:1 for member {name}"
        return None

    def would_exceed(self, size: int, compressed: int) -> bool:
        """Whether ``size`` more bytes from ``compressed`` would break the total or ratio."""
        lim = self.limits
        return size > lim.max_total_bytes - self.expanded or (
            size > lim.ratio_floor and size > lim.max_ratio * compressed
        )

    def over_ratio(self, out: int, consumed: int) -> bool:
        lim = self.limits
        return out > lim.ratio_floor and out > lim.max_ratio * max(consumed, 1)

    def stream(self, out: int, consumed: int, what: str) -> None:
        """A whole compressed stream (a .tar.gz) as read so far; raises ``Stop`` at the ratio."""
        if self.over_ratio(out, consumed):
            raise self.trip(f"ratio > {self.limits.max_ratio}:1 in {what} stream")


class Meter:
    """Reads one member's chunks under the limits, continuing where the last take stopped.

    Raises ``Stop`` when the member outgrows its declared size, the ratio, or (for a
    member of unknown size) the total budget.
    """

    def __init__(
        self, name: str, size: int | None, csize: int | None, chunks: Chunks, budget: Budget
    ) -> None:
        self.name = name
        self.size = size
        self.csize = csize
        self.chunks = chunks
        self.budget = budget
        self.got = 0
        self.done = False
        self._pending = b""

    def _next(self) -> bytes:
        try:
            chunk, consumed = next(self.chunks)
        except StopIteration:
            self.done = True
            return b""
        b, lim = self.budget, self.budget.limits
        b.check_time()
        self.got += len(chunk)
        if self.size is not None and self.got > self.size:
            raise b.trip(f"member {self.name} larger than its declared {self.size} bytes")
        if self.size is None:
            b.expanded += len(chunk)
            if b.expanded > lim.max_total_bytes:
                raise b.trip(f"expanded size > {mb(lim.max_total_bytes)}")
        if b.over_ratio(self.got, self.csize if self.csize is not None else consumed):
            raise b.trip(f"ratio > {lim.max_ratio}:1 for member {self.name}")
        return chunk

    def take(self, n: int) -> bytes:
        out = [self._pending[:n]]
        have = len(out[0])
        self._pending = self._pending[n:]
        while have < n and not self.done:
            chunk = self._next()
            out.append(chunk[: n - have])
            self._pending = chunk[n - have :]
            have += len(out[-1])
        if not self._pending and not self.done and have == n:
            # peek: is there anything left? (so a member of exactly n bytes is complete)
            self._pending = self._next()
        return b"".join(out)

    def skip(self) -> None:
        self._pending = b""
        while not self.done:
            self._next()

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()
