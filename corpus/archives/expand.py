"""Expansion: one archive level at a time, every format through the reader table.

Contract:
- ``expand(data, name, part, depth, budget)`` sniffs ``data``, walks the items its reader
  yields and turns each into an ``Attachment`` member (``in_archive=True``, ``part`` =
  parent part + ``/`` + member name, ``size`` = the uncompressed size) whose content is
  read lazily and bounded (at most the member's declared size and
  ``Limits.max_member_bytes``).
- Each member is counted and its declared sizes checked (``Budget``) before it is read;
  then its head is read (``Limits.head_bytes``) under a ``Meter``. A member whose head is
  an archive is read whole (up to ``max_member_bytes``) and expanded at once, depth
  first, under the same budget, so the top listing knows about everything below it:
  ``encrypted`` and ``exceeds_limits`` propagate upwards and ``problems`` collects every
  problem of the tree. A member whose head is mail is opened as a mail folder.
- What a reader cannot finish becomes a fact, never an exception: a ``Stop`` ends the
  whole expansion with its problem (the member that broke the limit stays listed, by name
  and head only); a damaged member is ``member x: damaged data: ...`` and the listing goes
  on; any other error of a reader is ``corrupt <format> at <part>: ...``, keeping the
  members listed before it. Those, and what a reader says it ``cannot`` read, are the
  listing's ``unscannable`` reasons; a member's own reasons (an unsupported method) stay
  on the member. The listing's ``tricks`` (``names.CONTAINER_TRICKS``) are what the
  reader reported of this level; ``kind`` is the format's name in ``formats.READERS``.

Limits of this module: a nested archive is expanded only when it is read whole, so one
larger than ``max_member_bytes`` is listed but not opened (a problem says so).
"""

from __future__ import annotations

from collections.abc import Callable

from mailpolicy.corpus.archives.formats import READERS, SNIFF_BYTES, sniff
from mailpolicy.corpus.archives.limits import Budget, Meter, Stop, mb
from mailpolicy.corpus.archives.mailfolder import looks_like_mail, mail_folder
from mailpolicy.corpus.archives.protocol import Item, Level
from mailpolicy.corpus.archives.streams import loader
from mailpolicy.corpus.message import ArchiveListing, Attachment

_NOT_ARCHIVE = ArchiveListing()
_NO_MEMBERS = ArchiveListing()


def _fixed(listing: ArchiveListing) -> Callable[[Attachment], ArchiveListing]:
    """A member's listing, computed once under the shared budget (never recomputed with a
    fresh budget by ``Attachment``, which would escape the limits)."""

    def member_loader(_attachment: Attachment) -> ArchiveListing:
        return listing

    return member_loader


def _append(
    level: Level,
    item: Item,
    part: str,
    load: Callable[[], bytes] | None,
    data: bytes | None,
    size: int | None,
    members: ArchiveListing,
) -> None:
    level.members.append(
        Attachment(
            names=(item.name,),
            raw_names=(item.raw_name or item.name,),
            declared_type="application/octet-stream",
            loader=load,
            data=data if data is not None else (None if load else b""),
            size=size,
            part=part,
            in_archive=True,
            member_loader=_fixed(members),
            unscannable=item.unscannable,
            extra_tricks=item.tricks,
        )
    )


def _add(level: Level, item: Item) -> None:
    """Count, check and list one member; expand it when it is an archive itself."""
    b, lim = level.budget, level.budget.limits
    b.count_member()
    if not item.is_file:
        return
    part = f"{level.part}/{item.name}"
    level.encrypted = level.encrypted or item.encrypted
    problem = b.declared(item.name, item.size, item.csize)
    opener = item.reopen or item.open
    readable = not item.encrypted and (opener is not None or item.content is not None)
    if problem is not None or not readable:
        # listed by name only: a member over a limit is never read beyond its head
        load = loader(opener, lim.head_bytes) if readable and opener else None
        _append(level, item, part, load, None, item.size, _NO_MEMBERS)
        if problem is not None:
            raise b.trip(problem)
        return
    try:
        size, whole, members = _read(level, item, part)
    except Stop:
        load = loader(opener, lim.head_bytes) if opener else None
        _append(level, item, part, load, None, item.size, _NO_MEMBERS)
        raise
    except Exception as exc:  # noqa: BLE001 a damaged member is a fact, not a crash
        level.cannot(f"member {item.name}: damaged data: {type(exc).__name__}: {exc}")
        size, whole, members = item.size, None, _NO_MEMBERS
    cap = min(size if size is not None else lim.max_member_bytes, lim.max_member_bytes)
    load = loader(opener, cap) if opener is not None and whole is None else None
    _append(level, item, part, load, whole, size, members)


def _read(level: Level, item: Item, part: str) -> tuple[int | None, bytes | None, ArchiveListing]:
    """Read ``item`` as far as the listing needs: (size, whole content if in hand, nested
    listing). Raises ``Stop`` at a limit."""
    b, lim = level.budget, level.budget.limits
    size = item.size
    meter: Meter | None
    if item.content is not None:
        meter = None
        whole = item.content if size is None or len(item.content) >= size else None
        head = item.content[: lim.head_bytes]
    else:
        assert item.open is not None
        meter = Meter(item.name, item.size, item.csize, item.open(), b)
        head = meter.take(lim.head_bytes)
        whole = head if meter.done else None
    try:
        members = _NO_MEMBERS
        if sniff(head[:SNIFF_BYTES]) is not None:
            if whole is None and meter is not None:
                if size is not None and size > lim.max_member_bytes:
                    raise b.trip(
                        f"archive member {item.name} larger than "
                        f"{mb(lim.max_member_bytes)}: not expanded"
                    )
                whole = head + _rest(meter, len(head), "archive member", "not expanded")
            if whole is not None:
                members = expand(whole, item.name, part, level.depth + 1, b)
                level.encrypted = level.encrypted or members.encrypted
                for p in members.problems:
                    level.note(p)
        elif looks_like_mail(head):
            if whole is None and meter is not None:
                whole = head + _rest(meter, len(head), "mail folder", "not opened")
            if whole is not None:
                members = mail_folder(whole, part)
        if meter is not None and size is None:
            meter.skip()  # learn the size (and apply the limits) of a bare stream
            size = meter.got
    finally:
        if meter is not None:
            meter.close()
    if whole is not None and len(whole) > lim.head_bytes and members is _NO_MEMBERS:
        whole = None  # do not keep big leaves in memory: the loader reads them again
    return size, whole, members


def _rest(meter: Meter, have: int, what: str, verb: str) -> bytes:
    """The rest of a member that must be read whole; raises ``Stop`` past the limit."""
    b, lim = meter.budget, meter.budget.limits
    rest = meter.take(lim.max_member_bytes - have)
    if not meter.done:
        raise b.trip(f"{what} {meter.name} larger than {mb(lim.max_member_bytes)}: {verb}")
    return rest


def expand(data: bytes, name: str | None, part: str, depth: int, budget: Budget) -> ArchiveListing:
    """The listing of ``data`` (see the module docstring); never raises."""
    fmt = sniff(data[:SNIFF_BYTES])
    if fmt is None:
        return _NOT_ARCHIVE
    lim = budget.limits
    if depth > lim.max_depth:
        budget.stopped = True
        return ArchiveListing(
            exceeds_limits=True, is_archive=True, problems=(f"depth > {lim.max_depth} at {part}",)
        )
    level = Level(budget, name, part, depth)
    try:
        for item in READERS[fmt].items(data, level):
            _add(level, item)
            if budget.stopped:
                break
    except Stop as stop:
        level.note(str(stop))
    except Exception as exc:  # noqa: BLE001 a corrupt archive is a fact, not a crash
        if budget.stopped:  # a Stop raised inside tarfile may come back wrapped
            level.note(str(exc))
        else:
            level.cannot(f"corrupt {fmt} at {part or 'attachment'}: {type(exc).__name__}: {exc}")
    return ArchiveListing(
        members=tuple(level.members),
        encrypted=level.encrypted,
        exceeds_limits=budget.stopped,
        problems=tuple(level.problems),
        is_archive=not level.document,
        unscannable=tuple(level.unscannable),
        tricks=tuple(level.tricks),
        kind=fmt,
    )
