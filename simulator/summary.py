"""The summaries of ``simulate`` and ``diff``: their ``--json`` documents and human form.

- ``result_json(policy, score, ...)``: the ``simulate --json`` object, the score plus how
  the run went (corpus, evaluator, workers, timing, ``partial`` when interrupted), with
  each rule's line and text (``rule_source``, and ``rule_line``/``rule_text`` on every
  false positive and negative sample); ``render_simulate(doc)`` its tables, and a block
  "Staged rules (mode audit)" when the policy stages rules (``simulator.staged``).
- ``Changes``: what ``diff`` collects from one replay with two matchers (old, new): every
  message whose action changes, and those decided by another rule with the same action;
  ``diff_json(old, new, changes, ...)`` the ``diff --json`` object, ``render_diff(doc)``
  its tables.

Everything here returns values; the command line prints them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tabulate import tabulate

from mailpolicy.corpus.visible import visible
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.simulator.replay import UNREADABLE, Decision
from mailpolicy.simulator.score import (
    BENIGN,
    DEFAULT_RULE,
    MALICIOUS,
    NO_LABEL,
    Score,
    ratio,
    sort_actions,
    stopped,
)
from mailpolicy.simulator.staged import COLUMNS
from mailpolicy.simulator.width import table

#: A JSON object as the summaries build it.
JSON = dict[str, Any]


# ---- simulate --------------------------------------------------------------------------------
def result_json(
    policy: CheckedPolicy,
    score: Score,
    *,
    paths: Sequence[str],
    elapsed: float,
    partial: bool,
    evaluator: str,
    workers: int,
) -> JSON:
    """The ``simulate --json`` object: the score plus how the run went."""
    doc = score.to_json()
    doc.update(
        {
            "policy": policy.name,
            "policy_path": policy.path,
            "corpus": list(paths),
            "partial": partial,
            "evaluator": evaluator,
            "workers": workers,
            "elapsed_s": round(elapsed, 3),
            "messages_per_s": round(score.total / elapsed, 1) if elapsed > 0 else None,
            "mb_per_s": round(score.bytes / 1e6 / elapsed, 2) if elapsed > 0 else None,
        }
    )
    sources = rule_source(policy)
    doc["rule_source"] = sources
    for key in ("false_positives", "false_negatives"):
        for s in doc["samples"][key]:
            src = sources.get(s["rule"] or DEFAULT_RULE) or {"line": None, "text": None}
            s["rule_line"], s["rule_text"] = src["line"], src["text"]
    for a in doc["audit"]:
        a["text"] = (sources.get(a["id"]) or {"text": None})["text"]
    return doc


def rule_source(policy: CheckedPolicy) -> JSON:
    """Where each rule id comes from: ``{id: {"line": 12, "text": "block attachment ..."}}``,
    the canonical text ``policy.printer`` writes, in policy order, then the default
    (``"(default)"``: ``default allow``, line None: the JSON form of a policy does not keep
    the line of its ``default`` statement, and both forms give the same document)."""
    out: JSON = {r.id: {"line": r.line or None, "text": r.text} for r in policy.rules}
    out[DEFAULT_RULE] = {"line": None, "text": f"default {policy.default}"}
    return out


def _clip(text: str | None) -> str:
    """A cell as shown: ``corpus.visible``, never shortened (``simulator.width`` wraps)."""
    return visible(None if text is None else str(text))


def _where(s: JSON) -> str:
    """``path:key`` as shown."""
    return _clip(f"{s['path']}:{s['key']}" if s.get("key") is not None else str(s["path"]))


def _partial(doc: JSON, head: str) -> str:
    """The first line of a summary, marked when the run was interrupted."""
    return "PARTIAL (interrupted): " + head if doc["partial"] else head


def render_simulate(doc: JSON, width: int | None = None) -> str:
    """The human form of a ``simulate`` result; long cells wrapped to ``width``."""
    parts = []
    head = (
        f"policy {doc['policy']} over {', '.join(doc['corpus'])}: {doc['messages']} messages, "
        f"{doc['unreadable']} unreadable, {doc['elapsed_s']:.2f} s "
        f"({doc['messages_per_s'] or 0:,.0f} messages/s, {doc['workers']} workers, "
        f"{doc['evaluator']} evaluator)"
    )
    parts.append(_partial(doc, head))

    labels = list(doc["labels"])
    actions = sort_actions({a for c in doc["labels"].values() for a in c})
    rows = [
        [
            a,
            sum(c.get(a, 0) for c in doc["labels"].values()),
            *[doc["labels"][lab].get(a, 0) for lab in labels],
        ]
        for a in actions
    ]
    rows.append(
        [
            "total",
            doc["messages"] + doc["unreadable"],
            *[sum(doc["labels"][lab].values()) for lab in labels],
        ]
    )
    parts.append(tabulate(rows, headers=["action", "messages", *labels], tablefmt="simple"))

    c = doc["confusion"]
    if c["true_positives"] + c["false_positives"] + c["true_negatives"] + c["false_negatives"]:
        conf = [
            ["benign", c["true_negatives"], c["false_positives"]],
            ["malicious", c["false_negatives"], c["true_positives"]],
        ]
        parts.append(tabulate(conf, headers=["label", "delivered", "stopped"]))
        parts.append(
            f"precision {ratio(doc['precision'])}  recall {ratio(doc['recall'])}  "
            "(malicious is positive; stopped = block, quarantine, strip, discard)"
        )
    else:
        parts.append("no benign/malicious labels: no confusion table (see --labels)")

    rules = [
        [r["id"], r["action"], r["line"] or "", r["hits"], r["benign_hits"], r["malicious_hits"]]
        for r in doc["rules"]
    ]
    parts.append(tabulate(rules, headers=["rule", "action", "line", "hits", "benign", "malicious"]))
    if doc.get("audit"):
        parts.append(_staged(doc["audit"], width))

    for key, title in (
        ("false_positives", "false positives (benign, stopped)"),
        ("false_negatives", "false negatives (malicious, delivered)"),
    ):
        shown = doc["samples"][key]
        if not doc[key]:
            parts.append(f"{title}: none")
            continue
        rows = [
            [
                _where(s),
                _clip(s["attachment"] or ", ".join(s["attachments"])),
                s["action"],
                s["rule"] or DEFAULT_RULE,
                _clip(s["reason"]),
            ]
            for s in shown
        ]
        more = f", first {len(shown)}" if len(shown) < doc[key] else ""
        parts.append(
            f"{title}: {doc[key]}{more}\n"
            + table(rows, ["message", "attachment", "action", "rule", "reason"], width, [0, 1, 4])
        )
    if doc["false_positives_by_extension"]:
        parts.append(
            "false positives by extension: "
            + ", ".join(f"{e} {n}" for e, n in doc["false_positives_by_extension"].items())
        )
    if doc["unreadable"]:
        rows = [[_where(s), _clip(s["reason"])] for s in doc["samples"]["unreadable"]]
        parts.append(
            f"unreadable: {doc['unreadable']}\n" + table(rows, ["message", "reason"], width, [0, 1])
        )
    if doc["defective"]:
        rows = [
            [_where(s), s["action"], _clip(", ".join(s["defects"]))]
            for s in doc["samples"]["defective"]
        ]
        parts.append(
            f"decided despite MIME defects: {doc['defective']}\n"
            + table(rows, ["message", "action", "defects"], width, [0, 2])
        )
    parts.append(_exhausted(doc, width))
    return "\n\n".join(parts)


def _staged(audit: list[JSON], width: int | None) -> str:
    """The block of the staged rules: what each would decide if it were enforced."""
    rows = [[a["id"], a["action"], a["line"] or "", *(a[k] for _, k in COLUMNS)] for a in audit]
    head = (
        "Staged rules (mode audit): what each would decide if enforced (FP: benign mail "
        "stopped); the figures above are the enforced policy's"
    )
    lines = [head, table(rows, ["rule", "action", "line", *(h for h, _ in COLUMNS)], width, [0])]
    for a in audit:
        shown = a["samples"]["false_positives"]
        if shown:
            more = f", first {len(shown)}" if len(shown) < a["new_false_positives"] else ""
            where = ", ".join(_where(s) for s in shown)
            lines.append(
                f"{a['id']} would stop benign mail ({a['new_false_positives']}{more}): " + where
            )
    return "\n".join(lines)


def _exhausted(doc: JSON, width: int | None) -> str:
    """The line (and first samples) of messages that ran out of their budget."""
    spent = doc["budget_exhausted"]
    total = sum(spent.values())
    line = (
        f"budget exhausted: {total} messages (time {spent['time']}, memory {spent['memory']}); "
        "decided on the facts read before, plus 'message unscannable'"
    )
    if not total:
        return line
    rows = [[_where(s), s["budget"], s["action"]] for s in doc["samples"]["budget_exhausted"]]
    return line + "\n" + table(rows, ["message", "budget", "action"], width, [0])


# ---- diff ------------------------------------------------------------------------------------
def _side(d: Decision) -> JSON:
    return {"action": d.action, "rule": d.rule, "attachment": d.attachment, "reason": d.reason}


@dataclass
class Changes:
    """What a rollout changes, one replayed message (old and new decision) at a time.

    A message whose action stays the same but is now decided by another rule is kept in
    ``rule_changes`` (a rule renamed or reordered), not in ``changes``.
    """

    total: int = 0
    unreadable: int = 0
    changes: list[JSON] = field(default_factory=list)
    rule_changes: list[JSON] = field(default_factory=list)

    def add(self, row: tuple[Decision, ...]) -> None:
        od, nd = row
        self.total += 1
        if od.action == UNREADABLE and nd.action == UNREADABLE:
            self.unreadable += 1
        elif od.action != nd.action or od.rule != nd.rule:
            entry = {
                "path": od.path,
                "key": od.key,
                "message_id": od.message_id,
                "label": od.label,
                "old": _side(od),
                "new": _side(nd),
            }
            (self.changes if od.action != nd.action else self.rule_changes).append(entry)


def diff_json(
    old: CheckedPolicy,
    new: CheckedPolicy,
    found: Changes,
    *,
    paths: Sequence[str],
    partial: bool,
    elapsed: float,
) -> JSON:
    """The ``diff --json`` object."""
    changes = found.changes
    groups: dict[tuple[str, str], JSON] = {}
    for c in changes:
        key = (c["old"]["action"], c["new"]["action"])
        g = groups.setdefault(
            key,
            {"old": key[0], "new": key[1], "messages": 0, "labels": Counter(), "rules": Counter()},
        )
        g["messages"] += 1
        g["labels"][c["label"] or NO_LABEL] += 1
        g["rules"][(c["old"]["rule"] or DEFAULT_RULE, c["new"]["rule"] or DEFAULT_RULE)] += 1
    group_list = [
        {
            "old": g["old"],
            "new": g["new"],
            "messages": g["messages"],
            "labels": dict(g["labels"].most_common()),
            "rules": [
                {"old": o, "new": n, "messages": k} for (o, n), k in g["rules"].most_common()
            ],
        }
        for g in sorted(groups.values(), key=lambda g: (-g["messages"], g["old"], g["new"]))
    ]

    def count(label: str, became_stopped: bool) -> int:
        return sum(
            1
            for c in changes
            if c["label"] == label
            and stopped(c["new"]["action"]) == became_stopped
            and stopped(c["old"]["action"]) != became_stopped
        )

    return {
        "old_policy": old.name,
        "new_policy": new.name,
        "corpus": list(paths),
        "messages": found.total - found.unreadable,
        "unreadable": found.unreadable,
        "changed": len(changes),
        "newly_stopped_benign": count(BENIGN, True),
        "newly_delivered_malicious": count(MALICIOUS, False),
        "newly_stopped_malicious": count(MALICIOUS, True),
        "newly_delivered_benign": count(BENIGN, False),
        "groups": group_list,
        "changes": changes,
        "rule_changes": found.rule_changes,
        "partial": partial,
        "elapsed_s": round(elapsed, 3),
    }


def _verdict(side: JSON) -> str:
    return f"{side['action']} ({side['rule'] or 'default'})"


def render_diff(doc: JSON, width: int | None = None) -> str:
    """The human form of a ``diff`` result; long cells wrapped to ``width``."""
    parts = []
    head = (
        f"{doc['old_policy']} -> {doc['new_policy']} over {', '.join(doc['corpus'])}: "
        f"{doc['messages']} messages ({doc['unreadable']} unreadable), "
        f"{doc['changed']} change action"
    )
    parts.append(_partial(doc, head))
    parts.append(
        f"newly stopped benign: {doc['newly_stopped_benign']}   "
        f"newly delivered malicious: {doc['newly_delivered_malicious']}   "
        f"newly stopped malicious: {doc['newly_stopped_malicious']}   "
        f"newly delivered benign: {doc['newly_delivered_benign']}"
    )
    if doc["groups"]:
        rows = []
        for g in doc["groups"]:
            rules = "; ".join(f"{r['old']} -> {r['new']} ({r['messages']})" for r in g["rules"])
            labels = ", ".join(f"{k} {v}" for k, v in g["labels"].items())
            rows.append([f"{g['old']} -> {g['new']}", g["messages"], labels, rules])
        parts.append(
            table(rows, ["change", "messages", "labels", "rules (old -> new)"], width, [2, 3])
        )
        rows = [
            [
                _where(c),
                c["label"] or "",
                _clip(c["new"]["attachment"] or c["old"]["attachment"]),
                _verdict(c["old"]),
                _verdict(c["new"]),
            ]
            for c in doc["changes"]
        ]
        parts.append(table(rows, ["message", "label", "attachment", "old", "new"], width, [0, 2]))
    if doc["rule_changes"]:
        parts.append(
            f"{len(doc['rule_changes'])} messages keep their action but are decided by "
            "another rule (see --json rule_changes)"
        )
    return "\n\n".join(parts)
