"""Small corpora and policies written by the simulator tests (imported by the test modules)."""

from __future__ import annotations

import os
from pathlib import Path

ENVELOPE = b"From sender@example.com Mon Jul 16 10:00:00 2001\n"


def message(
    n: int, name: str, *, sender: str = "sender@example.com", payload: str = "aGVsbG8gd29ybGQK"
) -> bytes:
    """One small MIME message with one base64 attachment called ``name``."""
    return (
        f"Return-Path: <{sender}>\nFrom: {sender}\nTo: rcpt@example.org\nSubject: message {n}\n"
        f"Message-ID: <m{n}@test.example>\nDate: Mon, 16 Jul 2001 10:00:00 +0000\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="BOUNDARY"\n\n'
        "--BOUNDARY\nContent-Type: text/plain\n\nhello\n\n"
        f"--BOUNDARY\nContent-Type: application/octet-stream\n"
        f'Content-Disposition: attachment; filename="{name}"\n'
        f"Content-Transfer-Encoding: base64\n\n{payload}\n--BOUNDARY--\n"
    ).encode()


def mbox_message(n: int, name: str) -> bytes:
    """``message`` as one mbox entry: envelope line, message, blank separator line."""
    return ENVELOPE + message(n, name) + b"\n"


class CorpusFiles:
    """A Maildir under ``root`` (its name can be a label: ``benign``, ``malicious``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("cur", "new", "tmp"):
            os.makedirs(root / sub, exist_ok=True)

    def maildir_raw(self, key: str, data: bytes) -> Path:
        path = self.root / "cur" / key
        path.write_bytes(data)
        return path

    def maildir_message(self, key: str, n: int, name: str) -> Path:
        return self.maildir_raw(key, message(n, name))


def policy_file(directory: Path, *rules: str, name: str = "test") -> Path:
    """A policy file holding ``rules``, one a line (the first rule is on line 1)."""
    path = directory / f"{name}.policy"
    path.write_text("\n".join(rules) + "\n", encoding="utf-8")
    return path


def write_large_mbox(path: Path, count: int) -> None:
    """An mbox of ``count`` small messages, every tenth with an executable name."""
    with open(path, "wb") as fh:
        fh.writelines(
            mbox_message(n, f"file{n}.pif" if n % 10 == 0 else f"file{n}.txt") for n in range(count)
        )
