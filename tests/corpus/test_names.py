"""Name facts (normalisation, extensions, tricks) and wire-name decoding helpers."""

from __future__ import annotations

import pytest

from mailpolicy.corpus import headers as H
from mailpolicy.corpus.names import extensions, normalize, skeleton, tricks


@pytest.mark.parametrize(
    ("name", "normal", "exts"),
    [
        ("invoice.pif.", "invoice.pif", ("pif",)),
        ("invoice.pif. . ", "invoice.pif", ("pif",)),
        ("test.tar.gz", "test.tar.gz", ("tar", "gz")),
        ("archive.sit.bin", "archive.sit.bin", ("sit", "bin")),
        ("test.2001.01.01", "test.2001.01.01", ("2001", "01", "01")),
        ("書類名1.doc.bat", "書類名1.doc.bat", ("doc", "bat")),
        ("evil.bat\x00.txt", "evil.bat", ("bat",)),  # C string APIs stop at NUL
        ("../../x/run.exe", "run.exe", ("exe",)),
        ("C:\\Temp\\a.EXE", "a.EXE", ("exe",)),
        (".bashrc", ".bashrc", ()),
        ("noext", "noext", ()),
        ("cafe\u0301.bat", "café.bat", ("bat",)),  # NFC
    ],
)
def test_normalize_and_extensions(name: str, normal: str, exts: tuple[str, ...]) -> None:
    assert normalize(name) == normal
    assert extensions(normalize(name)) == exts


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("invoice\u202egpj.exe", ("bidi-control",)),
        ("evil.bat. ", ("trailing-dot", "trailing-space")),
        ("evil.bat   ", ("trailing-space",)),
        ("report.pdf                              .exe", ("padding",)),
        ("file.{3050F4D8-98B5-11CF-BB82-00AA00BDCE0B}", ("clsid-extension",)),
        ("evil\n.txt", ("control-character",)),
        ("in\u200bvoice.exe", ("invisible-character",)),
        ("../../x.exe", ("path-in-name",)),
        ("test.tar.gz", ()),
        ("同窓会名簿.xls.lnk", ()),
    ],
)
def test_tricks(name: str, found: tuple[str, ...]) -> None:
    assert tricks(name) == found


# -- wire decoding ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        ("=?ISO-2022-JP?B?GyRCRjFBazJxGyhCLnhscy5sbms=?=", "同窓会.xls.lnk"),
        ("=?UTF-8?Q?evil=2Eb?= =?UTF-8?Q?at?=", "evil.bat"),
        ("=?utf-8?b?Rm90bzAwMDkuanBn?=", "Foto0009.jpg"),
        ("=?koi8-r?B?89DJ08/LLmRvYw==?=", "Список.doc"),
        ("=?ks_c_5601-1987?B?u+fB+C5KUEc=?=", "사진.JPG"),
        # A UTF-8 character split across two words (RFC 2047 section 5 forbids it; mailers
        # do it): the bytes are joined before decoding.
        ("=?UTF-8?B?5ZA=?= =?UTF-8?B?jA==?=", "同"),
        ("a =?bogus?Q?x?= b", "a x b"),
        ("=?UTF-8?B?not base64!?=", "=?UTF-8?B?not base64!?="),
        ("plain", "plain"),
    ],
)
def test_decode_words(text: str, decoded: str) -> None:
    assert H.decode_words(text) == decoded


@pytest.mark.parametrize(
    ("raw", "hints", "decoded"),
    [
        ("同窓会名簿.xls.lnk".encode("cp932"), (), "同窓会名簿.xls.lnk"),
        ("同窓会名簿.xls.lnk".encode("euc_jp"), (), "同窓会名簿.xls.lnk"),
        ("同窓会名簿.xls.lnk".encode("iso2022_jp"), (), "同窓会名簿.xls.lnk"),
        ("ciële.txt".encode(), ("iso-8859-1",), "ciële.txt"),  # UTF-8 strictly first
        ("Größe.pdf".encode("latin-1"), (), "Größe.pdf"),
        ("Отчет.doc".encode("cp1251"), ("windows-1251",), "Отчет.doc"),  # a declared hint helps
    ],
)
def test_guess_decode(raw: bytes, hints: tuple[str, ...], decoded: str) -> None:
    assert H.guess_decode(raw, hints) == decoded


def test_declared_charset_that_does_not_fit_gives_replacement() -> None:
    # mikel/mail attachment_with_encoded_name.eml expects U+FFFD for the stray byte.
    assert H.decode_bytes(b"Dij\x8aat", "iso-2022-jp") == "Dij\ufffdat"


def test_parse_params_tolerates_missing_semicolon_and_unquoted_specials() -> None:
    main, params = H.parse_params(b'application/pdf name="a b.pdf"')
    assert main == "application/pdf"
    assert H.param_values(params, "name") == [("a b.pdf", "a b.pdf")]
    _, params = H.parse_params(b"attachment; filename=Invoice_(1).pdf; size=3")
    assert H.param_values(params, "filename") == [("Invoice_(1).pdf", "Invoice_(1).pdf")]


def test_lookup_charset_supersets() -> None:
    assert H.lookup_charset("ISO-8859-1") == "cp1252"
    assert H.lookup_charset("Shift_JIS") == "cp932"
    assert H.lookup_charset("x-nonsense") is None
    assert H.lookup_charset("UTF-8*EN") == "utf-8"  # RFC 2231 section 5 language suffix


# -- tricks without false alarms --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "in_archive", "want"),
    [
        ("Final Report .docx", False, ()),
        ("Q3  report.pdf", False, ()),  # a double space from a typo
        ("report.pdf    .exe", False, ("padding",)),
        ("report.pdf\u3000\u3000\u3000\u3000.exe", False, ("padding",)),
        ("word/document.xml", True, ()),
        ("pkg-1.0/src/x.py", True, ()),
        ("../../startup/x.exe", True, ("path-in-name",)),
        ("/etc/cron.d/x", True, ("path-in-name",)),
        ("C:\\Users\\x.exe", True, ("path-in-name",)),
        ("docs/x.exe", False, ("path-in-name",)),  # a MIME name is one file name
        ("invoice.\u0435\u0445\u0435", False, ("homoglyph",)),
        ("résumé.txt", False, ()),
        ("議事録.doc", False, ()),
    ],
)
def test_tricks_only_where_something_hides(
    name: str, in_archive: bool, want: tuple[str, ...]
) -> None:
    assert tricks(name, in_archive=in_archive) == want


def test_extension_matching_on_the_skeleton() -> None:
    assert extensions(normalize("invoice.\u0435\u0445\u0435")) == ("exe",)
    assert extensions(normalize("x.\uff45\uff58\uff45")) == ("exe",)  # full-width
    assert skeleton("PDF") == "pdf"
