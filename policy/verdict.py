"""The outcome of a policy on one message, as both deciders return it.

``Verdict``: the action, the deciding rule (None for the default), the reason, the
attachment and name that triggered it, the header a ``tag`` adds, the attachments a
``strip`` removes, and (from the reference evaluator) the trace of every rule tried.
``explain.decided`` builds it for a deciding rule, for both deciders.

Staged rules (``mode audit``): a staged rule that matches before the deciding rule does
not decide; its own Verdict (what enforcing it would do, with no trace) is kept, in
policy order, in ``audited``, and its trace step says ``audit``. Everything else in the
Verdict is the enforced outcome, exactly as if the staged rules were not in the policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mailpolicy.corpus.message import Attachment


@dataclass(frozen=True, slots=True)
class Step:
    """One rule tried: did it match, and why (or why not)."""

    rule: str
    line: int
    action: str
    matched: bool
    why: str
    #: the rule is staged (``mode audit``): a match is recorded, it does not decide
    audit: bool = False


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
    #: the verdicts of the ``mode audit`` rules that matched before the deciding rule, in
    #: order: what enforcing them would have done (the first one is what would happen)
    audited: tuple[Verdict, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out = self._json()
        out["trace"] = [
            {
                "rule": s.rule,
                "line": s.line,
                "action": s.action,
                "matched": s.matched,
                "mode": "audit" if s.audit else "enforce",
                "why": s.why,
            }
            for s in self.trace
        ]
        out["audited"] = [v._json() for v in self.audited]
        return out

    def _json(self) -> dict[str, Any]:
        """Every field but the trace and the staged verdicts."""
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
        }


def _att_json(att: Attachment) -> dict[str, Any]:
    return {"part": att.part, "name": att.name, "names": list(att.names)}
