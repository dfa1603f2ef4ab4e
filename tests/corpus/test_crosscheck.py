"""Our byte-level parser against Python's ``email`` package, on every real message we have.

``corpus.mime`` is the fast path (offsets into the raw bytes, lazy payloads); the standard
parser is the slow, well-known one. On every message of the bundled corpus and the
third-party corpus, every filename the standard parser reports must be seen by ours too.
Where the two read a name differently, the difference is one of the standard parser's
known gaps, each decided by an RFC:
- a raw 8-bit name it cannot decode (it yields U+FFFD or surrogates; RFC 6532 allows
  UTF-8, and real mail carries Shift_JIS and EUC-JP: we decode them);
- an RFC 2047 encoded-word inside a quoted parameter, which it leaves encoded (RFC 2047
  section 5 forbids it there; Outlook writes it and every client decodes it, so do we);
- an unquoted value cut at a tspecial such as ``/`` or a space (RFC 2045 section 5.1
  would require quotes; clients take the whole value, so do we: ``filename=attach/01``);
- trailing whitespace, which it strips and we keep (the ``trailing-space`` trick).
"""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from mailpolicy.corpus.mime import parse_message
from mailpolicy.corpus.readers import RawMessage, iter_raw

ROOT = Path(__file__).resolve().parents[2]


def _standard_names(data: bytes) -> list[str]:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    out = []
    for part in msg.walk():
        try:
            name = part.get_filename()
        except Exception:  # noqa: BLE001 - the standard parser's own failure: nothing to compare
            continue
        if name:
            out.append(name)
    return out


def _explained(theirs: str, ours: set[str]) -> bool:
    if theirs in ours or theirs.strip() in {n.strip() for n in ours}:
        return True
    if "\ufffd" in theirs or any("\udc80" <= c <= "\udcff" for c in theirs):
        return True  # undecodable raw 8-bit name
    if "=?" in theirs and "?=" in theirs:
        return True  # encoded-word left encoded inside a quoted parameter
    return any(n.startswith(theirs) and n != theirs for n in ours)  # unquoted value cut short


def _messages(thirdparty: Path) -> list[RawMessage]:
    roots = [
        ROOT / "corpus" / "samples" / "maildir",
        ROOT / "corpus" / "samples" / "mbox",
        thirdparty,
    ]
    return [r for r in iter_raw(roots) if isinstance(r, RawMessage)]


def test_every_standard_name_is_seen(thirdparty: Path) -> None:
    messages = _messages(thirdparty)
    assert len(messages) > 250
    compared = 0
    for raw in messages:
        ours = {n for a in parse_message(raw.data).attachments for n in a.names}
        for name in _standard_names(raw.data):
            compared += 1
            assert _explained(name, ours), (raw.path, raw.key, name, sorted(ours))
    assert compared > 300


@pytest.mark.parametrize(
    "rel",
    [
        "apache-james-mime4j/mimetools-testmsgs/multi-2evil.msg",
        "php-mime-mail-parser/mails/issue133",
    ],
)
def test_known_differences_are_ours_to_keep(thirdparty: Path, rel: str) -> None:
    """The differences above are real: the standard parser's name is not ours verbatim."""
    data = (thirdparty / rel).read_bytes()
    ours = {n for a in parse_message(data).attachments for n in a.names}
    assert any(name not in ours for name in _standard_names(data))
