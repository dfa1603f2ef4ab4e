"""Scoring arithmetic on hand-made decisions: the definitions in ``score``'s docstring."""

from __future__ import annotations

from mailpolicy.simulator.replay import Decision
from mailpolicy.simulator.score import Score


def d(
    label: str | None,
    action: str,
    rule: str | None = None,
    ext: str | None = None,
    exts: tuple[str, ...] = (),
) -> Decision:
    return Decision(
        path="p",
        key=None,
        message_id=None,
        label=label,
        action=action,
        rule=rule,
        attachment=f"x.{ext}" if ext else None,
        extension=ext,
        extensions=exts,
    )


def test_confusion_precision_recall() -> None:
    s = Score(samples_limit=2)
    for x in [
        d("malicious", "block", "r1"),
        d("malicious", "quarantine", "r2"),
        d("malicious", "tag", "r3"),
        d("benign", "strip", "r1", "gz"),
        d("benign", "allow"),
        d("benign", "discard", "r4", exts=("zip", "txt")),
        d(None, "block", "r1"),
        d("spam", "allow"),
        d("benign", "unreadable"),
    ]:
        s.add(x)
    j = s.to_json()
    assert j["confusion"] == {
        "true_positives": 2,
        "false_positives": 2,
        "true_negatives": 1,
        "false_negatives": 1,
    }
    assert s.precision == 0.5 and s.recall == 2 / 3
    assert (j["messages"], j["unreadable"]) == (8, 1)
    assert j["labels"]["benign"] == {"allow": 1, "strip": 1, "discard": 1, "unreadable": 1}
    assert j["labels"]["(none)"] == {"block": 1} and j["labels"]["spam"] == {"allow": 1}
    r1 = next(r for r in j["rules"] if r["id"] == "r1")
    assert (r1["hits"], r1["benign_hits"], r1["malicious_hits"]) == (3, 1, 1)
    assert j["rules"][-1]["id"] == "(default)" and j["rules"][-1]["hits"] == 2
    assert j["false_positives_by_extension"] == {"gz": 1, "txt": 1, "zip": 1}
    assert len(j["samples"]["false_positives"]) == 2  # bounded by samples_limit


def test_no_labels_no_ratios() -> None:
    s = Score()
    s.add(d(None, "allow"))
    assert s.precision is None and s.recall is None
