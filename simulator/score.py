"""Scoring: what a replay found, against the labels an administrator gave the corpus.

Contract: ``Score`` accumulates ``Decision`` records one at a time (``add``), so scoring a
corpus costs memory proportional to the number of rules, actions and labels plus the
bounded samples, never to the number of messages. ``to_json()`` is the ``--json`` object
of ``simulate``.

Definitions (malicious is the positive class; a message is *stopped* when its action is
block, quarantine, strip or discard, and *delivered* when it is allow or tag):

- true positive: a malicious message stopped; false negative: a malicious one delivered;
- false positive: a benign message stopped; true negative: a benign one delivered;
- precision = TP / (TP + FP): of the labelled messages the policy stopped, the share that
  were malicious (None when it stopped none);
- recall = TP / (TP + FN): of the malicious messages, the share the policy stopped
  (None when there are none).

Messages without a benign/malicious label and unreadable messages count in ``messages``,
``actions`` and ``labels`` but not in the confusion figures. ``strip`` counts as stopped:
the recipient does not get the attachment the sender meant to send.

Per rule: ``hits`` is how many messages the rule decided; ``benign_hits`` the false
positives it caused when it stops mail (for a delivering rule, benign hits are correct);
``malicious_hits`` the malicious messages it decided. Rules that never decided are listed
with zeros: a rule no message reaches is worth a reviewer's look.

Staged rules (``mode audit``) never decide, so every figure above is the enforced
policy's; they are not in the per-rule table but in ``audit`` (``simulator.staged``: per
staged rule, the messages it would have decided, by label, and what enforcing it would
change: ``StagedStats``), the ``"audit"`` list of ``to_json()``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.simulator.replay import UNREADABLE, Decision
from mailpolicy.simulator.staged import Staged

STOPPED = frozenset({"block", "quarantine", "strip", "discard"})
DELIVERED = frozenset({"allow", "tag"})
BENIGN, MALICIOUS = "benign", "malicious"
#: Order of actions in tables and charts.
ACTION_ORDER = ("allow", "tag", "strip", "quarantine", "block", "discard", UNREADABLE)
#: The key used for the default (no rule decided) in the per-rule table.
DEFAULT_RULE = "(default)"
NO_LABEL = "(none)"


def stopped(action: str) -> bool:
    return action in STOPPED


def sort_actions(actions: Iterable[str]) -> list[str]:
    order = {a: i for i, a in enumerate(ACTION_ORDER)}
    return sorted(actions, key=lambda a: (order.get(a, len(order)), a))


@dataclass
class RuleStats:
    id: str
    action: str
    line: int | None
    hits: int = 0
    benign_hits: int = 0
    malicious_hits: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "line": self.line,
            "hits": self.hits,
            "benign_hits": self.benign_hits,
            "malicious_hits": self.malicious_hits,
        }


@dataclass
class StagedStats(RuleStats):
    """The figures of one staged rule (``simulator.staged`` says what each means)."""

    new_false_positives: int = 0
    new_catches: int = 0
    new_misses: int = 0
    fixed_false_positives: int = 0
    #: the first benign messages it would newly stop, and the first malicious ones
    false_positive_samples: list[dict[str, Any]] = field(default_factory=list)
    catch_samples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, d: Decision, s: Staged, limit: int) -> None:
        self.hits += 1
        if d.label not in (BENIGN, MALICIOUS):
            return
        benign = d.label == BENIGN
        self.benign_hits += benign
        self.malicious_hits += not benign
        stops, stopped_now = stopped(s.action), stopped(d.action)
        if stops and not stopped_now:  # it would stop what is delivered today
            if benign:
                self.new_false_positives += 1
            else:
                self.new_catches += 1
            kept = self.false_positive_samples if benign else self.catch_samples
            if len(kept) < limit:
                would = {"would": s.action, "attachment": s.attachment, "reason": s.reason}
                kept.append({**sample(d), **would})
        elif stopped_now and not stops:  # it would deliver what is stopped today
            if benign:
                self.fixed_false_positives += 1
            else:
                self.new_misses += 1

    def to_json(self) -> dict[str, Any]:
        return {
            **super().to_json(),
            "new_false_positives": self.new_false_positives,
            "new_catches": self.new_catches,
            "new_misses": self.new_misses,
            "fixed_false_positives": self.fixed_false_positives,
            "samples": {
                "false_positives": self.false_positive_samples,
                "catches": self.catch_samples,
            },
        }


@dataclass
class Audit:
    """Running figures of every staged rule of one policy over one corpus."""

    samples_limit: int = 10
    rules: dict[str, StagedStats] = field(default_factory=dict)

    @classmethod
    def for_policy(cls, policy: CheckedPolicy, samples: int = 10) -> Audit:
        """Every staged rule of ``policy``, in policy order, with zeros."""
        out = cls(samples_limit=samples)
        for r in policy.rules:
            if r.rule.audit:
                out.rules[r.id] = StagedStats(r.id, r.action, r.line)
        return out

    def add(self, d: Decision) -> None:
        for s in d.audited:
            stats = self.rules.get(s.rule)
            if stats is None:
                stats = self.rules[s.rule] = StagedStats(s.rule, s.action, s.line)
            stats.add(d, s, self.samples_limit)

    def to_json(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in self.rules.values()]


def sample(d: Decision) -> dict[str, Any]:
    """A false positive or negative as shown to a reviewer."""
    return {
        "path": d.path,
        "key": d.key,
        "message_id": d.message_id,
        "label": d.label,
        "action": d.action,
        "rule": d.rule,
        "attachment": d.attachment,
        "attachments": list(d.attachments),
        "attachment_types": list(d.types),
        "reason": d.reason,
    }


@dataclass
class Score:
    """Running totals of one policy over one corpus."""

    policy: str = ""
    default: str = "allow"
    samples_limit: int = 10
    messages: int = 0
    unreadable: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    labels: dict[str, Counter[str]] = field(default_factory=dict)
    rules: dict[str, RuleStats] = field(default_factory=dict)
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    fp_by_extension: Counter[str] = field(default_factory=Counter)
    false_positive_samples: list[dict[str, Any]] = field(default_factory=list)
    false_negative_samples: list[dict[str, Any]] = field(default_factory=list)
    unreadable_samples: list[dict[str, Any]] = field(default_factory=list)
    #: messages decided although the parser found defects (broken MIME, bad base64, ...)
    defective: int = 0
    defective_samples: list[dict[str, Any]] = field(default_factory=list)
    #: messages that ran out of their per-message budget, by kind (``time``, ``memory``);
    #: they were decided on the facts read before, plus ``message unscannable``
    exhausted: Counter[str] = field(default_factory=Counter)
    exhausted_samples: list[dict[str, Any]] = field(default_factory=list)
    bytes: int = 0
    #: the staged rules' figures (``simulator.staged``)
    audit: Audit = field(default_factory=Audit)

    @classmethod
    def for_policy(cls, policy: CheckedPolicy, samples: int = 10) -> Score:
        """An empty score listing every rule of ``policy`` (a CheckedPolicy)."""
        s = cls(policy=policy.name, default=policy.default, samples_limit=samples)
        for r in policy.rules:
            if not r.rule.audit:  # a staged rule never decides: its figures are in ``audit``
                s.rules[r.id] = RuleStats(r.id, r.action, r.line)
        s.audit = Audit.for_policy(policy, samples)
        return s

    def add(self, d: Decision) -> None:
        self.bytes += d.size
        label = d.label or NO_LABEL
        self.labels.setdefault(label, Counter())[d.action] += 1
        if d.action == UNREADABLE:
            self.unreadable += 1
            if len(self.unreadable_samples) < self.samples_limit:
                self.unreadable_samples.append({"path": d.path, "key": d.key, "reason": d.reason})
            return
        self.messages += 1
        self.actions[d.action] += 1
        self.audit.add(d)
        if d.exhausted:
            self.exhausted[d.exhausted] += 1
            if len(self.exhausted_samples) < self.samples_limit:
                self.exhausted_samples.append(
                    {"path": d.path, "key": d.key, "action": d.action, "budget": d.exhausted}
                )
        if d.defects:
            self.defective += 1
            if len(self.defective_samples) < self.samples_limit:
                self.defective_samples.append(
                    {"path": d.path, "key": d.key, "action": d.action, "defects": list(d.defects)}
                )
        rid = d.rule or DEFAULT_RULE
        stats = self.rules.get(rid)
        if stats is None:
            stats = self.rules[rid] = RuleStats(rid, d.action, d.line)
        stats.hits += 1
        is_stopped = stopped(d.action)
        if d.label == BENIGN:
            stats.benign_hits += 1
            if is_stopped:
                self.fp += 1
                for ext in _fp_extensions(d):
                    self.fp_by_extension[ext] += 1
                if len(self.false_positive_samples) < self.samples_limit:
                    self.false_positive_samples.append(sample(d))
            else:
                self.tn += 1
        elif d.label == MALICIOUS:
            stats.malicious_hits += 1
            if is_stopped:
                self.tp += 1
            else:
                self.fn += 1
                if len(self.false_negative_samples) < self.samples_limit:
                    self.false_negative_samples.append(sample(d))

    # -- derived figures ---------------------------------------------------------------
    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def total(self) -> int:
        """Every item the readers found: decided messages plus unreadable ones."""
        return self.messages + self.unreadable

    def rule_table(self) -> list[RuleStats]:
        """Rules in policy order, then the default (if it decided anything)."""
        rows = [r for r in self.rules.values() if r.id != DEFAULT_RULE]
        if DEFAULT_RULE in self.rules:
            rows.append(self.rules[DEFAULT_RULE])
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "messages": self.messages,
            "unreadable": self.unreadable,
            "actions": {a: self.actions[a] for a in sort_actions(self.actions)},
            "labels": {
                lab: {a: c[a] for a in sort_actions(c)} for lab, c in sorted(self.labels.items())
            },
            "confusion": {
                "true_positives": self.tp,
                "false_positives": self.fp,
                "true_negatives": self.tn,
                "false_negatives": self.fn,
            },
            "false_positives": self.fp,
            "false_negatives": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "rules": [r.to_json() for r in self.rule_table()],
            "false_positives_by_extension": dict(self.fp_by_extension.most_common()),
            "samples": {
                "false_positives": self.false_positive_samples,
                "false_negatives": self.false_negative_samples,
                "unreadable": self.unreadable_samples,
                "defective": self.defective_samples,
                "budget_exhausted": self.exhausted_samples,
            },
            "defective": self.defective,
            "budget_exhausted": {k: self.exhausted[k] for k in ("time", "memory")},
            "bytes": self.bytes,
            "audit": self.audit.to_json(),
        }


def _fp_extensions(d: Decision) -> list[str]:
    """The extension a false positive is filed under: the deciding attachment's, else every
    attachment's (a message-level rule stopped it), else ``(none)``."""
    if d.extension:
        return [d.extension]
    if d.attachment:
        return ["(none)"]
    exts = sorted(set(d.extensions))
    return exts or ["(none)"]


def ratio(value: float | None) -> str:
    """A precision or recall for humans: ``0.950``, or ``n/a``."""
    return "n/a" if value is None else f"{value:.3f}"
