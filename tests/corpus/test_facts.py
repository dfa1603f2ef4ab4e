"""corpus/facts.py: a message rebuilt from its fact record shows every fact the parsed one does.

The comparison reads, through the public model, everything a condition of the language can
read (``view``), on every message of the bundled samples and the third-party corpus, on
mutated messages (Hypothesis), and checks that decoding order keeps ``Message.defects``
the same as a parse would (a decision prints them).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailpolicy.corpus import content
from mailpolicy.corpus import facts as F
from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.corpus.mime import parse_message
from mailpolicy.corpus.readers import RawMessage, iter_raw
from mailpolicy.policy.attachment_kinds import unscannable

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "corpus" / "samples"
#: the shared third-party corpus (tests/conftest.py finds it the same way)
THIRDPARTY = Path(
    os.environ.get("MAILPOLICY_THIRDPARTY") or ROOT.parent / "shared" / "corpora" / "thirdparty"
)


def att_view(a: Attachment) -> dict[str, Any]:
    """Every fact of one attachment a condition reads (and what decisions print)."""
    return {
        "name": a.name,
        "names": a.names,
        "raw_names": a.raw_names,
        "normalized": a.normalized_names,
        "extensions": a.extensions,
        "extension": a.extension,
        "tricks": a.tricks,
        "declared": a.declared_type,
        "part": a.part,
        "in_archive": a.in_archive,
        "size": a.size,
        "detected": a.detected_type,
        "class": a.type_class,
        "mismatch": a.type_mismatch,
        "encrypted": a.encrypted,
        "exceeds": a.exceeds_limits,
        "is_archive": a.is_archive,
        "container_tricks": a.container_tricks,
        "problems": a.archive_problems,
        "own_unscannable": a.unscannable,
        "unscannable": unscannable(a),
        "content": content.facts(a),
        "members": [att_view(m) for m in a.members],
    }


def view(msg: Message) -> dict[str, Any]:
    """Every fact of a message a condition reads, attachments first (so that every late
    defect is in ``defects``)."""
    atts = [att_view(a) for a in msg.attachments]
    return {
        "location": msg.location,
        "label": msg.label,
        "message_id": msg.message_id,
        "sender": msg.sender,
        "recipients": msg.recipients,
        "time": msg.time,
        "headers": msg.headers,
        "subject": msg.subject,
        "from": msg.from_,
        "body": msg.body,
        "size": msg.size,
        "unscannable": msg.unscannable,
        "tricks": msg.tricks,
        "attachments": atts,
        "defects": msg.defects,
    }


def round_trip(data: bytes, **where: Any) -> tuple[Message, Message]:
    """(the parsed message, the message rebuilt from its record through JSON)."""
    parsed = parse_message(data, **where)
    seen = F.watch(parsed)
    record = json.loads(json.dumps(F.extract(parsed, seen)))
    return parse_message(data, **where), F.from_record(record, **where)


def corpus_raws() -> list[RawMessage]:
    paths = [str(SAMPLES / "mbox"), str(SAMPLES / "maildir")]
    if THIRDPARTY.is_dir():
        paths.append(str(THIRDPARTY))
    return [r for r in iter_raw(paths, None) if isinstance(r, RawMessage)]


RAWS = corpus_raws()


def test_the_corpora_are_there() -> None:
    assert len(RAWS) > 100


@pytest.mark.parametrize("raw", RAWS, ids=lambda r: f"{r.path}:{r.key}")
def test_every_corpus_message_round_trips(raw: RawMessage) -> None:
    parsed, rebuilt = round_trip(raw.data, path=raw.path, key=raw.key, label=raw.label)
    assert view(rebuilt) == view(parsed)


def test_the_record_is_plain_json_and_versioned() -> None:
    raw = next(r for r in RAWS if b"Content-Disposition: attachment" in r.data)
    msg = parse_message(raw.data)
    record = F.extract(msg, F.watch(msg))
    assert record["schema"] == F.SCHEMA
    assert json.loads(json.dumps(record)) == record
    assert F.EXTRACTION_VERSION.endswith(f"+facts{F.SCHEMA}")
    assert len(F.readers_digest()) == 32


# ---- laziness: a payload adds its decoding defect when a fact first needs it -----------------
BAD_B64 = (
    b"From: a@example.com\nTo: b@example.org\nSubject: two bad parts\n"
    b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n\n'
    b"--B\nContent-Type: text/plain\n\nhi\n"
    b'--B\nContent-Type: application/octet-stream; name="one.exe"\n'
    b"Content-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQ!!!!\n"
    b'--B\nContent-Type: application/pdf; name="two.pdf"\n'
    b"Content-Transfer-Encoding: x-uuencode\n\nbegin 644 two.pdf\nM)5!$1BTQ+C0*\x7f\x7f\nend\n"
    b'--B\nContent-Type: application/zip; name="three.zip"\n'
    b"Content-Transfer-Encoding: base64\n\nUEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==\n--B--\n"
)

#: What a condition may read first of an attachment; some need the payload, some do not.
READS = (
    "name",
    "tricks",
    "declared_type",
    "size",
    "detected_type",
    "type_mismatch",
    "members",
    "unscannable",
    "content",
)


def _read(a: Attachment, what: str) -> object:
    if what == "content":
        return content.facts(a)
    return getattr(a, what)


def test_bad_payloads_add_their_defect_only_when_decoded() -> None:
    parsed, rebuilt = round_trip(BAD_B64)
    assert parsed.defects == rebuilt.defects
    for msg in (parsed, rebuilt):
        _read(msg.attachments[0], "name")
        _read(msg.attachments[2], "size")  # base64: sized at parse time, not decoded
    assert parsed.defects == rebuilt.defects
    assert not any(d.startswith("bad-") for d in parsed.defects)
    for msg in (parsed, rebuilt):
        _read(msg.attachments[1], "size")  # uuencoded: sized by decoding it
        _read(msg.attachments[0], "detected_type")
    assert parsed.defects == rebuilt.defects
    assert [d for d in parsed.defects if d.startswith("bad-")] == [
        "bad-x-uuencode: 3",
        "bad-base64: 2",
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(READS)), max_size=8))
def test_defects_follow_any_order_of_reads(reads: list[tuple[int, str]]) -> None:
    parsed, rebuilt = round_trip(BAD_B64)
    for i, what in reads:
        assert repr(_read(parsed.attachments[i], what)) == repr(_read(rebuilt.attachments[i], what))
        assert parsed.defects == rebuilt.defects


_SEEDS = [r.data for r in RAWS if len(r.data) < 20_000][::4]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_SEEDS),
    st.lists(
        st.tuples(
            st.integers(0, 20_000),
            st.sampled_from([b"", b"\r\n", b"--", b"=?", b'"', b";", b"*0*=", b"\x00", b"==\n"]),
            st.integers(0, 40),
        ),
        max_size=10,
    ),
)
def test_mutated_messages_round_trip(seed: bytes, edits: list[tuple[int, bytes, int]]) -> None:
    raw = bytearray(seed)
    for pos, insert, cut in edits:
        pos %= len(raw) + 1
        raw[pos : pos + cut] = insert
    parsed, rebuilt = round_trip(bytes(raw))
    assert view(rebuilt) == view(parsed)


def test_random_reads_of_real_messages_keep_defects_equal() -> None:
    rng = random.Random(13)
    for raw in RAWS[::5]:
        parsed, rebuilt = round_trip(raw.data)
        n = len(parsed.attachments)
        for _ in range(2 * n):
            i, what = rng.randrange(n), rng.choice(READS)
            assert repr(_read(parsed.attachments[i], what)) == repr(
                _read(rebuilt.attachments[i], what)
            )
        assert parsed.defects == rebuilt.defects


# ---- what a record cannot be ----------------------------------------------------------------
def test_a_stored_attachment_has_no_payload() -> None:
    _, rebuilt = round_trip(BAD_B64)
    with pytest.raises(F.RecordError, match="no payload"):
        rebuilt.attachments[0].data  # noqa: B018


@pytest.mark.parametrize(
    "spoil",
    [
        lambda r: r.update(schema=F.SCHEMA + 1),
        lambda r: r.pop("headers"),
        lambda r: r.update(size="12"),
        lambda r: r["attachments"][0].update(names="x.exe"),
        lambda r: r["attachments"][0].pop("type"),
        lambda r: r.update(time="yesterday"),
    ],
)
def test_a_malformed_record_is_refused(spoil: Any) -> None:
    msg = parse_message(BAD_B64)
    record = F.extract(msg, F.watch(msg))
    spoil(record)
    with pytest.raises(F.RecordError):
        F.from_record(record)


def test_not_a_record_is_refused() -> None:
    for junk in (None, [], "facts", {"schema": F.SCHEMA}):
        with pytest.raises(F.RecordError):
            F.from_record(junk)
