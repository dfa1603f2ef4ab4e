"""Reference evaluator: walk a checked policy over one message.

The meaning of every leaf lives in ``conditions.py`` (one table entry per kind of
condition) and the explaining walk over ``and``/``or``/``not`` in ``explain.py``; this
module is the rule loop, and ``verdict.py`` the Verdict it returns.

This is the definition of what a policy means; it favours obviousness over speed. The
compiled matcher must return the same action, rule and ``audited`` on every input, and
property tests hold the two equal.

Semantics:
- Rules are tried top to bottom; the first whose condition holds and whose ``unless``
  does not decides. When none does, the policy's ``default`` decides.
- A staged rule (``mode audit``) is tried in its place like any other, but never decides:
  when it matches, its own verdict (what enforcing it would do) is added to the
  verdict's ``audited`` and the walk goes on, so the rules after it decide exactly as if
  it were not in the policy.
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

from mailpolicy.corpus.message import Message
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.explain import decided, rule_outcome
from mailpolicy.policy.verdict import Step, Verdict

__all__ = ["Step", "Verdict", "evaluate"]


def evaluate(policy: CheckedPolicy, msg: Message, *, trace: bool = True) -> Verdict:
    """The verdict of ``policy`` on ``msg`` (first matching rule, else the default)."""
    steps: list[Step] = []
    audited: list[Verdict] = []
    for crule in policy.rules:
        m = rule_outcome(policy, crule, msg)
        staged = crule.rule.audit
        if trace:
            steps.append(Step(crule.id, crule.line, crule.action, m.ok, m.why, staged))
        if m.ok:
            if staged:
                audited.append(decided(policy, crule, msg, m))
                continue
            return decided(policy, crule, msg, m, tuple(steps), tuple(audited))
    return Verdict(
        action=policy.default,
        rule=None,
        reason=f"no rule matched; default {policy.default}",
        trace=tuple(steps),
        audited=tuple(audited),
    )
