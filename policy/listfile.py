"""List files: ``list partners = file "lists/partners.txt"``.

One entry a line, blank lines ignored, surrounding whitespace stripped, and ``#`` at the
start of a line or after whitespace starts a comment (so ``a#b@example.com`` stays whole).
An entry may end with its expiry: ``*@partner.example until 2027-03-01`` (``expiry.py``).
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
from mailpolicy.policy import ast
from mailpolicy.policy.expiry import parse_date, split_file_entry

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


def resolve(written: str, base_dir: str, root: str | None) -> str:
    """The real path of list file ``written`` (relative to ``base_dir``, the policy's
    directory), checked against ``root`` before anything is opened; ``ValueError`` says why
    it is refused, in words that follow the file's name.

    ``root`` None: the policy's directory, and a ``..`` in the written path is refused.
    Symbolic links are followed first and the target checked, so a link that leads out of
    the root is refused like a ``..``."""
    allow = "name another directory with --list-root DIR"
    if "\0" in written:
        raise ValueError("is not a file name (it contains a NUL character)")
    if root is None and ".." in re.split(r"[/\\]", written):
        raise ValueError(
            f"goes up with '..'; list files are read from the policy's directory and "
            f"below it only ({allow})"
        )
    full = os.path.join(base_dir, written) if base_dir else written
    top = os.path.realpath(root if root is not None else (base_dir or os.curdir))
    real = os.path.realpath(full)
    if os.path.commonpath([real, top]) != top:
        where = "the policy's directory" if root is None else "the list root"
        raise ValueError(f"resolves to {real}, outside {where} {top} ({allow})")
    return real


def load_entries(
    written: str, base_dir: str, root: str | None, policy_path: str
) -> tuple[tuple[ast.Str, ...], tuple[tuple[str, ast.Span], ...]]:
    """The entries of ``list x = file WRITTEN``, each with where it is written (its file,
    as ``display_path`` names it, line and column) and its expiry (``ENTRY until DATE``),
    and the problems of those dates (message, span: E109 for the checker); ``ValueError``
    with the whole E103 message. The path is checked against the root (``resolve``)
    before anything is opened."""
    full = os.path.join(base_dir, written) if base_dir else written
    try:
        entries = read_list_entries(resolve(written, base_dir, root))
    except ValueError as exc:
        shown = f"'{written}'" if full == written else f"'{written}' ({full})"
        raise ValueError(f"list file {shown} {exc}") from None
    where = display_path(policy_path, written, full)
    items, problems = [], []
    for text, line, col in entries:
        value, date = split_file_entry(text)
        until = None
        if date is not None:
            try:
                until = parse_date(date)
            except ValueError as exc:
                at = col + len(text) - len(date)
                problems.append((str(exc), ast.Span(where, line, at, line, at + len(date))))
        span = ast.Span(where, line, col, line, col + len(value))
        items.append(ast.Str(value=value, until=until, span=span))
    return tuple(items), tuple(problems)


def display_path(policy_path: str, written: str, full: str) -> str:
    """A list file's name in diagnostics: as reached from where the policy was named
    (``policies/lists/partners.txt``), so ``FILE:LINE`` opens in an editor."""
    if policy_path.startswith("<") or os.path.isabs(written):
        return full
    return os.path.normpath(os.path.join(os.path.dirname(policy_path), written))


def read_list_file(path: str) -> tuple[str, ...]:
    """The entries of a list file, or ``ValueError`` saying why it cannot be used."""
    return tuple(value for value, _, _ in read_list_entries(path))


def read_list_entries(path: str) -> tuple[tuple[str, int, int], ...]:
    """``(entry, line, column)`` of each entry of a list file, or ``ValueError`` saying
    why it cannot be used (lines and columns 1-based).

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
    for lineno, line in enumerate(text.splitlines(), 1):
        entry = _COMMENT.sub("", line).strip()
        if entry and not entry.startswith("#"):
            out.append((entry, lineno, len(line) - len(line.lstrip()) + 1))
    return tuple(out)


# ---- entries for their use --------------------------------------------------------------------
#: Characters that never belong in an address or domain entry outside quotes (globs use
#: ``*?[]{},!`` and ``\``, which stay allowed).
_NOT_IN_ADDRESS = re.compile(r'[\s<>()";:]')
_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)
_ANGLED = re.compile(r"<([^<>\s]+)>")


def address_problem(entry: str) -> str | None:
    """Why ``entry`` is not an address, an address glob or a domain (``sender in L``,
    ``recipient in L``), with a did-you-mean where one is plausible; None when it is fine.

    An entry with ``@`` is a glob over the whole address (``*@example.com``,
    ``user@example.com``); one without is a domain and its subdomains (``example.com``,
    ``@example.com``)."""
    why = _address_why(entry)
    if why is None:
        return None
    guess = _address_guess(entry)
    tip = f" (did you mean '{guess}'?)" if guess and _address_why(guess) is None else ""
    return f"{why}{tip}"


def _address_why(entry: str) -> str | None:
    if entry.startswith('"'):  # a quoted local part: "john smith"@example.com
        local, quote, rest = entry[1:].partition('"')
        if not quote or not rest.startswith("@"):
            return "a quoted local part must be closed and followed by @domain"
        entry = "x" + rest
    if "," in entry and "{" not in entry:  # a glob's {a,b} is one entry
        return "it holds several entries: write one a line"
    bad = _NOT_IN_ADDRESS.search(entry)
    if bad:
        what = "a space" if bad.group().isspace() else f"'{bad.group()}'"
        return f"it contains {what}, which no address or domain has"
    local, at, domain = entry.rpartition("@")
    if "@" in local:
        return "it has more than one '@'"
    if at and not domain:
        return "it has no domain after '@'"
    labels = domain.split(".")
    if "" in labels:
        return "its domain has an empty part (a dot at the start or end, or two in a row)"
    return None


def _address_guess(entry: str) -> str | None:
    inner = _ANGLED.search(entry)
    if inner:
        return inner.group(1)
    if _MAILTO.match(entry):
        return _MAILTO.sub("", entry)
    guess = re.sub(r"@+", "@", entry.strip(" ,;"))
    guess = re.sub(r"\s*@\s*", "@", guess)
    local, at, domain = guess.rpartition("@")
    domain = re.sub(r"\.{2,}", ".", domain).strip(".")
    guess = f"{local}{at}{domain}"
    return guess if guess != entry and (at or "." in guess) and guess.strip("@") else None


def extension_problem(entry: str) -> str | None:
    """Why ``entry`` is not an extension (``extension in L``: ``exe``, not ``.exe``)."""
    if entry.startswith(".") and entry.strip(".") and "." not in entry.strip("."):
        return f"an extension is written without the dot: '{entry.lstrip('.')}', not '{entry}'"
    if entry.startswith("*.") and entry[2:] and "." not in entry[2:] and "*" not in entry[2:]:
        return f"an extension is written without '*.': '{entry[2:]}', not '{entry}'"
    if not entry or "." in entry or "/" in entry:
        return f"'{entry}' is not an extension (one part after the last dot, such as 'exe')"
    return None
