"""``mailpolicy inspect MESSAGE_OR_CORPUS... [--json]``: every attachment as a policy sees it.

Names, decoded names, true type, tricks, archive members (``corpus.inspect``). An
unreadable message is listed (on stderr, or as ``{"path", "unreadable"}`` with
``--json``) and makes the exit code 2, as for ``explain``. Each message is read under the
per-message budget (``--time-budget``, ``--memory-budget``): one that runs out is shown
as far as it was read, with the budget's reason among its ``unscannable`` facts.
"""

from __future__ import annotations

import argparse
import functools
import json
from typing import TextIO

from mailpolicy.corpus import inspect, readers
from mailpolicy.corpus.message import Message
from mailpolicy.corpus.visible import visible
from mailpolicy.simulator.cli.common import (
    ExitCode,
    add_budget_options,
    budget,
    corpus_paths,
    labels,
)
from mailpolicy.simulator.replay import judge_raw, location


def _show(msg: Message, as_json: bool) -> str | readers.Unreadable:
    if as_json:
        return json.dumps(inspect.to_json(msg), ensure_ascii=False) + "\n"
    return inspect.render_table(msg) + "\n\n"


def _failed(raw: readers.RawMessage, why: str) -> str | readers.Unreadable:
    return readers.Unreadable(raw.path, raw.key, f"parser failed: {why}", raw.label)


HELP = "show every attachment of messages as the policy sees it"


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``mailpolicy inspect``."""
    p.add_argument("paths", nargs="+", metavar="MESSAGE_OR_CORPUS")
    p.add_argument("--json", action="store_true", help="JSON Lines, one object per message")
    p.add_argument("--labels", metavar="FILE")
    add_budget_options(p)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    paths = corpus_paths(args.paths, what="")
    found = labels(args.labels)
    spend = budget(args)
    status = ExitCode.OK
    item: readers.RawMessage | readers.Unreadable
    for item in readers.iter_raw(paths, found):
        if isinstance(item, readers.RawMessage):
            raw = item
            shown, _ = judge_raw(
                raw,
                found,
                spend,
                lambda m: _show(m, args.json),
                functools.partial(_failed, raw),
            )
            if isinstance(shown, str):
                out.write(shown)
                continue
            item = shown
        if args.json:
            doc = {"path": location(item), "unreadable": item.reason}
            out.write(json.dumps(doc, ensure_ascii=False) + "\n")
        else:
            print(f"{visible(location(item))}: unreadable: {visible(item.reason)}", file=err)
        status = ExitCode.USAGE
    return status
