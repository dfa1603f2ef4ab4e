"""Corpus readers: every message of a mail spool, one at a time, each accounted for.

Contract:
- ``iter_raw(paths)`` yields a ``RawMessage`` or an ``Unreadable`` for everything it
  finds, in a deterministic order: the paths in the order given, directory entries sorted
  by name (MH messages by number). Nothing raises out of it for bad input: a missing
  path, a file that is not mail, a corrupt compressed file or an unreadable directory is
  an ``Unreadable`` with a reason. ``iter_messages`` adds ``mime.parse_message``.
- **Formats are sniffed, not told.** A directory with ``cur/`` or ``new/`` is a Maildir
  (``tmp/`` and plain files at its top, which are control files such as
  ``dovecot-uidlist``, are skipped; ``.Folder`` subdirectories are read as Maildir++
  folders); a directory with ``.mh_sequences`` or numbered files is an MH folder
  (``.mh_sequences``, ``,N``/``#N`` deleted messages skipped); any other directory is a
  tree whose files are sniffed one by one (names starting with ``.`` are skipped). A file
  is gzip, bzip2 or xz by its magic bytes (then its content is sniffed again), an mbox
  when it starts with ``From `` and a message when its first lines are RFC 5322 header
  fields (``Name: value``) including at least one field mail carries (``From``,
  ``Received``, ``Content-Type``, any ``X-`` field, ...). Anything else (JSON, images,
  executables, an Outlook ``.msg``, a tar file) is ``Unreadable``, never guessed into a
  message.
- **mbox**: a message starts at a line beginning ``From `` at the start of the file or
  after a blank line, or, without the blank line, when it carries an asctime date
  (``From a@b Sun Jun 16 10:00:00 2002``). The ``From `` line is not part of the
  message; the blank separator line is dropped; ``>From `` quoting is undone (mboxrd by
  default: one ``>`` removed from ``>+From `` lines; the file does not say which variant
  wrote it, and the two differ only on body lines that began ``>From `` originally). LF
  and CRLF files both work. The key is the byte offset of the ``From `` line in the
  (decompressed) file, as a decimal string.
- **Keys**: mbox offset; Maildir file name or MH number (``path`` is then the folder); None
  for a one-message file.
- **Read-only, never blocking**: files are opened read-only and non-blocking, and read
  only when the open descriptor is a regular file (``open_regular``), so a FIFO, a device
  or a ``/proc`` entry such as ``/proc/kmsg`` reached through a symlink is reported, never
  waited on (a file is read no further than its size when opened). Symlinks are
  followed, directory loops reported once.

Parts: ``corpus.mbox_index`` indexes the ``From `` lines of an mbox (with the splitter
above) and reads the corpus in parts that concatenate to ``iter_raw``, for the Dask engine.

Limits: one message in memory at a time (the mbox reader reads ``CHUNK`` bytes at a time);
a message larger than ``MAX_MESSAGE_BYTES`` is reported unreadable and skipped, never
held. A tar of a mail folder is not unpacked (reported with the reason).
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from mailpolicy.corpus.filekind import compression, is_tar, not_mail_reason
from mailpolicy.corpus.filestreams import (
    CHUNK,
    CORRUPT,
    Chain,
    Readable,
    Salvage,
    decompressor,
    read_up_to,
)
from mailpolicy.corpus.filestreams import open_regular as open_regular  # re-exported
from mailpolicy.corpus.labels import Labels, folder_label

if TYPE_CHECKING:
    from mailpolicy.corpus.message import Message

#: A single message larger than this is reported unreadable instead of being read.
MAX_MESSAGE_BYTES = 256 << 20
#: Bytes looked at to decide what a file is.
SNIFF_BYTES = 16 << 10


@dataclass(frozen=True, slots=True)
class RawMessage:
    """The bytes of one message and where they came from."""

    path: str
    key: str | None
    data: bytes
    label: str | None
    #: the file the bytes were read from (the Maildir or MH file itself; the mbox); None
    #: for standard input
    file: str | None = None


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Something in the corpus that could not be read as mail, and why."""

    path: str
    key: str | None
    reason: str
    label: str | None


# -- mbox --------------------------------------------------------------------------------

_ENVELOPE = re.compile(
    rb"From \S+ +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? +"
    rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} +\d{1,2}:\d\d"
)
_LOOKAHEAD = 128
_UNQUOTE = {
    "mboxrd": re.compile(rb"^>(>*From )", re.M),
    "mboxo": re.compile(rb"^>(From )", re.M),
}


def _is_separator(buf: bytes, pos: int) -> bool:
    """``buf[pos]`` is the newline before a ``From `` line: does a message start there?"""
    if pos >= 1 and buf[pos - 1] == 0x0A:
        return True
    if pos >= 2 and buf[pos - 1] == 0x0D and buf[pos - 2] == 0x0A:
        return True
    return _ENVELOPE.match(buf, pos + 1, pos + 1 + _LOOKAHEAD) is not None


def _mbox_spans(
    fileobj: Readable, max_bytes: int
) -> Iterator[tuple[int, bytes | None, int, int, int]]:
    """Split an mbox stream: (offset of the ``From`` line, buffer, start, end, size).

    The message is ``buffer[start:end]`` (buffer None when it is larger than
    ``max_bytes``). Reads ``CHUNK`` bytes at a time and searches with ``bytes.find``; a
    message inside one read is not copied here, one that spans reads is collected in
    pieces and joined once, so the cost is linear in the file size.
    """
    read = fileobj.read
    buf = read(CHUNK)
    if not buf:
        return
    base = 0  # file offset of buf[0]
    start = 0  # index in buf of the current message
    offset = 0  # file offset of the current message
    parts: list[bytes] = []
    size = 0  # bytes of the current message held in parts (or dropped, when too big)
    too_big = False
    scan = 0
    eof = False
    while True:
        pos = buf.find(b"\nFrom ", scan)
        if pos != -1 and (eof or pos + 1 + _LOOKAHEAD <= len(buf)):
            scan = pos + 1
            if pos + 1 > start and _is_separator(buf, pos):
                end = pos + 1
                total = size + end - start
                if too_big or total > max_bytes:
                    yield offset, None, 0, 0, total
                elif parts:
                    yield offset, b"".join([*parts, buf[start:end]]), 0, total, total
                else:
                    yield offset, buf, start, end, total
                start, offset = end, base + end
                parts, size, too_big = [], 0, False
            continue
        if eof:
            if start < len(buf) or size:
                total = size + len(buf) - start
                if too_big or total > max_bytes:
                    yield offset, None, 0, 0, total
                elif parts:
                    yield offset, b"".join([*parts, buf[start:]]), 0, total, total
                else:
                    yield offset, buf, start, len(buf), total
            return
        # Keep what a separator may still need (the bytes before "\nFrom " and the
        # lookahead), move the rest of the current message into ``parts``.
        keep = max(start, (pos - 2) if pos != -1 else len(buf) - 8)
        if keep > start:
            size += keep - start
            if too_big or size > max_bytes:
                too_big, parts = True, []
            else:
                parts.append(buf[start:keep])
        chunk = read(CHUNK)
        eof = not chunk
        buf = buf[keep:] + chunk
        base += keep
        scan = (pos - keep) if pos != -1 else 0
        start = 0


def _strip_envelope(buf: bytes, start: int, end: int, variant: str) -> bytes:
    """``buf[start:end]`` without the ``From `` line and the blank separator line, with
    ``>From `` quoting undone; one copy."""
    nl = buf.find(b"\n", start, end)
    if nl == -1:
        return b""
    start = nl + 1
    if end - start >= 4 and buf[end - 4 : end] == b"\r\n\r\n":
        end -= 2
    elif end - start >= 2 and buf[end - 2 : end] == b"\n\n":
        end -= 1
    data = buf[start:end]
    if buf.find(b">From ", start, end) != -1:
        data = _UNQUOTE[variant].sub(rb"\1", data)
    return data


def iter_mbox(
    fileobj: BinaryIO | Readable, *, variant: str = "mboxrd"
) -> Iterator[tuple[int, bytes]]:
    """(offset, message bytes) for each message of an uncompressed binary mbox stream.

    ``variant`` is ``"mboxrd"`` (default) or ``"mboxo"``; see the module docstring. Messages
    larger than ``MAX_MESSAGE_BYTES`` are skipped here; ``iter_raw`` reports them.
    """
    if variant not in _UNQUOTE:
        raise ValueError(f"unknown mbox variant {variant!r} (mboxrd or mboxo)")
    for offset, buf, start, end, _size in _mbox_spans(fileobj, MAX_MESSAGE_BYTES):
        if buf is not None:
            yield offset, _strip_envelope(buf, start, end, variant)


# -- files -------------------------------------------------------------------------------


class _Walker:
    """One ``iter_raw`` run: the root being read, the labels, the directories seen."""

    def __init__(self, labels: Labels | None) -> None:
        self.labels = labels
        self.seen_dirs: set[str] = set()
        self.root = ""
        self._folders: dict[str, str | None] = {}

    def label(self, path: str, key: str | None) -> str | None:
        if path not in self._folders:
            self._folders[path] = folder_label(path, self.root)
        folder = self._folders[path]
        if self.labels is None:
            return folder
        return self.labels.label_for(path, key, None, folder)

    def bad(self, path: str, key: str | None, reason: str) -> Unreadable:
        return Unreadable(path, key, reason, self.label(path, key))

    def raw(self, path: str, key: str | None, data: bytes, file: str | None) -> RawMessage:
        return RawMessage(path, key, data, self.label(path, key), file)

    # -- paths ---------------------------------------------------------------------------
    def path(self, path: str) -> Iterator[RawMessage | Unreadable]:
        if path == STDIN:
            yield from self.stream(STDIN, None, sys.stdin.buffer, None)
            return
        try:
            st = os.stat(path)
        except FileNotFoundError:
            keyed = split_key(path)
            if keyed is None:
                yield self.bad(path, None, "no such file or directory")
            else:
                yield from self.one(*keyed)
            return
        except OSError as exc:
            yield self.bad(path, None, f"cannot stat: {exc.strerror or exc}")
            return
        if stat.S_ISDIR(st.st_mode):
            yield from self.directory(path)
        elif stat.S_ISREG(st.st_mode):
            yield from self.file(path, None)
        else:
            yield self.bad(path, None, "not a regular file or directory (FIFO, socket, device)")

    def one(self, where: str, key: str) -> Iterator[RawMessage | Unreadable]:
        """The message ``key`` of the mailbox or folder ``where`` (``PATH:KEY``, as every
        report prints it), or why there is none."""
        found = False
        for item in self.path(where):
            if item.key == key:
                found = True
                yield item
            elif found:
                return
        if not found:
            yield self.bad(where, key, f"no message with key {key} in {where}")

    def _entries(self, path: str) -> list[os.DirEntry[str]] | Unreadable:
        real = os.path.realpath(path)
        if real in self.seen_dirs:
            return self.bad(path, None, "directory already read (symbolic link loop)")
        self.seen_dirs.add(real)
        try:
            with os.scandir(path) as it:
                return sorted(it, key=lambda e: e.name)
        except OSError as exc:
            return self.bad(path, None, f"cannot list directory: {exc.strerror or exc}")

    def directory(self, path: str) -> Iterator[RawMessage | Unreadable]:
        entries = self._entries(path)
        if isinstance(entries, Unreadable):
            yield entries
            return
        names = {e.name: e for e in entries}
        if any(n in names and _is_dir(names[n]) for n in ("cur", "new")):
            yield from self.maildir(path, entries)
        elif ".mh_sequences" in names or any(_numbered(e) for e in entries):
            yield from self.mh(path, entries)
        else:
            yield from self.tree(entries)

    def tree(self, entries: list[os.DirEntry[str]]) -> Iterator[RawMessage | Unreadable]:
        for e in entries:
            if not e.name.startswith("."):
                yield from self.path(e.path)

    def maildir(
        self, path: str, entries: list[os.DirEntry[str]]
    ) -> Iterator[RawMessage | Unreadable]:
        for sub in ("cur", "new"):
            folder = os.path.join(path, sub)
            if not os.path.isdir(folder):
                continue
            listed = self._entries(folder)
            if isinstance(listed, Unreadable):
                yield listed
                continue
            for e in listed:
                if not e.name.startswith("."):
                    yield from self.entry(e, path, f"Maildir {sub}/")
        for e in entries:
            if e.name in ("cur", "new", "tmp") or not _is_dir(e):
                continue  # plain files at the top of a Maildir are control files
            yield from self.path(e.path)

    def mh(self, path: str, entries: list[os.DirEntry[str]]) -> Iterator[RawMessage | Unreadable]:
        numbered = sorted((e for e in entries if _numbered(e)), key=lambda e: int(e.name))
        for e in numbered:
            yield from self.entry(e, path, "MH folder")
        for e in entries:
            if _numbered(e):
                continue
            if e.name.startswith((".", ",", "#")):
                continue  # .mh_sequences, .xmhcache, deleted (,N) and backup (#N) messages
            yield from self.path(e.path)

    def entry(
        self, e: os.DirEntry[str], folder: str, where: str
    ) -> Iterator[RawMessage | Unreadable]:
        """One message file of a Maildir or MH folder (keyed by its name)."""
        try:
            mode = os.stat(e.path).st_mode
        except OSError as exc:
            yield self.bad(folder, e.name, f"cannot open: {exc.strerror or exc}")
            return
        if stat.S_ISREG(mode):
            yield from self.file(e.path, e.name, folder=folder)
        else:
            yield self.bad(folder, e.name, f"not a message file in {where}")

    # -- files ---------------------------------------------------------------------------
    def file(
        self, path: str, key: str | None, folder: str | None = None
    ) -> Iterator[RawMessage | Unreadable]:
        """One file: its messages, or why it has none. ``folder``/``key`` for Maildir/MH."""
        where = folder if folder is not None else path
        try:
            f = open_regular(path)
        except OSError as exc:
            yield self.bad(where, key, f"cannot open: {exc.strerror or exc}")
            return
        with f:
            yield from self.stream(where, key, f, file=path)

    def stream(
        self, where: str, key: str | None, f: Readable, file: str | None
    ) -> Iterator[RawMessage | Unreadable]:
        """The messages of one stream (a file, or standard input), sniffed like a file."""
        count = 0
        try:
            head = f.read(SNIFF_BYTES)
            kind = compression(head)
            stream: Readable = f
            if kind is not None:
                try:
                    stream = Salvage(decompressor(kind, Chain(head, f)))
                    head = stream.read(SNIFF_BYTES)
                except CORRUPT as exc:
                    yield self.bad(where, key, f"corrupt {kind} data: {exc}")
                    return
                if compression(head):
                    yield self.bad(
                        where,
                        key,
                        f"{kind} file holding compressed data again "
                        "(nested compression is not read)",
                    )
                    return
            stream = Chain(head, stream)
            if head.startswith(b"From "):
                for item in self._mbox(where, key, stream, file):
                    count += isinstance(item, RawMessage)
                    yield item
                return
            if is_tar(head):
                yield self.bad(where, key, "a tar archive: unpack it to read the mail inside")
                return
            reason = not_mail_reason(head)
            if reason is not None:
                yield self.bad(where, key, reason if kind is None else f"{kind}: {reason}")
                return
            try:
                data = read_up_to(stream, MAX_MESSAGE_BYTES + 1)
            except CORRUPT as exc:
                yield self.bad(where, key, f"corrupt {kind} data: {exc}")
                return
            if len(data) > MAX_MESSAGE_BYTES:
                yield self.bad(where, key, f"message larger than {MAX_MESSAGE_BYTES} bytes")
                return
            yield self.raw(where, key, data, file)
        except CORRUPT as exc:
            yield self.bad(where, key, f"read error after {count} messages: {exc}")

    def _mbox(
        self, path: str, key: str | None, stream: Readable, file: str | None, base: int = 0
    ) -> Iterator[RawMessage | Unreadable]:
        """The messages of an mbox stream; ``base`` is the file offset the stream starts at
        (a part of the file, ``corpus.mbox_index``), so keys stay offsets in the file."""
        prefix = f"{key}:" if key is not None else ""  # an mbox file inside Maildir/MH
        count = 0
        try:
            for offset, buf, start, end, size in _mbox_spans(stream, MAX_MESSAGE_BYTES):
                k = f"{prefix}{base + offset}"
                if buf is None:
                    yield self.bad(
                        path, k, f"message larger than {MAX_MESSAGE_BYTES} bytes ({size} bytes)"
                    )
                    continue
                data = _strip_envelope(buf, start, end, "mboxrd")
                head = data[:1024]
                if not data or data.isspace():
                    yield self.bad(path, k, "empty message in mbox")
                elif b"\x00" in head.split(b"\n\n", 1)[0]:
                    yield self.bad(path, k, "not mail: binary data (NUL bytes) in the header block")
                else:
                    count += 1
                    yield self.raw(path, k, data, file)
        except CORRUPT as exc:
            yield self.bad(path, key, f"corrupt data after {count} messages: {exc}")


def _is_dir(e: os.DirEntry[str]) -> bool:
    return _safely(e.is_dir)


def _numbered(e: os.DirEntry[str]) -> bool:
    return e.name.isascii() and e.name.isdigit() and _safely(e.is_file)


def _safely(test: Callable[[], bool]) -> bool:
    try:
        return test()
    except OSError:
        return False


# -- public entry points -----------------------------------------------------------------

#: The path that means standard input (a message or an mbox, compressed or not).
STDIN = "-"


def split_key(arg: str) -> tuple[str, str] | None:
    """``(path, key)`` when ``arg`` is not a file but ``PATH:KEY`` with ``PATH`` one: the
    form every report prints for a message inside an mbox (its byte offset), a Maildir or
    an MH folder (its file name, which may hold colons itself: ``NAME:2,S``). None else."""
    start = 0
    while (i := arg.find(":", start)) > 0:
        if os.path.exists(arg[:i]) and i + 1 < len(arg):
            return arg[:i], arg[i + 1 :]
        start = i + 1
    return None


def iter_raw(
    paths: Iterable[str | Path], labels: Labels | None = None
) -> Iterator[RawMessage | Unreadable]:
    """Every message (or reason it cannot be read) under ``paths``, in corpus order."""
    walker = _Walker(labels)
    for p in paths:
        walker.root = os.fspath(p)
        walker._folders.clear()  # the same path may be below another root next time
        yield from walker.path(walker.root)


def iter_messages(
    paths: Iterable[str | Path], labels: Labels | None = None
) -> Iterator[Message | Unreadable]:
    """``iter_raw`` parsed by ``mime.parse_message``, with Message-ID labels applied."""
    from mailpolicy.corpus import mime

    for item in iter_raw(paths, labels):
        if isinstance(item, Unreadable):
            yield item
            continue
        try:
            msg = mime.parse_message(item.data, path=item.path, key=item.key, label=item.label)
        except Exception as exc:  # noqa: BLE001 parse_message promises not to raise; a
            # bug there must still leave the message accounted for in the report
            yield Unreadable(
                item.path, item.key, f"parser failed: {type(exc).__name__}: {exc}", item.label
            )
            continue
        if labels is not None:
            msg.label = labels.label_for(item.path, item.key, msg.message_id, item.label)
        yield msg
