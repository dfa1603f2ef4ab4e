"""Real messages from other projects' test suites (../shared/corpora/thirdparty).

Every message parses without an exception, and for the messages below the decoded names
equal what the project's own tests expect (the test that says so is named beside each
row). Where decoders disagree, the RFC decided, and the row says which section.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailpolicy.corpus.inspect import render_table, to_json
from mailpolicy.corpus.mime import parse_message

_NOT_MAIL = {"SOURCES.md", ".gitattributes", "README.txt", "NOTICE", "NOTICE.txt"}


def _messages(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.name not in _NOT_MAIL
        and "LICENSE" not in p.name.upper()
        and p.name != "MIT-LICENSE"
    )


def _names(root: Path, rel: str) -> list[tuple[str, ...]]:
    return [a.names for a in parse_message((root / rel).read_bytes(), path=rel).attachments]


def test_every_message_parses(thirdparty: Path) -> None:
    files = _messages(thirdparty)
    assert len(files) >= 150
    for path in files:
        msg = parse_message(path.read_bytes(), path=str(path))
        for att in msg.attachments:
            assert att.data is not None
            assert att.size == len(att.data), (path, att)
            att.normalized_names  # noqa: B018


# (file, decoded names of each attachment in order, where the expectation comes from)
EXPECTED = [
    # mikel/mail spec/mail/attachments_list_spec.rb "reading emails with attachments"
    (
        "mikel-mail/attachment_emails/attachment_content_disposition.eml",
        [("api.rb", "hello.rb")],
        "mail: content-disposition filename over content-type name",
    ),
    (
        "mikel-mail/attachment_emails/attachment_with_encoded_name.eml",
        [("01 Quien Te Dij\ufffdat. Pitbull.mp3",)],
        "mail: encoded name value (U+FFFD)",
    ),
    (
        "mikel-mail/attachment_emails/attachment_with_base64_encoded_name.eml",
        [("This is a test.pdf",)],
        "mail: base64 encoded name value",
    ),
    (
        "mikel-mail/attachment_emails/attachment_with_unquoted_name.eml",
        [("This is a test.txt",)],
        "mail: name not surrounded by quotes",
    ),
    (
        "mikel-mail/attachment_emails/attachment_nonascii_filename.eml",
        [("ciële.txt",)],
        "mail: without ascii compatible filename",
    ),
    # mail lists the inner attachment only; a named message/rfc822 part is also a file the
    # recipient opens (RFC 2183 section 2.3: the filename parameter names the part), so it
    # is an attachment here too.
    (
        "mikel-mail/attachment_emails/attachment_message_rfc822.eml",
        [("ForwardedMessage.eml",), ("broken.pdf",)],
        "mail: attachments inside message/rfc822 (one attachment, 1026 bytes)",
    ),
    (
        "mikel-mail/mime_emails/raw_email_with_nested_attachment.eml",
        [("truncated.png", "byo-ror-cover.png"), ("smime.p7s",)],
        "mail: message_spec nested",
    ),
    ("mikel-mail/attachment_emails/attachment_pdf.eml", [("broken.pdf",)], "mail: decode 1026"),
    ("mikel-mail/attachment_emails/attachment_pdf_lf.eml", [("broken.pdf",)], "mail: linefeeds"),
    # php-mime-mail-parser tests/ParserTest.php provideData
    ("php-mime-mail-parser/mails/m0001", [("attach01",)], "php: m0001"),
    ("php-mime-mail-parser/mails/m0002", [("attach02",)], "php: m0002"),
    ("php-mime-mail-parser/mails/m0007", [("attach02",)], "php: m0007"),
    (
        "php-mime-mail-parser/mails/m0008",
        [("logo.jpg",), ("background.jpg",), ("attachment.txt",)],
        "php: m0008",
    ),
    ("php-mime-mail-parser/mails/m0011", [("file.txt",)], "php: m0011"),
    ("php-mime-mail-parser/mails/m0012", [("file.txt",)], "php: m0012"),
    (
        "php-mime-mail-parser/mails/m0013",
        [("50032266 CAR 11_MNPA00A01_9PTX_H00 ATT N° 1467829.pdf",)],
        "php: m0013 (split RFC 2047 words, RFC 2047 section 6.2)",
    ),
    ("php-mime-mail-parser/mails/m0014", [("HasenundFrösche.txt",)], "php: m0014"),
    ("php-mime-mail-parser/mails/m0016", [("HasenundFrösche.txt",)], "php: m0016"),
    # php invents "noname1"; RFC 2183 section 2.3: without a filename parameter the part
    # has no name, so none is reported (a policy must not match an invented name).
    ("php-mime-mail-parser/mails/m0010", [()], "RFC 2183 section 2.3"),
    # Decided by the RFCs (no upstream assertion on the name itself):
    (
        "apache-james-mime4j/mimetools-testmsgs/attachment-filename-encoding-Latin1.msg",
        [("attachment.äöü",)],
        "RFC 2231 section 4: ISO-8859-1 percent-encoded",
    ),
    (
        "apache-james-mime4j/mimetools-testmsgs/attachment-filename-encoding-UTF8.msg",
        [("attachment.äöü",)],
        "RFC 2231 section 4: UTF-8 percent-encoded",
    ),
    (
        "apache-james-mime4j/testmsgs/russian-headers.msg",
        [("Список.doc",)],
        "RFC 2047 in an unquoted parameter (koi8-r)",
    ),
    (
        "mikel-mail/multi_charset/japanese_attachment.eml",
        [("てすと.txt",)],
        "RFC 2047 inside a quoted parameter (RFC 2047 section 5 forbids it; every client decodes)",
    ),
    (
        "mikel-mail/multi_charset/japanese_attachment_long_name.eml",
        [("かきくけこ" * 5 + ".txt",)],
        "RFC 2231 section 3 continuations, UTF-8",
    ),
    (
        "jhillyerd-enmime/mail/mime-bad-8bit-filename.raw",
        [("管理.doc",)],
        "raw 8-bit UTF-8 (RFC 6532 section 3.2)",
    ),
    (
        "jhillyerd-enmime/mail/mime-unquoted-tspecials-param.raw",
        [("Invoice_(302232133150612).pdf",)],
        "unquoted tspecials taken up to ';' (RFC 2045 section 5.1 requires quotes)",
    ),
    (
        "jhillyerd-enmime/mail/mime-bad-content-type.raw",
        [("Invoice_302232133150612.pdf",)],
        "missing ';' before name= (RFC 2045 section 5.1 violation, recovered)",
    ),
    (
        "jhillyerd-enmime/low-quality/bad-header-wrap.raw",
        [("7DDA4_foo_9E5D72.zip",)],
        "folded line without leading white space (RFC 5322 section 2.2.3 violation, recovered)",
    ),
    (
        "php-mime-mail-parser/mails/m0018",
        [("사진.JPG",), ("ATT00001.txt",)],
        "RFC 2047 ks_c_5601-1987",
    ),
    ("rspamd/messages/next2last-doublebad.eml", [("файл.scr.xz",)], "RFC 2047 windows-1251"),
    (
        "rspamd/messages/spam.eml",
        [("Список-Аудиоэнциклопедии.txt",)],
        "RFC 2047 words folded with TAB (section 6.2)",
    ),
    (
        "rspamd/messages/fname.eml",
        [
            ("[삼성생명]2020.08.14 데일리 경제뉴스.pdf",),
            ("01029_402110_10620_RGT06902_PRT180ML_20200803_101820.pdf",),
        ],
        "RFC 2047 UTF-8 split words",
    ),
    (
        "apache-james-mime4j/mimetools-testmsgs/uu-zeegee.msg",
        [("up.gif",), ("zeegee.gif",)],
        "uuencoded files in a text body",
    ),
    (
        "cpython-test_email/data/msg_15.txt",
        [("xx.gif",)],
        "RFC 2046 section 5.1.1: a part after a reused boundary's close delimiter is still shown",
    ),
]


@pytest.mark.parametrize(("rel", "names", "source"), EXPECTED, ids=[e[0] for e in EXPECTED])
def test_decoded_names(
    thirdparty: Path, rel: str, names: list[tuple[str, ...]], source: str
) -> None:
    assert _names(thirdparty, rel) == names, source


@pytest.mark.parametrize(
    ("rel", "sizes"),
    [
        ("mikel-mail/attachment_emails/attachment_pdf.eml", [1026]),
        ("mikel-mail/attachment_emails/attachment_message_rfc822.eml", [1026]),
        ("mikel-mail/mime_emails/raw_email_with_nested_attachment.eml", [1902, 939]),
        ("php-mime-mail-parser/mails/m0008", [2695, 18255, 2229]),
        ("php-mime-mail-parser/mails/m0010", [817938]),
        ("php-mime-mail-parser/mails/m0014", [747]),
    ],
)
def test_decoded_sizes(thirdparty: Path, rel: str, sizes: list[int]) -> None:
    msg = parse_message((thirdparty / rel).read_bytes())
    files = [a for a in msg.attachments if a.declared_type != "message/rfc822"]
    assert [len(a.data) for a in files] == sizes


def test_tnef_members_are_attachments(thirdparty: Path) -> None:
    msg = parse_message((thirdparty / "jstedfast-mimekit/tnef/rich-text.eml").read_bytes())
    names = [a.names for a in msg.attachments]
    assert names[0] == ("winmail.dat",)
    assert ("kitten-playing-with-a-christmas-tree.jpg",) in names


def test_inspect_json_and_table(thirdparty: Path) -> None:
    rel = "php-mime-mail-parser/mails/m0008"
    msg = parse_message((thirdparty / rel).read_bytes(), path=rel, label="benign")
    record = json.loads(json.dumps(to_json(msg)))
    assert record["path"] == rel and record["label"] == "benign"
    assert [a["name"] for a in record["attachments"]] == [
        "logo.jpg",
        "background.jpg",
        "attachment.txt",
    ]
    first = record["attachments"][0]
    # declared image/gif, but the bytes are a JPEG: the detected type says so
    assert first["declared_type"] == "image/gif" and first["detected_type"] == "image/jpeg"
    assert first["type_class"] == "image"
    assert first["extension"] == "jpg" and first["size"] == 2695 and len(first["sha256"]) == 64
    assert set(first) >= {
        "names",
        "raw_names",
        "normalized_name",
        "extensions",
        "declared_type",
        "tricks",
        "encrypted",
        "exceeds_limits",
        "members",
    }
    table = render_table(msg)
    assert "background.jpg" in table and rel in table and "sender" in table
