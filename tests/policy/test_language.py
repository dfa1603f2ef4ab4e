"""The examples of the language sketch mean what their comments say, on real MIME.

Each example rule is evaluated over messages built with Python's ``email`` package and read
back by our own parser, so the whole path (MIME -> names -> types -> archives -> verdict)
is what is tested, not a hand-made Message.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from email.message import EmailMessage

import pytest

from mailpolicy.corpus.mime import parse_message
from mailpolicy.policy import loader
from mailpolicy.policy.evaluate import evaluate

PE = b"MZ\x90\x00" + b"\x00" * 56 + b"\x40\x00\x00\x00" + b"PE\x00\x00" + b"\x00" * 200
LISTS = """
list executable = ["exe", "pif", "scr", "bat", "com", "cmd", "lnk", "vbs", "js", "hta", "cpl"]
list trusted    = ["*@partner.example.com", "postmaster@example.ac.jp"]
"""


def mail(
    *files: tuple[str, bytes], sender: str = "mallory@example.net", body: str = "Hi! How are you?"
) -> bytes:
    m = EmailMessage()
    m["Return-Path"] = f"<{sender}>"
    m["From"] = sender
    m["To"] = "bob@example.ac.jp"
    m["Subject"] = "hello"
    m.set_content(body)
    for name, data in files:
        m.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return m.as_bytes()


def zipped(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, data)
    return buf.getvalue()


def targz(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def verdict(rule: str, raw: bytes) -> tuple[str, str | None]:
    policy = loader.load_text(LISTS + rule + "\n", "example.policy")
    v = evaluate(policy, parse_message(raw))
    return v.action, v.name


CASES = [
    # rule, message, wanted action
    ('block attachment "*.pif" unless sender in trusted', mail(("invoice.pif", b"x")), "block"),
    (
        'block attachment "*.pif" unless sender in trusted',
        mail(("invoice.pif", b"x"), sender="build@partner.example.com"),
        "allow",
    ),
    ('block attachment "*.pif" unless sender in trusted', mail(("invoice.pif.", b"x")), "block"),
    ("block *.pif unless sender trusted", mail(("INVOICE.PIF", b"x")), "block"),
    (
        "block attachment extension in executable unless sender in trusted",
        mail(("同窓会名簿.xls.lnk", b"x")),
        "block",
    ),
    (
        'quarantine attachment name matches "*.{doc,xls,zip,jpg}.{bat,com,lnk,pif}" as "s"',
        mail(("書類名1.doc.bat", b"x")),
        "quarantine",
    ),
    (
        'quarantine attachment name matches "*.{doc,xls,zip,jpg}.{bat,com,lnk,pif}" as "s"',
        mail(("test.tar.gz", b"x")),
        "allow",
    ),
    # name.doc.bat yes; test.tar.gz, archive.sit.bin no
    ("block attachment double extension in executable", mail(("name.doc.bat", b"x")), "block"),
    ("block attachment double extension in executable", mail(("test.tar.gz", b"x")), "allow"),
    ("block attachment double extension in executable", mail(("archive.sit.bin", b"x")), "allow"),
    ("block attachment double extension in executable", mail(("test.2001.01.01", b"x")), "allow"),
    # detected from the bytes, not the name
    ('block attachment type executable reason "r"', mail(("photo.jpg", PE)), "block"),
    ('block attachment type executable reason "r"', mail(("setup.exe", b"plain text\n")), "allow"),
    # looks inside zip, tar, gzip, ... recursively
    (
        "block attachment archive contains extension in executable",
        mail(("docs.zip", zipped("document.exe", PE))),
        "block",
    ),
    (
        "block attachment archive contains extension in executable",
        mail(("outer.zip", zipped("inner.zip", zipped("payload.scr", PE)))),
        "block",
    ),
    (
        "block attachment archive contains extension in executable",
        mail(("run.tar.gz", targz("run.bat", b"@echo off\n"))),
        "block",
    ),
    (
        "block attachment archive contains extension in executable",
        mail(("test.tar.gz", targz("README", b"hello\n"))),
        "allow",
    ),
    # remove only those parts, deliver the rest
    (
        'strip attachment extension in ["hta", "reg"]',
        mail(("report.pdf", b"%PDF-1.4\n"), ("help.hta", b"<hta>")),
        "strip",
    ),
    (
        'tag "X-Policy-Warning: executable from partner" when sender in trusted and attachment extension in executable',
        mail(("setup.exe", PE), sender="x@partner.example.com"),
        "tag",
    ),
    (
        'allow sender in trusted and attachment extension in ["exe"]\nblock attachment extension in executable',
        mail(("setup.exe", PE), sender="postmaster@example.ac.jp"),
        "allow",
    ),
    (
        'quarantine body contains "I send you this file in order to have your advice"',
        mail(
            ("a.txt", b"x"),
            body="Hi! How are you?\n\nI send you this file in order to have your advice\n",
        ),
        "quarantine",
    ),
]


@pytest.mark.parametrize(("rule", "raw", "want"), CASES)
def test_example_means_what_its_comment_says(rule: str, raw: bytes, want: str) -> None:
    assert verdict(rule, raw)[0] == want


def test_strip_delivers_the_rest() -> None:
    policy = loader.load_text(LISTS + 'strip attachment extension in ["hta", "reg"]\n', "p")
    v = evaluate(
        policy,
        parse_message(mail(("report.pdf", b"%PDF-1.4\n"), ("help.hta", b"<"), ("x.reg", b"R"))),
    )
    assert [a.name for a in v.stripped] == ["help.hta", "x.reg"]


def test_archive_exceeds_limits_covers_encryption() -> None:
    """The sketch's comment: too deep, too large, too many members, encrypted."""
    data = bytearray(zipped("statement.exe", PE))
    data[6] |= 1  # the encryption flag of the local header ...
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 8] |= 1  # ... and of the central directory entry
    v = verdict(
        "quarantine attachment archive exceeds limits", mail(("statement.zip", bytes(data)))
    )
    assert v[0] == "quarantine"
