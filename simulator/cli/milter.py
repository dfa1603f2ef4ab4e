"""``mailpolicy milter POLICY --listen HOST:PORT|unix:PATH``: enforce the policy at the MTA.

Serves the milter protocol (``simulator.milter``) until SIGTERM or SIGINT, then lets the
messages in flight finish. SIGHUP loads the policy again (swapped in only when it checks
clean; a policy read from standard input cannot be reloaded) and reopens the decision
log. ``--audit`` accepts everything and adds ``X-Mailpolicy-Would:``; ``--decision-log
FILE`` appends one JSON line per message (rotated with ``--decision-log-max-bytes``);
``--keep DIR`` keeps each judged message for replay; ``--fallback`` is the reply when an
analysis fails or runs out of time (``tempfail`` by default). Errors before serving (a bad
address, a policy with errors) are one line and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
from typing import TextIO

from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.diagnostics import InputError, PolicyError
from mailpolicy.simulator.cli.common import ExitCode, add_budget_options, budget

#: The replies when an analysis fails (``simulator.milter.FALLBACKS``; not imported here, so
#: that the other verbs run without the milter library installed).
FALLBACKS = ("tempfail", "accept", "reject")
ISOLATIONS = ("process", "thread")
HELP = "enforce a policy at the MTA as a milter (Postfix, Sendmail), or audit it"
_SIZE = re.compile(r"(\d+)\s*([kmg]?)b?", re.IGNORECASE)


def _size(text: str) -> int:
    """Bytes: ``N``, ``NK``, ``NM`` or ``NG`` (powers of 1024)."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 262144, 256M, 1G)")
    return int(m[1]) << {"": 0, "k": 10, "m": 20, "g": 30}[m[2].lower()]


def _mode(text: str) -> int:
    if not re.fullmatch(r"0?[0-7]{3}", text):
        raise argparse.ArgumentTypeError(f"an octal mode such as 660, not {text!r}")
    return int(text, 8)


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``mailpolicy milter``."""
    p.add_argument("policy", metavar="POLICY", help="the policy file (-: standard input)")
    p.add_argument("--list-root", metavar="DIR", help="where the policy's list files are")
    p.add_argument(
        "--listen", required=True, metavar="HOST:PORT|unix:PATH", help="where to accept the MTA"
    )
    p.add_argument(
        "--socket-mode",
        type=_mode,
        default=0o660,
        metavar="MODE",
        help="permissions of a unix: socket, in octal (default 660: the milter's user and "
        "group; the MTA must be able to write to it)",
    )
    p.add_argument(
        "--audit",
        action="store_true",
        help="accept every message; add X-Mailpolicy-Would: ACTION rule=ID and log it",
    )
    p.add_argument(
        "--decision-log",
        metavar="FILE",
        help="append one JSON line per message (and per reload); reopened on SIGHUP",
    )
    p.add_argument(
        "--decision-log-max-bytes",
        type=_size,
        default=0,
        metavar="N",
        help="rotate the decision log before it grows past N bytes (K, M, G suffixes): "
        "FILE -> FILE.1 ... FILE.K, between whole lines (default 0: never)",
    )
    p.add_argument(
        "--decision-log-keep",
        type=int,
        default=5,
        metavar="K",
        help="rotated decision logs kept (default %(default)s)",
    )
    p.add_argument(
        "--keep",
        metavar="DIR",
        help="write each judged message as DIR/<sha256>.eml (once per content) for "
        "replay; the decision line names it ('kept')",
    )
    p.add_argument(
        "--fallback",
        choices=FALLBACKS,
        default="tempfail",
        help="the reply when an analysis fails or runs out of time (default %(default)s)",
    )
    p.add_argument(
        "--max-concurrent",
        type=int,
        default=4,
        metavar="N",
        help="most messages analysed at once, and the worker processes (default %(default)s)",
    )
    p.add_argument(
        "--isolation",
        choices=ISOLATIONS,
        default="process",
        help="where analyses run: worker processes with a hard time and memory limit, "
        "killed and replaced on overrun; or threads, where only the archive readers' "
        "deadline holds (default %(default)s)",
    )
    p.add_argument(
        "--max-buffered",
        type=_size,
        default=256 << 20,
        metavar="N",
        help="bytes of all messages held at once (K, M, G suffixes); a message that finds "
        "no room gets 451 4.3.2 (default 256M)",
    )
    add_budget_options(p)


def _one_line(exc: PolicyError, path: str) -> str:
    d = exc.diagnostics[0] if exc.diagnostics else None
    where = f"{d.span.file}:{d.span.line}:{d.span.column}: " if d is not None else f"{path}: "
    more = f" (and {len(exc.diagnostics) - 1} more)" if len(exc.diagnostics) > 1 else ""
    return f"policy has errors: {where}{exc}{more}; see mailpolicy check {path}"


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    try:
        from mailpolicy.simulator import milter, milter_log
        from mailpolicy.simulator.milter_judge import load_source
    except ImportError as exc:
        raise InputError(f"the milter needs the kilter.protocol package: {exc}") from None
    if args.max_concurrent < 1:
        raise InputError("--max-concurrent must be 1 or more")
    if args.decision_log_keep < 1:
        raise InputError("--decision-log-keep must be 1 or more")
    if args.max_buffered < 1:
        raise InputError("--max-buffered must be more than 0")
    listen: str = args.listen
    if not listen.startswith("unix:"):
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InputError(f"--listen wants HOST:PORT or unix:PATH, not {listen!r}")
    elif not listen[5:]:
        raise InputError("--listen unix: wants a path")
    if args.keep and not (os.path.isdir(args.keep) and os.access(args.keep, os.W_OK)):
        raise InputError(f"--keep {args.keep}: not a writable directory")
    path: str = args.policy

    def load() -> tuple[CheckedPolicy, str]:
        try:
            return load_source(path, getattr(args, "list_root", None))
        except PolicyError as exc:
            raise InputError(_one_line(exc, path)) from None

    policy, sha = load()
    log: milter_log.DecisionLog | None = None
    if args.decision_log:
        try:
            log = milter_log.DecisionLog(
                args.decision_log, args.decision_log_max_bytes, args.decision_log_keep
            )
        except OSError as exc:
            raise InputError(f"cannot open {args.decision_log}: {exc.strerror}") from None
    cfg = milter.Config(
        policy=policy,
        policy_hash=sha,
        audit=args.audit,
        fallback=args.fallback,
        max_concurrent=args.max_concurrent,
        budget=budget(args),
        decision_log=log,
        isolation=args.isolation,
        keep=args.keep,
        max_buffered=args.max_buffered,
        socket_mode=args.socket_mode,
    )

    def say(text: str) -> None:
        print(text, file=err, flush=True)

    async def main() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        server = milter.Milter(cfg, say)
        for sig in (signal.SIGTERM, signal.SIGINT):
            if task is not None:
                loop.add_signal_handler(sig, task.cancel)
        told: list[bool] = []

        def hangup() -> None:
            server.reopen()
            if path == "-":
                if not told:
                    say(
                        "mailpolicy milter: the policy came from standard input: SIGHUP "
                        "reopens the decision log but cannot reload the policy"
                    )
                    told.append(True)
                return
            loop.create_task(server.reload(load))

        loop.add_signal_handler(signal.SIGHUP, hangup)
        background = []  # referenced while it runs; asyncio.run cancels it at the end
        if path != "-":  # a policy from standard input keeps the day it was read on
            background.append(loop.create_task(server.daily(load)))
        mode = "audit" if cfg.audit else "enforce"
        await server.serve(
            listen,
            lambda: say(
                f"mailpolicy milter: listening on {listen} ({mode}, {cfg.isolation}s, "
                f"policy sha256 {sha})"
            ),
        )

    try:
        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(main())
    except OSError as exc:
        raise InputError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    finally:
        if log is not None:
            log.close()
    say("mailpolicy milter: stopped")
    return ExitCode.OK
