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

Limits of this module: it counts bytes and members, it does not time anything; a format
whose reader cannot report sizes before decompressing is only as safe as the chunk size
its decompressor yields (``streams.OUT``).
"""

from __future__ import annotations

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
    #: bytes of each member read during the listing to recognise nested archives
    head_bytes: int = HEAD_BYTES
    #: largest member read whole (nested archives, and the lazy content of any member)
    max_member_bytes: int = 64 << 20


LIMITS = Limits()


def mb(n: int) -> str:
    """``n`` bytes in the words of a problem entry."""
    return f"{n / (1 << 20):g} MB"


class Stop(Exception):
    """A limit was hit; the message is the problem entry."""


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

    def count_member(self) -> None:
        """One more directory entry, at any depth; raises ``Stop`` past the limit."""
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
