"""List files: ``list partners = file "lists/partners.txt"``.

One entry a line, blank lines ignored, surrounding whitespace stripped, and ``#`` at the
start of a line or after whitespace starts a comment (so ``a#b@example.com`` stays whole).
Only regular files are read (a FIFO or ``/dev/zero`` would hang), at most
``MAX_LIST_BYTES``; whatever makes a file unusable is a ``ValueError`` saying why, which
the checker reports as E103.
"""

from __future__ import annotations

import os
import re
import stat

MAX_LIST_BYTES = 8 * 1024 * 1024
_COMMENT = re.compile(r"(?:^|\s)#.*$")


def read_list_file(path: str) -> tuple[str, ...]:
    """The entries of a list file, or ``ValueError`` saying why it cannot be used.

    One entry a line; blank lines and ``#`` comments ignored; whitespace stripped.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ValueError("not found") from None
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ValueError("is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError("is not a regular file")
    if st.st_size > MAX_LIST_BYTES:
        raise ValueError(
            f"is too large ({st.st_size / 1e6:.1f} MB; the limit is "
            f"{MAX_LIST_BYTES // (1024 * 1024)} MB)"
        )
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(MAX_LIST_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from None
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
