"""The mixed workload of the matcher benchmarks: a policy of N rules of every common kind,
and fresh messages that meet some of them.

``mixed_policy(n)`` is what a large site accumulates, in these proportions (the last two
rules are in every size):

- 25% ``block sender matches "*@spamK.example"``: blocked sender domains;
- 20% ``block attachment extension "xK" unless sender in partners``, with ``partners`` a
  list of n/4 domains and ``*@`` globs: hundreds of exceptions for partners;
- 15% ``quarantine attachment name matches "*invK*.exe"``: name globs with a wildcard in
  the middle;
- 5% each ``subject contains``, ``header "X-Mailer" contains``, ``body contains``,
  ``recipient in [...]``, ``size > KMB``, ``attachment declared type "application/x-vK"``,
  ``subject matches "*weekly K *"``, and ``attachment (name matches "*.docK" and type
  executable)`` (a true type read only for the attachments the name selects);
- then ``block attachment double extension in executable`` and ``block attachment
  extension in executable unless sender in partners``.

``fresh_messages(seed, count)`` builds new ``Message`` objects (nothing cached from an
earlier round): senders from a pool that includes partner and blocked domains, names that
hit some globs and extensions, subjects, X-Mailer values and bodies that contain some
needles. The same seed gives the same messages.
"""

from __future__ import annotations

import random

from mailpolicy.corpus.message import Attachment, Message

EXECUTABLE = ["exe", "pif", "scr", "bat", "com", "lnk", "vbs"]
PLAIN_NAMES = ["report.pdf", "photo.jpg", "minutes.docx", "notes.txt", "budget.xls", "test.tar.gz"]
PE = b"MZ\x90\x00" + b"\x00" * 56 + b"\x40\x00\x00\x00" + b"PE\x00\x00" + b"\x00" * 200


def _share(n: int, percent: int) -> int:
    return max(1, n * percent // 100)


def mixed_policy(n: int) -> str:
    """A policy of about ``n`` rules (at least one of each kind), as text."""
    partners = [f'"partner{k}.example.com"' for k in range(max(2, n // 8))]
    partners += [f'"*@vendor{k}.example"' for k in range(max(2, n // 8))]
    lines = [
        'policy "mixed"',
        "list executable = [" + ", ".join(f'"{e}"' for e in EXECUTABLE) + "]",
        "list partners = [" + ", ".join(partners) + "]",
    ]
    kinds: list[tuple[int, str]] = [
        (25, 'block sender matches "*@spam{k}.example"'),
        (20, 'block attachment extension "x{k}" unless sender in partners'),
        (15, 'quarantine attachment name matches "*inv{k}*.exe"'),
        (5, 'quarantine subject contains "offer {k} "'),
        (5, 'quarantine header "X-Mailer" contains "mailer{k}/"'),
        (5, 'quarantine body contains "wire {k} dollars"'),
        (5, 'quarantine recipient in ["user{k}@dept.example.ac.jp"]'),
        (5, "quarantine size > {mb}MB"),
        (5, 'block attachment declared type "application/x-v{k}"'),
        (5, 'tag "X-Tagged: {k}" when subject matches "*weekly {k} *"'),
        (5, 'block attachment (name matches "*.doc{k}" and type executable)'),
    ]
    rules: list[str] = []
    counts = [_share(n, p) for p, _ in kinds]
    for step in range(max(counts)):
        for (_, text), count in zip(kinds, counts):
            if step < count:
                rules.append(text.format(k=step, mb=5 + step))
    rules = rules[: max(n - 2, len(kinds))]
    rules.append("block attachment double extension in executable")
    rules.append("block attachment extension in executable unless sender in partners")
    return "\n".join(lines + rules) + "\n"


def _sender(rng: random.Random) -> str:
    r = rng.random()
    k = rng.randrange(5000)
    if r < 0.15:
        return f"sales@spam{k}.example"
    if r < 0.30:
        return f"build@mail.partner{k}.example.com"
    if r < 0.40:
        return f"it@vendor{k}.example"
    return f"user{rng.randrange(10**6)}@host{k}.example.net"


def _name(rng: random.Random) -> str:
    r = rng.random()
    k = rng.randrange(5000)
    if r < 0.05:
        return f"scan-inv{k}-2026.exe"
    if r < 0.10:
        return f"invoice{k}.x{k}"
    if r < 0.13:
        return f"letter.doc{k}"
    if r < 0.16:
        return f"readme.txt.{rng.choice(EXECUTABLE)}"
    if r < 0.18:
        return f"setup.{rng.choice(EXECUTABLE)}"
    return rng.choice(PLAIN_NAMES).replace(".", f"-{k}.", 1)


def _attachment(rng: random.Random) -> Attachment:
    name = _name(rng)
    data = PE if name.startswith("letter") and rng.random() < 0.5 else b"%PDF-1.4\n" + bytes(64)
    declared = f"application/x-v{rng.randrange(5000)}" if rng.random() < 0.05 else "application/pdf"
    return Attachment(names=(name,), data=data, declared_type=declared, part="2")


def fresh_messages(seed: int, count: int) -> list[Message]:
    """``count`` new messages (see the module docstring)."""
    rng = random.Random(seed)
    out: list[Message] = []
    for i in range(count):
        k = rng.randrange(5000)
        subject = rng.choice(
            [
                f"Special offer {k} today",
                f"Minutes of meeting {k}",
                f"Team weekly {k} report",
                "Re: hi",
            ]
        )
        mailer = rng.choice([f"Mailer{k}/1.0", "Thunderbird 115", "Outlook 16.0"])
        body = (
            f"Hello,\nplease wire {k} dollars to the account below.\n"
            if rng.random() < 0.1
            else "Hello,\nthe minutes are attached. " + "Lorem ipsum dolor sit amet. " * 20
        )
        size = rng.choice([4_000, 40_000, 400_000, 12_000_000])
        out.append(
            Message(
                path=f"fresh-{seed}-{i}",
                sender=_sender(rng),
                recipients=(f"user{rng.randrange(5000)}@dept.example.ac.jp",),
                headers=(("Subject", subject), ("From", "x@y.z"), ("X-Mailer", mailer)),
                body=body,
                size=size,
                attachments=tuple(_attachment(rng) for _ in range(rng.randint(0, 3))),
            )
        )
    return out
