"""The shipped baseline stops each threat of the bundled corpus with the rule written for
it (named in the sample's row), not by accident through another rule, and delivers the
benign look-alikes as their rows say."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from mailpolicy.corpus.message import Message
from mailpolicy.corpus.readers import iter_messages
from mailpolicy.policy import loader
from mailpolicy.policy.evaluate import evaluate

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "corpus"))
import containers  # noqa: E402  (tests/corpus/containers.py: the sample generator, loaded once)

GEN = containers.generator()
BASELINE = loader.load_policy(str(ROOT / "policy" / "policies" / "baseline.policy"))
RULE_IDS = {r.id for r in BASELINE.rules}
#: rows whose policy text names the deciding rule: "block: auto-run-macros"
NAMED = {
    s.key: m.groups()
    for s in GEN.SAMPLES
    if (m := re.match(r"(\w+): ([a-z0-9-]+)\b", s.policy)) and m.group(2) in RULE_IDS
}
MESSAGES = {
    m.message_id.strip("<>").split("@")[0]: m
    for m in iter_messages([ROOT / "corpus" / "samples" / "maildir"])
    if isinstance(m, Message) and m.message_id
}


def test_the_rows_name_rules_of_the_baseline() -> None:
    assert len(NAMED) >= 12  # every active-content threat and the tagged HR archive


@pytest.mark.parametrize("key", sorted(NAMED))
def test_the_rule_written_for_it_decides(key: str) -> None:
    action, rule = NAMED[key]
    v = evaluate(BASELINE, MESSAGES[key])
    assert (v.action, v.rule) == (action, rule), v.reason


@pytest.mark.parametrize("key", sorted(k for k in MESSAGES if k.startswith("benign")))
def test_benign_samples_are_delivered(key: str) -> None:
    assert evaluate(BASELINE, MESSAGES[key]).action in ("allow", "tag")
