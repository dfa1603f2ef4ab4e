"""``mailpolicy eval POLICY --attachment NAME ...``: a quick query, as ``postmap -q`` is for tables.

No message is built or read: the options state the facts (``policytest.inline``, the
builder the tests files use), and the reference evaluator decides with the trace on. It
prints the action, the deciding rule (id, line and its text) and the trace; ``--json``
the same as one object. ``--type`` and ``--size`` apply to every ``--attachment``;
``--fact`` states an attachment fact (``has macros``, ``unscannable``, ...) of each.

Exit codes: 0 answered (whatever the action); 2 a bad option value; 1 a policy with errors.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from mailpolicy.corpus.types import CLASS_MIME
from mailpolicy.corpus.visible import visible
from mailpolicy.policy.evaluate import evaluate
from mailpolicy.simulator.cli.common import ExitCode, add_policy_options, add_wide_option, load
from mailpolicy.simulator.explain import Explained, render
from mailpolicy.simulator.policytest import SpecError, build_message
from mailpolicy.simulator.policytest.inline import ATTACHMENT_FACTS, MESSAGE_FACTS
from mailpolicy.simulator.width import columns

HELP = "decide stated facts (an attachment name, a sender) without a message, with the trace"


def configure(p: argparse.ArgumentParser) -> None:
    """The arguments of ``mailpolicy eval``."""
    p.add_argument("policy", metavar="POLICY")
    add_policy_options(p)
    p.add_argument(
        "--attachment", action="append", default=[], metavar="NAME", help="an attachment name"
    )
    p.add_argument("--sender", metavar="ADDR", help="the envelope sender")
    p.add_argument("--recipient", action="append", default=[], metavar="ADDR")
    p.add_argument(
        "--type",
        metavar="CLASS",
        help=f"the attachments' content: a class ({', '.join(CLASS_MIME)}) or a MIME type "
        "(default: what the name promises)",
    )
    p.add_argument("--declared-type", metavar="MIME", help="the attachments' Content-Type")
    p.add_argument("--size", metavar="N", help="each attachment's size (bytes, or 10MB)")
    p.add_argument("--message-size", metavar="N", help="the message's size (bytes, or 10MB)")
    p.add_argument("--subject", metavar="S")
    p.add_argument("--header", action="append", default=[], metavar="NAME:VALUE")
    p.add_argument("--body", metavar="TEXT", help="the body text")
    p.add_argument(
        "--fact",
        action="append",
        default=[],
        metavar="FACT",
        help=f"a fact of each attachment or of the message: {', '.join(ATTACHMENT_FACTS)}; "
        f"{', '.join(MESSAGE_FACTS)}",
    )
    p.add_argument("--json", action="store_true")
    add_wide_option(p)


def spec(args: argparse.Namespace) -> dict[str, Any]:
    """The inline message the options state (``policytest.inline``'s keys)."""
    att: dict[str, Any] = {}
    if args.type is not None:
        att["type"] = args.type
    if args.declared_type is not None:
        att["declared_type"] = args.declared_type
    if args.size is not None:
        att["size"] = args.size
    att_facts = [f for f in args.fact if f not in MESSAGE_FACTS]
    if att_facts:
        att["facts"] = att_facts
    out: dict[str, Any] = {"attachments": [{"name": n, **att} for n in args.attachment]}
    if att and not args.attachment:
        out["attachments"] = [att]  # a nameless part of that type
    for key in ("sender", "subject", "body"):
        if getattr(args, key) is not None:
            out[key] = getattr(args, key)
    if args.recipient:
        out["recipient"] = args.recipient
    if args.message_size is not None:
        out["size"] = args.message_size
    headers: dict[str, list[str]] = {}
    for h in args.header:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            raise SpecError("header", f"expected NAME:VALUE, got {h!r}")
        headers.setdefault(name.strip(), []).append(value.strip())
    if headers:
        out["headers"] = headers
    msg_facts = [f for f in args.fact if f in MESSAGE_FACTS]
    if msg_facts:
        out["facts"] = msg_facts
    return out


_OPTION = {"attachments": "--attachment", "size": "--message-size", "facts": "--fact"}


def _option(key: str) -> str:
    """The option that set ``key`` of the inline message (``attachments[0].size``: --size)."""
    last = key.split(".")[-1].split("[")[0]
    if "." in key or not last:
        return "--" + last.replace("_", "-") if last != "facts" else "--fact"
    return _OPTION.get(last, "--" + last.replace("_", "-"))


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> ExitCode:
    policy = load(args, args.policy)
    try:
        msg = build_message(spec(args))
    except SpecError as exc:
        print(f"mailpolicy: error: {_option(exc.key)}: {exc.detail}", file=err)
        if args.json:
            json.dump({"ok": False, "exit_code": 2, "error": exc.detail}, out)
            out.write("\n")
        return ExitCode.USAGE
    verdict = evaluate(policy, msg)
    crule = policy.rule(verdict.rule) if verdict.rule is not None else None
    if args.json:
        doc = {"policy": policy.name, **verdict.to_json()}
        doc["text"] = crule.text if crule is not None else None
        json.dump(doc, out, ensure_ascii=False)
        out.write("\n")
        return ExitCode.OK
    lines = render(Explained(msg, verdict), columns(out, args.wide)).split("\n")
    lines = lines[1:]  # the message line: there is no message
    if crule is not None:
        lines.insert(2, f"rule:       {visible(crule.text)}")
    print("\n".join(lines), file=out)
    return ExitCode.OK
