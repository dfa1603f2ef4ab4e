"""List files: ``list partners = file "lists/partners.txt"``.

One entry a line, blank lines ignored, surrounding whitespace stripped, and ``#`` at the
start of a line or after whitespace starts a comment (so ``a#b@example.com`` stays whole).
Only regular files are read (a FIFO or ``/dev/zero`` would hang), never blocking, at
most ``MAX_LIST_BYTES`` (``read_regular``, which the policy file is read with too);
whatever makes a file unusable is a ``ValueError`` saying why, which the checker reports
as E103.
"""

from __future__ import annotations

import errno
import os
import re

from mailpolicy.corpus.readers import open_regular

MAX_LIST_BYTES = 8 * 1024 * 1024
_COMMENT = re.compile(r"(?:^|\s)#.*$")


def read_regular(path: str, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``path``, read only if it is a regular file.

    ``ValueError`` says why not, in words that follow the file's name: "not found", "is
    a directory, not a file", "is not a regular file (FIFO, socket or device)", "cannot be
    read (...)". Never blocks: the file is opened non-blocking and judged once open
    (``corpus.readers.open_regular``), so a FIFO, ``/dev/zero`` or a ``/proc`` entry
    costs no more than a regular file of the same stated size."""
    try:
        with open_regular(path) as fh:
            return fh.read(limit + 1)
    except FileNotFoundError:
        raise ValueError("not found") from None
    except IsADirectoryError:
        raise ValueError("is a directory, not a file") from None
    except OSError as exc:
        if exc.errno == errno.ENODEV:
            raise ValueError(f"is {exc.strerror}") from None
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from None


def read_list_file(path: str) -> tuple[str, ...]:
    """The entries of a list file, or ``ValueError`` saying why it cannot be used.

    One entry a line; blank lines and ``#`` comments ignored; whitespace stripped.
    """
    data = read_regular(path, MAX_LIST_BYTES)
    if len(data) > MAX_LIST_BYTES:
        size = os.stat(path).st_size
        raise ValueError(
            f"is too large ({size / 1e6:.1f} MB; the limit is {MAX_LIST_BYTES // (1024 * 1024)} MB)"
        )
    if b"\0" in data:
        raise ValueError("is a binary file (it contains NUL bytes), not a list")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        lineno = data[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"is not UTF-8 text (invalid byte 0x{data[exc.start]:02x} on line {lineno})"
        ) from None
    out = []
    for line in text.splitlines():
        entry = _COMMENT.sub("", line).strip()
        if entry.startswith("#"):
            continue
        if entry:
            out.append(entry)
    return tuple(out)
