"""Benchmark 1: matcher cost per message at 10, 100, 1,000 and 10,000 rules.

Run with the README's benchmark command; BENCHMARKS.md records the tables.

- ``test_mixed_*``: ``evaluate()`` (what ``simulate`` runs for every message) over the
  mixed policy of ``workload.py`` (sender globs, partner exceptions, middle-wildcard name
  globs, header, subject and body needles, sizes, declared and true types), on FRESH
  messages every round (built in the untimed setup, so no fact is cached from an earlier
  round), 100 messages a round. The reference evaluator runs the same rounds up to 1,000
  rules.
- ``test_compiled``/``test_reference``: the names-only policy of ``make_policy`` (one
  extension rule per bad extension, one name rule per worm signature, one sender exception
  per partner) on a fixed set of 50 messages, ``match()`` only: the earlier table, kept so
  the two can be compared.
"""

from __future__ import annotations

import pytest

from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy import loader
from mailpolicy.policy.compile import compile_policy
from mailpolicy.policy.evaluate import evaluate

from .workload import fresh_messages, mixed_policy

pytestmark = pytest.mark.bench

NAMES = [
    "test.tar.gz",
    "archive.sit.bin",
    "test.2001.01.01",
    "report.pdf",
    "書類名1.doc.bat",
    "invoice.pif",
    "photo.jpg",
    "minutes.docx",
    "setup.v2.1.zip",
    "同窓会名簿.xls.lnk",
]


def make_policy(n: int) -> str:
    lines = [
        "list trusted = ["
        + ", ".join(f'"*@partner{i}.example.com"' for i in range(max(1, n // 10)))
        + "]"
    ]
    for i in range(n):
        kind = i % 4
        if kind == 0:
            lines.append(f'block attachment extension "x{i}" unless sender in trusted')
        elif kind == 1:
            lines.append(f'quarantine attachment name matches "worm{i}-*.exe"')
        elif kind == 2:
            lines.append(f'block attachment name matches "*.sig{i}"')
        else:
            lines.append(
                f'allow sender in ["build@partner{i}.example.com"] and attachment extension "y{i}"'
            )
    lines.append('block attachment double extension in ["bat", "com", "lnk", "pif", "exe"]')
    lines.append('block attachment extension in ["pif", "exe", "scr"]')
    return "\n".join(lines)


MESSAGES = [
    Message(
        path=f"m{i}",
        sender="mallory@example.net",
        recipients=("bob@example.com",),
        attachments=(Attachment(names=(NAMES[i % len(NAMES)],), data=b"text\n", part="2"),),
    )
    for i in range(50)
]


@pytest.mark.parametrize("rules", [10, 100, 1000, 10000])
def test_compiled(benchmark, rules: int) -> None:  # type: ignore[no-untyped-def]
    policy = loader.load_text(make_policy(rules), "bench.policy")
    compiled = compile_policy(policy)
    benchmark.group = "matcher per 50 messages"
    benchmark.extra_info["rules"] = rules
    result = benchmark(lambda: [compiled.match(m) for m in MESSAGES])
    assert sum(r is not None for r in result) == 15  # 3 of 10 names: .doc.bat, .pif, .xls.lnk


@pytest.mark.parametrize("rules", [10, 100, 1000, 10000])
def test_reference(benchmark, rules: int) -> None:  # type: ignore[no-untyped-def]
    policy = loader.load_text(make_policy(rules), "bench.policy")
    benchmark.group = "matcher per 50 messages"
    benchmark.extra_info["rules"] = rules
    rounds = {10: 20, 100: 10, 1000: 3, 10000: 1}[rules]
    result = benchmark.pedantic(
        lambda: [evaluate(policy, m, trace=False) for m in MESSAGES], rounds=rounds, iterations=1
    )
    assert sum(v.rule is not None for v in result) == 15


#: messages a round, and rounds per size (fresh messages each round)
MIXED_MESSAGES = 100
MIXED_ROUNDS = {10: 20, 100: 20, 1000: 10, 10000: 5}


def _fresh_rounds() -> object:
    seeds = iter(range(10**6))

    def setup() -> tuple[tuple[list[Message]], dict[str, object]]:
        return (fresh_messages(next(seeds), MIXED_MESSAGES),), {}

    return setup


@pytest.mark.parametrize("rules", [10, 100, 1000, 10000])
def test_mixed_compiled(benchmark, rules: int) -> None:  # type: ignore[no-untyped-def]
    policy = loader.load_text(mixed_policy(rules), "mixed.policy")
    compiled = compile_policy(policy)
    benchmark.group = "evaluate() per 100 fresh messages, mixed rules"
    benchmark.extra_info["rules"] = len(policy.rules)
    result = benchmark.pedantic(
        lambda ms: [compiled.evaluate(m) for m in ms],
        setup=_fresh_rounds(),
        rounds=MIXED_ROUNDS[rules],
        iterations=1,
    )
    assert len(result) == MIXED_MESSAGES and any(v.rule is not None for v in result)


@pytest.mark.parametrize("rules", [10, 100, 1000])
def test_mixed_reference(benchmark, rules: int) -> None:  # type: ignore[no-untyped-def]
    policy = loader.load_text(mixed_policy(rules), "mixed.policy")
    benchmark.group = "evaluate() per 100 fresh messages, mixed rules"
    benchmark.extra_info["rules"] = len(policy.rules)
    result = benchmark.pedantic(
        lambda ms: [evaluate(policy, m, trace=False) for m in ms],
        setup=_fresh_rounds(),
        rounds={10: 10, 100: 5, 1000: 2}[rules],
        iterations=1,
    )
    assert len(result) == MIXED_MESSAGES
