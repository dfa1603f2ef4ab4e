"""MIME extraction: names under every encoding, structure, malformed input, laziness."""

from __future__ import annotations

import base64
import binascii
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailpolicy.corpus import mime
from mailpolicy.corpus.message import BODY_LIMIT, Attachment
from mailpolicy.corpus.mime import parse_message

PAYLOAD = base64.b64encode(b"MZ\x90\x00 not really a program").decode()


def one_part(*headers: str, body: str = PAYLOAD, cte: str = "base64") -> bytes:
    """A multipart/mixed message with a text part and one attachment part."""
    lines = [
        "Return-Path: <mallory@Example.NET>",
        "From: Mallory <mallory@example.net>",
        "To: Bob <bob@Example.COM>",
        "Subject: test",
        "Date: Mon, 16 Jul 2001 10:00:00 +0900",
        "Message-ID: <t1@example.net>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="XX"',
        "",
        "--XX",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "Hi! How are you?",
        "--XX",
        *headers,
        f"Content-Transfer-Encoding: {cte}",
        "",
        body,
        "--XX--",
        "",
    ]
    return "\r\n".join(lines).encode("utf-8")


def names_of(raw: bytes) -> tuple[str, ...]:
    msg = parse_message(raw)
    assert len(msg.attachments) == 1, msg.attachments
    return msg.attachments[0].names


# The sample table of notes/MTA-VERIFICATION.md, one row per case: headers -> decoded names.
MTA_CASES = [
    (
        "01",
        [
            'Content-Type: application/octet-stream; name="a.doc.bat"',
            'Content-Disposition: attachment; filename="a.doc.bat"',
        ],
        ("a.doc.bat",),
    ),
    (
        "02",
        [
            "Content-Type: application/octet-stream",
            "Content-Disposition: attachment; filename*=UTF-8''%E5%90%8C%E7%AA%93%E4%BC%9A.xls.lnk",
        ],
        ("同窓会.xls.lnk",),
    ),
    (
        "03",
        [
            "Content-Type: application/octet-stream",
            'Content-Disposition: attachment; filename="=?ISO-2022-JP?B?GyRCRjFBazJxGyhCLnhscy5sbms=?="',
        ],
        ("同窓会.xls.lnk",),
    ),
    (
        "04",
        [
            "Content-Type: application/x-gzip",
            'Content-Disposition: attachment; filename="test.tar.gz"',
        ],
        ("test.tar.gz",),
    ),
    (
        "05",
        [
            "Content-Type: application/octet-stream",
            (
                "Content-Disposition: attachment; filename*0*=UTF-8''%E5%90%8C%E7%AA%93; "
                "filename*1*=%E4%BC%9A.xls; filename*2=.lnk"
            ),
        ],
        ("同窓会.xls.lnk",),
    ),
    ("06", ['Content-Type: application/octet-stream; name="invoice.pif"'], ("invoice.pif",)),
    ("07", ['Content-Type: application/octet-stream; name="SETUP.COM"'], ("SETUP.COM",)),
    (
        "08",
        [
            "Content-Type: application/octet-stream",
            'Content-Disposition: attachment; filename="=?UTF-8?B?6KuL5rGC5pu4LnBkZi5leGU=?="',
        ],
        ("請求書.pdf.exe",),
    ),
    (
        "09",
        [
            "Content-Type: application/octet-stream",
            'Content-Disposition: attachment;\r\n\tfilename="shortcut.lnk"',
        ],
        ("shortcut.lnk",),
    ),
    ("11", ['Content-Disposition: attachment; filename="say \\"hi\\".bat"'], ('say "hi".bat',)),
    ("12", ['Content-Disposition: attachment; filename="back\\\\slash.txt"'], ("back\\slash.txt",)),
    ("13", ['Content-Disposition: attachment; filename="cost${1}.txt"'], ("cost${1}.txt",)),
    ("14", ['Content-Disposition: attachment; filename="star*.txt"'], ("star*.txt",)),
    ("15", ['Content-Disposition: attachment; filename="evil.bat."'], ("evil.bat.",)),
    ("16", ["Content-Disposition: attachment; filename=evil.bat"], ("evil.bat",)),
    ("17", ['Content-Disposition: attachment; filename="evil.bat   "'], ("evil.bat   ",)),
    ("18", ["Content-Disposition: attachment; filename*=UTF-8''evil%0A.txt"], ("evil\n.txt",)),
    (
        "19",
        ["Content-Disposition: attachment; filename*=UTF-8''evil.bat%00.txt"],
        ("evil.bat\x00.txt",),
    ),
    # RFC 2231 section 4 names the charset; an unknown one gets best-effort detection.
    ("20", ["Content-Disposition: attachment; filename*=X-UNKNOWN''evil%E9.bat"], ("evilé.bat",)),
    ("21", ["Content-Disposition: attachment; filename*=us-ascii''=%3F utf-8%3F"], ("=? utf-8?",)),
    # Both values kept; the RFC 2231 one first (RFC 6266 section 4.3 prefers filename*).
    (
        "22",
        ["Content-Disposition: attachment; filename=\"innocent.txt\"; filename*=UTF-8''evil.bat"],
        ("evil.bat", "innocent.txt"),
    ),
    (
        "23",
        ["Content-Disposition: attachment; filename*=UTF-8''evil.bat; filename=\"innocent.txt\""],
        ("evil.bat", "innocent.txt"),
    ),
    (
        "24",
        [
            'Content-Type: application/octet-stream; name="evil.bat"',
            'Content-Disposition: attachment; filename="innocent.txt"',
        ],
        ("innocent.txt", "evil.bat"),
    ),
    (
        "25",
        [
            'Content-Disposition: attachment; filename="innocent.txt"',
            'Content-Disposition: attachment; filename="evil.bat"',
        ],
        ("innocent.txt", "evil.bat"),
    ),
    # RFC 2047 section 6.2: white space between adjacent encoded-words is ignored.
    (
        "26",
        ['Content-Disposition: attachment; filename="=?UTF-8?Q?evil=2Eb?= =?UTF-8?Q?at?="'],
        ("evil.bat",),
    ),
    (
        "27",
        ['Content-Disposition: attachment; filename="=?ISO-8859-1?Q?caf=E9.bat?="'],
        ("café.bat",),
    ),
    ("28", ["Content-Disposition: attachment; filename*=iso-8859-1''caf%E9.bat"], ("café.bat",)),
    ("29", ['Content-Disposition: attachment; filename="x#y.bat"'], ("x#y.bat",)),
    ("30", ['Content-Disposition: attachment; filename="weird/slash.bat"'], ("weird/slash.bat",)),
    # RFC 2231 percent-encoding is decoded (section 4): %2E is a dot.
    ("31", ["Content-Disposition: attachment; filename*=UTF-8''evil%2Ebat"], ("evil.bat",)),
]


@pytest.mark.parametrize(("case", "headers", "expected"), MTA_CASES, ids=[c[0] for c in MTA_CASES])
def test_mta_verification_samples(case: str, headers: list[str], expected: tuple[str, ...]) -> None:
    assert names_of(one_part(*headers)) == expected


def test_sample_10_nested_message_attachment_is_an_attachment_of_the_message() -> None:
    inner = one_part('Content-Type: application/octet-stream; name="run.bat"').decode()
    inner = inner.replace("XX", "YY")  # an attached message has its own boundary
    raw = one_part('Content-Type: message/rfc822; name="fwd.eml"', body=inner, cte="7bit")
    msg = parse_message(raw)
    # The named container is a file the recipient sees too (Outlook shows fwd.eml).
    assert [(a.part, a.names) for a in msg.attachments] == [
        ("2", ("fwd.eml",)),
        ("2/2", ("run.bat",)),
    ]
    assert msg.attachments[0].declared_type == "message/rfc822"
    assert msg.attachments[1].data.startswith(b"MZ")


def test_percent_hex_in_plain_parameter_is_not_decoded_but_raw_kept() -> None:
    msg = parse_message(one_part('Content-Disposition: attachment; filename="evil%2Ebat"'))
    assert msg.attachments[0].names == ("evil%2Ebat",)
    assert msg.attachments[0].raw_names == ("evil%2Ebat",)


def test_name_facts_of_evasive_names() -> None:
    msg = parse_message(one_part('Content-Disposition: attachment; filename="invoice.pif. "'))
    att = msg.attachments[0]
    assert att.normalized_name == "invoice.pif" and att.extension == "pif"
    assert att.tricks == ("trailing-dot", "trailing-space")
    both = parse_message(
        one_part(
            'Content-Type: application/x; name="evil.bat"',
            'Content-Disposition: attachment; filename="innocent.txt"',
        )
    )
    assert "name-disagreement" in both.attachments[0].tricks


# -- SirCam names in every encoding a Japanese mailer of 2001 used ----------------------
SIRCAM = ["書類名1.doc.bat", "同窓会名簿.xls.lnk", "書類名2.zip.com"]


def _iso2022_word(name: str) -> str:
    return "=?ISO-2022-JP?B?" + base64.b64encode(name.encode("iso2022_jp")).decode() + "?="


@pytest.mark.parametrize("name", SIRCAM)
def test_sircam_iso2022jp_rfc2047(name: str) -> None:
    raw = one_part(f'Content-Type: application/octet-stream; name="{_iso2022_word(name)}"')
    assert names_of(raw) == (name,)


@pytest.mark.parametrize("name", SIRCAM)
def test_sircam_iso2022jp_split_words(name: str) -> None:
    # Outlook splits long names into several encoded-words, each a whole ISO-2022-JP run.
    half = len(name) // 2
    words = f"{_iso2022_word(name[:half])}\r\n {_iso2022_word(name[half:])}"
    assert names_of(one_part(f'Content-Disposition: attachment; filename="{words}"')) == (name,)


@pytest.mark.parametrize(
    ("name", "charset"), [(n, c) for n in SIRCAM for c in ("cp932", "euc_jp", "utf-8")]
)
def test_sircam_raw_8bit(name: str, charset: str) -> None:
    head = b'Content-Disposition: attachment; filename="' + name.encode(charset) + b'"'
    raw = one_part("@@").replace(b"@@", head)
    assert names_of(raw) == (name,)


@pytest.mark.parametrize("name", SIRCAM)
def test_sircam_rfc2231_utf8_continuations(name: str) -> None:
    encoded = "".join(f"%{b:02X}" for b in name.encode("utf-8"))
    cut = len(encoded) // 3 // 3 * 3
    head = (
        f"Content-Disposition: attachment;\r\n filename*0*=UTF-8''{encoded[:cut]};\r\n"
        f" filename*1*={encoded[cut:]}"
    )
    assert names_of(one_part(head)) == (name,)


@pytest.mark.parametrize("name", SIRCAM)
def test_sircam_rfc2231_shift_jis_and_euc(name: str) -> None:
    for charset, label in (("cp932", "Shift_JIS"), ("euc_jp", "EUC-JP")):
        encoded = "".join(f"%{b:02X}" for b in name.encode(charset))
        head = f"Content-Disposition: attachment; filename*={label}'ja'{encoded}"
        assert names_of(one_part(head)) == (name,)


def test_rfc2231_sections_out_of_order_and_mixed() -> None:
    # RFC 2231 section 3: sections may arrive in any order; section 4.1: plain and
    # encoded sections mix, the charset only on the first.
    head = (
        "Content-Disposition: attachment; filename*2=.lnk; "
        "filename*1*=%E4%BC%9A.xls; filename*0*=UTF-8''%E5%90%8C%E7%AA%93"
    )
    assert names_of(one_part(head)) == ("同窓会.xls.lnk",)


# -- envelope and body ------------------------------------------------------------------
def test_envelope_facts_and_body() -> None:
    msg = parse_message(one_part('Content-Type: application/x; name="a.bin"'), path="x.eml")
    assert msg.sender == "mallory@example.net"
    assert msg.recipients == ("bob@example.com",)
    assert msg.message_id == "<t1@example.net>"
    assert msg.time is not None and msg.time.isoformat() == "2001-07-16T10:00:00+09:00"
    assert msg.body.strip() == "Hi! How are you?"
    assert msg.subject == "test" and msg.location == "x.eml"
    assert msg.size == len(one_part('Content-Type: application/x; name="a.bin"'))


def test_delivered_to_wins_and_null_sender() -> None:
    raw = (
        b"Return-Path: <>\nDelivered-To: Alice@Example.ORG\nX-Original-To: a2@example.org\n"
        b"To: other@example.org\nReceived: from x by y; Tue, 17 Jul 2001 01:02:03 +0000\n"
        b"Date: Mon, 16 Jul 2001 10:00:00 +0900\n\nbody\n"
    )
    msg = parse_message(raw)
    assert msg.sender is None
    assert msg.recipients == ("Alice@example.org", "a2@example.org")
    assert msg.time is not None and msg.time.day == 17


def test_body_is_bounded() -> None:
    raw = b"Content-Type: text/plain\n\n" + b"x" * (BODY_LIMIT * 2)
    assert len(parse_message(raw).body) == BODY_LIMIT


def test_uuencoded_file_in_body() -> None:
    uu = b"".join(binascii.b2a_uu(b"MZ payload"[i : i + 45]) for i in range(0, 10, 45))
    raw = b"Subject: uu\n\nsee attached\nbegin 644 photo.jpg.exe\n" + uu + b"`\nend\n"
    msg = parse_message(raw)
    assert [(a.part, a.names) for a in msg.attachments] == [("1.uu1", ("photo.jpg.exe",))]
    assert msg.attachments[0].data == b"MZ payload"


def test_top_level_non_text_message_is_an_attachment() -> None:
    raw = b"Content-Type: application/pdf; name=x.pdf\nContent-Transfer-Encoding: base64\n\nJVBERg==\n"
    msg = parse_message(raw)
    assert [(a.part, a.names, a.data) for a in msg.attachments] == [("1", ("x.pdf",), b"%PDF")]


# -- malformed input: best effort plus defects, never an exception ----------------------
def test_missing_final_boundary() -> None:
    raw = one_part('Content-Type: application/x; name="a.exe"').replace(b"--XX--", b"")
    msg = parse_message(raw)
    assert msg.attachments[0].names == ("a.exe",)
    assert any(d.startswith("missing-final-boundary") for d in msg.defects)


def test_bad_base64_is_decoded_best_effort_and_reported_when_read() -> None:
    msg = parse_message(one_part('Content-Type: application/x; name="a.doc"', body="PGh0*bWw+Cg=="))
    att = msg.attachments[0]
    assert att.data == b"<html>\n"
    assert any(d.startswith("bad-base64") for d in msg.defects)


def test_absurd_nesting_stops_at_the_limit() -> None:
    depth = 500
    parts = [f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth)]
    raw = ("".join(parts) + 'Content-Type: application/x; name="deep.exe"\n\nx\n').encode()
    msg = parse_message(raw)
    assert any(d.startswith("nesting-too-deep") for d in msg.defects)


def test_megabyte_header_lines() -> None:
    raw = (
        b"Subject: "
        + b"A" * 3_000_000
        + b"\nContent-Type: multipart/mixed; boundary=q"
        + b"\n\n--q\nContent-Type: application/x; name="
        + b"n" * 2_000_000
        + b".exe\n\nx\n--q--\n"
    )
    msg = parse_message(raw)
    assert any("header-too-long" in d or "truncated" in d for d in msg.defects)
    assert len(msg.attachments) == 1


def test_same_boundary_reused_by_nested_multipart_hides_nothing() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="S"\n\n--S\n'
        b'Content-Type: multipart/alternative; boundary="S"\n\n--S\nContent-Type: text/plain\n\nhi\n'
        b'--S--\n\n--S\nContent-Type: application/x; name="hidden.exe"\n\nx\n--S--\n'
    )
    assert [a.names for a in parse_message(raw).attachments] == [("hidden.exe",)]


def test_header_line_without_colon_is_a_continuation() -> None:
    raw = one_part('Content-Type: application/x-zip; x-unix-mode=0600;\r\nname="a.zip"')
    msg = parse_message(raw)
    assert msg.attachments[0].names == ("a.zip",)
    assert any(d.startswith("header-line-without-colon") for d in msg.defects)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\n",
        b"\x00" * 10,
        b"From x\n",
        b"--\n--",
        b"a:b",
        b"Content-Type: multipart/mixed; boundary=\n\n--\n",
    ],
)
def test_degenerate_inputs(raw: bytes) -> None:
    parse_message(raw)


# -- laziness ----------------------------------------------------------------------------
def test_payload_is_not_decoded_when_only_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = mime._decode

    def counting(raw: bytes, cte: str) -> tuple[bytes, bool]:
        calls["n"] += 1
        return real(raw, cte)

    monkeypatch.setattr(mime, "_decode", counting)
    big = base64.encodebytes(b"\0" * (6 * 1024 * 1024)).decode()
    msg = parse_message(one_part('Content-Type: application/x; name="big.iso"', body=big))
    att = msg.attachments[0]
    before = calls["n"]  # the text part's body snippet is decoded at parse time
    assert att.names == ("big.iso",) and att.extension == "iso" and att.tricks == ()
    assert not att.loaded and calls["n"] == before
    assert att.data[:1] == b"\0" and calls["n"] == before + 1


def test_sizes_are_exact_and_known_without_decoding_where_nothing_is_encoded() -> None:
    data = bytes(range(256)) * 100
    msg = parse_message(
        one_part(
            'Content-Type: application/x; name="a.bin"', body=base64.encodebytes(data).decode()
        )
    )
    att = msg.attachments[0]
    assert not att.loaded and att.size == len(data) and att.loaded  # base64: decoded for it
    text = "plain words\n" * 100
    plain = parse_message(one_part('Content-Type: text/plain; name="a.txt"', body=text, cte="8bit"))
    att = plain.attachments[0]
    assert att.size == len(text.encode()) and not att.loaded


# -- Hypothesis: nothing raises out of parse_message ------------------------------------
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(raw: bytes) -> None:
    msg = parse_message(raw)
    for att in msg.attachments:
        att.data  # noqa: B018 - decoding must not raise either
        att.normalized_name  # noqa: B018


_SEEDS = [one_part(*c[1]) for c in MTA_CASES[:8]]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_SEEDS),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.binary(max_size=8), st.integers(0, 8)), max_size=8
    ),
)
def test_mutated_messages_never_raise(seed: bytes, edits: list[tuple[int, bytes, int]]) -> None:
    raw = bytearray(seed)
    for pos, insert, cut in edits:
        pos %= len(raw) + 1
        raw[pos : pos + cut] = insert
    msg = parse_message(bytes(raw))
    for att in msg.attachments:
        att.data  # noqa: B018
        att.tricks  # noqa: B018


def test_mutated_real_messages_never_raise(thirdparty: Path) -> None:
    rng = random.Random(2001)
    files = sorted(p for p in thirdparty.rglob("*") if p.is_file() and p.stat().st_size < 200_000)
    for path in files[::3]:
        data = bytearray(path.read_bytes())
        for _ in range(5):
            raw = bytearray(data)
            for _ in range(rng.randint(1, 20)):
                pos = rng.randrange(len(raw) + 1)
                raw[pos : pos + rng.randint(0, 40)] = rng.choice(
                    [b"", b"\r\n", b"--", b"=?", b'"', b";", b"*0*=", bytes([rng.randrange(256)])]
                )
            msg = parse_message(bytes(raw))
            for att in msg.attachments:
                att.data  # noqa: B018


def test_never_raises_even_if_internals_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(mime, "split_multipart", boom)
    msg = parse_message(one_part('Content-Type: application/x; name="a.exe"'))
    assert any(d.startswith("parser-error") for d in msg.defects)


def test_attachment_is_the_models_with_its_facts_and_lazy_payload() -> None:
    att = parse_message(one_part('Content-Type: a/b; name="x.exe"')).attachments[0]
    assert isinstance(att, Attachment)
    assert (att.names, att.declared_type, att.extension, att.in_archive) == (
        ("x.exe",),
        "a/b",
        "exe",
        False,
    )
    assert not att.loaded  # the payload is decoded on first use, not by the parser
    assert att.data == base64.b64decode(PAYLOAD) and att.loaded
    assert att.size == len(att.data) and att.members == ()
