"""True type detection (libmagic) and the type-mismatch rule."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import zipfile

import pytest

from mailpolicy.corpus.types import classify, detect, mismatch


def _pe() -> bytes:
    pe = bytearray(512)
    pe[0:2] = b"MZ"
    struct.pack_into("<I", pe, 0x3C, 0x80)
    pe[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<HH", pe, 0x84, 0x14C, 1)
    struct.pack_into("<HHH", pe, 0x94, 0xE0, 0x0102, 0x10B)
    return bytes(pe)


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", "hello")
    return buf.getvalue()


def _tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("a.txt")
        info.size = 5
        t.addfile(info, io.BytesIO(b"hello"))
    return buf.getvalue()


SAMPLES = {
    "pe": (_pe(), "executable"),
    "mz": (
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(100),
        "executable",
    ),
    "elf": (
        b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHI", 2, 62, 1) + bytes(100),
        "executable",
    ),
    "macho": (
        b"\xcf\xfa\xed\xfe\x07\x00\x00\x01\x03\x00\x00\x00\x02\x00\x00\x00" + bytes(100),
        "executable",
    ),
    "lnk": (
        b"L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00F" + bytes(60),
        "executable",
    ),
    "shebang": (b"#!/bin/sh\necho hi\n", "script"),
    "python": (b"#!/usr/bin/env python3\nprint(1)\n", "script"),
    "batch": (b"@echo off\r\ndel /q c:\\*.*\r\n", "script"),
    "zip": (_zip(), "archive"),
    "tar": (_tar(), "archive"),
    "gz": (gzip.compress(b"hello"), "archive"),
    "bz2": (bz2.compress(b"hello"), "archive"),
    "xz": (lzma.compress(b"hello"), "archive"),
    "7z": (b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(40), "archive"),
    "rar": (b"Rar!\x1a\x07\x00" + bytes(40), "archive"),
    "pdf": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "document"),
    "ole": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "document"),
    "rtf": (b"{\\rtf1\\ansi hello}", "document"),
    "png": (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00",
        "image",
    ),
    "jpeg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00", "image"),
    "gif": (b"GIF89a\x01\x00\x01\x00\x80\x00\x00", "image"),
    "text": (b"Hello, this is a plain text file.\nSecond line.\n", "text"),
    "csv": (b"a,b,c\n1,2,3\n4,5,6\n", "text"),
    "shift_jis": ("こんにちは世界\n".encode("cp932"), "text"),
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_detect_classes(kind: str) -> None:
    head, cls = SAMPLES[kind]
    assert detect(head)[1] == cls


def test_limits_documented_scripts_without_shebang_look_like_text() -> None:
    # JScript and VBScript carry no magic; a policy must use extensions for them.
    assert detect(b"var s = new ActiveXObject('WScript.Shell');\n")[1] == "text"


def test_empty_and_classify() -> None:
    assert detect(b"") == ("application/x-empty", "other")
    assert (
        classify("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        == "document"
    )
    assert classify("text/x-script.python") == "script"
    assert classify("application/x-whatever") == "other"


@pytest.mark.parametrize(
    ("ext", "kind", "expected"),
    [
        ("jpg", "pe", True),  # photo.jpg that is a PE
        ("txt", "elf", True),  # readme.txt that is an ELF
        ("pdf", "pe", True),
        ("exe", "pe", False),
        ("scr", "pe", False),
        ("lnk", "lnk", False),
        ("docx", "zip", False),  # OOXML is a zip container
        ("xlsx", "zip", False),
        ("zip", "zip", False),
        ("gz", "gz", False),
        ("txt", "text", False),
        ("csv", "csv", False),
        ("txt", "shift_jis", False),
        ("jpg", "jpeg", False),
        ("jpg", "png", False),  # a PNG saved as .jpg is harmless
        ("doc", "rtf", False),  # Word saves RTF as .doc
        ("doc", "ole", False),
        ("pdf", "zip", True),
        ("jpg", "batch", True),
        ("sh", "shebang", False),
        ("txt", "shebang", False),  # a script shown as text runs nowhere
        (None, "pe", False),  # no extension claims nothing
        ("dat", "pe", True),
    ],
)
def test_mismatch(ext: str | None, kind: str, expected: bool) -> None:
    mime, cls = detect(SAMPLES[kind][0])
    assert mismatch(ext, mime, cls) is expected


# -- classes an administrator expects ------------------------------------------------------


@pytest.mark.parametrize(
    ("mime", "cls"),
    [
        ("application/x-iso9660-image", "disk-image"),
        ("application/x-vhd", "disk-image"),
        ("application/x-apple-diskimage", "disk-image"),
        ("application/vnd.ms-cab-compressed", "archive"),  # not document (vnd.ms- prefix)
        ("application/x-ace-compressed", "archive"),
        ("application/x-arj", "archive"),
        ("application/x-lzh-compressed", "archive"),
        ("application/vnd.ms-htmlhelp", "executable"),  # CHM
        ("application/x-msi", "executable"),
        ("application/x-ms-shortcut", "executable"),
        ("application/hta", "script"),
        ("font/otf", "other"),
        ("font/sfnt", "other"),
        ("application/epub+zip", "document"),
        ("application/onenote", "document"),
        ("application/xhtml+xml", "text"),
        ("application/pkcs7-signature", "other"),
        ("application/pgp-signature", "other"),
    ],
)
def test_classes(mime: str, cls: str) -> None:
    assert classify(mime) == cls


def test_iso_needs_the_descriptor_at_32_kib() -> None:
    iso = bytes(32769) + b"CD001\x01" + bytes(4000)
    assert detect(iso) == ("application/x-iso9660-image", "disk-image")
    assert detect(iso[:8192])[1] != "disk-image"  # what the first 8 KiB alone said


def test_fixed_vhd_by_its_footer() -> None:
    assert detect(bytes(2048) + b"conectix" + bytes(504))[0] == "application/x-vhd"


def test_renamed_opentype_font_is_not_a_document() -> None:
    otf = b"OTTO\x00\x0b\x00\x80\x00\x03\x00\x30CFF " + bytes(200)
    assert detect(otf) == ("font/otf", "other")


def test_windows_scripts_by_content_or_by_extension() -> None:
    js = b"var s = new ActiveXObject('WScript.Shell');\n"
    assert detect(js)[1] == "text" and detect(js, "js")[1] == "script"
    assert detect(b"#@~^AAAAAA==x", None)[1] == "script"  # encoded VBScript says so itself
    wsf = b'<job id="a"><script language="JScript">WScript.Echo(1)</script></job>'
    assert detect(wsf)[1] == "script"
    assert detect(b"[InternetShortcut]\r\nURL=file://x\r\n", "url")[1] == "executable"


def test_source_files_in_an_archive_are_text_not_script() -> None:
    py = b"#!/usr/bin/env python3\nprint(1)\n"
    assert detect(py)[1] == "script"  # a top-level script attachment stays a script
    assert detect(py, "py", in_archive=True)[1] == "text"
    assert detect(b"@echo off\r\necho hi\r\n", "bat", in_archive=True)[1] == "script"
