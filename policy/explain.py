"""Explanations: why a condition holds or not, and the verdict of a deciding rule.

The walk over ``and``/``or``/``not``/``attachment``/``archive contains``; each leaf explains
itself through its entry in ``conditions.ENTRIES``. The reference evaluator
(``evaluate.py``) runs it over every rule; the compiled matcher (``compile.py``) decides
with compiled tests and runs it only on the one rule that decided, for the reason and
the witness. ``decided`` builds that rule's Verdict for both, so their verdicts read the
same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy import ast, printer
from mailpolicy.policy.checked import CheckedPolicy, CheckedRule
from mailpolicy.policy.conditions import ENTRIES, Lists, Match
from mailpolicy.policy.verdict import Step, Verdict


# ---- the explaining walk (the reference evaluator's core) --------------------------------------
def explain_cond(node: ast.Cond, msg: Message, lists: Lists) -> Match:
    """A message-level condition's outcome on ``msg``, with its explanation."""
    if isinstance(node, ast.And):
        last = Match(True, "")
        whys = []
        for item in node.items:
            m = explain_cond(item, msg, lists)
            if not m.ok:
                return Match(False, m.why)
            whys.append(m.why)
            if m.attachment is not None and last.attachment is None:
                last = m
        return Match(True, " and ".join(whys), last.attachment, last.name)
    if isinstance(node, ast.Or):
        return _first(explain_cond(i, msg, lists) for i in node.items)
    if isinstance(node, ast.Not):
        m = explain_cond(node.item, msg, lists)
        return Match(not m.ok, f"not ({m.why})")
    if isinstance(node, ast.AnyAttachment):
        for att in msg.attachments:
            m = explain_att(node.pred, att, lists)
            if m.ok:
                return Match(True, m.why, att, m.name)
        return Match(False, f"no attachment has {printer.cond(node.pred)}")
    if isinstance(node, ast.Test):
        return ENTRIES[type(node)].explain(node, msg, lists)
    raise TypeError(f"attachment predicate outside 'attachment': {node!r}")


def explain_att(node: ast.Cond, a: Attachment, lists: Lists) -> Match:
    """An attachment-level condition's outcome on attachment ``a``."""
    if isinstance(node, ast.And):
        whys, witness = [], None
        for item in node.items:
            m = explain_att(item, a, lists)
            if not m.ok:
                return Match(False, m.why)
            whys.append(m.why)
            witness = witness or m.name
        return Match(True, " and ".join(whys), a, witness)
    if isinstance(node, ast.Or):
        return _first(explain_att(i, a, lists) for i in node.items)
    if isinstance(node, ast.Not):
        m = explain_att(node.item, a, lists)
        return Match(not m.ok, f"not ({m.why})", a, a.name)
    if isinstance(node, ast.ArchiveContains):
        for member in a.walk()[1:]:
            m = explain_att(node.pred, member, lists)
            if m.ok:
                why = f"archive {_quote(a.name)} holds {_quote(member.part)}: {m.why}"
                return Match(True, why, a, a.name)
        return Match(False, f"no archive member has {printer.cond(node.pred)}")
    if isinstance(node, ast.AttTest):
        return ENTRIES[type(node)].explain(node, a, lists)
    raise TypeError(f"message predicate inside 'attachment': {node!r}")


def _quote(text: str | None) -> str:
    return printer.quote(text or "")


def _first(outcomes: Iterable[Match]) -> Match:
    """``or``: the first outcome that holds, else every reason."""
    whys = []
    for m in outcomes:
        if m.ok:
            return m
        whys.append(m.why)
    return Match(False, "; ".join(whys))


def rule_outcome(policy: CheckedPolicy, crule: CheckedRule, msg: Message) -> Match:
    """Does ``crule`` decide ``msg``: its condition holds and its ``unless`` does not."""
    m = explain_cond(crule.rule.condition, msg, policy)
    if not m.ok or crule.rule.unless is None:
        return m
    u = explain_cond(crule.rule.unless, msg, policy)
    if u.ok:
        return Match(False, f"{m.why}, but unless holds: {u.why}")
    return m


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
    audited: tuple[Verdict, ...] = (),
) -> Verdict:
    """The Verdict of ``crule``, which matched ``msg`` with outcome ``m``; the reference
    evaluator and the compiled matcher both build theirs here, so they read the same.
    A staged rule's own Verdict (``mode audit``: what enforcing it would do) is built here
    too; ``audited`` are the staged rules' Verdicts that matched before ``crule``."""
    header = crule.rule.header.value if crule.rule.header is not None else None
    reason = crule.rule.reason.value if crule.rule.reason is not None else m.why
    return Verdict(
        action=crule.action,
        rule=crule.id,
        reason=re.sub(r"\s+", " ", reason) if crule.rule.reason is None else reason,
        line=crule.line,
        attachment=m.attachment,
        name=m.name,
        header=header,
        stripped=stripped(policy, crule, msg) if crule.action == "strip" else (),
        trace=trace,
        audited=audited,
    )
