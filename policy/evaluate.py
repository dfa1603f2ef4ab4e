"""Reference evaluator: walk a checked policy over one message.

The walk over ``and``/``or``/``not``/``attachment``/``archive contains`` and the meaning of
every leaf live in ``conditions.py`` (one table entry per kind of condition); this module
is the rule loop, and ``verdict.py`` the Verdict it returns.

This is the definition of what a policy means; it favours obviousness over speed. The
compiled matcher must return the same action and rule on every input, and property tests
hold the two equal.

Semantics:
- Rules are tried top to bottom; the first whose condition holds and whose ``unless``
  does not decides. When none does, the policy's ``default`` decides.
- ``attachment P`` holds when some attachment of the message (attachments of attached
  messages and uuencoded files included; archive members not) satisfies ``P``.
  ``archive contains P`` holds when some member, at any depth, satisfies ``P``.
- Names are matched in their normalised form (decoded, NFC, trailing dots and spaces
  dropped) under every name the attachment carries; globs are case-insensitive.
- ``extension in L``: the last extension, compared case-insensitively with the entries of
  ``L`` (a leading ``.`` or ``*.`` on an entry is ignored).
- ``double extension in L``: the last extension is in ``L`` and the one before it looks
  like a real extension: 1 to 4 characters, not all digits. That is what separates
  ``name.doc.bat`` from ``John.Smith.bat``, ``prog.2001.01.exe`` and ``test.tar.gz``.
- ``sender in L`` / ``recipient in L``: an entry with ``@`` is a glob over the whole
  address; an entry without ``@`` is a domain and matches it and its subdomains. A
  message without envelope sender (bounces) is in no list.
- ``from``/``subject``/``body``/``header`` ``contains`` is a case-insensitive substring
  test, ``matches`` a glob over the whole value.
- ``archive exceeds limits`` holds for an archive that could not be fully inspected:
  too deep, too many members, too many bytes, too high a ratio, or encrypted.
- ``strip`` removes every attachment that satisfies an attachment predicate of the
  deciding rule and delivers the rest.

Lazy facts (decoded bytes, detected type, archive members) are only touched when a
predicate needs them, in the order the rule is written; ``and`` stops at the first false.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy import ast, printer
from mailpolicy.policy.checked import CheckedPolicy, CheckedRule
from mailpolicy.policy.conditions import ENTRIES, Lists, Match
from mailpolicy.policy.verdict import Step, Verdict

__all__ = ["Step", "Verdict", "decided", "evaluate", "explain_att", "explain_cond", "rule_outcome"]


# ---- the explaining walk: combinators here, every leaf's meaning in its table entry -----------
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
) -> Verdict:
    """The Verdict of ``crule``, which matched ``msg`` with outcome ``m``; the reference
    evaluator and the compiled matcher both build theirs here, so they read the same."""
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
    )


def evaluate(policy: CheckedPolicy, msg: Message, *, trace: bool = True) -> Verdict:
    """The verdict of ``policy`` on ``msg`` (first matching rule, else the default)."""
    steps: list[Step] = []
    for crule in policy.rules:
        m = rule_outcome(policy, crule, msg)
        if trace:
            steps.append(Step(crule.id, crule.line, crule.action, m.ok, m.why))
        if m.ok:
            return decided(policy, crule, msg, m, tuple(steps))
    return Verdict(
        action=policy.default,
        rule=None,
        reason=f"no rule matched; default {policy.default}",
        trace=tuple(steps),
    )
