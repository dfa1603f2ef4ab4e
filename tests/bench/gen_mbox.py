"""A generated benchmark mbox: N messages, one in ten with a 200 KB attachment.

``write_mbox(path, messages=3000)`` writes about 100 MB: every message carries a few small
attachments (names from the SirCam story and everyday mail, a tenth of them executables or
double extensions) and one in ten carries a 200 KB base64 attachment. Deterministic.
"""

from __future__ import annotations

import base64
import random
import sys
from pathlib import Path

NAMES = [
    "test.tar.gz",
    "archive.sit.bin",
    "test.2001.01.01",
    "report.pdf",
    "photo.jpg",
    "minutes.docx",
    "setup.v2.1.zip",
    "notes.txt",
    "budget.xls",
    "invoice.pdf",
]
BAD = ["書類名1.doc.bat", "invoice.pif", "同窓会名簿.xls.lnk", "setup.exe", "readme.txt.scr"]
PE = b"MZ\x90\x00" + b"\x00" * 56 + b"\x40\x00\x00\x00" + b"PE\x00\x00" + b"\x00" * 200
PDF = b"%PDF-1.4\n" + b"1 0 obj<<>>endobj\n" * 20 + b"%%EOF\n"


def _content(name: str, rng: random.Random) -> bytes:
    """Bytes that agree with the name's extension, so only the planted executables stand out."""
    if name.endswith(".pdf"):
        return PDF + rng.randbytes(2000)
    if name.endswith((".txt", ".01")):
        return b"log line\n" * 250
    return rng.randbytes(2000)


def _part(name: str, data: bytes, boundary: str) -> str:
    b64 = base64.encodebytes(data).decode("ascii")
    return (
        f'--{boundary}\nContent-Type: application/octet-stream; name="{name}"\n'
        f'Content-Disposition: attachment; filename="{name}"\n'
        f"Content-Transfer-Encoding: base64\n\n{b64}"
    )


def message(i: int, rng: random.Random) -> str:
    boundary = f"=_b{i:06d}"
    parts = [
        f"--{boundary}\nContent-Type: text/plain; charset=us-ascii\n\n"
        f"Hello, message {i}.\n" + "Lorem ipsum dolor sit amet. " * 40 + "\n"
    ]
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.1:
            parts.append(_part(rng.choice(BAD), PE, boundary))
        else:
            name = rng.choice(NAMES)
            parts.append(_part(name, _content(name, rng), boundary))
    if i % 10 == 0:
        parts.append(_part(f"scan{i}.pdf", PDF + rng.randbytes(200_000), boundary))
    head = (
        f"From sender{i}@example.net Mon Jul 16 09:{i % 60:02d}:00 2001\n"
        f"Return-Path: <sender{i}@example.net>\nDelivered-To: user{i % 50}@example.ac.jp\n"
        f"Received: from mx.example.net by mail.example.ac.jp; Mon, 16 Jul 2001 09:00:00 +0900\n"
        f"From: <sender{i}@example.net>\nTo: <user{i % 50}@example.ac.jp>\n"
        f"Subject: message {i}\nMessage-ID: <bench-{i}@example.net>\n"
        f"Date: Mon, 16 Jul 2001 09:00:00 +0900\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n'
    )
    return head + "\n".join(parts) + f"--{boundary}--\n\n"


def write_mbox(path: Path, messages: int = 3000, seed: int = 2001) -> Path:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for i in range(messages):
            fh.write(message(i, rng))
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bench.mbox")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    write_mbox(out, n)
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB, {n} messages")
