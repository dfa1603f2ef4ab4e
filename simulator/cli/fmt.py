"""``mailpolicy fmt [--check|--write] POLICY...``: canonical formatting of policy text.

``fmt_paths`` is the verb over injected streams:

- default: print the formatted text of each file to ``out`` (``-`` reads ``stdin``).
- ``check``: print ``would reformat PATH`` to ``err`` for each file that would change;
  exit 1 when any would, else 0. Nothing is written.
- ``write``: rewrite each file that changes (atomically, mode and owner kept; a symbolic
  link is written through and stays a link) and print ``reformatted PATH`` to ``err``;
  files already formatted are not touched. A file whose mode bits do not let this user
  write it is refused, even for root (``may_write``).

A directory means every ``*.policy`` file below it. A file that does not parse: its
diagnostics on ``err``, exit 1. A file that cannot be read or written, a policy in JSON
form (there is no layout to keep: ``fmt`` formats text only), or bad usage: a one-line
message on ``err``, exit 2. The exit code is the worst over all files.
"""

from __future__ import annotations

import argparse
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from mailpolicy.policy.diagnostics import PolicyError, render_all
from mailpolicy.policy.fmt import format_source
from mailpolicy.policy.listfile import read_regular
from mailpolicy.policy.loader import is_json
from mailpolicy.policy.parse import MAX_BYTES, decode_source
from mailpolicy.simulator.cli.common import ExitCode


def _expand(paths: Sequence[str]) -> list[str]:
    """Paths as given; a directory stands for the ``*.policy`` files below it, sorted."""
    out: list[str] = []
    for p in paths:
        if p != "-" and os.path.isdir(p):
            out.extend(str(f) for f in sorted(Path(p).rglob("*.policy")) if f.is_file())
        else:
            out.append(p)
    return out


def may_write(st: os.stat_result) -> bool:
    """Whether the file ``st`` describes is writable by this user by its mode bits alone.

    ``os.access`` answers yes for root whatever the mode; ``fmt --write`` must not use
    that override to rewrite a read-only file, or one belonging to someone else that its
    mode does not open to us."""
    mode = st.st_mode
    if st.st_uid == os.geteuid():
        return bool(mode & stat.S_IWUSR)
    if st.st_gid == os.getegid() or st.st_gid in os.getgroups():
        return bool(mode & stat.S_IWGRP)
    return bool(mode & stat.S_IWOTH)


def _write_atomic(path: str, text: str) -> None:
    """Replace the file ``path`` names with ``text``: its mode and owner kept.

    A symbolic link is written through (its target is replaced, the link stays). A file
    the mode bits do not let us write is refused (``PermissionError``), root or not. The
    new text goes to a temporary file beside the target, takes its mode and owner, and
    replaces it in one step; when the owner cannot be given to it (we are not root) or the
    file has other hard links, the file is rewritten in place instead, so neither its
    owner nor its links change."""
    target = os.path.realpath(path)
    st = os.stat(target)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file")
    if not may_write(st):
        raise PermissionError(
            errno.EACCES,
            f"permission denied (mode {stat.filemode(st.st_mode)}, owner uid {st.st_uid})",
        )
    data = text.encode("utf-8")
    if st.st_nlink > 1:
        _write_in_place(target, data)
        return
    fd, tmp = tempfile.mkstemp(
        prefix=".mailpolicy-fmt-", suffix=".tmp", dir=os.path.dirname(target)
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            try:
                os.fchown(f.fileno(), st.st_uid, st.st_gid)
            except PermissionError:
                os.unlink(tmp)
                _write_in_place(target, data)
                return
            os.fchmod(f.fileno(), stat.S_IMODE(st.st_mode))
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write_in_place(target: str, data: bytes) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def fmt_paths(
    paths: Sequence[str],
    check: bool = False,
    write: bool = False,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
) -> ExitCode:
    """``mailpolicy fmt [--check|--write] PATH...``; returns the exit code (see the module
    docstring)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if check and write:
        print("mailpolicy fmt: --check and --write cannot be used together", file=err)
        return ExitCode.USAGE
    if not paths:
        print("mailpolicy fmt: no policy files given", file=err)
        return ExitCode.USAGE
    rc = ExitCode.OK
    for path in _expand(paths):
        try:
            if path == "-":
                if write:
                    print("mailpolicy fmt: cannot --write standard input", file=err)
                    rc = ExitCode.USAGE
                    continue
                data = (stdin if stdin is not None else sys.stdin).read().encode("utf-8")
            else:
                data = read_regular(path, MAX_BYTES)
        except ValueError as exc:
            print(f"mailpolicy fmt: cannot read {path}: {exc}", file=err)
            rc = ExitCode.USAGE
            continue
        source: str | None = None
        try:
            source = decode_source(data, path)
            if is_json(source):
                print(
                    f"mailpolicy fmt: {path} is a policy in JSON form; fmt formats policy text "
                    "only",
                    file=err,
                )
                rc = ExitCode.USAGE
                continue
            formatted = format_source(source, path)
        except PolicyError as exc:
            print(
                render_all(exc.diagnostics, {path: source} if source is not None else {}), file=err
            )
            rc = max(rc, ExitCode.FAIL)
            continue
        changed = formatted.encode("utf-8") != data
        if check:
            if changed:
                print(f"would reformat {path}", file=err)
                rc = max(rc, ExitCode.FAIL)
        elif write:
            if changed:
                try:
                    _write_atomic(path, formatted)
                except OSError as exc:
                    print(f"mailpolicy fmt: cannot write {path}: {exc.strerror or exc}", file=err)
                    rc = ExitCode.USAGE
                    continue
                print(f"reformatted {path}", file=err)
        else:
            out.write(formatted)
    return rc


HELP = "print policies in canonical form"


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``mailpolicy fmt``."""
    p.add_argument("policies", nargs="+", metavar="POLICY")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="exit 1 when a file would change")
    g.add_argument("--write", action="store_true", help="rewrite files in place")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    return fmt_paths(args.policies, check=args.check, write=args.write, out=out, err=err)
