"""Content-transfer decoding: the SIMD base64 decoder gives the bytes ``binascii`` gives."""

from __future__ import annotations

import base64
import binascii
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from mailpolicy.corpus import payload

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def reference_chunk(body: bytes) -> bytes:
    """The decoding by ``binascii``, the standard library's decoder."""
    if len(body) % 4 == 1:
        body = body[:-1]
    body += b"=" * (-len(body) % 4)
    try:
        return binascii.a2b_base64(body)
    except (binascii.Error, ValueError):
        return b""


def reference(raw: bytes) -> tuple[bytes, bool]:
    """The decoding and its verdict as the first decoder gave them: every byte outside the
    alphabet dropped, then decoded by ``binascii``."""
    clean = raw.translate(None, bytes(range(256)).translate(None, ALPHABET + b"="))
    ok = not raw.translate(None, ALPHABET + b"= \t\r\n")
    body = clean.rstrip(b"=")
    if b"=" in body:
        return b"".join(reference_chunk(c) for c in re.split(rb"=+", clean)), False
    pad = len(clean) - len(body)
    return reference_chunk(body), ok and pad <= 2 and (len(body) + pad) % 4 == 0


TEXT = st.lists(
    st.one_of(
        st.sampled_from([bytes([c]) for c in ALPHABET]),
        st.sampled_from([b"=", b"==", b"\r\n", b"\n", b" ", b"\t", b"!", b"\xff", b"-"]),
    ),
    max_size=200,
).map(b"".join)


@settings(max_examples=500, deadline=None)
@given(TEXT)
def test_base64_decodes_as_binascii_does(raw: bytes) -> None:
    assert payload.base64_decode(raw) == reference(raw)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([b"", b"\n", b" ", b"=", b"==", b"\r\n=\r\n"]))
def test_canonical_base64_with_odd_endings_decodes_as_binascii_does(
    data: bytes, ending: bytes
) -> None:
    raw = base64.encodebytes(data).rstrip(b"=\n") + ending
    assert payload.base64_decode(raw) == reference(raw)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_clean_base64_round_trips_and_is_ok(data: bytes) -> None:
    raw = base64.encodebytes(data).replace(b"\n", b"\r\n")
    assert payload.base64_decode(raw) == (data, True)
