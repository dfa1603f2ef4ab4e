"""``mailpolicy milter POLICY --listen HOST:PORT|unix:PATH``: enforce the policy at the MTA.

Serves the milter protocol (``simulator.milter``) until SIGTERM or SIGINT, then lets the
messages in flight finish. ``--audit`` accepts everything and adds ``X-Mailpolicy-Would:``;
``--decision-log FILE`` appends one JSON line per message; ``--fallback`` is the reply
when an analysis fails or runs out of time (``tempfail`` by default).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import IO, TextIO

from mailpolicy.policy.diagnostics import InputError
from mailpolicy.simulator.cli.common import ExitCode, add_budget_options, budget, load

#: The replies when an analysis fails (``simulator.milter.FALLBACKS``; not imported here, so
#: that the other verbs run without the milter library installed).
FALLBACKS = ("tempfail", "accept", "reject")
HELP = "enforce a policy at the MTA as a milter (Postfix, Sendmail), or audit it"


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``mailpolicy milter``."""
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("--list-root", metavar="DIR", help="where the policy's list files are")
    p.add_argument(
        "--listen", required=True, metavar="HOST:PORT|unix:PATH", help="where to accept the MTA"
    )
    p.add_argument(
        "--audit",
        action="store_true",
        help="accept every message; add X-Mailpolicy-Would: ACTION rule=ID and log it",
    )
    p.add_argument("--decision-log", metavar="FILE", help="append one JSON line per message")
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
        help="most messages analysed at once (default %(default)s)",
    )
    add_budget_options(p)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    try:
        from mailpolicy.simulator import milter
    except ImportError as exc:
        raise InputError(f"the milter needs the kilter.protocol package: {exc}") from None
    policy = load(args, args.policy)
    if args.max_concurrent < 1:
        raise InputError("--max-concurrent must be 1 or more")
    listen: str = args.listen
    if not listen.startswith("unix:"):
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            raise InputError(f"--listen wants HOST:PORT or unix:PATH, not {listen!r}")
    log: IO[str] | None = None
    if args.decision_log:
        try:
            log = open(args.decision_log, "a", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InputError(f"cannot open {args.decision_log}: {exc.strerror}") from None
    source = "-" if args.policy == "-" else args.policy
    cfg = milter.Config(
        policy=policy,
        policy_hash=milter.policy_hash(source) if source != "-" else "",
        audit=args.audit,
        fallback=args.fallback,
        max_concurrent=args.max_concurrent,
        budget=budget(args),
        decision_log=log,
    )

    def say(text: str) -> None:
        print(text, file=err, flush=True)

    async def main() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            if task is not None:
                loop.add_signal_handler(sig, task.cancel)
        server = milter.Milter(cfg, say)
        mode = "audit" if cfg.audit else "enforce"
        await server.serve(
            listen, lambda: say(f"mailpolicy milter: listening on {listen} ({mode})")
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
