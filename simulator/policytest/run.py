"""Running cases: each case's message through the reference evaluator, and what it covered.

``run_case(policy, case)`` builds or reads the case's message, evaluates it with the
trace on (``policy.evaluate``) and returns an ``Outcome``: passed when the action is the
expected one and, if the case names a rule, that rule decided (``"default"``: no rule
did), and, if it gives ``audited``, exactly those staged rules (``mode audit``) matched
before the deciding rule, in that order. A message file that cannot be read is an
``error`` outcome, never a pass.

Coverage (``coverage``): a rule is *exercised* when it **decided** some case. With
first-match semantics the rule a trace shows matching is the one that decided, so
"decided" and "matched" are the same here; a rule whose condition held but whose
``unless`` spared the message did not decide and does not count. Such a spared message
is counted apart: ``Coverage.exceptions`` lists, for every rule with an ``unless``,
whether some case exercised the exception. A staged rule never decides: it is exercised
when it matched some case (it is in the verdict's ``audited``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailpolicy.corpus.message import Message
from mailpolicy.corpus.readers import RawMessage, Unreadable, iter_raw
from mailpolicy.policy.checked import CheckedPolicy, CheckedRule
from mailpolicy.policy.diagnostics import InputError
from mailpolicy.policy.evaluate import Verdict, evaluate
from mailpolicy.policy.explain import explain_cond
from mailpolicy.simulator.budget import DEFAULT, Budget
from mailpolicy.simulator.policytest.cases import DEFAULT_RULE, Case
from mailpolicy.simulator.policytest.inline import build_message
from mailpolicy.simulator.replay import judge_raw


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    verdict: Verdict | None
    passed: bool
    #: why the case's message could not be read (the case then neither passes nor fails)
    error: str | None = None
    #: ids of the rules whose condition held but whose ``unless`` spared this message
    spared_by: tuple[str, ...] = ()

    @property
    def got(self) -> str:
        """``block (rule x, line 3)`` or ``allow (default)``: what the policy did."""
        v = self.verdict
        if v is None:
            return "no verdict"
        got = f"{v.action} (rule {v.rule}, line {v.line})" if v.rule else f"{v.action} (default)"
        if self.case.audited is None and not v.audited:
            return got
        return got + _staged(tuple(a.rule or "" for a in v.audited))

    @property
    def wanted(self) -> str:
        c = self.case
        want = c.expect
        if c.rule is not None:
            want += " (default)" if c.rule == DEFAULT_RULE else f" (rule {c.rule})"
        return want if c.audited is None else want + _staged(c.audited)


def _staged(ids: tuple[str, ...]) -> str:
    """``, audited iso, macros`` or ``, audited none``."""
    return f", audited {', '.join(ids) or 'none'}"


def resolve(ref: str, base: str) -> tuple[str, str | None]:
    """``(path, key)`` of a message reference written relative to ``base``: a file, or
    ``FILE:KEY`` / ``MAILDIR:KEY`` with the key ``simulate`` prints (keys may hold ``:``)."""
    whole = os.path.join(base, ref)
    if os.path.lexists(whole):
        return whole, None
    at = ref.find(":")
    while at > 0:
        head = os.path.join(base, ref[:at])
        if os.path.lexists(head):
            return head, ref[at + 1 :]
        at = ref.find(":", at + 1)
    raise InputError(f"no such message file: {ref}")


def read_message(
    ref: str, base: str, policy: CheckedPolicy, budget: Budget = DEFAULT
) -> tuple[Message, Verdict]:
    """The message ``ref`` names (see ``resolve``) and its traced verdict, decided under
    ``budget`` as ``explain`` decides it. ``InputError`` when it cannot be read."""
    path, key = resolve(ref, base)
    found: RawMessage | None = None
    count = 0
    for item in iter_raw([path]):
        if key is not None and item.key != key:
            continue
        count += 1
        if isinstance(item, Unreadable):
            raise InputError(f"cannot read message {ref}: {item.reason}")
        found = item
        if key is not None:
            break
    if found is None:
        raise InputError(
            f"no message with key {key!r} in {ref[: -len(key) - 1]}"
            if key is not None
            else f"no message in {ref}"
        )
    if count > 1:
        raise InputError(f"{ref} holds {count} messages: name one as FILE:KEY")

    def judge(msg: Message) -> tuple[Message, Verdict]:
        return msg, evaluate(policy, msg)

    def failed(reason: str) -> tuple[Message, Verdict]:
        raise InputError(f"cannot read message {ref}: {reason}")

    return judge_raw(found, None, budget, judge, failed)[0]


def spared(policy: CheckedPolicy, verdict: Verdict, msg: Message) -> tuple[str, ...]:
    """Ids of the rules tried on ``msg`` whose condition held but whose ``unless`` did too."""
    out = []
    for step in verdict.trace:
        crule = policy.rule(step.rule)
        if step.matched or crule.rule.unless is None:
            continue
        if explain_cond(crule.rule.condition, msg, policy).ok:
            out.append(crule.id)
    return tuple(out)


def run_case(policy: CheckedPolicy, case: Case, budget: Budget = DEFAULT) -> Outcome:
    """The outcome of one case (see the module docstring)."""
    try:
        if case.message is not None:
            base = os.path.dirname(case.file)
            msg, verdict = read_message(case.message, base, policy, budget)
        else:
            msg = build_message(case.spec)
            verdict = evaluate(policy, msg)
    except InputError as exc:
        return Outcome(case, None, False, error=str(exc))
    ok = verdict.action == case.expect
    if case.rule is not None:
        ok = ok and (verdict.rule or DEFAULT_RULE) == case.rule
    if case.audited is not None:
        ok = ok and tuple(a.rule for a in verdict.audited) == case.audited
    return Outcome(case, verdict, ok, spared_by=spared(policy, verdict, msg))


def run_cases(
    policy: CheckedPolicy, cases: Sequence[Case], budget: Budget = DEFAULT
) -> list[Outcome]:
    return [run_case(policy, c, budget) for c in cases]


@dataclass(frozen=True, slots=True)
class Coverage:
    """Which rules decided a case, and which ``unless`` exceptions a case exercised."""

    rules: tuple[CheckedRule, ...]
    #: rule id -> names of the cases it decided (a staged rule: the cases it matched)
    decided: dict[str, list[str]] = field(default_factory=dict)
    #: rule id (rules with an ``unless`` only) -> names of the cases it spared
    exceptions: dict[str, list[str]] = field(default_factory=dict)

    @property
    def missed(self) -> tuple[CheckedRule, ...]:
        return tuple(r for r in self.rules if not self.decided.get(r.id))

    @property
    def percent(self) -> float:
        if not self.rules:
            return 100.0
        return 100.0 * (len(self.rules) - len(self.missed)) / len(self.rules)

    @property
    def exceptions_missed(self) -> tuple[CheckedRule, ...]:
        return tuple(r for r in self.rules if r.id in self.exceptions and not self.exceptions[r.id])


def coverage(policy: CheckedPolicy, outcomes: Sequence[Outcome]) -> Coverage:
    """The rules of ``policy`` the ``outcomes`` exercised (see the module docstring)."""
    decided: dict[str, list[str]] = {r.id: [] for r in policy.rules}
    exceptions: dict[str, list[str]] = {r.id: [] for r in policy.rules if r.rule.unless is not None}
    for o in outcomes:
        if o.verdict is not None and o.verdict.rule is not None:
            decided[o.verdict.rule].append(o.case.name)
        for staged in o.verdict.audited if o.verdict is not None else ():
            decided[staged.rule or ""].append(o.case.name)
        for rid in o.spared_by:
            exceptions[rid].append(o.case.name)
    return Coverage(policy.rules, decided, exceptions)
