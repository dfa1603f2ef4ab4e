"""``explain``: the verdict of a policy on each message of a corpus, with its trace.

``explain(policy, paths)`` replays ``paths`` (one message or a whole mailbox) in corpus
order, in this process, through the reference evaluator with the trace on, and yields an
``Explained`` (the parsed message and its verdict) or, for what cannot be read, the
readers' ``Unreadable``. Each message is read and decided under the per-message budget
(``simulator.budget``), as in ``simulate``. ``to_json`` and ``render`` give the two forms
``mailpolicy explain`` prints.

A staged rule (``mode audit``) that matched does not decide: ``render`` prints it as
``audit:      rule "iso" would block (line 4): REASON`` under the verdict, and the trace
marks it ``AUDIT``; ``to_json`` carries the verdict's ``audited``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mailpolicy.corpus.message import Message
from mailpolicy.corpus.readers import RawMessage, Unreadable
from mailpolicy.corpus.visible import visible
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.evaluate import Verdict, evaluate
from mailpolicy.simulator.budget import DEFAULT, Budget
from mailpolicy.simulator.replay import judge_raw, replay
from mailpolicy.simulator.width import table


@dataclass(frozen=True, slots=True)
class Explained:
    msg: Message
    verdict: Verdict
    #: ``"time"`` or ``"memory"`` when the message ran out of its budget (``replay.judge_raw``)
    exhausted: str | None = None


@dataclass(frozen=True, slots=True)
class _Explain:
    """The judge of ``explain``: the traced verdict, or why the message cannot be read."""

    policy: CheckedPolicy
    budget: Budget = DEFAULT

    def decide(self, raw: RawMessage) -> Explained | Unreadable:
        def failed(reason: str) -> Explained | Unreadable:
            return Unreadable(raw.path, raw.key, reason, raw.label)

        def judge(msg: Message) -> Explained | Unreadable:
            return Explained(msg, evaluate(self.policy, msg))

        found, kind = judge_raw(raw, None, self.budget, judge, failed)
        if isinstance(found, Explained) and kind is not None:
            return dataclasses.replace(found, exhausted=kind)
        return found

    def unreadable(self, item: Unreadable) -> Explained | Unreadable:
        return item


def explain(
    policy: CheckedPolicy, paths: Sequence[str], budget: Budget = DEFAULT
) -> Iterator[Explained | Unreadable]:
    """Every message under ``paths`` with its traced verdict, in corpus order; each message
    under ``budget`` (``simulator.budget``)."""
    return replay(_Explain(policy, budget), paths, workers=1)


def to_json(policy: CheckedPolicy, found: Explained) -> dict[str, Any]:
    """The ``explain --json`` line of one message."""
    return {
        "message": found.msg.location,
        "message_id": found.msg.message_id,
        "policy": policy.name,
        **found.verdict.to_json(),
        "unscannable": list(found.msg.unscannable),
        "exhausted": found.exhausted,
    }


def render(found: Explained, width: int | None = None) -> str:
    """The human form: verdict, deciding rule and attachment, then the trace table; every
    message-derived string shown through ``corpus.visible``. The ``why`` column is wrapped
    to fit ``width`` (``simulator.width``), never cut; None: one line per rule."""
    msg, verdict = found.msg, found.verdict
    att = verdict.attachment
    v = visible
    lines = [
        f"message:    {v(msg.location)}",
        f"sender:     {v(msg.sender) or '<>'}  "
        f"recipients: {', '.join(v(r) for r in msg.recipients) or '-'}",
        f"verdict:    {verdict.action.upper()}"
        + (f" by rule {verdict.rule} (line {verdict.line})" if verdict.rule else " (default)"),
    ]
    if att is not None:
        shown = v(verdict.name or att.name) or "(no name)"
        lines.append(f"attachment: {shown} (part {att.part})")
    if verdict.header:
        lines.append(f"header:     {v(verdict.header)}")
    for s in verdict.stripped:
        lines.append(f"strips:     {v(s.name)} (part {s.part})")
    lines.append(f"reason:     {v(verdict.reason)}")
    lines += audit_lines(verdict)
    for why in msg.unscannable:
        lines.append(f"unscannable: {v(why)}")
    if verdict.trace:
        rows = [
            (s.line, s.rule, _action(s.action, s.audit), _result(s.matched, s.audit), v(s.why))
            for s in verdict.trace
        ]
        lines.append("")
        lines.append(table(rows, ["line", "rule", "action", "result", "why"], width, [4]))
    return "\n".join(lines)


def audit_lines(verdict: Verdict) -> list[str]:
    """One line per staged rule that matched before the deciding rule: what enforcing it
    would have done (``audit:      rule "iso" would block (line 4): REASON``)."""
    v = visible
    return [
        f'audit:      rule "{v(a.rule)}" would {a.action}'
        + (f" (line {a.line})" if a.line else "")
        + f": {v(a.reason)}"
        for a in verdict.audited
    ]


def _action(action: str, audit: bool) -> str:
    return f"{action} (audit)" if audit else action


def _result(matched: bool, audit: bool) -> str:
    """``MATCH`` for the rule that decided, ``AUDIT`` for a staged rule that matched (and
    did not decide), ``no`` for a rule that did not match."""
    if not matched:
        return "no"
    return "AUDIT" if audit else "MATCH"
