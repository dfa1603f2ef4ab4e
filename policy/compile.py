"""Compiler: a checked policy -> a matcher whose cost grows with the message, not the rules.

Every leaf compiles through its table entry (``conditions.ENTRIES[type(node)].compile``),
which is where its meaning lives; this module adds the combinators and the rule index,
both measured against the reference evaluator (``evaluate.py``), and property tests hold
the two equal on action, rule and the staged rules that matched (``audited``):

1. **Compiled sets** (``sets.py``): globs by strategy, lists as sets, one compiled set
   per distinct list, so a list named by 500 rules is built once.
2. **Rule index** (``index.needs``, ``index_rules.RuleIndex``): for every rule, a
   necessary condition on the facts of a message, from the table's ``index`` of each
   leaf (``extension in executable`` -> those extensions; ``sender matches G`` -> the
   glob G over the sender; ``subject contains "x"`` -> the needle; ``size > 10MB`` -> the
   threshold; ``type executable`` -> the class; ``contains extension in L`` -> those
   extensions of the members, ``contains type executable`` -> "has members"). Per
   message the index reads each kind of fact once through one multi-pattern structure
   (extensions, globs, addresses and domains, Aho-Corasick needles per field, sorted
   thresholds, fact values) and the matcher tries, in policy order, only the rules whose
   keys were hit plus the rules without a known need (``not``, ``size != N``); the first
   that matches decides. A staged rule (``mode audit``) is filed and reached through the
   index like any other; when it matches it is recorded (``Verdict.audited``) and the
   walk goes on to the next candidate.

The verdict's explanation (reason, witness attachment) comes from the table's explaining
walk on the one deciding rule's condition (``explain.explain_cond``), so ``simulate``
reports read the same either way. Everything here pickles, so a worker process receives
a compiled policy once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy import ast
from mailpolicy.policy.checked import CheckedPolicy, CheckedRule
from mailpolicy.policy.conditions import ENTRIES, Need
from mailpolicy.policy.explain import decided, explain_cond
from mailpolicy.policy.index import needs
from mailpolicy.policy.index_rules import RuleIndex
from mailpolicy.policy.sets import AddressSet, GlobSet
from mailpolicy.policy.verdict import Verdict

T = TypeVar("T")
Test = Callable[[T], bool]


# ---- compiled combinators (message level take a Message, attachment level an Attachment) -------
class _All(Generic[T]):
    def __init__(self, items: Sequence[Test[T]]) -> None:
        self.items = tuple(items)

    def __call__(self, x: T) -> bool:
        return all(p(x) for p in self.items)


class _Any(Generic[T]):
    def __init__(self, items: Sequence[Test[T]]) -> None:
        self.items = tuple(items)

    def __call__(self, x: T) -> bool:
        return any(p(x) for p in self.items)


class _Not(Generic[T]):
    def __init__(self, item: Test[T]) -> None:
        self.item = item

    def __call__(self, x: T) -> bool:
        return not self.item(x)


class _SomeAttachment:
    def __init__(self, pred: Test[Attachment]) -> None:
        self.pred = pred

    def __call__(self, msg: Message) -> bool:
        return any(self.pred(a) for a in msg.attachments)


class _SomeMember:
    def __init__(self, pred: Test[Attachment]) -> None:
        self.pred = pred

    def __call__(self, a: Attachment) -> bool:
        return any(self.pred(m) for m in a.walk()[1:])


# ---- the compiler -------------------------------------------------------------------------------
class CompiledPolicy:
    """The matcher for one checked policy. ``match`` gives the deciding rule (or None);
    ``evaluate`` gives the full Verdict, equal to the reference's on action, rule and
    ``audited``."""

    def __init__(self, policy: CheckedPolicy) -> None:
        self.policy = policy
        self.default = policy.default  # a walk over the statements: once, not per message
        self._default_verdict = Verdict(
            action=self.default, rule=None, reason=f"no rule matched; default {self.default}"
        )
        self._globs: dict[tuple[str, ...], GlobSet] = {}
        self._addresses: dict[tuple[str, ...], AddressSet] = {}
        self.preds: list[tuple[Test[Message], Test[Message] | None]] = []
        rule_needs: list[Need] = []
        for crule in policy.rules:
            r = crule.rule
            cond = self._message(r.condition)
            unless = self._message(r.unless) if r.unless is not None else None
            self.preds.append((cond, unless))
            rule_needs.append(needs(r.condition, policy))
        self.index = RuleIndex(rule_needs)
        #: per rule: staged (``mode audit``), so a match is recorded and does not decide
        self.staged = tuple(crule.rule.audit for crule in policy.rules)

    # -- what the table's ``compile`` needs (``conditions.Sets``) ----------------------------
    def entries(self, operand: ast.Operand) -> tuple[str, ...]:
        return self.policy.entries(operand)

    def glob_set(self, entries: tuple[str, ...]) -> GlobSet:
        found = self._globs.get(entries)
        if found is None:
            found = self._globs[entries] = GlobSet(entries)
        return found

    def address_set(self, entries: tuple[str, ...]) -> AddressSet:
        found = self._addresses.get(entries)
        if found is None:
            found = self._addresses[entries] = AddressSet(entries)
        return found

    # -- compile conditions ---------------------------------------------------------------
    def _message(self, node: ast.Cond) -> Test[Message]:
        if isinstance(node, ast.And):
            return _All([self._message(i) for i in node.items])
        if isinstance(node, ast.Or):
            return _Any([self._message(i) for i in node.items])
        if isinstance(node, ast.Not):
            return _Not(self._message(node.item))
        if isinstance(node, ast.AnyAttachment):
            return _SomeAttachment(self._attachment(node.pred))
        if isinstance(node, ast.Test):
            compiled: Test[Message] = ENTRIES[type(node)].compile(node, self)
            return compiled
        raise TypeError(f"attachment predicate outside 'attachment': {node!r}")

    def _attachment(self, node: ast.Cond) -> Test[Attachment]:
        if isinstance(node, ast.And):
            return _All([self._attachment(i) for i in node.items])
        if isinstance(node, ast.Or):
            return _Any([self._attachment(i) for i in node.items])
        if isinstance(node, ast.Not):
            return _Not(self._attachment(node.item))
        if isinstance(node, ast.ArchiveContains):
            return _SomeMember(self._attachment(node.pred))
        if isinstance(node, ast.AttTest):
            compiled: Test[Attachment] = ENTRIES[type(node)].compile(node, self)
            return compiled
        raise TypeError(f"message predicate inside 'attachment': {node!r}")

    # -- matching -------------------------------------------------------------------------
    def candidates(self, msg: Message) -> list[int]:
        """Positions of the rules that can fire on ``msg``, in policy order."""
        return list(self.index.candidates(msg))

    def match(self, msg: Message) -> CheckedRule | None:
        """The first enforced rule that decides ``msg``, or None for the default."""
        return self.walk(msg)[0]

    def walk(self, msg: Message) -> tuple[CheckedRule | None, tuple[CheckedRule, ...]]:
        """The deciding rule (None: the default) and the staged rules that matched before it,
        in policy order."""
        rules, preds, staged = self.policy.rules, self.preds, self.staged
        hits: list[CheckedRule] = []
        for i in self.index.candidates(msg):
            cond, unless = preds[i]
            if cond(msg) and (unless is None or not unless(msg)):
                if staged[i]:
                    hits.append(rules[i])
                    continue
                return rules[i], tuple(hits)
        return None, tuple(hits)

    def evaluate(self, msg: Message) -> Verdict:
        """The Verdict (no trace), explained by the table's walk on the deciding rule and on
        each staged rule that matched before it."""
        crule, hits = self.walk(msg)
        # ``rule_outcome`` would explain the ``unless`` too, only to find it false (the
        # match says so) and return the condition's outcome: explain just that. (An
        # ``unless sender in partners`` would otherwise scan the list on every verdict.)
        audited = tuple(self._decided(h, msg) for h in hits)
        if crule is None:
            if audited:
                return dataclasses.replace(self._default_verdict, audited=audited)
            return self._default_verdict
        return self._decided(crule, msg, audited)

    def _decided(
        self, crule: CheckedRule, msg: Message, audited: tuple[Verdict, ...] = ()
    ) -> Verdict:
        m = explain_cond(crule.rule.condition, msg, self.policy)
        return decided(self.policy, crule, msg, m, audited=audited)


def compile_policy(policy: CheckedPolicy) -> CompiledPolicy:
    return CompiledPolicy(policy)
