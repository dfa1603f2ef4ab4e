"""The bundled sample corpus (corpus/samples): deterministic, well-formed, the same in both forms.

The expectations come from the generator's own table (``make_samples.SAMPLES``), so the
README, the files and these tests cannot drift apart. The last tests read the corpus with
the project's readers.
"""

from __future__ import annotations

import email
import email.policy
import importlib.util
import io
import mailbox
import re
import struct
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from mailpolicy.corpus.message import Message
from mailpolicy.corpus.readers import Unreadable, iter_messages

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "corpus" / "samples"
LABELS = ("benign", "malicious")
REQUIRED = (
    "Return-Path",
    "Delivered-To",
    "Received",
    "Date",
    "From",
    "To",
    "Subject",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
)
MAILDIR_NAME = re.compile(r"^(cur/\d+\.P\d+\.[\w.-]+:2,S|new/\d+\.P\d+\.[\w.-]+)$")
ASCTIME = re.compile(
    rb"^From \S+ (Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$"
)


def _load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "mailpolicy_make_samples", SAMPLES / "make_samples.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


gen = _load_generator()
BY_KEY = {s.key: s for s in gen.SAMPLES}


def _tree(root: Path) -> dict[str, bytes]:
    # the generators (make_samples.py and the modules beside it) are not generated output
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts
    }


def _maildir(label: str) -> dict[str, bytes]:
    """Maildir file name (cur/... or new/...) -> bytes."""
    box = SAMPLES / "maildir" / label
    return {
        p.relative_to(box).as_posix(): p.read_bytes()
        for d in ("cur", "new")
        for p in sorted((box / d).iterdir())
    }


def read_mboxrd(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(From line, message) for each entry: separators at file start or after a blank line,
    the blank line before the next separator dropped, one '>' removed from '>+From ' lines."""
    starts = [
        m.start()
        for m in re.finditer(rb"(?m)^From ", data)
        if m.start() == 0 or data[m.start() - 2 : m.start()] == b"\n\n"
    ]
    for a, b in zip(starts, [*starts[1:], len(data)], strict=True):
        from_line, _, body = data[a:b].partition(b"\n")
        assert body.endswith(b"\n\n"), from_line
        yield from_line, re.sub(rb"(?m)^>(>*From )", rb"\1", body[:-1])


def _mbox(label: str) -> list[bytes]:
    return [m for _, m in read_mboxrd((SAMPLES / "mbox" / label / "sircam.mbox").read_bytes())]


def _key(message_id: str) -> str:
    return message_id.strip().strip("<>").split("@")[0]


# -- the generator and the committed files -------------------------------------------------


def test_regeneration_is_deterministic(tmp_path: Path) -> None:
    # The documented command, into a scratch folder: the bytes must equal the committed ones.
    subprocess.run([sys.executable, str(SAMPLES / "make_samples.py"), str(tmp_path)], check=True)
    fresh, committed = _tree(tmp_path), _tree(SAMPLES)
    assert sorted(fresh) == sorted(committed)
    changed = [name for name in fresh if fresh[name] != committed[name]]
    assert not changed, f"regenerate with python corpus/samples/make_samples.py: {changed}"


def test_table_is_consistent() -> None:
    keys = [s.key for s in gen.SAMPLES]
    assert len(keys) == len(set(keys))
    for s in gen.SAMPLES:
        assert s.label in LABELS and s.key.startswith(s.label + "-")
        assert s.tests and s.policy and s.sender
        assert set(s.tricks) <= set(_names_module_tricks()), s.key
    counts = {label: sum(s.label == label for s in gen.SAMPLES) for label in LABELS}
    assert 20 <= counts["benign"] <= 60 and 20 <= counts["malicious"] <= 60, counts
    readme = (SAMPLES / "README.md").read_text(encoding="utf-8")
    for key in keys:
        assert f"| `{key}` |" in readme


def _names_module_tricks() -> tuple[str, ...]:
    from mailpolicy.corpus import names

    return names.TRICKS


def test_size_budget() -> None:
    total = sum(len(b) for b in _tree(SAMPLES).values())
    assert total < 2 * 1024 * 1024
    # an ISO image is 64 KiB at least (its descriptors start at 32 KiB): 86 KiB in base64;
    # a mailbox holds every message of its label
    assert all(
        len(b) < (512 if name.endswith(".mbox") else 256) * 1024
        for name, b in _tree(SAMPLES).items()
    )


def test_maildir_layout() -> None:
    for label in LABELS:
        box = SAMPLES / "maildir" / label
        assert sorted(p.name for p in box.iterdir()) == ["cur", "new", "tmp"]
        assert [p.name for p in (box / "tmp").iterdir()] == [".keep"]
        names = list(_maildir(label))
        assert names and all(MAILDIR_NAME.match(n) for n in names), names
        assert sum(n.startswith("new/") for n in names) == 1


# -- every message is well-formed mail -----------------------------------------------------


@pytest.mark.parametrize("label", LABELS)
def test_every_message_parses_with_required_headers(label: str) -> None:
    seen = []
    for name, raw in _maildir(label).items():
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        for header in REQUIRED:
            assert msg[header] is not None, (name, header)
        key = _key(msg["Message-ID"])
        sample = BY_KEY[key]
        assert sample.label == label
        assert msg["Message-ID"] == f"<{key}@samples.mailpolicy.example>"
        assert msg["Return-Path"] == f"<{sample.sender}>"
        received = parsedate_to_datetime(str(msg["Received"]).rsplit(";", 1)[1])
        assert received >= msg["Date"].datetime
        for part in msg.walk():
            assert not part.defects, (key, part.get_content_type(), part.defects)
        assert raw.count(b"\r") == 0  # LF storage, as Maildir and mbox files are
        seen.append(key)
    assert sorted(seen) == sorted(s.key for s in gen.SAMPLES if s.label == label)


def test_stdlib_mailbox_reads_both_forms() -> None:
    for label in LABELS:
        md = mailbox.Maildir(SAMPLES / "maildir" / label, factory=None, create=False)
        mb = mailbox.mbox(SAMPLES / "mbox" / label / "sircam.mbox", create=False)
        try:
            md_ids = sorted(md[k]["Message-ID"] for k in md.keys())
            mb_ids = sorted(m["Message-ID"] for m in mb)
        finally:
            mb.close()
        assert md_ids == mb_ids and len(md_ids) == sum(s.label == label for s in gen.SAMPLES)


@pytest.mark.parametrize("label", LABELS)
def test_maildir_and_mbox_hold_the_same_messages(label: str) -> None:
    maildir = sorted(_maildir(label).values(), key=lambda raw: _key(_mid(raw)))
    mbox = sorted(_mbox(label), key=lambda raw: _key(_mid(raw)))
    assert [_mid(m) for m in maildir] == [_mid(m) for m in mbox]
    assert maildir == mbox  # byte for byte, once the mboxrd quoting is undone


def _mid(raw: bytes) -> str:
    found = re.search(rb"(?mi)^Message-ID: *(<[^>]+>)", raw)
    assert found
    return found.group(1).decode()


def test_mbox_from_quoting_round_trips() -> None:
    quoted_any = False
    for label in LABELS:
        data = (SAMPLES / "mbox" / label / "sircam.mbox").read_bytes()
        entries = list(read_mboxrd(data))
        assert all(ASCTIME.match(line) for line, _ in entries)
        # every unquoted "From " line in the file is a separator
        assert len(re.findall(rb"(?m)^From ", data)) == len(entries)
        for _, raw in entries:
            if re.search(rb"(?m)^From ", raw):
                quoted_any = True
                assert re.search(rb"(?m)^>From ", raw), "a '>From ' body line must survive too"
    assert quoted_any, "some body line must start with 'From '"
    # Re-quoting what was read gives the file back (mboxrd is lossless).
    for label in LABELS:
        by_key = {s.key: s for s in gen.SAMPLES if s.label == label}
        again = b"".join(gen.mboxrd_entry(by_key[_key(_mid(m))], m) for m in _mbox(label))
        assert again == (SAMPLES / "mbox" / label / "sircam.mbox").read_bytes()


# -- the content is what the table says ---------------------------------------------------


def _attachments(raw: bytes) -> Iterator[tuple[str, bytes]]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        if part.get_filename() and not part.is_multipart():
            yield part.get_filename(), part.get_payload(decode=True)


def _archive_members(data: bytes, depth: int = 0) -> list[str]:
    out: list[str] = []
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                out.append(info.filename)
                if not info.flag_bits & 1 and info.file_size < 1 << 20 and depth < 3:
                    out += _archive_members(zf.read(info), depth + 1)
    elif data[:2] == b"\x1f\x8b" or data[:3] == b"BZh":
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as tf:
                out += tf.getnames()
        except tarfile.ReadError:
            pass  # a single compressed file, not a tar
    return out


#: Samples the standard library cannot list (disk images, OneNote, CAB, zips that zipfile
#: reads differently): only the project's readers are checked against the table for them.
NOT_STDLIB = frozenset(
    {
        "benign-27",
        "benign-30",
        "malicious-31",
        "malicious-32",
        "malicious-33",
        "malicious-34",
        "malicious-35",
        "malicious-36",
    }
)


def test_archive_members_match_the_table() -> None:
    for label in LABELS:
        for raw in _maildir(label).values():
            sample = BY_KEY[_key(_mid(raw))]
            if sample.key in NOT_STDLIB:
                continue
            members = [m for _, data in _attachments(raw) for m in _archive_members(data)]
            assert sorted(members) == sorted(sample.members), sample.key


def test_archive_edge_cases() -> None:
    raw = next(r for r in _maildir("malicious").values() if b"<malicious-25@" in r)
    ((_, bomb),) = _attachments(raw)
    info = zipfile.ZipFile(io.BytesIO(bomb)).infolist()[0]
    assert info.file_size / info.compress_size > 1000 and len(bomb) < 100_000
    raw = next(r for r in _maildir("malicious").values() if b"<malicious-24@" in r)
    ((_, locked),) = _attachments(raw)
    with zipfile.ZipFile(io.BytesIO(locked)) as zf:
        info = zf.infolist()[0]
        assert info.flag_bits & 1 and info.filename == "statement.exe"
        with pytest.raises(RuntimeError, match="encrypted"):
            zf.read(info)
        assert zf.read(info, pwd=b"2001") == gen.pe_stub()


def test_stubs_are_harmless() -> None:
    pe = gen.pe_stub()
    lfanew = struct.unpack_from("<I", pe, 0x3C)[0]
    assert pe[:2] == b"MZ" and pe[lfanew : lfanew + 4] == b"PE\0\0"
    assert struct.unpack_from("<H", pe, lfanew + 6)[0] == 0  # no sections: no code at all
    assert len(pe) < 512 and gen.elf_stub()[:4] == b"\x7fELF" and len(gen.elf_stub()) == 64
    for data in _tree(SAMPLES).values():
        assert b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE" not in data.upper()


# -- the project's readers see every name --------------------------------------------------


def _project_messages(root: Path) -> list[Message]:
    items = list(iter_messages([root]))
    messages = [i for i in items if isinstance(i, Message)]
    assert len(messages) == len(items), [i for i in items if isinstance(i, Unreadable)]
    return messages


@pytest.mark.parametrize("form", ["maildir", "mbox"])
def test_project_readers_decode_every_name(form: str) -> None:
    messages = _project_messages(SAMPLES / form)
    assert sorted(_key(m.message_id) for m in messages) == sorted(BY_KEY)
    for m in messages:
        sample = BY_KEY[_key(m.message_id)]
        assert m.label == sample.label, m.location
        assert m.sender == sample.sender and sample.rcpt in m.recipients, m.location
        # only the ambiguous-MIME samples carry defects, and they say so as a trick
        assert not m.defects or "ambiguous-mime" in m.tricks, (sample.key, m.defects)
        names = {n for a in m.attachments for n in a.names}
        assert names == set(sample.names), sample.key
        tricks = {t for a in m.attachments for t in a.tricks}
        if sample.label == "benign":
            assert not tricks, (sample.key, tricks)
        assert set(sample.tricks) <= tricks, (sample.key, tricks)


def test_project_readers_see_archive_facts() -> None:
    messages = {_key(m.message_id): m for m in _project_messages(SAMPLES / "maildir")}
    for key, m in messages.items():
        members = {n for a in m.attachments for sub in a.walk()[1:] for n in sub.names}
        for expected in BY_KEY[key].members:
            assert expected in members or expected.rsplit("/", 1)[-1] in members, (key, members)
    assert any(a.encrypted for a in messages["malicious-24"].attachments)
    assert any(a.exceeds_limits for a in messages["malicious-25"].attachments)
    # HR's password-protected zip (benign-106) is benign and encrypted: kept aside on purpose
    assert [
        k
        for k, m in messages.items()
        if k.startswith("benign")
        for a in m.attachments
        if a.exceeds_limits or a.encrypted
    ] == ["benign-106"], "no other benign archive trips a limit"
