"""``mailpolicy inspect MESSAGE_OR_CORPUS... [--json]``: every attachment as a policy sees it.

Names, decoded names, true type, tricks, archive members (``corpus.inspect``). An
unreadable message is listed (on stderr, or as ``{"path", "unreadable"}`` with
``--json``) and makes the exit code 2, as for ``explain``.
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from mailpolicy.corpus import inspect, readers
from mailpolicy.corpus.message import Message
from mailpolicy.simulator.cli.common import ExitCode, corpus_paths, labels
from mailpolicy.simulator.replay import location


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    paths = corpus_paths(args.paths, what="")
    status = ExitCode.OK
    for item in readers.iter_messages(paths, labels(args.labels)):
        if not isinstance(item, Message):
            if args.json:
                doc = {"path": location(item), "unreadable": item.reason}
                out.write(json.dumps(doc, ensure_ascii=False) + "\n")
            else:
                print(f"{location(item)}: unreadable: {item.reason}", file=err)
            status = ExitCode.USAGE
            continue
        if args.json:
            out.write(json.dumps(inspect.to_json(item), ensure_ascii=False) + "\n")
        else:
            out.write(inspect.render_table(item) + "\n\n")
    return status
