"""The outcome of a policy on one message, as both deciders return it.

``Verdict``: the action, the deciding rule (None for the default), the reason, the
attachment and name that triggered it, the header a ``tag`` adds, the attachments a
``strip`` removes, and (from the reference evaluator) the trace of every rule tried.
``decided`` builds the verdict of a deciding rule from its explained outcome; the
reference evaluator and the compiled matcher both call it, so their verdicts read the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy import ast
from mailpolicy.policy.checked import CheckedPolicy, CheckedRule
from mailpolicy.policy.conditions import Match, explain_att


@dataclass(frozen=True, slots=True)
class Step:
    """One rule tried: did it match, and why (or why not)."""

    rule: str
    line: int
    action: str
    matched: bool
    why: str


@dataclass(frozen=True, slots=True)
class Verdict:
    action: str
    rule: str | None
    reason: str
    line: int | None = None
    attachment: Attachment | None = None
    name: str | None = None
    header: str | None = None
    stripped: tuple[Attachment, ...] = ()
    trace: tuple[Step, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        att = self.attachment
        return {
            "action": self.action,
            "rule": self.rule,
            "line": self.line,
            "attachment": _att_json(att) if att is not None else None,
            "name": self.name,
            "reason": self.reason,
            "header": self.header,
            "stripped": [_att_json(a) for a in self.stripped],
            "trace": [
                {
                    "rule": s.rule,
                    "line": s.line,
                    "action": s.action,
                    "matched": s.matched,
                    "why": s.why,
                }
                for s in self.trace
            ],
        }


def _att_json(att: Attachment) -> dict[str, Any]:
    return {"part": att.part, "name": att.name, "names": list(att.names)}


def _reason(crule: CheckedRule, m: Match) -> str:
    if crule.rule.reason is not None:
        return crule.rule.reason.value
    return re.sub(r"\s+", " ", m.why)


def stripped(policy: CheckedPolicy, crule: CheckedRule, msg: Message) -> tuple[Attachment, ...]:
    """The attachments a ``strip`` rule removes: every one that satisfies an attachment
    predicate of the rule's condition."""
    preds = [n.pred for n in ast.walk(crule.rule.condition) if isinstance(n, ast.AnyAttachment)]
    return tuple(a for a in msg.attachments if any(explain_att(p, a, policy).ok for p in preds))


def decided(
    policy: CheckedPolicy,
    crule: CheckedRule,
    msg: Message,
    m: Match,
    trace: tuple[Step, ...] = (),
) -> Verdict:
    """The Verdict of ``crule``, which matched ``msg`` with outcome ``m``."""
    header = crule.rule.header.value if crule.rule.header is not None else None
    return Verdict(
        action=crule.action,
        rule=crule.id,
        reason=_reason(crule, m),
        line=crule.line,
        attachment=m.attachment,
        name=m.name,
        header=header,
        stripped=stripped(policy, crule, msg) if crule.action == "strip" else (),
        trace=trace,
    )
