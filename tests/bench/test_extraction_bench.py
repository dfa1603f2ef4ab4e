"""Attachment extraction throughput on the bundled corpus, against Python's ``email``.

The same raw messages (both forms of the bundled sample corpus, read into memory first)
go through:
- ``email.message_from_bytes(policy=default)`` and ``get_filename()`` on every part;
- ``corpus.mime.parse_message`` with every decoded, normalised name and trick read;
- ``parse_message`` with every fact a policy can ask for: true type, sha256, archive members.
"""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from mailpolicy.corpus.mime import parse_message
from mailpolicy.corpus.readers import RawMessage, iter_raw

SAMPLES = Path(__file__).resolve().parents[2] / "corpus" / "samples"
pytestmark = pytest.mark.bench


@pytest.fixture(scope="module")
def raw() -> list[bytes]:
    items = [
        r.data
        for r in iter_raw([SAMPLES / "maildir", SAMPLES / "mbox"])
        if isinstance(r, RawMessage)
    ]
    assert len(items) == 112
    return items


def test_email_parser(benchmark, raw: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    def run() -> int:
        names = 0
        for data in raw:
            msg = email.message_from_bytes(data, policy=email.policy.default)
            names += sum(1 for p in msg.walk() if p.get_filename())
        return names

    benchmark.group = "extraction, bundled corpus (112 messages)"
    assert benchmark(run) > 100


def test_names(benchmark, raw: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    def run() -> int:
        seen = 0
        for data in raw:
            for a in parse_message(data).attachments:
                seen += len(a.normalized_names) + len(a.tricks) + (a.extension is not None)
        return seen

    benchmark.group = "extraction, bundled corpus (112 messages)"
    assert benchmark(run) > 100


def test_all_facts(benchmark, raw: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    def run() -> int:
        seen = 0
        for data in raw:
            for a in parse_message(data).attachments:
                seen += len(a.type_class) + len(a.sha256) + sum(1 for _ in a.walk())
        return seen

    benchmark.group = "extraction, bundled corpus (112 messages)"
    assert benchmark(run) > 100
