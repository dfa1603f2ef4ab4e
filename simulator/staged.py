"""Staged rules (``mode audit``) in a replay: what each would have decided, had it been enforced.

A staged rule never decides: the verdicts a replay reports are the enforced ones, those
of the policy without its staged rules. What a Decision keeps of each staged rule that
matched before the deciding rule is a ``Staged`` (``Decision.audited``, in policy order),
built from the verdict's ``audited`` by ``staged``.

``score.Audit`` counts, per staged rule, the messages it *would have decided*: those where
it matched before the deciding rule. Enforcing that rule alone (the other staged rules
staying staged) makes it decide exactly those messages, so the figures answer "what if
I enforce it":

- ``hits``, ``benign_hits``, ``malicious_hits``: the messages it would decide, by label;
- ``new_false_positives``: benign messages delivered today that it would stop;
- ``new_catches``: malicious messages delivered today that it would stop;
- ``new_misses``: malicious messages stopped today that it would deliver (a staged
  ``allow`` or ``tag``);
- ``fixed_false_positives``: benign messages stopped today that it would deliver.

"Stopped" is ``score.STOPPED``'s meaning (block, quarantine, strip, discard). Memory is
bounded by the number of staged rules and the samples (the first ``samples`` would-be
false positives of each rule, and its first would-be catches), never by the corpus.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailpolicy.policy.verdict import Verdict


@dataclass(frozen=True, slots=True)
class Staged:
    """One staged rule that matched a message before the deciding rule."""

    rule: str
    action: str
    line: int | None
    #: the name of the attachment that triggered it, if any
    attachment: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def staged(verdict: Verdict) -> tuple[Staged, ...]:
    """What a Decision keeps of the verdict's ``audited``."""
    return tuple(
        Staged(
            rule=a.rule or "",
            action=a.action,
            line=a.line,
            attachment=a.name or (a.attachment.name if a.attachment is not None else None),
            reason=a.reason,
        )
        for a in verdict.audited
    )


#: The columns of the staged rules' table: header, and key in ``score.StagedStats.to_json``.
COLUMNS = (
    ("would decide", "hits"),
    ("benign", "benign_hits"),
    ("malicious", "malicious_hits"),
    ("new FP", "new_false_positives"),
    ("new catches", "new_catches"),
    ("new misses", "new_misses"),
    ("FP removed", "fixed_false_positives"),
)
