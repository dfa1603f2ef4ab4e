"""``explain``: the verdict of a policy on each message of a corpus, with its trace.

``explain(policy, paths)`` replays ``paths`` (one message or a whole mailbox) in corpus
order, in this process, through the reference evaluator with the trace on, and yields an
``Explained`` (the parsed message and its verdict) or, for what cannot be read, the
readers' ``Unreadable``. ``to_json`` and ``render`` give the two forms ``mailpolicy
explain`` prints.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from mailpolicy.corpus.message import Message
from mailpolicy.corpus.readers import RawMessage, Unreadable
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.evaluate import Verdict, evaluate
from mailpolicy.simulator.replay import parse, replay

#: Width of the ``why`` column of the trace table.
WHY_WIDTH = 110


@dataclass(frozen=True, slots=True)
class Explained:
    msg: Message
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class _Explain:
    """The judge of ``explain``: the traced verdict, or why the message cannot be read."""

    policy: CheckedPolicy

    def decide(self, raw: RawMessage) -> Explained | Unreadable:
        try:
            msg = parse(raw)
        except Exception as exc:  # noqa: BLE001 parse_message promises not to raise; a
            # bug there must still leave the message accounted for
            return Unreadable(
                raw.path, raw.key, f"parser failed: {type(exc).__name__}: {exc}", raw.label
            )
        return Explained(msg, evaluate(self.policy, msg))

    def unreadable(self, item: Unreadable) -> Explained | Unreadable:
        return item


def explain(policy: CheckedPolicy, paths: Sequence[str]) -> Iterator[Explained | Unreadable]:
    """Every message under ``paths`` with its traced verdict, in corpus order."""
    return replay(_Explain(policy), paths, workers=1)


def to_json(policy: CheckedPolicy, found: Explained) -> dict[str, Any]:
    """The ``explain --json`` line of one message."""
    return {
        "message": found.msg.location,
        "message_id": found.msg.message_id,
        "policy": policy.name,
        **found.verdict.to_json(),
    }


def _clip(text: str, width: int = WHY_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render(found: Explained) -> str:
    """The human form: verdict, deciding rule and attachment, then the trace table."""
    msg, verdict = found.msg, found.verdict
    att = verdict.attachment
    lines = [
        f"message:    {msg.location}",
        f"sender:     {msg.sender or '<>'}  recipients: {', '.join(msg.recipients) or '-'}",
        f"verdict:    {verdict.action.upper()}"
        + (f" by rule {verdict.rule} (line {verdict.line})" if verdict.rule else " (default)"),
    ]
    if att is not None:
        shown = verdict.name or att.name or "(no name)"
        lines.append(f"attachment: {shown} (part {att.part})")
    if verdict.header:
        lines.append(f"header:     {verdict.header}")
    for s in verdict.stripped:
        lines.append(f"strips:     {s.name} (part {s.part})")
    lines.append(f"reason:     {verdict.reason}")
    if verdict.trace:
        rows = [
            (s.line, s.rule, s.action, "MATCH" if s.matched else "no", _clip(s.why))
            for s in verdict.trace
        ]
        lines.append("")
        lines.append(tabulate(rows, headers=["line", "rule", "action", "result", "why"]))
    return "\n".join(lines)
