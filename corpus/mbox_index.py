"""The corpus in parts another process can read alone: the ``From `` line index of an mbox,
byte ranges of one, and a plan of the whole corpus as batches of files and ranges.

Contract:
- ``mbox_offsets(stream)`` yields ``(offset, size)`` for every message of an uncompressed
  mbox, found by the very splitter ``readers.iter_raw`` uses (``readers._mbox_spans``, told
  that no message fits in memory, so nothing is copied or parsed): the same separators,
  the same ``From `` lines without a blank line before them only when they carry a date.
- ``plan(paths, labels)`` walks the corpus as ``iter_raw`` does (the same walker: order,
  Maildir/MH/tree sniffing, symbolic link loops, labels by folder) but reads no message
  file: each file becomes a ``FileRef``, and an uncompressed mbox of at least
  ``SPLIT_BYTES`` is indexed and becomes ``MboxRange`` entries of at most
  ``PART_MESSAGES`` messages / ``PART_BYTES`` bytes. What the walk itself finds
  unreadable, standard input and ``PATH:KEY`` arguments are read here, in the caller.
  Entries are grouped into ``Part``s of at most ``PART_MESSAGES`` entries /
  ``PART_BYTES`` bytes, in corpus order.
- ``read_part(part, labels)`` yields the part's items; over the parts of
  ``plan(paths, labels)`` in order they are ``iter_raw(paths, labels)``, item for item
  (same keys, same labels, same ``file``: an mbox range keeps offsets in the whole file).
  A part names files as given and opens them by the absolute path the plan saw
  (``FileRef.open_as``), so a reader whose working directory differs reads the same files.
- ``anchored(labels)``: the labels a reader elsewhere uses, so that a labels file matches
  relative paths from the planner's working directory, not the reader's.
- A range that no longer starts with a ``From `` line (the mbox was rewritten after the
  index was made) is one ``Unreadable`` naming the range, never a misread.

Limits: the plan reads every split mbox once to index it (``bytes.find`` over ``CHUNK``
reads: about a second per GB). Compressed mboxes are not split (their offsets are offsets
in the decompressed stream). Parts are plain frozen dataclasses and pickle small: a part
carries names and offsets, or the bytes of what the caller read itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from mailpolicy.corpus import readers
from mailpolicy.corpus.filekind import compression
from mailpolicy.corpus.filestreams import Chain, Readable, open_regular
from mailpolicy.corpus.labels import Labels
from mailpolicy.corpus.readers import RawMessage, Unreadable

#: An mbox at least this large is split into ranges.
SPLIT_BYTES = 4 << 20
#: Most messages (or files) in one part.
PART_MESSAGES = 64
#: A part closes once it holds this many bytes.
PART_BYTES = 4 << 20


def mbox_offsets(stream: Readable) -> Iterator[tuple[int, int]]:
    """``(offset, size)`` of every message of an uncompressed mbox stream: the offset of
    its ``From `` line and its bytes up to the next one, as ``iter_raw`` splits it."""
    for offset, _buf, _start, _end, size in readers._mbox_spans(stream, 0):
        yield offset, size


@dataclass(frozen=True, slots=True)
class FileRef:
    """One file read whole, as ``iter_raw`` reads it (a message, or a small mbox)."""

    path: str  # as the walk named it
    key: str | None  # the Maildir/MH file name; None for a file given or found in a tree
    folder: str | None  # the Maildir/MH folder the file belongs to
    root: str  # the corpus argument it was found under (labels by folder)
    open_as: str  # the absolute path
    size: int


@dataclass(frozen=True, slots=True)
class MboxRange:
    """The messages of one mbox whose ``From `` lines start in ``[start, end)``."""

    path: str
    key: str | None
    folder: str | None
    root: str
    open_as: str
    start: int
    end: int
    messages: int

    @property
    def size(self) -> int:
        return self.end - self.start


Entry = FileRef | MboxRange | RawMessage | Unreadable


@dataclass(frozen=True, slots=True)
class Part:
    """Entries read together; ``size`` is their bytes (for progress)."""

    entries: tuple[Entry, ...]
    size: int

    @property
    def messages(self) -> int:
        return sum(_count(e) for e in self.entries)


def _count(e: Entry) -> int:
    return e.messages if isinstance(e, MboxRange) else 1


def _size(e: Entry) -> int:
    if isinstance(e, RawMessage):
        return len(e.data)
    return 0 if isinstance(e, Unreadable) else e.size


# ---- the plan --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Planned(Unreadable):
    """Entries the planner found for one file, carried through the walker's own iterator (so
    the plan keeps the walk's order and stays lazy); never leaves this module."""

    entries: tuple[Entry, ...] = ()


class _Planner(readers._Walker):
    """``iter_raw``'s walker, with files planned instead of read (except inside ``PATH:KEY``,
    which reads the mailbox to find one message, as ``iter_raw`` does)."""

    def __init__(self, labels: Labels | None, limits: _Limits) -> None:
        super().__init__(labels)
        self.limits = limits
        self.reading = 0

    def one(self, where: str, key: str) -> Iterator[RawMessage | Unreadable]:
        self.reading += 1
        try:
            yield from super().one(where, key)
        finally:
            self.reading -= 1

    def file(
        self, path: str, key: str | None, folder: str | None = None
    ) -> Iterator[RawMessage | Unreadable]:
        if self.reading:
            yield from super().file(path, key, folder)
            return
        entries = tuple(self._entries_of(path, key, folder))
        yield _Planned(path, key, "", None, entries)

    def _entries_of(self, path: str, key: str | None, folder: str | None) -> Iterator[Entry]:
        absolute = os.path.abspath(path)
        try:
            size = os.stat(path).st_size
        except OSError:
            size = 0  # the reader says why it cannot open it
        ref = FileRef(path, key, folder, self.root, absolute, size)
        if size < self.limits.split_bytes:
            yield ref
            return
        try:
            f = open_regular(path)
        except OSError:
            yield ref
            return
        with f:
            head = f.read(len(b"From ") + 8)
            if compression(head) is not None or not head.startswith(b"From "):
                yield ref
                return
            f.seek(0)
            yield from _ranges(ref, mbox_offsets(f), self.limits)


@dataclass(frozen=True, slots=True)
class _Limits:
    split_bytes: int = SPLIT_BYTES
    part_messages: int = PART_MESSAGES
    part_bytes: int = PART_BYTES


def _ranges(
    ref: FileRef, offsets: Iterable[tuple[int, int]], limits: _Limits
) -> Iterator[MboxRange]:
    """Consecutive messages of one mbox grouped into ranges of at most ``part_messages``
    messages, closed once they hold ``part_bytes`` bytes."""
    start, end, count = -1, 0, 0
    for offset, size in offsets:
        if count and (count >= limits.part_messages or end - start >= limits.part_bytes):
            yield MboxRange(ref.path, ref.key, ref.folder, ref.root, ref.open_as, start, end, count)
            count = 0
        if not count:
            start = offset
        end, count = offset + size, count + 1
    if count:
        yield MboxRange(ref.path, ref.key, ref.folder, ref.root, ref.open_as, start, end, count)


def _entries(paths: Sequence[str], labels: Labels | None, limits: _Limits) -> Iterator[Entry]:
    """Every entry of the corpus, in corpus order (``iter_raw``'s loop over the paths)."""
    walker = _Planner(labels, limits)
    for p in paths:
        walker.root = os.fspath(p)
        walker._folders.clear()
        for item in walker.path(walker.root):
            if isinstance(item, _Planned):
                yield from item.entries
            else:
                yield item


def plan(
    paths: Sequence[str],
    labels: Labels | None = None,
    *,
    split_bytes: int = SPLIT_BYTES,
    part_messages: int = PART_MESSAGES,
    part_bytes: int = PART_BYTES,
) -> Iterator[Part]:
    """The corpus as parts, in corpus order (see the module docstring)."""
    batch: list[Entry] = []
    count = size = 0
    limits = _Limits(split_bytes, part_messages, part_bytes)
    for e in _entries(paths, labels, limits):
        if batch and (count + _count(e) > part_messages or size >= part_bytes):
            yield Part(tuple(batch), size)
            batch, count, size = [], 0, 0
        batch.append(e)
        count += _count(e)
        size += _size(e)
    if batch:
        yield Part(tuple(batch), size)


@dataclass
class AnchoredLabels(Labels):
    """Labels that match a relative message path from ``cwd`` (the planner's working
    directory) rather than the reader's own: a part read on another machine is labelled
    as ``iter_raw`` labels it where the plan was made (``Labels`` resolves paths with
    ``os.path.abspath``)."""

    cwd: str = ""

    def _match_path(self, path: str) -> str | None:
        return super()._match_path(os.path.join(self.cwd, path))


def anchored(labels: Labels, cwd: str | None = None) -> AnchoredLabels:
    """``labels`` matched from ``cwd`` (default: this process's working directory)."""
    return AnchoredLabels(
        by_name=labels.by_name,
        by_message_id=labels.by_message_id,
        source=labels.source,
        cwd=cwd if cwd is not None else os.getcwd(),
    )


# ---- reading a part --------------------------------------------------------------------------
def read_part(part: Part, labels: Labels | None = None) -> Iterator[RawMessage | Unreadable]:
    """The items of ``part``: ``iter_raw``'s items for those files and ranges."""
    for e in part.entries:
        if isinstance(e, FileRef):
            yield from _read_file(e, labels)
        elif isinstance(e, MboxRange):
            yield from read_range(e, labels)
        else:
            yield e


def _walker(root: str, labels: Labels | None) -> readers._Walker:
    w = readers._Walker(labels)
    w.root = root
    return w


def _read_file(ref: FileRef, labels: Labels | None) -> Iterator[RawMessage | Unreadable]:
    """``_Walker.file``, opening the absolute path and naming the file as the walk did."""
    w = _walker(ref.root, labels)
    where = ref.folder if ref.folder is not None else ref.path
    try:
        f = open_regular(ref.open_as)
    except OSError as exc:
        yield w.bad(where, ref.key, f"cannot open: {exc.strerror or exc}")
        return
    with f:
        yield from w.stream(where, ref.key, f, file=ref.path)


class _Window:
    """At most ``left`` bytes of a file, from where it stands."""

    def __init__(self, f: Readable, left: int) -> None:
        self.f, self.left = f, left

    def read(self, size: int = -1, /) -> bytes:
        n = self.left if size < 0 else min(size, self.left)
        if n <= 0:
            return b""
        data = self.f.read(n)
        self.left -= len(data)
        return data


def read_range(r: MboxRange, labels: Labels | None = None) -> Iterator[RawMessage | Unreadable]:
    """The messages of one mbox range, keyed by their offsets in the whole file."""
    w = _walker(r.root, labels)
    where = r.folder if r.folder is not None else r.path
    try:
        f = open_regular(r.open_as)
    except OSError as exc:
        yield w.bad(where, r.key, f"cannot open: {exc.strerror or exc}")
        return
    with f:
        f.seek(r.start)
        window = _Window(f, r.size)
        head = window.read(len(b"From "))
        if head != b"From ":
            prefix = f"{r.key}:" if r.key is not None else ""
            yield w.bad(
                where,
                f"{prefix}{r.start}",
                f"mbox changed since it was indexed: no 'From ' line at byte {r.start} "
                f"(messages in bytes {r.start}-{r.end} not read)",
            )
            return
        yield from w._mbox(where, r.key, Chain(head, window), r.path, base=r.start)
