"""Active content as facts (``corpus.content``) on real files made by the libraries and by
hand, the smuggling reader on its own, and the readers on mutated files (Hypothesis).

The files come from ``corpus/samples/content_files.py``, the builders the bundled samples
use: OLE2 by a small writer (olefile only reads), OOXML with ``zipfile``, PDFs by hand.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailpolicy.corpus import content
from mailpolicy.corpus.archives.limits import LIMITS, Budget, Limits, deadline
from mailpolicy.corpus.archives.protocol import Level
from mailpolicy.corpus.archives.smuggling import SmugglingReader, blobs
from mailpolicy.corpus.content import html, pdf, vba
from mailpolicy.corpus.content.model import Found
from mailpolicy.corpus.message import Attachment

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "corpus" / "samples"))
import content_files as cf  # noqa: E402

PE = b"MZ" + bytes(58) + b"\x40\x00\x00\x00PE\x00\x00" + bytes(200)


def facts(name: str, data: bytes) -> content.ContentFacts:
    return content.facts(Attachment(names=(name,), data=data, part="2"))


def test_vba_in_an_old_word_document_names_the_module_and_the_entry_point() -> None:
    f = facts("report.doc", cf.doc_with_macros())
    assert f.macros == (
        "VBA module ThisDocument in Macros/VBA",
        "VBA module NewMacros in Macros/VBA",
    )
    assert f.auto_run == ("AutoOpen in VBA module NewMacros (Macros/VBA)",)
    assert f.unscannable == ()


def test_a_macro_that_runs_only_when_asked_is_not_auto_run() -> None:
    f = facts("tables.doc", cf.doc_with_macros(cf.PLAIN_MACRO))
    assert f.macros and f.auto_run == ()


def test_a_comment_naming_autoopen_is_not_an_entry_point() -> None:
    assert vba.entry_points("' call AutoOpen by hand\r\nSub Helper()\r\nEnd Sub\r\n") == []
    assert vba.entry_points("Private Sub Document_Open()\r\nEnd Sub") == ["Document_Open"]
    assert vba.entry_points("Sub InkPicture1_Painted(x)\r\nEnd Sub") == ["InkPicture1_Painted"]


def test_vba_decompression_round_trips_long_source() -> None:
    source = ("Sub AutoOpen()\r\n" + "' filler line of a long module\r\n" * 400).encode()
    assert vba.decompress(cf.ovba_compress(source), 1 << 20) == source
    with pytest.raises(ValueError, match="larger than"):
        vba.decompress(cf.ovba_compress(source), 1000)


def test_vba_in_ooxml_is_read_from_vbaproject_bin() -> None:
    f = facts("tables.docm", cf.docm_with_macros())
    assert f.macros == (
        "2/word/vbaProject.bin: VBA module ThisDocument in VBA",
        "2/word/vbaProject.bin: VBA module NewMacros in VBA",
    )
    assert f.auto_run == ("2/word/vbaProject.bin: AutoOpen in VBA module NewMacros (VBA)",)


def test_excel4_macro_sheets_in_ole_and_ooxml() -> None:
    old = facts("prices.xls", cf.xls_with_xlm())
    assert old.macros == ("Excel 4.0 macro sheet 'Macro1' (hidden)",)
    assert old.auto_run == ("Auto_Open name of an Excel 4.0 macro sheet",)
    assert facts("prices.xls", cf.xls_with_xlm(auto_open=False)).auto_run == ()
    new = facts("form.xlsm", cf.xlsm_with_xlm())
    assert new.macros == (
        "2/xl/macrosheets/sheet1.xml: Excel 4.0 macro sheet xl/macrosheets/sheet1.xml",
    )
    assert new.auto_run == ("2/xl/workbook.xml: Auto_Open defined name in xl/workbook.xml",)


def test_ole_package_names_the_file_it_carries() -> None:
    f = facts("object.bin", cf.ole_package("invoice.exe", PE))
    assert f.embedded_files == ("packaged file 'invoice.exe' in \\x01Ole10Native",)


def test_external_relationships_and_the_ordinary_ones() -> None:
    assert facts("m.docx", cf.docx_follina()).external_links == (
        "2/word/_rels/document.xml.rels: oleObject -> mhtml:http://203.0.113.7/index.html"
        "!x-usc:http://203.0.113.7/index.html",
    )
    assert facts("m.docx", cf.docx_remote_template()).external_links == (
        "2/word/_rels/settings.xml.rels: attachedTemplate -> "
        "http://203.0.113.7/templates/report.dotm",
    )
    assert facts("m.docx", cf.docx_with_hyperlink()) == content.ContentFacts()


def test_a_hyperlink_that_starts_a_program_is_an_external_link() -> None:
    doc = cf.ooxml(
        "word/document.xml",
        [],
        cf.rels(("hyperlink", "search-ms:query=invoice&crumb=location:\\\\203.0.113.7\\s", True)),
    )
    assert (
        facts("m.docx", doc)
        .external_links[0]
        .startswith("2/word/_rels/document.xml.rels: hyperlink -> search-ms:")
    )


def test_pdf_actions_name_their_objects() -> None:
    js = facts("a.pdf", cf.pdf_openaction_js())
    assert js.javascript == ("/JavaScript in object 4", "/JS in object 4")
    assert js.triggers == ("/OpenAction in object 1",)
    launch = facts("a.pdf", cf.pdf_launch())  # written /L#61unch
    assert launch.launch == ("/Launch in object 4",) and launch.triggers == ("/AA in object 3",)
    emb = facts("a.pdf", cf.pdf_embedded_file("a.exe", PE))
    assert emb.embedded_files == ("/EmbeddedFiles in object 1", "/EmbeddedFile in object 5")
    assert facts("a.pdf", cf.pdf_with_links()) == content.ContentFacts()


def test_pdf_javascript_inside_a_compressed_object_stream() -> None:
    f = facts("a.pdf", cf.pdf_js_in_object_stream())
    assert f.javascript == (
        "/JavaScript in object 6 in object stream 4",
        "/JS in object 6 in object stream 4",
    )


def test_pdf_names_inside_binary_streams_are_not_actions() -> None:
    assert facts("a.pdf", cf.pdf_embedded_file("x.bin", b"/JS /Launch (x)")).javascript == ()


def test_an_unreadable_object_stream_fails_closed() -> None:
    broken = cf.pdf_js_in_object_stream().replace(b"/FlateDecode", b"/LZWDecode ")
    f = facts("a.pdf", broken)
    assert f.unscannable == ("PDF object stream 4 not read: filters LZWDecode not read",)


#: The forward form of a PDF object header, the reference for ``pdf.objects``.
OBJECT_HEADER = re.compile(rb"(\d{1,10})\s+(\d{1,5})\s+obj\b")
PDF_TOKENS = [b"0", b"7", b"12345", b"123456", b"12345678901", b" ", b"\n", b"\r\n", b"\t"]
PDF_TOKENS += [b"obj", b"endobj", b"objx", b"obj_", b"obj1", b"o", b"bj", b"x", b"/", b"\xff"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PDF_TOKENS), max_size=40))
def test_object_headers_read_backwards_are_the_forward_matches(tokens: list[bytes]) -> None:
    data = b"".join(tokens)
    forward = [(m.start(), int(m.group(1))) for m in OBJECT_HEADER.finditer(data)]
    assert pdf.objects(data) == forward


def test_object_headers_in_a_pdf_name_their_numbers() -> None:
    data = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n 12345678901  0\r\nobj\n7 123456 obj 3 2 obj_"
    assert pdf.objects(data) == [(9, 1), (31, 2345678901)]


def test_html_scripts_and_smuggling() -> None:
    page = facts("invoice.html", cf.smuggling_html(cf._zip([("setup.exe", PE)])))
    assert page.javascript == ("1 <script> element, the first at line 1",)
    assert page.smuggling[0].startswith("invoice.zip: base64 text decodes to application/zip")
    assert "new Blob" in page.smuggling[1] and "createObjectURL" in page.smuggling[1]
    svg = facts("logo.svg", cf.smuggling_svg(PE))
    assert svg.smuggling[0].startswith(
        "smuggled-1.exe: data: URL declared application/octet-stream"
    )


@pytest.mark.parametrize(
    "name,data",
    [
        ("news.html", cf.newsletter_html()),
        ("logo.svg", cf.svg_logo()),
        ("report.xls", cf.erp_export_xls()),
    ],
)
def test_benign_pages_hold_nothing(name: str, data: bytes) -> None:
    assert facts(name, data) == content.ContentFacts()


def test_the_smuggling_reader_lists_the_decoded_file_as_a_member() -> None:
    page = cf.smuggling_html(cf._zip([("setup.exe", PE)]))
    reader = SmugglingReader()
    assert reader.recognises(page[:512]) and reader.recognises(cf.svg_logo())
    assert not reader.recognises(b"PK\x03\x04") and not reader.recognises(b"hello <html>")
    level = Level(Budget(LIMITS), "invoice.html", "2", 1)
    items = list(reader.items(page, level))
    assert [(i.name, i.content[:2] if i.content else b"") for i in items] == [
        ("invoice.zip", b"PK")
    ]
    assert level.document
    assert list(reader.items(cf.newsletter_html(), Level(Budget(LIMITS), "n", "2", 1))) == []


def test_smuggled_blobs_stop_at_the_limit() -> None:
    page = cf.smuggling_html(PE * 40)
    found, cut = blobs(page, 1000)
    assert found == [] and cut
    small = Limits(max_member_bytes=1000)
    level = Level(Budget(small), "x.html", "2", 1)
    with pytest.raises(Exception, match="smuggled blobs larger than"):
        list(SmugglingReader().items(page, level))
    assert level.budget.stopped
    assert facts("x.html", page).unscannable == ()
    found = Found()
    html.read(page, found, small)
    assert found.facts().unscannable == ("blobs larger than 0.000953674 MB: not all decoded",)
    big = content.facts(Attachment(names=("x.html",), data=page), small).unscannable
    assert big[0] == "html content larger than 1000 bytes"


def test_an_encrypted_office_file_is_unscannable() -> None:
    enc = cf.ole_file({"EncryptionInfo": bytes(64), "EncryptedPackage": bytes(64)})
    assert facts("secret.docx", enc).unscannable == (
        "encrypted Office document: its content cannot be read",
    )


def test_a_broken_ole_file_is_a_reason_not_a_crash() -> None:
    f = facts("x.doc", cf.doc_with_macros()[:1200])
    assert f.unscannable and f.unscannable[0].startswith("2: content reader failed:")


def test_a_past_deadline_is_a_reason() -> None:
    with deadline(-1.0):
        f = facts("report.doc", cf.doc_with_macros())
    assert f.unscannable == ("2: time budget exceeded while reading the archive",)


def test_facts_are_computed_once_per_attachment() -> None:
    a = Attachment(names=("a.pdf",), data=cf.pdf_launch())
    assert content.facts(a) is content.facts(a)


# ---- mutated files: no crash, no hang ---------------------------------------------------------
SEEDS = [
    ("r.doc", cf.doc_with_macros()),
    ("p.xls", cf.xls_with_xlm()),
    ("o.bin", cf.ole_package("a.exe", PE)),
    ("a.pdf", cf.pdf_openaction_js()),
    ("b.pdf", cf.pdf_js_in_object_stream()),
    ("i.html", cf.smuggling_html(cf._zip([("s.exe", PE)]))),
    ("l.svg", cf.smuggling_svg(PE)),
    ("m.docm", cf.docm_with_macros()),
]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    name, data = draw(st.sampled_from(SEEDS))
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, max(len(buf) - 1, 0)))
        kind = draw(st.sampled_from(["flip", "cut", "insert", "dup"]))
        if kind == "flip" and buf:
            buf[pos] = draw(st.integers(0, 255))
        elif kind == "cut":
            del buf[pos : pos + draw(st.integers(1, 64))]
        elif kind == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            buf[pos:pos] = buf[pos : pos + draw(st.integers(1, 512))]
    return name, bytes(buf)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated())
def test_mutated_files_give_facts_never_an_exception(case: tuple[str, bytes]) -> None:
    name, data = case
    start = time.monotonic()
    f = facts(name, data)
    assert isinstance(f, content.ContentFacts)
    assert time.monotonic() - start < 5.0
    level = Level(Budget(LIMITS), name, "2", 1)
    for item in SmugglingReader().items(data, level):
        assert item.content is not None and item.size == len(item.content)
