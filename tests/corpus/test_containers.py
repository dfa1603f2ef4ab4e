"""Containers as the policy sees them: the sample of each container and trick, fail-closed
facts on damaged input, and no false alarm on the benign samples."""

from __future__ import annotations

import json
from pathlib import Path

import containers  # tests/corpus/containers.py
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailpolicy.corpus.archives import Limits, listing
from mailpolicy.corpus.archives.limits import deadline
from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.corpus.readers import iter_messages
from mailpolicy.simulator.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "corpus" / "samples"


gen = containers.generator()


def _messages() -> dict[str, Message]:
    out = {}
    for m in iter_messages([SAMPLES / "maildir"]):
        assert isinstance(m, Message)
        out[(m.message_id or "").strip("<>").split("@")[0]] = m
    return out


MESSAGES = _messages()


def _att(key: str) -> Attachment:
    return MESSAGES[key].attachments[0]


def _members(a: Attachment) -> dict[str, tuple[str, tuple[str, ...]]]:
    """member name -> (class, tricks)."""
    return {m.name or "": (m.type_class, m.tricks) for m in a.walk()[1:]}


# -- each container sample, with members and true types ------------------------------------


@pytest.mark.parametrize(
    ("key", "mime", "cls", "want"),
    [
        (
            "benign-27",
            "application/x-iso9660-image",
            "disk-image",
            {"report.pdf": "document", "notes.txt": "text"},
        ),
        (
            "malicious-31",
            "application/x-iso9660-image",
            "disk-image",
            {"Invoice.pdf.lnk": "executable", "data.exe": "executable"},
        ),
        (
            "malicious-32",
            "application/x-vhd",
            "disk-image",
            {"Scan 2001.pdf.lnk": "executable", "bin/update.exe": "executable"},
        ),
        ("malicious-33", "application/onenote", "document", {"open.hta": "script"}),
        (
            "benign-30",
            "application/vnd.ms-cab-compressed",
            "archive",
            {"readme.txt": "text", "data/addresses.csv": "text"},
        ),
        ("malicious-36", "application/zip", "archive", {"photo.jpg": "executable"}),
    ],
)
def test_container_samples_list_members_with_true_types(
    key: str, mime: str, cls: str, want: dict[str, str]
) -> None:
    a = _att(key)
    assert (a.detected_type, a.type_class) == (mime, cls) and a.is_archive
    assert {n: c for n, (c, _) in _members(a).items()} == want
    assert not a.unscannable and not a.exceeds_limits


def test_concatenated_zip_lists_both_and_marks_every_member() -> None:
    a = _att("malicious-34")
    assert a.container_tricks == ("concatenated-archive",)
    assert _members(a) == {
        "report.txt": ("text", ("concatenated-archive",)),
        "evil.exe": ("executable", ("concatenated-archive",)),
    }


def test_zip_without_directory_is_read_from_local_headers_and_unscannable() -> None:
    a = _att("malicious-35")
    assert [m.name for m in a.members] == ["readme.txt", "evil.exe"]
    assert a.members[1].type_class == "executable"
    assert a.container_tricks == ("directory-mismatch",)
    assert any("central directory missing" in r for r in a.unscannable)


def test_homoglyph_extension_matches_its_skeleton() -> None:
    a = _att("malicious-37")
    assert a.name == "invoice.ехе" and a.extension == "exe" and "homoglyph" in a.tricks


def test_padding_and_paths_only_where_they_hide_something() -> None:
    assert _att("benign-29").tricks == ()  # "Final Report .docx": one stray space
    docx = _att("benign-09")
    assert all(not m.tricks for m in docx.walk()[1:])  # word/document.xml is a folder
    source = _att("benign-28")
    assert {c for c, _ in _members(source).values()} == {"text"}  # no script in a release
    assert all(not t for _, t in _members(source).values())


def test_no_benign_sample_has_an_evasive_member_or_a_false_trick() -> None:
    for key, m in MESSAGES.items():
        if m.label != "benign":
            continue
        for a in m.attachments:
            assert not a.tricks and not a.container_tricks, key
            assert all(not x.tricks for x in a.walk()[1:]), key


# -- overlapping entries ---------------------------------------------------------------------


def test_overlapping_entries_are_a_trick_and_not_read() -> None:
    data = gen.zip_of([("a.txt", b"x" * 100)])
    cd = data.index(b"PK\x01\x02")
    entry = data[cd : data.index(b"PK\x05\x06")]
    twice = data[:cd] + entry + entry.replace(b"a.txt", b"b.exe")
    eocd = b"PK\x05\x06" + (0).to_bytes(4, "little") + (2).to_bytes(2, "little") * 2
    eocd += len(entry * 2).to_bytes(4, "little") + cd.to_bytes(4, "little") + bytes(2)
    a = Attachment(names=("bomb.zip",), data=twice + eocd, part="2")
    # b.exe's local header says a.txt too: the directory disagrees with it as well
    assert a.container_tricks == ("directory-mismatch", "overlapping-entries")
    assert [m.name for m in a.members] == ["a.txt", "b.exe"]
    assert all(m.unscannable and "overlapping-entries" in m.tricks for m in a.members)


# -- fail closed: truncated and mutated containers never raise -----------------------------

CONTAINERS = {
    "iso": gen.iso_of([("a.txt", b"hello"), ("b.exe", gen.pe_stub())]),
    "vhd": gen.vhd_fixed(gen.fat12([("a.txt", b"hi"), ("dir/b.exe", gen.pe_stub())])),
    "one": gen.onenote([("a.hta", gen.HTA)]),
    "cab": gen.cab_of([("a.txt", b"hi" * 100), ("b.exe", gen.pe_stub())]),
    "msi": containers.msi(gen.cab_of([("f0", gen.pe_stub())]), ["setup.exe"]),
    "ace": containers.ace_of([("a.txt", b"hi"), ("b.exe", gen.pe_stub())]),
}


@pytest.mark.parametrize("kind", sorted(CONTAINERS))
def test_truncated_containers_become_facts(kind: str) -> None:
    data = CONTAINERS[kind]
    for cut in (len(data) // 3, len(data) // 2, len(data) - 1):
        a = Attachment(names=(f"x.{kind}",), data=data[:cut], part="2")
        for m in a.walk():
            assert isinstance(m.unscannable, tuple) and isinstance(m.tricks, tuple)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(CONTAINERS)), st.data())
def test_mutated_containers_never_raise(kind: str, data: st.DataObject) -> None:
    raw = bytearray(CONTAINERS[kind])
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    found = listing(Attachment(names=(f"x.{kind}",), data=bytes(raw), part="2"))
    assert isinstance(found.problems, tuple) and isinstance(found.unscannable, tuple)
    for m in found.members:
        assert isinstance(m.walk(), tuple)


def test_damaged_container_is_unscannable_not_silent() -> None:
    vhd = bytearray(CONTAINERS["vhd"])
    vhd[512 + 11 : 512 + 13] = (3).to_bytes(2, "little")  # impossible bytes per sector
    found = listing(Attachment(names=("x.vhd",), data=bytes(vhd), part="2"))
    assert found.unscannable and found.is_archive


def test_the_deadline_stops_a_listing_as_a_limit() -> None:
    with deadline(-1.0):
        found = listing(Attachment(names=("x.iso",), data=CONTAINERS["iso"], part="2"))
    assert found.exceeds_limits
    assert found.problems == ("time budget exceeded while reading the archive",)


def test_member_limit_applies_to_every_container() -> None:
    for kind, data in CONTAINERS.items():
        found = listing(
            Attachment(names=(f"x.{kind}",), data=data, part="2"), Limits(max_members=0)
        )
        assert found.exceeds_limits and found.problems == ("members > 0",), kind


# -- inspect --json shows members and tricks ------------------------------------------------


@pytest.mark.parametrize(
    ("key", "member", "trick"),
    [
        ("malicious-31", "data.exe", None),
        ("malicious-32", "bin/update.exe", None),
        ("malicious-33", "open.hta", None),
        ("malicious-34", "evil.exe", "concatenated-archive"),
        ("malicious-35", "evil.exe", "directory-mismatch"),
        ("malicious-36", "photo.jpg", None),
    ],
)
def test_inspect_json_shows_members_and_tricks(
    key: str, member: str, trick: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    n = key.rsplit("-", 1)[1].lstrip("0")
    (path,) = (SAMPLES / "maildir" / "malicious").glob(f"*/*.P{n}.*")
    assert main(["inspect", str(path), "--json"]) == 0
    text = json.dumps(json.loads(capsys.readouterr().out))
    assert f'"{member}"' in text
    if trick:
        assert f'"{trick}"' in text


def test_archive_contains_evasive_name_stops_no_benign_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "evasive.policy"
    policy.write_text("block attachment archive contains evasive name\n", encoding="utf-8")
    main(["simulate", str(policy), str(SAMPLES / "maildir" / "benign")])
    out = capsys.readouterr().out
    assert "false positives (benign, stopped): none" in out
