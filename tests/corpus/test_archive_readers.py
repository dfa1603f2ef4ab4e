"""The reader table: every format has a reader that lists a real archive, under one budget.

Archives come from the sample corpus where it has them (zip, .tar.gz, .tar.bz2), from the
third-party corpus for rar (no free tool writes rar), and otherwise are made by the real
tools from sample content (the tar inside the sample .tar.gz, xz by ``lzma``, 7z by py7zr).
"""

from __future__ import annotations

import ast
import functools
import gzip
import importlib
import io
import lzma
import pkgutil
import tarfile
import zipfile
from pathlib import Path

import containers  # tests/corpus/containers.py: MSI and ACE builders
import py7zr
import pytest

from mailpolicy.corpus import archives
from mailpolicy.corpus.archives import LIMITS, READERS, Level, Limits, listing, sniff
from mailpolicy.corpus.archives.formats import SNIFF_BYTES
from mailpolicy.corpus.archives.limits import Budget
from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.corpus.readers import iter_messages

SAMPLES = Path(__file__).resolve().parents[2] / "corpus" / "samples"


gen = containers.generator()
# the generator puts its folder on sys.path: its active-content builders come with it
content_files = importlib.import_module("content_files")


def _sample_attachment(name: str) -> bytes:
    for msg in iter_messages([SAMPLES / "maildir"]):
        if isinstance(msg, Message):
            for att in msg.attachments:
                if att.name == name:
                    return att.data
    raise AssertionError(f"{name} not in the sample corpus")


def _thirdparty_attachment(path: Path, name: str) -> bytes:
    msg = next(m for m in iter_messages([path]) if isinstance(m, Message))
    return next(a.data for a in msg.attachments if a.name == name)


def _seven_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(data, name)
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


#: format -> (archive bytes, attachment name, the members it must list)
Samples = dict[str, tuple[bytes, str, list[str]]]


@pytest.fixture
def samples(thirdparty: Path) -> Samples:
    return _samples(thirdparty)


@functools.cache
def _samples(thirdparty: Path) -> Samples:
    tar_gz = _sample_attachment("test.tar.gz")
    tar = gzip.decompress(tar_gz)
    return {
        "zip": (_sample_attachment("logs.zip"), "logs.zip", ["access.log.1", "test.2001.01.01"]),
        "gzip": (tar_gz, "test.tar.gz", ["test/notes.txt"]),
        "bzip2": (
            _sample_attachment("backup.tar.bz2"),
            "backup.tar.bz2",
            ["backup/addresses.txt", "backup/notes.txt"],
        ),
        "xz": (lzma.compress(tar), "test.tar.xz", ["test/notes.txt"]),
        "7z": (
            _seven_zip({"notes.txt": b"minutes\n", "tools/run.exe": b"MZ" + bytes(64)}),
            "x.7z",
            ["notes.txt", "tools/run.exe"],
        ),
        "rar": (
            _thirdparty_attachment(thirdparty / "rspamd/messages/rar4.eml", "f.rar"),
            "f.rar",
            ["fake.exe"],
        ),
        "tar": (tar, "test.tar", ["test/notes.txt"]),
        "cab": (
            gen.cab_of([("readme.txt", b"read me\r\n"), ("bin/run.exe", gen.pe_stub())]),
            "x.cab",
            ["readme.txt", "bin/run.exe"],
        ),
        "ace": (
            containers.ace_of([("readme.txt", b"hello"), ("bin/run.exe", gen.pe_stub())]),
            "x.ace",
            ["readme.txt", "bin/run.exe"],
        ),
        "msi": (
            containers.msi(gen.cab_of([("f0", gen.pe_stub())]), ["setup.exe"]),
            "x.msi",
            ["Data1.cab", "!_StringData", "!_StringPool", "!File", "File/setup.exe"],
        ),
        "onenote": (gen.onenote([("open.hta", gen.HTA)]), "x.one", ["open.hta"]),
        "iso": (
            gen.iso_of([("report.pdf", gen.pdf("x")), ("run.exe", gen.pe_stub())]),
            "x.iso",
            ["run.exe", "report.pdf"],  # directory order
        ),
        "disk-image": (
            gen.vhd_fixed(gen.fat12([("Long name.pdf.lnk", gen.lnk_stub()), ("bin/a.exe", b"MZ")])),
            "x.vhd",
            ["Long name.pdf.lnk", "bin/a.exe"],
        ),
        # HTML smuggling: the file a page would assemble in the browser is its member
        "html": (
            content_files.smuggling_html(_zip({"setup.exe": gen.pe_stub()})),
            "invoice.html",
            ["invoice.zip"],  # its own members are the zip reader's (listing() nests them)
        ),
    }


def test_every_format_in_the_table_has_a_sample(samples: Samples) -> None:
    assert sorted(samples) == sorted(READERS)


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_reader_recognises_and_lists_a_real_archive(samples: Samples, fmt: str) -> None:
    data, name, want = samples[fmt]
    reader = READERS[fmt]
    head = data[:SNIFF_BYTES]
    assert reader.recognises(head) and sniff(head) == fmt
    level = Level(Budget(LIMITS), name, "2", 1)
    files = [i.name for i in reader.items(data, level) if i.is_file]
    assert files == want and not level.problems
    found = listing(Attachment(names=(name,), data=data, part="2"))
    # a page is a document with members (like an Office file), not an archive
    assert [m.name for m in found.members] == want and found.is_archive == (fmt != "html")
    assert [m.part for m in found.members] == [f"2/{n}" for n in want]
    assert not found.problems and not found.exceeds_limits and not found.encrypted


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_every_reader_counts_against_the_shared_budget(samples: Samples, fmt: str) -> None:
    data, name, _ = samples[fmt]
    found = listing(Attachment(names=(name,), data=data, part="2"), Limits(max_members=0))
    assert found.exceeds_limits and found.members == () and found.problems == ("members > 0",)


def test_single_compressed_file_is_one_member() -> None:
    data = _sample_attachment("data.csv.gz")
    found = listing(Attachment(names=("data.csv.gz",), data=data, part="2"))
    assert [m.name for m in found.members] == ["data.csv"]
    assert found.members[0].size == len(gzip.decompress(data))


@pytest.fixture
def nested(samples: Samples) -> bytes:
    """A .tar.gz holding a zip holding a 7z holding the rar sample: four formats deep."""
    inner = _zip({"b.7z": _seven_zip({"f.rar": samples["rar"][0]})})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("a.zip")
        info.size = len(inner)
        tf.addfile(info, io.BytesIO(inner))
    return buf.getvalue()


def test_nesting_across_formats(nested: bytes) -> None:
    a = Attachment(names=("n.tar.gz",), data=nested, part="2")
    assert [m.part for m in a.walk()[1:]] == [
        "2/a.zip",
        "2/a.zip/b.7z",
        "2/a.zip/b.7z/f.rar",
        "2/a.zip/b.7z/f.rar/fake.exe",
    ]
    assert not a.exceeds_limits and not a.archive_problems


def test_one_depth_limit_across_formats(nested: bytes) -> None:
    found = listing(Attachment(names=("n.tar.gz",), data=nested, part="2"), Limits(max_depth=3))
    assert found.exceeds_limits
    assert found.problems == ("depth > 3 at 2/a.zip/b.7z/f.rar",)


def test_one_member_count_across_formats(nested: bytes) -> None:
    # one entry at each of the four levels: the fourth, in the rar, is one too many
    found = listing(Attachment(names=("n.tar.gz",), data=nested, part="2"), Limits(max_members=3))
    assert found.exceeds_limits and found.problems == ("members > 3",)
    rar = found.members[0].members[0].members[0]
    assert rar.part == "2/a.zip/b.7z/f.rar" and rar.members == ()


def _package_modules() -> list[str]:
    return [m.name for m in pkgutil.iter_modules(archives.__path__)]


@pytest.mark.parametrize("module", ["__init__", *_package_modules()])
def test_every_module_states_its_contract_and_limits(module: str) -> None:
    path = Path(archives.__file__).with_name(f"{module}.py")
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    assert "Contract:" in doc and "Limits of this" in doc, module
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 600, module
