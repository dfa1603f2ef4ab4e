"""Archive listings: formats, nesting, encryption, and the limits that stop a bomb.

The bombs are built at test time from repeated deflate blocks (a 1 MiB run of zeros
compresses to the same 1037 bytes after every full flush), so a 10 GiB member costs about
10 MB of test data and no compression time. Checksums in these hand-built files are wrong
on purpose: the reader stops long before it could check them. Memory is measured with
``tracemalloc`` (peak Python allocations, zlib's buffers included); there are no timed
assertions, these are correctness tests of the stop.
"""

from __future__ import annotations

import bz2
import email
import gzip
import io
import lzma
import struct
import tarfile
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from email import policy as email_policy
from pathlib import Path

import py7zr
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailpolicy.corpus.archives import LIMITS, Limits, listing, sniff
from mailpolicy.corpus.message import ArchiveListing, Attachment

MiB = 1 << 20
GiB = 1 << 30


def att(data: bytes, name: str = "a.zip") -> Attachment:
    return Attachment(names=(name,), data=data, part="2")


def names(a: Attachment) -> list[str]:
    return [m.part for m in a.walk()[1:]]


# -- builders ----------------------------------------------------------------------------


def zero_deflate(total: int, wbits: int = -15, prefix: bytes = b"") -> bytes:
    """A raw deflate (or gzip, wbits=31) stream of ``prefix`` + ``total`` zero bytes
    (``total`` a multiple of 1 MiB), built by repeating one flushed block."""
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH) if prefix else b""
    first = c.compress(bytes(MiB)) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(bytes(MiB)) + c.flush(zlib.Z_FULL_FLUSH)
    assert first == block or not head  # after a full flush every block is the same bytes
    return b"".join([head, first, block * (total // MiB - 1), c.flush()])


def build_zip(entries: list[tuple[str, int, bytes, int, int]]) -> bytes:
    """A zip from (name, method, compressed bytes, uncompressed size, flags); zip64 extras
    where sizes need them; CRCs are zero."""
    out = bytearray()
    cd = bytearray()
    for name, method, comp, usize, flags in entries:
        nb = name.encode("utf-8")
        z64 = usize >= 0xFFFFFFFF or len(comp) >= 0xFFFFFFFF
        extra = struct.pack("<HHQQ", 1, 16, usize, len(comp)) if z64 else b""
        csz = 0xFFFFFFFF if z64 else len(comp)
        usz = 0xFFFFFFFF if z64 else usize
        offset = len(out)
        out += (
            struct.pack(
                "<4s5H3L2H",
                b"PK\x03\x04",
                45,
                flags,
                method,
                0,
                0,
                0,
                csz,
                usz,
                len(nb),
                len(extra),
            )
            + nb
            + extra
            + comp
        )
        cd += (
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                45,
                45,
                flags,
                method,
                0,
                0,
                0,
                csz,
                usz,
                len(nb),
                len(extra),
                0,
                0,
                0,
                0,
                offset,
            )
            + nb
            + extra
        )
    n = len(entries)
    cd_offset = len(out)
    out += cd
    out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(cd), cd_offset, 0)
    return bytes(out)


def make_zip(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED, level: int = 6) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method, compresslevel=level) as z:
        for n, d in files.items():
            z.writestr(n, d)
    return b.getvalue()


def measured(fn: Callable[[], ArchiveListing]) -> tuple[ArchiveListing, int]:
    tracemalloc.start()
    try:
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak


# -- formats -----------------------------------------------------------------------------


def test_not_an_archive() -> None:
    result = listing(att(b"%PDF-1.4 hello", "x.zip"))  # the name says zip, the bytes do not
    assert result == ArchiveListing(is_archive=False)


def test_zip_members_nested_and_lazy() -> None:
    inner = make_zip({"deep/run.scr": b"MZ" + bytes(200)})
    data = make_zip({"a.txt": b"hello " * 10000, "inner.zip": inner, "dir/": b""})
    a = att(data)
    assert a.encrypted is False and a.exceeds_limits is False
    assert names(a) == ["2/a.txt", "2/inner.zip", "2/inner.zip/deep/run.scr"]
    txt, sub = a.members
    assert txt.in_archive and txt.size == 60000 and txt.extension == "txt"
    assert not txt.loaded  # leaves bigger than the head are read only on demand
    assert txt.data == b"hello " * 10000
    assert sub.members[0].extension == "scr" and sub.members[0].data.startswith(b"MZ")
    assert a._listing.is_archive and a.archive_problems == ()


def test_zip_detected_by_content_not_name() -> None:
    data = make_zip({"evil.exe": b"MZ"})
    assert [m.name for m in att(data, "photo.jpg").members] == ["evil.exe"]


def test_encrypted_member_flag_and_propagation() -> None:
    secret = build_zip(
        [("secret.exe", 0, b"\x00" * 12 + b"MZ", 2, 1), ("plain.txt", 0, b"hi", 2, 0)]
    )
    a = att(secret)
    assert a.encrypted and not a.exceeds_limits
    assert [m.name for m in a.members] == ["secret.exe", "plain.txt"]
    assert a.members[0].data == b""  # the content of an encrypted member is unknown
    outer = att(make_zip({"docs/inner.zip": secret, "readme.txt": b"x"}))
    assert outer.encrypted and outer.members[0].encrypted and not outer.members[1].encrypted


def test_tar_gz_with_exe() -> None:
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w:gz") as t:
        for n, d in [("readme.txt", b"hi"), ("bin/setup.exe", b"MZ" + bytes(20_000))]:
            ti = tarfile.TarInfo(n)
            ti.size = len(d)
            t.addfile(ti, io.BytesIO(d))
        ti = tarfile.TarInfo("bin")
        ti.type = tarfile.DIRTYPE
        t.addfile(ti)
    a = att(b.getvalue(), "test.tar.gz")
    assert [m.name for m in a.members] == ["readme.txt", "bin/setup.exe"]
    exe = a.members[1]
    assert exe.extension == "exe" and exe.size == 20_002
    assert exe.data == b"MZ" + bytes(20_000)  # read again lazily from the compressed stream
    assert not a.exceeds_limits and a.archive_problems == ()


@pytest.mark.parametrize("mode", ["w", "w:bz2", "w:xz"])
def test_tar_variants(mode: str) -> None:
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode=mode) as t:
        inner = make_zip({"x.pif": b"MZ"})
        ti = tarfile.TarInfo("pack/inner.zip")
        ti.size = len(inner)
        t.addfile(ti, io.BytesIO(inner))
    assert names(att(b.getvalue(), "a.tar")) == ["2/pack/inner.zip", "2/pack/inner.zip/x.pif"]


def test_single_gzip_named_by_fname() -> None:
    b = io.BytesIO()
    with gzip.GzipFile(filename="invoice.pdf.exe", mode="wb", fileobj=b, mtime=0) as g:
        g.write(b"MZ" + bytes(50_000))
    a = att(b.getvalue(), "invoice.gz")
    (m,) = a.members
    assert m.name == "invoice.pdf.exe" and m.size == 50_002 and m.part == "2/invoice.pdf.exe"
    assert m.data[:2] == b"MZ" and len(m.data) == 50_002


@pytest.mark.parametrize(
    ("compress", "name", "want"),
    [
        (bz2.compress, "report.doc.bz2", "report.doc"),
        (lzma.compress, "report.doc.xz", "report.doc"),
        (lambda d: gzip.compress(d, mtime=0), "report.doc.gz", "report.doc"),  # no FNAME
    ],
)
def test_single_compressed_named_by_attachment(
    compress: Callable[[bytes], bytes], name: str, want: str
) -> None:
    a = att(compress(b"some text"), name)
    assert [m.name for m in a.members] == [want]
    assert a.members[0].data == b"some text"


def test_gzip_holding_a_zip() -> None:
    a = att(gzip.compress(make_zip({"run.bat": b"@echo off"})), "files.zip.gz")
    assert names(a) == ["2/files.zip", "2/files.zip/run.bat"]


def test_concatenated_gzip_members_are_all_read() -> None:
    data = gzip.compress(b"first ") + gzip.compress(b"second")
    assert att(data, "x.txt.gz").members[0].data == b"first second"


def test_7z_listing_and_nesting() -> None:
    b = io.BytesIO()
    with py7zr.SevenZipFile(b, "w") as z:
        z.writestr(b"MZ" + bytes(100), "tools/run.exe")
        z.writestr(make_zip({"inner.js": b"alert(1)"}), "more.zip")
    a = att(b.getvalue(), "x.7z")
    assert names(a) == ["2/tools/run.exe", "2/more.zip", "2/more.zip/inner.js"]
    assert a.members[0].data == b"MZ" + bytes(100)
    assert not a.encrypted and not a.exceeds_limits


def test_7z_encrypted() -> None:
    b = io.BytesIO()
    with py7zr.SevenZipFile(b, "w", password="secret") as z:
        z.writestr(b"MZ", "s.exe")
    a = att(b.getvalue(), "x.7z")
    assert a.encrypted and [m.name for m in a.members] == ["s.exe"]
    b = io.BytesIO()
    with py7zr.SevenZipFile(b, "w", password="secret", header_encryption=True) as z:
        z.writestr(b"MZ", "s.exe")
    a = att(b.getvalue(), "x.7z")
    assert a.encrypted and a.members == () and "7z: file names are encrypted" in a.archive_problems


def _attachment_of(path: Path, filename: str) -> bytes:
    msg = email.message_from_bytes(path.read_bytes(), policy=email_policy.default)
    for part in msg.walk():
        if part.get_filename() == filename:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload
    raise AssertionError(f"{filename} not in {path}")


def test_rar_from_thirdparty_corpus(thirdparty: Path) -> None:
    # rspamd's rar4.eml: a RAR 4 archive holding one stored member, fake.exe
    data = _attachment_of(thirdparty / "rspamd/messages/rar4.eml", "f.rar")
    assert sniff(data) == "rar"
    a = att(data, "f.rar")
    assert [m.name for m in a.members] == ["fake.exe"]
    assert a.members[0].size == 1 and a.members[0].data == b"\n"  # stored: read without unrar


def test_rar_named_gz_from_thirdparty_corpus(thirdparty: Path) -> None:
    path = thirdparty / "rspamd/messages/rar-date-bad-ext.eml"
    data = _attachment_of(path, "06.12.2017.gz")
    a = att(data, "06.12.2017.gz")
    assert sniff(data) == "rar"  # by content: the name lies
    assert a.members and all(m.in_archive for m in a.members)


def test_office_document_is_not_an_archive_but_parts_are_visible() -> None:
    parts = {
        "[Content_Types].xml": b"<Types/>",
        "_rels/.rels": b"<Relationships/>",
        "word/document.xml": b"<w:document/>",
        "word/media/image1.png": b"\x89PNG",
    }
    normal = att(make_zip(parts), "letter.docx")
    assert normal._listing.is_archive is False
    assert not any(m.extension == "exe" for m in normal.walk()[1:])
    smuggler = att(make_zip({**parts, "word/embeddings/payload.exe": b"MZ"}), "letter.docx")
    assert smuggler._listing.is_archive is False
    assert [m.name for m in smuggler.members if m.extension == "exe"] == [
        "word/embeddings/payload.exe"
    ]
    odf = att(
        make_zip(
            {"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<x/>"},
            zipfile.ZIP_STORED,
        ),
        "a.odt",
    )
    assert odf._listing.is_archive is False and len(odf.members) == 2


# -- damage ------------------------------------------------------------------------------


def test_truncated_zip_is_read_from_its_local_headers() -> None:
    data = make_zip({"a.txt": b"x" * 1000, "b.exe": b"MZ"})
    a = att(data[: len(data) // 2])
    assert [m.name for m in a.members] == ["a.txt", "b.exe"]
    assert a.members[1].data == b"MZ"
    assert "directory-mismatch" in a.container_tricks
    assert any("central directory missing" in r for r in a.unscannable)


def test_damaged_member_keeps_the_rest() -> None:
    good = zlib.compressobj(6, zlib.DEFLATED, -15)
    ok = good.compress(b"fine") + good.flush()
    data = build_zip(
        [("bad.txt", 8, b"\xff\xff\xff\xff garbage", 50, 0), ("good.exe", 8, ok, 4, 0)]
    )
    a = att(data)
    assert [m.name for m in a.members] == ["bad.txt", "good.exe"]
    assert a.members[1].data == b"fine"
    assert any("bad.txt" in p for p in a.archive_problems)
    assert a.members[0].data == b""  # the loader swallows the damage


def test_unsupported_method_listed() -> None:
    a = att(build_zip([("photo.jpg", 98, b"\x00" * 10, 100, 0)]))  # PPMd
    assert [m.name for m in a.members] == ["photo.jpg"]
    assert a.archive_problems == ("member photo.jpg: compression method 98 not supported",)
    assert a.members[0].unscannable == ("compression method 98 (PPMd) not supported",)


def test_deflate64_member_is_read() -> None:
    import inflate64

    d = inflate64.Deflater()
    payload = b"MZ" + bytes(200)
    packed = d.deflate(payload) + d.flush()
    a = att(build_zip([("photo.jpg", 9, packed, len(payload), 0)]))
    assert a.members[0].data == payload and not a.members[0].unscannable


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=2000),
    st.sampled_from(
        [
            b"",
            b"PK\x03\x04",
            b"\x1f\x8b\x08",
            b"BZh91AY&SY",
            b"\xfd7zXZ\x00",
            b"7z\xbc\xaf\x27\x1c",
            b"Rar!\x1a\x07\x00",
        ]
    ),
)
def test_random_bytes_never_raise(data: bytes, magic: bytes) -> None:
    result = listing(att(magic + data))
    assert isinstance(result, ArchiveListing)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_archives_never_raise(data: st.DataObject) -> None:
    base = [
        make_zip({"a/b.exe": b"MZ" * 50, "c.txt": b"t" * 300}),
        gzip.compress(make_zip({"x.js": b"1"})),
        _tar_bytes("w:gz"),
    ][data.draw(st.integers(0, 2))]
    buf = bytearray(base)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    result = listing(att(bytes(buf)))
    for m in result.members:
        m.walk()
        assert isinstance(m.data, bytes)


def _tar_bytes(mode: str) -> bytes:
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode=mode) as t:
        ti = tarfile.TarInfo("x.exe")
        ti.size = 2
        t.addfile(ti, io.BytesIO(b"MZ"))
    return b.getvalue()


# -- limits ------------------------------------------------------------------------------


def test_nested_zip_100_levels() -> None:
    data = make_zip({"core.exe": b"MZ"})
    for i in range(100):
        data = make_zip({f"level{i}.zip": data})
    result, peak = measured(lambda: listing(att(data)))
    assert result.exceeds_limits
    assert any(p.startswith(f"depth > {LIMITS.max_depth}") for p in result.problems)
    depth = 0
    node = result.members
    while node:
        depth += 1
        node = node[0].members
    assert depth == LIMITS.max_depth
    assert peak < 100 * MiB


def test_single_member_expanding_to_10_gib() -> None:
    stream = zero_deflate(10 * GiB // MiB * MiB)
    assert len(stream) < 12 * MiB
    data = build_zip([("payload.exe", 8, stream, 10 * GiB, 0)])
    del stream
    result, peak = measured(lambda: listing(att(data)))
    assert result.exceeds_limits
    (member,) = result.members  # the bomb stays visible by name
    assert member.name == "payload.exe" and member.size == 10 * GiB
    assert result.problems[0].startswith("expanded size > 200 MB")
    assert peak < 100 * MiB
    assert len(member.data) <= LIMITS.head_bytes  # its content is never read beyond a head


def test_ratio_bomb_under_the_total_budget() -> None:
    stream = zero_deflate(100 * MiB)
    result = listing(att(build_zip([("zeros.bin", 8, stream, 100 * MiB, 0)])))
    assert result.exceeds_limits
    assert result.problems == (f"ratio {100 * MiB // len(stream)}:1 for member zeros.bin",)


def test_lying_declared_size_is_caught_while_decompressing() -> None:
    # The member claims 2000 bytes at a harmless ratio, starts like a zip (so the listing
    # must read it whole to look inside) and really expands to 10 GiB.
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(b"PK\x03\x04") + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(bytes(MiB)) + c.flush(zlib.Z_FULL_FLUSH)
    stream = head + block * 10240 + c.flush()
    data = build_zip([("inner.zip", 8, stream, 2000, 0)])
    result, peak = measured(lambda: listing(att(data)))
    assert result.exceeds_limits
    assert result.problems == ("member inner.zip larger than its declared 2000 bytes",)
    assert peak < 100 * MiB


def test_gzip_bomb_of_unknown_size() -> None:
    data = zero_deflate(10 * GiB // MiB * MiB, wbits=31)
    result, peak = measured(lambda: listing(att(data, "zeros.gz")))
    assert result.exceeds_limits
    assert result.problems == ("ratio > 100:1 for member zeros",)
    assert peak < 100 * MiB


def test_tar_gz_bomb_stream_ratio() -> None:
    # a declared 150 MiB member (inside the budget) that the tar reader must skip over
    ti = tarfile.TarInfo("big.bin")
    ti.size = 150 * MiB
    data = zero_deflate(150 * MiB, wbits=31, prefix=ti.tobuf(format=tarfile.GNU_FORMAT))
    result, peak = measured(lambda: listing(att(data, "x.tar.gz")))
    assert result.exceeds_limits
    assert [m.name for m in result.members] == ["big.bin"]
    assert result.problems == ("ratio > 100:1 in x.tar.gz stream",)
    assert peak < 100 * MiB


def test_42_zip_like_nesting() -> None:
    # 16 leaves of 256 MiB zeros per leaf zip, then four levels of 16 copies: 256 TiB
    leaf_stream = zero_deflate(256 * MiB)
    data = build_zip([(f"0-{i}.bin", 8, leaf_stream, 256 * MiB, 0) for i in range(16)])
    for level in range(1, 5):
        data = make_zip({f"lib {level}-{i}.zip": data for i in range(16)}, level=1)
    assert len(data) < 1 * MiB
    result, peak = measured(lambda: listing(att(data, "42.zip")))
    assert result.exceeds_limits
    assert len(result.problems) == 1 and result.problems[0].startswith("ratio ")
    assert sum(1 for m in result.members for _ in m.walk()) < 100
    assert peak < 100 * MiB


def test_50000_members() -> None:
    entries = [(f"f{i:05}.txt", 0, b"x", 1, 0) for i in range(50_000)]
    data = build_zip(entries)
    result, peak = measured(lambda: listing(att(data)))
    assert result.exceeds_limits
    assert len(result.members) == LIMITS.max_members
    assert result.problems == (f"members > {LIMITS.max_members}",)
    assert peak < 100 * MiB
    # with room for all of them (memory not traced: tracemalloc is slow on 50,000 objects)
    result = listing(att(data), Limits(max_members=100_000))
    assert not result.exceeds_limits and len(result.members) == 50_000


def test_total_member_count_spans_nesting() -> None:
    inner = make_zip({f"{i}.txt": b"" for i in range(8)})
    data = make_zip({f"{i}.zip": inner for i in range(3)})
    small = Limits(max_members=20)
    result = listing(att(data), small)
    assert result.exceeds_limits and result.problems == ("members > 20",)
    assert sum(len(m.walk()) for m in result.members) == 20


def test_limits_are_a_frozen_dataclass() -> None:
    with pytest.raises(AttributeError):
        LIMITS.max_depth = 3  # type: ignore[misc]


def test_a_compressed_rar_member_makes_the_archive_unscannable(thirdparty: Path) -> None:
    """rarfile lists compressed members but cannot read them without unrar (never run):
    a renamed program there could not be typed, so the archive fails closed."""
    data = bytearray(_attachment_of(thirdparty / "rspamd/messages/rar4.eml", "f.rar"))
    pos = 7  # after the marker block: walk the headers to the first file header (0x74)
    while True:
        _crc, kind, flags, size = struct.unpack_from("<HBHH", data, pos)
        if kind == 0x74:
            break
        pos += size + (struct.unpack_from("<I", data, pos + 7)[0] if flags & 0x8000 else 0)
    assert data[pos + 25] == 0x30  # stored, as rspamd wrote it
    data[pos + 25] = 0x33  # "normal" compression; the header CRC follows
    struct.pack_into("<H", data, pos, zlib.crc32(bytes(data[pos + 2 : pos + size])) & 0xFFFF)
    a = att(bytes(data), "f.rar")
    assert [m.name for m in a.members] == ["fake.exe"]
    assert a.unscannable and "unrar" in a.unscannable[0]
