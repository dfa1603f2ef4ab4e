"""A bounded SMTP load generator for the milter's live tests and benchmark.

- ``workload(count, seed, tag)``: ``count`` messages in a fixed, realistic mix (the same
  seed gives the same bytes; ``tag`` goes into each Message-ID only, so the same messages
  can be sent through two routes and told apart at the sink):

  ====  =========  ===============================================================
  38%   text       plain text, 1-40 KB
  16%   pdf        a one-page PDF with a long text stream, 20-700 KB
  14%   zip        a zip of a PDF and a CSV (documents), 10-700 KB
  14%   office     a .docx (Office Open XML, no macros), 10-500 KB
   6%   large      a PDF of about 720 KB: the message is about 1 MB with base64
   6%   exe        ``setup.exe`` (a PE header): the baseline blocks it
   6%   zipexe     a zip holding ``invoice.exe``: the baseline blocks it
  ====  =========  ===============================================================

- ``send(port, mails, sessions)``: ``sessions`` threads, each opening one SMTP session per
  message (smtplib), until every message has a final answer. A 4xx (at any command) or a
  connection that fails before the end of DATA is retried after ``retry_delay`` up to
  ``attempts`` times; a 2xx or 5xx after DATA is final. ``Result.latency`` is the time of
  the final attempt from ``connect`` to the reply after the end of DATA (the span in which
  Postfix consults the milter: connect, HELO, MAIL, RCPT, header, body, end of message);
  ``Result.eod`` the part from the last byte of the message to that reply.
- ``send(..., rate=R)``: an offered load of R messages per second (open loop, as mail
  arrives), for the latency at a given rate rather than at saturation.
- ``percentile(values, p)``: nearest-rank percentile.

A connection that drops after the message was sent is not retried: its fate is unknown to
the client (an MTA would retry and may duplicate); ``Result.code`` is then 0.
"""

from __future__ import annotations

import io
import math
import random
import smtplib
import threading
import time
import zipfile
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP

from mailpolicy.corpus.samples.make_samples import docx, pdf, pe_stub

MIX = [
    ("text", 38),
    ("pdf", 16),
    ("zip", 14),
    ("office", 14),
    ("large", 6),
    ("exe", 6),
    ("zipexe", 6),
]
#: The kinds the shipped baseline refuses (550).
BLOCKED = frozenset({"exe", "zipexe"})
WORDS = "the of report quarterly budget minutes network committee draft review plan".split()


@dataclass(frozen=True, slots=True)
class Mail:
    mid: str
    kind: str
    sender: str
    rcpt: str
    wire: bytes  # CRLF lines, dot-stuffed, ending with CRLF (the terminating "." is added)
    size: int


@dataclass(slots=True)
class Result:
    mail: Mail
    code: int = 0
    reply: str = ""
    attempts: int = 0
    latency: float = 0.0
    eod: float = 0.0
    #: when the final attempt connected (``time.perf_counter``)
    start: float = 0.0
    tempfails: list[str] = field(default_factory=list)


def _text(rng: random.Random, size: int) -> str:
    words: list[str] = []
    n = 0
    while n < size:
        w = rng.choice(WORDS)
        words.append(w)
        n += len(w) + 1
    lines = [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
    return "\n".join(lines) + "\n"


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2026, 11, 30, 9, 0, 0)), data)
    return buf.getvalue()


def _docx(rng: random.Random, size: int) -> bytes:
    with zipfile.ZipFile(io.BytesIO(docx())) as src:
        parts = {n: src.read(n) for n in src.namelist()}
    para = "".join(
        f"<w:p><w:r><w:t>{_text(rng, 400)}</w:t></w:r></w:p>" for _ in range(size // 400)
    )
    doc = parts["word/document.xml"].decode()
    parts["word/document.xml"] = doc.replace("<w:body>", "<w:body>" + para, 1).encode()
    return _zip(list(parts.items()))


def _attachment(kind: str, rng: random.Random) -> tuple[str, bytes, str, str] | None:
    """(file name, bytes, maintype, subtype) for a kind, or None for plain text."""
    if kind == "pdf":
        return "report.pdf", pdf(_text(rng, rng.randint(20, 700) << 10)), "application", "pdf"
    if kind == "large":
        return "scan.pdf", pdf(_text(rng, 720 << 10)), "application", "pdf"
    if kind == "zip":
        size = rng.randint(10, 700) << 10
        members = [
            ("summary.pdf", pdf(_text(rng, size // 3))),
            ("data.csv", rng.randbytes(size * 2 // 3)),
        ]
        return "documents.zip", _zip(members), "application", "zip"
    if kind == "office":
        office = "vnd.openxmlformats-officedocument.wordprocessingml.document"
        return "minutes.docx", _docx(rng, rng.randint(10, 500) << 10), "application", office
    if kind == "exe":
        return "setup.exe", pe_stub() + rng.randbytes(4096), "application", "octet-stream"
    if kind == "zipexe":
        return "invoice.zip", _zip([("invoice.exe", pe_stub())]), "application", "zip"
    return None


def _wire(msg: EmailMessage) -> bytes:
    data = msg.as_bytes(policy=SMTP)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    data = data.replace(b"\r\n.", b"\r\n..")
    return b"." + data if data.startswith(b".") else data


def workload(count: int, seed: int = 16, tag: str = "m") -> list[Mail]:
    """``count`` messages of the mix, in a shuffled but fixed order."""
    rng = random.Random(seed)
    kinds = [k for k, share in MIX for _ in range(share)]
    out = []
    for i in range(count):
        kind = rng.choice(kinds)
        body_rng = random.Random(seed * 1_000_003 + i)
        msg = EmailMessage()
        sender, rcpt = f"user{i % 50}@example.org", f"staff{i % 20}@example.net"
        msg["From"], msg["To"] = sender, rcpt
        msg["Subject"] = f"{kind} {i}"
        msg["Date"] = "Mon, 30 Nov 2026 09:00:00 +0000"
        msg["Message-ID"] = f"<{tag}.{seed}.{i}.{kind}@loadgen.example.org>"
        msg.set_content(_text(body_rng, body_rng.randint(1, 40) << 10 if kind == "text" else 300))
        att = _attachment(kind, body_rng)
        if att is not None:
            name, data, main, sub = att
            msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
        wire = _wire(msg)
        out.append(Mail(str(msg["Message-ID"]), kind, sender, rcpt, wire, len(wire)))
    return out


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class _Retry(Exception):
    pass


def _attempt(port: int, mail: Mail, res: Result, timeout: float) -> None:
    """One SMTP session; fills ``res`` with a final answer or raises ``_Retry``."""
    t0 = time.perf_counter()
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise _Retry(f"connect: {exc}") from None
    sent = False
    try:
        for cmd, ok in (
            ("EHLO loadgen.example.org", 250),
            (f"MAIL FROM:<{mail.sender}>", 250),
            (f"RCPT TO:<{mail.rcpt}>", 250),
            ("DATA", 354),
        ):
            code, text = s.docmd(cmd)
            if code != ok:
                if 400 <= code < 500 or code == 421:
                    raise _Retry(f"{cmd.split()[0]}: {code} {text.decode(errors='replace')}")
                res.code, res.reply = code, text.decode(errors="replace")
                return
        s.send(mail.wire + b".\r\n")
        sent = True
        t1 = time.perf_counter()
        code, text = s.getreply()
        t2 = time.perf_counter()
        if 400 <= code < 500:
            raise _Retry(f"end of data: {code} {text.decode(errors='replace')}")
        res.code, res.reply = code, text.decode(errors="replace")
        res.latency, res.eod, res.start = t2 - t0, t2 - t1, t0
    except (OSError, smtplib.SMTPException) as exc:
        if not sent:
            raise _Retry(f"session: {exc}") from None
        res.code, res.reply = 0, f"unknown fate: {exc}"
    finally:
        try:
            s.quit()
        except (OSError, smtplib.SMTPException):
            s.close()


def send(
    port: int,
    mails: list[Mail],
    sessions: int = 8,
    *,
    attempts: int = 60,
    retry_delay: float = 0.25,
    timeout: float = 60,
    rate: float = 0.0,
) -> list[Result]:
    """Send every mail (see the module docstring); results in the order of ``mails``.
    With ``rate``, message ``i`` starts no earlier than ``i / rate`` seconds after the
    first (an offered load; still at most ``sessions`` at once)."""
    results = [Result(m) for m in mails]
    lock = threading.Lock()
    todo = iter(enumerate(results))
    start = time.perf_counter()

    def worker() -> None:
        while True:
            with lock:
                i, res = next(todo, (0, None))
            if res is None:
                return
            if rate > 0:
                time.sleep(max(0.0, start + i / rate - time.perf_counter()))
            while res.attempts < attempts:
                res.attempts += 1
                try:
                    _attempt(port, res.mail, res, timeout)
                    break
                except _Retry as why:
                    res.tempfails.append(str(why))
                    time.sleep(retry_delay)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
