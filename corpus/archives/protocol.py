"""The one interface every archive format reader follows.

Contract:
- A ``Reader`` says whether content is its format (``recognises``, from the first 512
  bytes, by magic bytes, never by name) and walks one archive level (``items``), yielding
  an ``Item`` per directory entry, lazily, in archive order. Everything else (counting,
  the limits, reading member heads, nesting, building ``Attachment`` objects) is done once
  for every format by ``expand``.
- A reader reports what it cannot finish on the ``Level`` it is given: ``level.note``
  for a problem entry that is no more than a remark, ``level.cannot`` for a reason the
  container could not be read completely (a problem entry and an ``unscannable`` reason
  of the listing: a corrupt directory, a file system it does not read),
  ``level.trick`` for a structure that readers would see differently (a concatenated
  archive, overlapping entries, a directory that disagrees with the local headers),
  ``level.names_encrypted`` for a directory it cannot see, ``level.document`` for an
  Office container. A member it lists but cannot read carries its own reasons
  (``Item.unscannable``). It may also raise: ``expand`` turns any exception into a
  ``corrupt <format> at <part>`` unscannable reason (members yielded before it stay
  listed), and a ``limits.Stop`` into the limit's problem. Nothing reaches the policy
  as an exception.
- A reader that loops over anything other than the items it yields (sectors, records,
  a scan for signatures) calls ``level.budget.check_time()`` as it goes.

Limits of this module: it defines shapes only; it reads nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from mailpolicy.corpus.archives.limits import Budget
from mailpolicy.corpus.archives.streams import Chunks
from mailpolicy.corpus.message import Attachment


@dataclass(slots=True)
class Item:
    """One directory entry of an archive, as a format reader reports it."""

    name: str
    size: int | None  # declared uncompressed size, None when the format does not say
    csize: int | None = None  # compressed size, when known
    raw_name: str | None = None
    encrypted: bool = False
    is_file: bool = True
    #: decompresses this member now, during the listing (None: content not readable)
    open: Callable[[], Chunks] | None = None
    #: decompresses it again later, for the lazy loader (defaults to ``open``)
    reopen: Callable[[], Chunks] | None = None
    #: content already in hand (7z), instead of ``open``
    content: bytes | None = None
    #: why this member's content cannot be read (an unsupported compression method)
    unscannable: tuple[str, ...] = ()
    #: container tricks that concern this member (it is hidden from some readers)
    tricks: tuple[str, ...] = ()


@dataclass(slots=True)
class Level:
    """The listing of one archive being built."""

    budget: Budget
    name: str | None
    part: str
    depth: int
    members: list[Attachment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    encrypted: bool = False
    document: bool = False
    unscannable: list[str] = field(default_factory=list)
    tricks: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def cannot(self, reason: str) -> None:
        """The container could not be read completely: a problem and an unscannable reason."""
        self.note(reason)
        if reason not in self.unscannable:
            self.unscannable.append(reason)

    def trick(self, code: str, detail: str) -> None:
        """A structure other readers see differently (``names.CONTAINER_TRICKS``)."""
        if code not in self.tricks:
            self.tricks.append(code)
        self.note(detail)

    def names_encrypted(self, fmt: str) -> None:
        """The directory itself is encrypted: not one name can be listed."""
        self.encrypted = True
        self.note(f"{fmt}: file names are encrypted")


class Reader(Protocol):
    """One container format."""

    def recognises(self, head: bytes) -> bool:
        """Whether content starting with ``head`` (up to 512 bytes) is this format."""
        ...

    def items(self, data: bytes, level: Level) -> Iterator[Item]:
        """The directory entries of the archive ``data``, in order."""
        ...
