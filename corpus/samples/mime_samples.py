"""Bundled samples of ambiguous MIME: what readers disagree on, and a harmless look-alike.

``MIME_SAMPLES`` holds one ``MimeSample`` per message, with exactly the fields of
``make_samples.Sample`` (``Sample(**dataclasses.asdict(s))`` converts one), so the
generator can add them to its list; this module imports nothing from it (the generator
runs as a script and would be imported twice). Keys are numbered after the samples that
exist when this was written (``benign-30``, ``malicious-37``); renumber when wiring in.

Every part is inert: the "program" is a 64-byte stub that starts with ``MZ`` and holds no
code, the script only echoes. Which reader shows what is in ``corpus.ambiguity``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

STUB = b"MZ" + bytes(62)  #: an MS-DOS header signature and nothing that runs
ECHO_JS = b'WScript.Echo("sample");\r\n'


@dataclass(frozen=True)
class MimeSample:
    """The fields of ``make_samples.Sample``, in its order."""

    key: str
    label: str
    tests: str
    policy: str
    sender: str
    subject: str
    parts: tuple[bytes, ...]
    names: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    tricks: tuple[str, ...] = ()
    rcpt: str = "tanaka@example.ac.jp"
    from_: str | None = None
    auth: str = ""


def _sample(
    key: str,
    label: str,
    tests: str,
    policy: str,
    sender: str,
    subject: str,
    *parts: bytes,
    names: tuple[str, ...],
) -> MimeSample:
    return MimeSample(key, label, tests, policy, sender, subject, parts, names=names)


def _part(headers: list[str], payload: bytes) -> bytes:
    head = "\n".join([*headers, "Content-Transfer-Encoding: base64"])
    return head.encode() + b"\n\n" + base64.encodebytes(payload)


def _text(body: str) -> bytes:
    return b"Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n" + (
        body.encode()
    )


_DUP_BOUNDARY = "=_dup_ct"
#: The whole body: text/plain first (Python's email, enmime), multipart/mixed last
#: (ripMIME, munpack and the mail clients that let the last header win).
_DUPLICATE_CONTENT_TYPE = (
    b"Content-Type: text/plain; charset=us-ascii\n"
    + f'Content-Type: multipart/mixed; boundary="{_DUP_BOUNDARY}"\n\n'.encode()
    + f"--{_DUP_BOUNDARY}\n".encode()
    + _text("Please see the attached update.\n")
    + f"\n--{_DUP_BOUNDARY}\n".encode()
    + _part(['Content-Type: application/octet-stream; name="update.exe"'], STUB)
    + f"--{_DUP_BOUNDARY}--\n".encode()
)

MIME_SAMPLES: list[MimeSample] = [
    _sample(
        "malicious-38",
        "malicious",
        "two Content-Type headers: text/plain first, the multipart with update.exe last;"
        " readers that take the last header show the program",
        "quarantine: evasive mime (ambiguous-mime); block: extension exe",
        "stranger@example.net",
        "system update",
        _DUPLICATE_CONTENT_TYPE,
        names=("update.exe",),
    ),
    _sample(
        "malicious-39",
        "malicious",
        "the name only in the non-standard file= parameter (enmime reads it)",
        "quarantine: evasive mime (ambiguous-mime); block: extension exe",
        "stranger@example.net",
        "invoice",
        _text("The invoice is attached.\n"),
        _part(['Content-Type: application/octet-stream; file="invoice.exe"'], STUB),
        names=("invoice.exe",),
    ),
    _sample(
        "malicious-40",
        "malicious",
        "a comment before the name parameter: Content-Type: ...; (comment) name=invoice.js"
        " (Python's email with policy.default sees the name)",
        "quarantine: evasive mime (ambiguous-mime); block: extension js",
        "stranger@example.net",
        "invoice",
        _text("The invoice is attached.\n"),
        _part(['Content-Type: application/javascript; (scanned) name="invoice.js"'], ECHO_JS),
        names=("invoice.js",),
    ),
    _sample(
        "benign-31",
        "benign",
        "duplicate headers that say the same thing (MIME-Version twice, Content-Type twice"
        " with other spacing): every reader reads them alike, not ambiguous",
        "deliver",
        "sato@example.co.jp",
        "minutes",
        _text("The minutes are attached.\n"),
        _part(
            [
                'Content-Type: application/pdf; name="minutes.pdf"',
                'Content-Type: application/pdf;  name="minutes.pdf"',
                'Content-Disposition: attachment; filename="minutes.pdf"',
                "MIME-Version: 1.0",
                "MIME-Version: 1.0",
            ],
            b"%PDF-1.3\n%%EOF\n",
        ),
        names=("minutes.pdf",),
    ),
]
