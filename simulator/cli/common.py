"""What every verb shares: the exit codes, checked inputs, and the interruptible replay loop.

- ``ExitCode``: the one set of exit codes of ``mailpolicy``.
- ``corpus_paths``, ``labels``, ``writable``, ``workers``, ``budget``: the inputs a verb
  names, checked before any work starts; ``InputError`` (exit 2, one line) when one cannot be used.
- ``matchers``: one matcher per policy; a note about the evaluator is printed once.
- ``consume``: feed every replayed row to a function until the corpus ends or Ctrl-C
  (``Interrupt``); a terminal on stderr gets a progress line (``Ticker``). ``finish``:
  print the summary and say whether the run was complete.
"""

from __future__ import annotations

import argparse
import datetime
import enum
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Generator, Sequence
from types import FrameType
from typing import Any, Self, TextIO, TypeVar

from mailpolicy.corpus import readers
from mailpolicy.corpus.labels import Labels
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.diagnostics import Diagnostic, InputError
from mailpolicy.policy.expiry import parse_date
from mailpolicy.policy.listfile import read_regular
from mailpolicy.policy.loader import load_policy
from mailpolicy.simulator import gates
from mailpolicy.simulator import replay as _replay
from mailpolicy.simulator.budget import DEFAULT as DEFAULT_BUDGET
from mailpolicy.simulator.budget import Budget
from mailpolicy.simulator.width import columns

COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".z")

T = TypeVar("T")


class ExitCode(enum.IntEnum):
    """Exit codes: 0 fine; 1 the policy has errors or a check failed; 2 usage or input
    errors (a missing file, an unreadable message); 130 interrupted by Ctrl-C."""

    OK = 0
    FAIL = 1
    USAGE = 2
    INTERRUPTED = 130


# ---- inputs ----------------------------------------------------------------------------------
def corpus_paths(paths: Sequence[str], what: str = "corpus") -> list[str]:
    """``paths`` when every one exists and is readable; ``what`` names them in the error.

    ``-`` is standard input (once); ``PATH:KEY`` one message of a mailbox or folder, as
    ``simulate``, ``diff`` and ``--decisions`` print it (``corpus.readers.split_key``)."""
    named = f"{what} " if what else ""
    if sum(p == readers.STDIN for p in paths) > 1:
        raise InputError("standard input (-) can be read once")
    for p in paths:
        if p == readers.STDIN:
            continue
        keyed = readers.split_key(p) if not os.path.lexists(p) else None
        if keyed is not None:  # PATH:KEY, as every report prints a message in a mailbox
            p = keyed[0]
        try:
            os.stat(p)
        except FileNotFoundError:
            raise InputError(f"cannot read {named}{p}: no such file or directory") from None
        except OSError as exc:  # a symbolic link loop, a name too long, ...
            raise InputError(f"cannot read {named}{p}: {exc.strerror or exc}") from None
        if not os.access(p, os.R_OK):
            raise InputError(f"cannot read {named}{p}: permission denied")
    return list(paths)


def labels(path: str | None) -> Labels | None:
    """The labels file ``path`` (``--labels``), or None when not given."""
    if not path:
        return None
    if not os.path.lexists(path):
        raise InputError(f"cannot read labels {path}: no such file")
    try:  # Labels.load opens regular files only: a FIFO or a device is refused, not read
        return Labels.load(path)
    except ValueError as exc:  # it names the file (and the line) itself
        raise InputError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read labels {path}: {exc}") from None


def writable(path: str | None, what: str) -> None:
    """InputError when the output file ``path`` could not be written (checked up front)."""
    if not path:
        return
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise InputError(f"cannot write {what} {path}: it is a directory")
    if not os.path.isdir(parent):
        raise InputError(f"cannot write {what} {path}: no such directory {parent}")
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot write {what} {path}: permission denied")


def budget(args: argparse.Namespace) -> Budget:
    """The per-message budget of ``--time-budget`` and ``--memory-budget`` (0: none)."""
    seconds: float = args.time_budget
    megabytes: int = args.memory_budget
    if seconds < 0 or megabytes < 0:
        raise InputError("--time-budget and --memory-budget must be 0 (no limit) or more")
    return Budget(seconds=seconds or None, memory=(megabytes << 20) or None)


def sources(diags: Sequence[Diagnostic], known: dict[str, str] | None = None) -> dict[str, str]:
    """The text of every file ``diags`` point into (the policy, its list files), for the
    line and caret under each diagnostic; ``known`` texts are used as they are."""
    out = dict(known or {})
    for d in diags:
        path = d.span.file
        if path not in out and os.path.isfile(path):
            try:
                out[path] = read_regular(path, 8 * 1024 * 1024).decode("utf-8", "replace")
            except ValueError:
                pass
    return out


def add_policy_options(p: argparse.ArgumentParser) -> None:
    """``--list-root DIR`` and ``--as-of DATE``, for every verb that reads a policy
    (``load``)."""
    p.add_argument(
        "--list-root",
        metavar="DIR",
        help="list files may be anywhere under DIR (default: only under the policy's own "
        "directory; a list file outside it is refused, never read)",
    )
    p.add_argument(
        "--as-of",
        type=_date,
        metavar="YYYY-MM-DD",
        help="judge list entries' expiry dates ('until') on this day, for reproducible "
        "replays (default: today in UTC)",
    )


def _date(text: str) -> datetime.date:
    try:
        return parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def load(args: argparse.Namespace, path: str) -> CheckedPolicy:
    """The checked policy ``path`` (``-``: standard input), its list files under
    ``--list-root`` when given, its expiry dates judged on ``--as-of``."""
    return load_policy(
        path, list_root=getattr(args, "list_root", None), as_of=getattr(args, "as_of", None)
    )


def add_wide_option(p: argparse.ArgumentParser) -> None:
    """``--wide``: human tables as wide as their content, whatever the terminal."""
    p.add_argument(
        "--wide",
        action="store_true",
        help="never wrap tables to the terminal (default: wrap to COLUMNS or the terminal "
        "when output is one; never when piped)",
    )


def add_budget_options(p: argparse.ArgumentParser) -> None:
    """``--time-budget`` and ``--memory-budget``, for every verb that reads messages."""
    p.add_argument(
        "--time-budget",
        type=float,
        default=DEFAULT_BUDGET.seconds,
        metavar="SECONDS",
        help="time to read and decide one message; one that runs out is decided on what was "
        "read, plus 'message unscannable' (default %(default)s; 0: none)",
    )
    p.add_argument(
        "--memory-budget",
        type=int,
        default=(DEFAULT_BUDGET.memory or 0) >> 20,
        metavar="MB",
        help="memory for one message above the process's own (default %(default)s; 0: none)",
    )


def workers(args: argparse.Namespace) -> int:
    """``--workers``, or every core."""
    n: int | None = args.workers
    if n is not None and n < 1:
        raise InputError(f"--workers must be at least 1, not {n}")
    return _replay.default_workers() if n is None else n


def matchers(
    policies: Sequence[CheckedPolicy], args: argparse.Namespace, err: TextIO
) -> list[_replay.Matcher]:
    """One matcher per policy; a fallback note is printed once, not once per policy."""
    said: set[str] = set()

    def warn(message: str) -> None:
        if message not in said:
            said.add(message)
            print(f"mailpolicy: note: {message}", file=err)

    return [_replay.make_matcher(p, args.evaluator, warn) for p in policies]


# ---- progress --------------------------------------------------------------------------------
def corpus_bytes(paths: Sequence[str], limit: int = 200_000) -> int | None:
    """Total size of the corpus files, or None when it would not predict the work (a
    compressed file) or would be costly to find (more than ``limit`` files)."""
    total, seen = 0, 0
    for p in paths:
        walk = [(p, [], [""])] if os.path.isfile(p) else os.walk(p)
        for root, _dirs, files in walk:
            for f in files:
                full = os.path.join(root, f) if f else root
                seen += 1
                if seen > limit or full.lower().endswith(COMPRESSED):
                    return None
                try:
                    total += os.stat(full).st_size
                except OSError:
                    pass
    return total


class Ticker:
    """A one-line progress display on a terminal, redrawn at most four times a second."""

    def __init__(self, err: TextIO, progress: _replay.Progress, total_bytes: int | None) -> None:
        self.err, self.progress, self.total = err, progress, total_bytes
        self.last = 0.0

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.25:
            return
        self.last = now
        p = self.progress
        elapsed = max(now - p.started, 1e-9)
        rate = p.messages / elapsed
        line = f"{p.messages} messages, {rate:,.0f}/s"
        if self.total and p.bytes_read:
            done = min(p.bytes_read / self.total, 1.0)
            eta = elapsed * (1 - done) / done if done > 0 else 0
            line += f", {done:.0%}, ETA {eta:,.0f} s"
        self.err.write(f"\r{line}\033[K")
        self.err.flush()

    def close(self) -> None:
        self.err.write("\r\033[K")
        self.err.flush()


def ticker(err: TextIO, progress: _replay.Progress, paths: Sequence[str]) -> Ticker | None:
    """A progress line when ``err`` is a terminal, else None."""
    isatty = getattr(err, "isatty", None)
    if isatty is None or not isatty():
        return None
    return Ticker(err, progress, corpus_bytes(paths))


class Interrupt:
    """Ctrl-C as a flag: the replay loop stops between two messages, so the outputs stay
    consistent (every decision written is counted). A second Ctrl-C raises at once."""

    def __init__(self) -> None:
        self.hit = False
        self._old: Callable[[int, FrameType | None], object] | int | None = None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.hit:
            raise KeyboardInterrupt
        self.hit = True

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def consume(
    rows: Generator[T, None, None], progress: Ticker | None, each: Callable[[T], None]
) -> bool:
    """Feed every replayed row to ``each`` until the corpus ends or the user presses Ctrl-C;
    True when stopped early (the outputs are then marked partial). Always stops the replay."""
    partial = False
    try:
        with Interrupt() as stop:
            for row in rows:
                each(row)
                if progress is not None:
                    progress.tick()
                if stop.hit:
                    partial = True
                    break
    except KeyboardInterrupt:
        partial = True
    finally:
        rows.close()
        if progress is not None:
            progress.close()
    return partial


def finish(
    doc: dict[str, Any],
    render: Callable[[dict[str, Any], int | None], str],
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    *,
    messages: int,
    found: Sequence[gates.Gate] = (),
) -> ExitCode:
    """Print a replay's summary (``--json``, or ``render`` to the width of ``out``:
    ``simulator.width.columns``) and its exit code: INTERRUPTED when it is partial, USAGE
    when not one message could be read (a report of "no misses" over nothing is not a
    success), FAIL when a CI gate (``found``, also in ``doc["gates"]``) failed, else OK.
    ``doc["ok"]`` is true exactly when the exit code is 0."""
    if found:
        doc["gates"] = gates.gates_json(list(found))
    failed = [g for g in found if not g.passed]
    status = ExitCode.INTERRUPTED if doc["partial"] else ExitCode.OK
    if status == ExitCode.OK and not doc.get("messages"):
        status = ExitCode.USAGE
    if status == ExitCode.OK and failed:
        status = ExitCode.FAIL
    doc["ok"] = status == ExitCode.OK
    if args.json:
        json.dump(doc, out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        out.write(render(doc, columns(out, args.wide)) + "\n")
        if status == ExitCode.FAIL:
            out.write(f"gates: {len(failed)} of {len(found)} failed\n")
        elif found and status == ExitCode.OK:
            out.write(f"gates: {len(found)} passed\n")
    if status == ExitCode.INTERRUPTED:
        print(f"mailpolicy: interrupted after {messages} messages; results are partial", file=err)
    elif status == ExitCode.USAGE:
        unreadable = doc.get("unreadable", 0)
        print(
            f"mailpolicy: error: no message could be read in {', '.join(doc['corpus'])} "
            f"({unreadable} unreadable)",
            file=err,
        )
    for g in failed if status == ExitCode.FAIL else []:
        print(f"mailpolicy: gate failed: {gates.describe(g)}", file=err)
    return status
