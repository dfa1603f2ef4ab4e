"""Crafted MIME evasions: each is seen, carries its fact, and a fail-closed policy stops it.

Every message is built here, inert: a two-byte "MZ" stub or an ``echo`` script.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import struct
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from mailpolicy.corpus.message import Message
from mailpolicy.corpus.mime import parse_message
from mailpolicy.corpus.mime_limits import MAX_DEPTH, MAX_PARTS, TNEF_LIMIT, UU_LIMIT
from mailpolicy.simulator.cli import main

EXE = b"MZ\x90\x00 stub, not a program"
JS = b'WScript.Echo("hello")\r\n'
POLICY = (
    "quarantine message unscannable\nquarantine evasive mime\n"
    'quarantine attachment unscannable\nblock attachment extension in ["exe","js"]\n'
)
B64_EXE = base64.b64encode(EXE).decode()


def mixed(*parts: str, boundary: str = "b") -> bytes:
    body = "".join(f"--{boundary}\n{p}\n" for p in parts)
    head = f'From: a@example.net\nContent-Type: multipart/mixed; boundary="{boundary}"\n\n'
    return (head + body + f"--{boundary}--\n").encode()


def exe_part(name: str = "evil.exe", *headers: str) -> str:
    head = "\n".join(headers or (f'Content-Type: application/octet-stream; name="{name}"',))
    return f"{head}\nContent-Transfer-Encoding: base64\n\n{B64_EXE}"


def names(msg: Message) -> set[str]:
    return {n for a in msg.attachments for n in a.names}


def nested(depth: int) -> bytes:
    heads = [f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth)]
    return ("".join(heads) + exe_part("deep.exe") + "\n").encode()


def uu(name: str, data: bytes) -> str:
    lines = [binascii.b2a_uu(data[i : i + 45]).decode() for i in range(0, len(data), 45)]
    return f"begin 644 {name}\n{''.join(lines)}`\nend\n"


def tnef(name: bytes, data: bytes, cut: int = 0) -> bytes:
    """A minimal winmail.dat: signature, key, one attachment (render data, title, data)."""

    def attr(level: int, ident: int, kind: int, payload: bytes) -> bytes:
        check = sum(payload) & 0xFFFF
        return (
            struct.pack("<BHHI", level, ident, kind, len(payload))
            + payload
            + struct.pack("<H", check)
        )

    out = struct.pack("<IH", 0x223E9F78, 0x1234)
    out += attr(2, 0x9002, 0x0006, bytes(14))
    out += attr(2, 0x8010, 0x0001, name + b"\0")
    out += attr(2, 0x800F, 0x0006, data)
    return out[: len(out) - cut] if cut else out


def tnef_mail(blob: bytes, pad: int = 0) -> bytes:
    encoded = (" " * pad) + base64.encodebytes(blob).decode()
    part = (
        'Content-Type: application/ms-tnef; name="winmail.dat"\n'
        "Content-Transfer-Encoding: base64\n\n" + encoded
    )
    return mixed("Content-Type: text/plain\n\nsee attached", part)


# -- each evasion: (message, what must be true of the parsed message) ---------------------
def _deep_past_limit(m: Message) -> None:
    assert "deep.exe" in names(m)
    assert any(f"nesting deeper than {MAX_DEPTH} levels" in r for r in m.unscannable)


def _parts_past_limit(m: Message) -> None:
    late = [a for a in m.attachments if "evil.exe" in a.names]
    assert late and late[0].unscannable
    assert any(f"more than {MAX_PARTS} MIME parts at part top" == r for r in m.unscannable)


def _uu_past_limit(m: Message) -> None:
    assert f"f{UU_LIMIT + 1}.exe" in names(m)
    assert any(f"more than {UU_LIMIT} uuencoded" in r for r in m.unscannable)


def _tnef_unscannable(why: str) -> Callable[[Message], None]:
    def check(m: Message) -> None:
        dat = next(a for a in m.attachments if "winmail.dat" in a.names)
        assert any(why in r for r in dat.unscannable), dat.unscannable

    return check


def _has(name: str, trick: str | None = None) -> Callable[[Message], None]:
    def check(m: Message) -> None:
        assert name in names(m), m.attachments
        if trick is not None:
            assert trick in m.tricks, m.tricks

    return check


PAD = " " * 1_450_000
UU_BODY = base64.encodebytes(b"see below\n" + uu("evil.exe", EXE).encode()).decode()
MANY_UU = "".join(uu(f"f{i}.exe", EXE) for i in range(1, UU_LIMIT + 2))
EVASIONS: dict[str, tuple[bytes, Callable[[Message], None]]] = {
    "nesting past the limit": (nested(MAX_DEPTH + 5), _deep_past_limit),
    "parts past the limit": (
        mixed(*["" for _ in range(MAX_PARTS + 5)], exe_part()),
        _parts_past_limit,
    ),
    "101st uuencoded file": (
        b"Content-Type: text/plain\n\n" + MANY_UU.encode(),
        _uu_past_limit,
    ),
    "uuencode behind base64 padding": (
        mixed(f"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n{PAD}{UU_BODY}"),
        _has("evil.exe"),
    ),
    "TNEF padded past its limit": (
        tnef_mail(tnef(b"evil.exe", EXE), pad=TNEF_LIMIT + 10),
        _has("evil.exe"),
    ),
    "TNEF cut short": (
        tnef_mail(tnef(b"evil.exe", EXE * 4, cut=20)),
        _tnef_unscannable("TNEF not read completely"),
    ),
    "comment before a parameter": (
        mixed(exe_part("", 'Content-Type: application/x-js; (comment) name="invoice.js"')),
        _has("invoice.js", "ambiguous-mime"),
    ),
    "bare CR line endings": (
        mixed("Content-Type: text/plain\n\nhi", exe_part()).replace(b"\n", b"\r"),
        _has("evil.exe", "bare-cr-newlines"),
    ),
    "duplicate Content-Type": (
        b'Content-Type: text/plain\nContent-Type: multipart/mixed; boundary="b"\n\n'
        + mixed(exe_part()).split(b"\n\n", 1)[1],
        _has("evil.exe", "ambiguous-mime"),
    ),
    "name only in file=": (
        mixed(exe_part("", 'Content-Type: application/octet-stream; file="evil.exe"')),
        _has("evil.exe", "ambiguous-mime"),
    ),
    "name only in Content-Type filename=": (
        mixed(exe_part("", 'Content-Type: application/octet-stream; filename="evil.exe"')),
        _has("evil.exe", "ambiguous-mime"),
    ),
    "filename and name disagree": (
        mixed(
            exe_part(
                "",
                'Content-Type: application/octet-stream; name="notes.txt"',
                'Content-Disposition: attachment; filename="evil.exe"',
            )
        ),
        _has("evil.exe", "ambiguous-mime"),
    ),
}


@pytest.mark.parametrize("case", list(EVASIONS))
def test_evasion_is_seen_with_its_fact(case: str) -> None:
    raw, check = EVASIONS[case]
    check(parse_message(raw))


@pytest.mark.parametrize("case", list(EVASIONS))
def test_fail_closed_policy_stops_it_and_names_the_fact(case: str, tmp_path: Path) -> None:
    raw, _ = EVASIONS[case]
    (tmp_path / "p.policy").write_text(POLICY)
    (tmp_path / "m.eml").write_bytes(raw)
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["explain", str(tmp_path / "p.policy"), str(tmp_path / "m.eml"), "--json"], out, err
    )
    assert code in (0, 1), err.getvalue()
    verdict = json.loads(out.getvalue())
    assert verdict["action"] in ("quarantine", "block"), verdict
    decided = next(t for t in verdict["trace"] if t["matched"])
    facts = ("cannot be read completely", "MIME structure uses", "extension")
    assert any(f in decided["why"] for f in facts), decided


def test_the_issue_cases_that_real_readers_follow_are_read_normally() -> None:
    # Depth 41 (Python's email follows it) and 5,000 empty parts: plain attachments now.
    deep = parse_message(nested(41))
    assert names(deep) == {"deep.exe"} and not deep.unscannable
    parts = parse_message(mixed(*["" for _ in range(5000)], exe_part()))
    assert names(parts) == {"evil.exe"} and not parts.unscannable


def test_duplicate_content_type_lists_both_readings() -> None:
    raw, _ = EVASIONS["duplicate Content-Type"]
    m = parse_message(raw)
    assert [(a.part, a.names) for a in m.attachments] == [("1~ct2", ("evil.exe",))]
    assert any("2 content-type headers that differ" in d for d in m.defects)


def test_duplicate_transfer_encoding_lists_both_payloads() -> None:
    m = parse_message(
        mixed(
            'Content-Type: application/octet-stream; name="a.bin"\n'
            "Content-Transfer-Encoding: 7bit\n"
            f"Content-Transfer-Encoding: base64\n\n{B64_EXE}"
        )
    )
    assert [a.part for a in m.attachments] == ["1", "1~cte2"]
    assert m.attachments[1].data == EXE and "ambiguous-mime" in m.tricks


def test_harmless_duplicates_are_not_ambiguous() -> None:
    m = parse_message(
        b"MIME-Version: 1.0\nMIME-Version: 1.0\n"
        + mixed(
            exe_part(
                "",
                'Content-Type: application/pdf; name="a.pdf"',
                'Content-Type: application/pdf;  name="a.pdf"',
                'Content-Disposition: attachment; filename="a.pdf"',
                'Content-Disposition: attachment; filename="a.pdf"',
            )
        )
    )
    assert names(m) == {"a.pdf"} and m.tricks == () and m.unscannable == ()


def test_comments_inside_a_value_are_not_cut() -> None:
    m = parse_message(mixed(exe_part("", "Content-Type: application/pdf; name=Inv_(30).pdf")))
    assert names(m) == {"Inv_(30).pdf"} and m.tricks == ()


# -- resources: every shape in bounded time and memory ----------------------------------
SHAPES = {
    "one header folded 2 million times": b"Subject: x\n" + b" a\n" * 2_000_000 + b"\nhi\n",
    "a million header lines": b"X-A: b\n" * 1_000_000 + b"\nhi\n",
    "lines without a colon": b"Subject: a\n" + b"x\n \n" * 500_000 + b"\nhi\n",
    "a million empty parts": b'Content-Type: multipart/mixed; boundary="b"\n\n' + b"--b\n" * 10**6,
    "boundary look-alikes": b'Content-Type: multipart/mixed; boundary="b"\n\n' + b"x--b" * 10**6,
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_hostile_shapes_parse_in_bounded_time_and_memory(shape: str) -> None:
    raw = SHAPES[shape]
    tracemalloc.start()
    t0 = time.process_time()
    try:
        msg = parse_message(raw)
        spent = time.process_time() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert spent < 5, spent  # about 0.1 s each untraced; tracemalloc slows allocation
    assert peak < 2 * len(raw) + (8 << 20), (peak, len(raw))
    assert msg.defects or msg.unscannable or msg.headers


BASELINE = Path(__file__).resolve().parents[2] / "policy" / "policies" / "baseline.policy"


@pytest.mark.parametrize("case", list(EVASIONS))
def test_the_shipped_baseline_stops_it_and_names_the_fact(case: str, tmp_path: Path) -> None:
    """The regression samples against the policy administrators actually start from."""
    raw, _ = EVASIONS[case]
    (tmp_path / "m.eml").write_bytes(raw)
    out, err = io.StringIO(), io.StringIO()
    code = main(["explain", str(BASELINE), str(tmp_path / "m.eml"), "--json"], out, err)
    assert code in (0, 1), err.getvalue()
    verdict = json.loads(out.getvalue())
    assert verdict["action"] in ("quarantine", "block"), verdict
    decided = next(t for t in verdict["trace"] if t["matched"])
    facts = ("cannot be read completely", "MIME structure uses", "extension of", "name ")
    assert any(f in decided["why"] for f in facts), decided
