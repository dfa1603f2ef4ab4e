"""CI gates: thresholds a replay's figures must meet, for ``simulate`` and ``diff``.

``simulate`` gates (each needs labelled mail): ``max-false-positives N``,
``max-false-negatives N``, ``min-precision P``, ``min-recall R``. ``diff`` gates
(``--fail-on``): ``newly-stopped-benign`` and ``newly-delivered-malicious`` (labelled mail)
and ``any-change``; each fails when its count is above 0.

``evaluate_*`` return one ``Gate`` per gate asked for; ``NeedsLabels`` (a ``ValueError``)
when a gate needs labels and no message carried ``benign`` or ``malicious``. A precision
over no stopped message passes (nothing was stopped wrongly); a recall over no malicious
message fails, since there is nothing it could measure. Nothing here prints: the command
line puts ``gates_json`` in its ``--json`` and ``describe`` on stderr.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: ``--fail-on`` words and the ``diff --json`` count each reads.
DIFF_GATES = {
    "newly-stopped-benign": "newly_stopped_benign",
    "newly-delivered-malicious": "newly_delivered_malicious",
    "any-change": "changed",
}
_LABELLED = ("newly-stopped-benign", "newly-delivered-malicious")


class NeedsLabels(ValueError):
    """A gate needs labelled mail and the corpus has none."""


@dataclass(frozen=True, slots=True)
class Gate:
    name: str
    threshold: float
    value: float | None
    passed: bool
    #: how the figure reads for a person: "3 false positives"
    what: str

    def to_json(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "value": self.value, "pass": self.passed}


def describe(g: Gate) -> str:
    """One line for stderr: ``max-false-positives: 3 false positives, at most 0 allowed``."""
    value = "n/a" if g.value is None else _number(g.value)
    if g.name.startswith("min-"):
        return f"{g.name}: {g.what} {value}, at least {_number(g.threshold)} required"
    return f"{g.name}: {value} {g.what}, at most {_number(g.threshold)} allowed"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.3f}"


def gates_json(gates: list[Gate]) -> dict[str, Any]:
    return {g.name: g.to_json() for g in gates}


def parse_fail_on(text: str) -> tuple[str, ...]:
    """``newly-stopped-benign,any-change`` -> the gate names; ValueError names a bad one."""
    words = tuple(dict.fromkeys(w.strip() for w in text.split(",") if w.strip()))
    bad = [w for w in words if w not in DIFF_GATES]
    if bad or not words:
        raise ValueError(
            f"--fail-on: unknown gate {', '.join(map(repr, bad)) or 'list (empty)'}; "
            f"the gates are {', '.join(DIFF_GATES)}"
        )
    return words


def evaluate_simulate(
    doc: Mapping[str, Any],
    *,
    max_false_positives: int | None = None,
    max_false_negatives: int | None = None,
    min_precision: float | None = None,
    min_recall: float | None = None,
) -> list[Gate]:
    """The gates asked for, over a ``simulate --json`` document."""
    asked: dict[str, float | None] = {
        "max-false-positives": max_false_positives,
        "max-false-negatives": max_false_negatives,
        "min-precision": min_precision,
        "min-recall": min_recall,
    }
    wanted = {k: v for k, v in asked.items() if v is not None}
    if not wanted:
        return []
    confusion = doc["confusion"]
    if not sum(confusion.values()):
        raise NeedsLabels(
            f"--{next(iter(wanted))} needs labelled mail: no message of the corpus is labelled "
            "benign or malicious (folders named benign/ and malicious/, or --labels FILE)"
        )
    figures = {
        "max-false-positives": ("false_positives", "false positives"),
        "max-false-negatives": ("false_negatives", "false negatives"),
        "min-precision": ("precision", "precision"),
        "min-recall": ("recall", "recall"),
    }
    out = []
    for name, threshold in wanted.items():
        field, what = figures[name]
        v: float | None = doc[field]
        if v is None:  # precision over nothing stopped passes; recall over no malicious fails
            passed = name == "min-precision"
        else:
            passed = v >= threshold if name.startswith("min-") else v <= threshold
        out.append(Gate(name, float(threshold), v, passed, what))
    return out


def evaluate_diff(doc: Mapping[str, Any], fail_on: tuple[str, ...], labelled: int) -> list[Gate]:
    """The ``--fail-on`` gates over a ``diff --json`` document; ``labelled``: messages of
    the corpus labelled benign or malicious."""
    needing = [g for g in fail_on if g in _LABELLED]
    if needing and not labelled:
        raise NeedsLabels(
            f"--fail-on {needing[0]} needs labelled mail: no message of the corpus is labelled "
            "benign or malicious (folders named benign/ and malicious/, or --labels FILE)"
        )
    out = []
    for name in fail_on:
        v = doc[DIFF_GATES[name]]
        what = "messages change action" if name == "any-change" else name.replace("-", " ")
        out.append(Gate(name, 0, v, v <= 0, what))
    return out
