"""``mailpolicy explain POLICY MESSAGE [--json]``: the verdict on each message, and why.

MESSAGE is one message or a whole mailbox; each message gets its verdict, the rule and
attachment that decided it and the trace of every rule tried (``--json``: one object a
line). An unreadable message is reported on stderr and makes the exit code 2; a MESSAGE
holding no message at all is an input error.
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from mailpolicy.corpus.readers import Unreadable
from mailpolicy.corpus.visible import visible
from mailpolicy.policy.diagnostics import InputError
from mailpolicy.simulator import explain
from mailpolicy.simulator.cli.common import (
    ExitCode,
    add_budget_options,
    add_policy_options,
    add_wide_option,
    budget,
    corpus_paths,
    load,
)
from mailpolicy.simulator.replay import location
from mailpolicy.simulator.width import columns

HELP = "show the verdict of a policy on one message, and why"


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``mailpolicy explain``."""
    p.add_argument("policy", metavar="POLICY")
    add_policy_options(p)
    p.add_argument("message", metavar="MESSAGE")
    p.add_argument("--json", action="store_true")
    add_wide_option(p)
    add_budget_options(p)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    policy = load(args, args.policy)
    width = columns(out, args.wide)
    count = 0
    status = ExitCode.OK
    for item in explain.explain(policy, corpus_paths([args.message], what=""), budget(args)):
        count += 1
        if isinstance(item, Unreadable):
            print(
                f"mailpolicy: error: cannot read message {visible(location(item))}: "
                f"{visible(item.reason)}",
                file=err,
            )
            status = ExitCode.USAGE
        elif args.json:
            out.write(json.dumps(explain.to_json(policy, item), ensure_ascii=False) + "\n")
        else:
            out.write(explain.render(item, width) + "\n")
    if count == 0:
        raise InputError(f"no message found in {args.message}")
    return status
