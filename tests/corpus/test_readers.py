"""Corpus readers: every format, sniffed; every input accounted for; nothing written."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailpolicy.corpus import readers
from mailpolicy.corpus.readers import RawMessage, Unreadable, iter_mbox, iter_raw, not_mail_reason


def msg(n: int, body: str = "hello", nl: str = "\n") -> bytes:
    lines = [
        f"From: a{n}@example.org",
        "To: b@example.org",
        f"Subject: message {n}",
        f"Message-ID: <m{n}@example.org>",
        "",
        body,
        "",
    ]
    return nl.join(lines).encode()


def mbox(*messages: bytes, nl: str = "\n") -> bytes:
    out = b""
    for i, m in enumerate(messages):
        out += f"From sender{i}@example.org Sun Jul 15 10:00:0{i % 10} 2001{nl}".encode()
        out += m + nl.encode()  # blank separator line after each message
    return out


def items(*paths: str | Path) -> list[RawMessage | Unreadable]:
    return list(iter_raw(paths))


def raw_only(result: list[RawMessage | Unreadable]) -> list[RawMessage]:
    assert all(isinstance(r, RawMessage) for r in result), result
    return [r for r in result if isinstance(r, RawMessage)]


# -- single files ------------------------------------------------------------------------


def test_single_message_file(tmp_path: Path) -> None:
    p = tmp_path / "one.eml"
    p.write_bytes(msg(1))
    (r,) = raw_only(items(p))
    assert r == RawMessage(str(p), None, msg(1), None, str(p))


def test_headers_after_leading_whitespace_line_are_mail(tmp_path: Path) -> None:
    p = tmp_path / "m0011"
    p.write_bytes(b"      \n" + msg(1))  # seen in php-mime-mail-parser's corpus
    assert raw_only(items(p))[0].data == b"      \n" + msg(1)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"version": 1, "files": []}\n', "JSON"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG"),
        (b"MZ\x90\x00" + bytes(200), "Windows executable"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "Outlook"),
        (b"", "empty file"),
        (b"name: x\nversion: 2\n", "none that mail carries"),
        (b"Subject: x\x00\x01\n\nbody", "NUL"),
        (b"path,label\nx.eml,benign\n", "not a header field"),
    ],
)
def test_non_mail_files_are_unreadable_with_a_reason(
    tmp_path: Path, content: bytes, why: str
) -> None:
    p = tmp_path / "manifest.json"
    p.write_bytes(content)
    (r,) = items(p)
    assert isinstance(r, Unreadable) and r.path == str(p) and r.key is None
    assert why in r.reason


def test_missing_path_is_unreadable(tmp_path: Path) -> None:
    (r,) = items(tmp_path / "nope")
    assert isinstance(r, Unreadable) and r.reason == "no such file or directory"


def test_fifo_is_not_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (r,) = items(fifo)  # opening it would block forever
    assert isinstance(r, Unreadable) and "FIFO" in r.reason


def test_tar_file_is_reported(tmp_path: Path) -> None:
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w:gz") as t:
        ti = tarfile.TarInfo("Maildir/cur/1")
        ti.size = len(msg(1))
        t.addfile(ti, io.BytesIO(msg(1)))
    p = tmp_path / "backup.tgz"
    p.write_bytes(b.getvalue())
    (r,) = items(p)
    assert isinstance(r, Unreadable) and "tar archive" in r.reason


def test_too_big_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "MAX_MESSAGE_BYTES", 200)
    (tmp_path / "big.eml").write_bytes(msg(1, "x" * 500))
    (tmp_path / "box").write_bytes(mbox(msg(1), msg(2, "y" * 500), msg(3)))
    got = items(tmp_path / "big.eml", tmp_path / "box")
    assert isinstance(got[0], Unreadable) and "larger than 200" in got[0].reason
    assert [type(r).__name__ for r in got[1:]] == ["RawMessage", "Unreadable", "RawMessage"]


# -- mbox --------------------------------------------------------------------------------


@pytest.mark.parametrize("nl", ["\n", "\r\n"])
def test_mbox_lf_and_crlf(tmp_path: Path, nl: str) -> None:
    box = mbox(msg(1, nl=nl), msg(2, nl=nl), msg(3, nl=nl), nl=nl)
    p = tmp_path / "inbox"
    p.write_bytes(box)
    got = raw_only(items(p))
    assert [r.data for r in got] == [msg(1, nl=nl), msg(2, nl=nl), msg(3, nl=nl)]
    assert [r.key for r in got] == [str(box.index(f"From sender{i}".encode())) for i in range(3)]
    assert {r.path for r in got} == {str(p)}


def test_mboxrd_unquoting() -> None:
    body = "From here\n>From there\n>>From afar\nnot From\n"
    quoted = (
        b"From x Sun Jul 15 10:00:00 2001\n"
        + msg(1, body).replace(b">From", b">>From").replace(b"\nFrom here", b"\n>From here")
        + b"\n"
    )
    ((offset, data),) = iter_mbox(io.BytesIO(quoted))
    assert offset == 0 and data == msg(1, body)
    ((_, data),) = iter_mbox(io.BytesIO(quoted), variant="mboxo")
    assert b"\nFrom here\n>>From there\n>>>From afar\n" in data  # mboxo unquotes one level only
    with pytest.raises(ValueError):
        list(iter_mbox(io.BytesIO(quoted), variant="mboxcl2"))


def test_unquoted_from_in_a_paragraph_is_not_a_separator() -> None:
    body = "I said\nFrom now on we meet at noon.\n"
    box = mbox(msg(1, body), msg(2))
    assert [d for _, d in iter_mbox(io.BytesIO(box))] == [msg(1, body), msg(2)]


def test_envelope_line_without_blank_line_still_separates() -> None:
    box = (
        b"From a@b Sun Jul 15 10:00:00 2001\n"
        + msg(1)
        + b"From c@d Mon Jul 16 11:00:00 2001\n"
        + msg(2)
    )
    assert [d for _, d in iter_mbox(io.BytesIO(box))] == [msg(1), msg(2)]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.text(alphabet="From >\nabc\r", max_size=60), min_size=1, max_size=6),
    st.integers(1, 300),
    st.sampled_from(["\n", "\r\n"]),
)
def test_mbox_split_does_not_depend_on_read_size(bodies: list[str], chunk: int, nl: str) -> None:
    box = mbox(*(msg(i, b, nl=nl) for i, b in enumerate(bodies)), nl=nl)
    whole = list(iter_mbox(io.BytesIO(box)))
    old = readers.CHUNK
    readers.CHUNK = chunk
    try:
        assert list(iter_mbox(io.BytesIO(box))) == whole
    finally:
        readers.CHUNK = old
    assert whole[0][0] == 0 and len(whole) >= 1


def test_corrupt_message_in_the_middle_of_an_mbox(tmp_path: Path) -> None:
    garbage = b"\x00\x01\x02 binary \x00 garbage\n\n\x00"
    broken = (
        b"Content-Type: multipart/mixed; boundary=x\n\n"
        b"--x\nContent-Transfer-Encoding: base64\n\n!!!"
    )
    p = tmp_path / "box.mbox"
    p.write_bytes(mbox(msg(1), garbage, broken, b"", msg(4)))
    got = items(p)
    kinds = [type(r).__name__ for r in got]
    assert kinds == ["RawMessage", "Unreadable", "RawMessage", "Unreadable", "RawMessage"]
    assert got[0].data == msg(1) and got[4].data == msg(4)  # type: ignore[union-attr]
    assert "NUL" in got[1].reason and got[1].key is not None  # type: ignore[union-attr]
    assert "empty message" in got[3].reason  # type: ignore[union-attr]


def test_mbox_iter_on_plain_file(tmp_path: Path) -> None:
    p = tmp_path / "box"
    p.write_bytes(mbox(msg(1), msg(2)))
    with open(p, "rb") as f:
        assert [d for _, d in iter_mbox(f)] == [msg(1), msg(2)]


# -- compressed --------------------------------------------------------------------------

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gz": lambda d: gzip.compress(d, mtime=0),
    "bz2": bz2.compress,
    "xz": lzma.compress,
}


@pytest.mark.parametrize("ext", COMPRESSORS)
def test_compressed_mbox_and_message(tmp_path: Path, ext: str) -> None:
    squeeze = COMPRESSORS[ext]
    box = mbox(msg(1), msg(2))
    (tmp_path / f"inbox.{ext}").write_bytes(squeeze(box))
    (tmp_path / f"one.eml.{ext}").write_bytes(squeeze(msg(3)))
    got = raw_only(items(tmp_path / f"inbox.{ext}", tmp_path / f"one.eml.{ext}"))
    assert [(r.key, r.data) for r in got] == [
        ("0", msg(1)),
        (str(box.index(b"From sender1")), msg(2)),
        (None, msg(3)),
    ]


def test_corrupt_compressed_files(tmp_path: Path) -> None:
    box = mbox(*(msg(i, os.urandom(1500).hex()) for i in range(200)))
    data = gzip.compress(box)
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.xz").write_bytes(b"\xfd7zXZ\x00" + b"junk" * 50)
    (tmp_path / "twice.gz").write_bytes(gzip.compress(gzip.compress(msg(1))))
    got = items(tmp_path / "cut.gz", tmp_path / "junk.xz", tmp_path / "twice.gz")
    cut = [r for r in got if r.path.endswith("cut.gz")]
    assert all(isinstance(r, RawMessage) for r in cut[:-1]) and len(cut) > 10
    assert isinstance(cut[-1], Unreadable) and "messages" in cut[-1].reason
    junk, twice = got[-2:]
    assert isinstance(junk, Unreadable) and "xz" in junk.reason
    assert isinstance(twice, Unreadable) and "nested compression" in twice.reason


# -- folders -----------------------------------------------------------------------------


def test_maildir(tmp_path: Path) -> None:
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    (md / "cur" / "200.M2:2,S").write_bytes(msg(2))
    (md / "cur" / "100.M1:2,S").write_bytes(msg(1))
    (md / "new" / "300.M3").write_bytes(msg(3))
    (md / "tmp" / "400.M4").write_bytes(msg(4))  # being delivered: not read
    (md / "dovecot-uidlist").write_bytes(b"3 V1 N4\n")  # control file: not a message
    (md / ".Sent" / "cur").mkdir(parents=True)  # Maildir++ folder
    (md / ".Sent" / "cur" / "500.M5:2,S").write_bytes(msg(5))
    got = raw_only(items(md))
    assert [(r.path, r.key, r.data) for r in got] == [
        (str(md), "100.M1:2,S", msg(1)),
        (str(md), "200.M2:2,S", msg(2)),
        (str(md), "300.M3", msg(3)),
        (str(md / ".Sent"), "500.M5:2,S", msg(5)),
    ]


def test_unreadable_file_in_maildir_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    md = tmp_path / "md"
    (md / "cur").mkdir(parents=True)
    (md / "cur" / "1.a").write_bytes(msg(1))
    (md / "cur" / "2.b").symlink_to(tmp_path / "gone")  # dangling: cannot be opened
    (md / "cur" / "3.c").write_bytes(b"\x89PNG\r\n\x1a\n")
    (md / "cur" / "4.d").mkdir()
    (md / "cur" / "5.e").write_bytes(msg(5))
    got = items(md)
    assert [(type(r).__name__, r.key) for r in got] == [
        ("RawMessage", "1.a"),
        ("Unreadable", "2.b"),
        ("Unreadable", "3.c"),
        ("Unreadable", "4.d"),
        ("RawMessage", "5.e"),
    ]
    assert "cannot open" in got[1].reason  # type: ignore[union-attr]


def test_mh_folder(tmp_path: Path) -> None:
    mh = tmp_path / "inbox"
    mh.mkdir()
    for n in (10, 2, 1):
        (mh / str(n)).write_bytes(msg(n))
    (mh / ".mh_sequences").write_bytes(b"unseen: 2-10\n")
    (mh / ",3").write_bytes(msg(3))  # deleted
    (mh / "sub").mkdir()
    (mh / "sub" / "1").write_bytes(msg(99))
    got = raw_only(items(mh))
    assert [(r.path, r.key) for r in got] == [
        (str(mh), "1"),
        (str(mh), "2"),
        (str(mh), "10"),
        (str(mh / "sub"), "1"),
    ]


def test_tree_of_files(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.eml").write_bytes(msg(2))
    (tmp_path / "a.msg").write_bytes(msg(1))
    (tmp_path / "c.eml.gz").write_bytes(gzip.compress(msg(3)))
    (tmp_path / "d.mbox").write_bytes(mbox(msg(4), msg(5)))
    (tmp_path / "manifest.json").write_bytes(b'{"a": 1}')
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    got = items(tmp_path)
    assert [(Path(r.path).name, r.key, type(r).__name__) for r in got] == [
        ("a.msg", None, "RawMessage"),
        ("x.eml", None, "RawMessage"),
        ("c.eml.gz", None, "RawMessage"),
        ("d.mbox", "0", "RawMessage"),
        ("d.mbox", str(len(mbox(msg(4)))), "RawMessage"),
        ("manifest.json", None, "Unreadable"),
    ]


def test_paths_in_the_order_given_and_symlink_loops(tmp_path: Path) -> None:
    (tmp_path / "z.eml").write_bytes(msg(1))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "m.eml").write_bytes(msg(2))
    (tmp_path / "d" / "loop").symlink_to(tmp_path / "d")
    got = items(tmp_path / "z.eml", tmp_path / "d")
    assert [type(r).__name__ for r in got] == ["RawMessage", "Unreadable", "RawMessage"]
    assert "loop" in got[1].reason  # type: ignore[union-attr]


def _snapshot(root: Path) -> dict[str, tuple[str, int]]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            st_ = p.stat()
            out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), st_.st_mtime_ns)
    return out


def test_corpus_is_unchanged_after_reading(tmp_path: Path) -> None:
    (tmp_path / "md" / "cur").mkdir(parents=True)
    (tmp_path / "md" / "new").mkdir()
    (tmp_path / "md" / "new" / "1.x").write_bytes(msg(1))  # a reader must not move it to cur/
    (tmp_path / "box.mbox").write_bytes(mbox(msg(2), msg(3)))
    (tmp_path / "box.xz").write_bytes(lzma.compress(mbox(msg(4))))
    (tmp_path / "mh").mkdir()
    (tmp_path / "mh" / "1").write_bytes(msg(5))
    (tmp_path / "junk.bin").write_bytes(os.urandom(300))
    before = _snapshot(tmp_path)
    names = sorted(p.name for p in tmp_path.rglob("*"))
    assert len(list(readers.iter_messages([tmp_path]))) == 6
    assert _snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == names


def test_iter_messages_parses(tmp_path: Path) -> None:
    (tmp_path / "box").write_bytes(mbox(msg(1), msg(2)))
    (tmp_path / "x.json").write_bytes(b"{}")
    got = list(readers.iter_messages([tmp_path]))
    assert [getattr(m, "message_id", None) for m in got[:2]] == [
        "<m1@example.org>",
        "<m2@example.org>",
    ]
    assert got[0].key == "0" and isinstance(got[2], Unreadable)  # type: ignore[union-attr]


def test_thirdparty_corpus_every_file_accounted_for(thirdparty: Path) -> None:
    files = sorted(
        str(p)
        for p in thirdparty.rglob("*")
        if p.is_file() and not any(c.startswith(".") for c in p.parts)
    )
    got = items(thirdparty)
    assert {r.path for r in got} == set(files)
    bad = {r.path for r in got if isinstance(r, Unreadable)}
    # only the licence and provenance files are not mail
    assert all(
        Path(p)
        .name.upper()
        .startswith(("LICENSE", "NOTICE", "README", "SOURCES", "MIT-LICENSE", "ARTISTIC"))
        for p in bad
    ), bad
    assert sum(isinstance(r, RawMessage) for r in got) == 180  # SOURCES.md: 180 messages


# -- never raise, always count -----------------------------------------------------------


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=600),
            st.binary(max_size=300).map(lambda b: b"From x Sun Jul 15 10:00:00 2001\n" + b),
            st.binary(max_size=300).map(lambda b: b"Subject: x\n" + b),
            st.binary(max_size=300).map(lambda b: gzip.compress(b)[: len(b) // 2 + 12]),
            st.binary(max_size=300).map(lambda b: b"\xfd7zXZ\x00" + b),
            st.binary(max_size=300).map(lambda b: b"BZh9" + b),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_random_files_never_raise_and_are_all_counted(tmp_path: Path, blobs: list[bytes]) -> None:
    root = tmp_path / f"r{abs(hash(tuple(blobs)))}"
    root.mkdir()
    for i, b in enumerate(blobs):
        (root / f"f{i}.eml").write_bytes(b)
    got = items(root)
    assert {r.path for r in got} == {str(root / f"f{i}.eml") for i in range(len(blobs))}


@pytest.mark.parametrize("head", [msg(1), b"Received: from x\n\tby y\nX-Spam: no\n\nbody"])
def test_sniff_accepts_mail(head: bytes) -> None:
    assert not_mail_reason(head) is None


def test_mbox_streams_in_bounded_memory(tmp_path: Path) -> None:
    import tracemalloc

    p = tmp_path / "big.mbox"
    with open(p, "wb") as f:
        for i in range(600):
            f.write(mbox(msg(i, os.urandom(25_000).hex())))  # ~30 MB, 50 KB messages
    tracemalloc.start()
    try:
        count = sum(isinstance(r, RawMessage) for r in iter_raw([p]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 600
    assert peak < 6 * readers.CHUNK  # a few read buffers, never the file


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_mutated_real_messages_are_counted(
    tmp_path: Path, thirdparty: Path, data: st.DataObject
) -> None:
    files = sorted(p for p in (thirdparty / "mikel-mail").rglob("*.eml"))
    original = data.draw(st.sampled_from(files)).read_bytes()
    buf = bytearray(original)
    for _ in range(data.draw(st.integers(1, 20))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(buf)))
    p = tmp_path / "mutant.eml"
    p.write_bytes(bytes(buf[:cut]))
    got = items(p)
    assert got and {r.path for r in got} == {str(p)}
