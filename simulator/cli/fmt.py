"""``mailpolicy fmt [--check|--write] POLICY...``: canonical formatting of policy text.

``fmt_paths`` is the verb over injected streams:

- default: print the formatted text of each file to ``out`` (``-`` reads ``stdin``).
- ``check``: print ``would reformat PATH`` to ``err`` for each file that would change;
  exit 1 when any would, else 0. Nothing is written.
- ``write``: rewrite each file that changes (atomically, mode kept) and print
  ``reformatted PATH`` to ``err``; files already formatted are not touched.

A directory means every ``*.policy`` file below it. A file that does not parse: its
diagnostics on ``err``, exit 1. A file that cannot be read or written, a policy in JSON
form (there is no layout to keep: ``fmt`` formats text only), or bad usage: a one-line
message on ``err``, exit 2. The exit code is the worst over all files.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from mailpolicy.policy.diagnostics import PolicyError, render_all
from mailpolicy.policy.fmt import format_source
from mailpolicy.policy.loader import is_json
from mailpolicy.policy.parse import decode_source
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


def _write_atomic(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` in one step, keeping its permission bits."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".mailpolicy-fmt-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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
                with open(path, "rb") as f:
                    data = f.read()
        except OSError as exc:
            print(f"mailpolicy fmt: cannot read {path}: {exc.strerror or exc}", file=err)
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


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    return fmt_paths(args.policies, check=args.check, write=args.write, out=out, err=err)
