"""``--verify`` for the postfix target with a real Postfix on 127.0.0.1 (end to end).

Why: the table runner (``postfix.PostfixRunner``: ``postmap -hm -q - pcre:TABLE``) answers
for the tables, but sender exceptions are a two-stage *configuration* (``smtpd``
``check_sender_access`` -> ``FILTER`` -> a second ``smtpd`` whose ``cleanup`` runs the
full table). Only a running Postfix says what that configuration does with a message.

Contract (``LivePostfixRunner``, a ``runner.Runner``):

- ``check()``: the tools exist (``postfix``, ``postmap``, ``postqueue``, ``smtp-sink``),
  the tables load in ``postmap`` without a warning, then the private instance starts
  and listens. A missing tool, a table warning or a start failure is a ``VerifyError``
  (exit 2 of ``--verify``): never a silent pass.
- ``run(data, sender, recipients)``: the raw message goes over SMTP (Python ``smtplib``)
  to the first-stage ``smtpd`` with ``MAIL FROM:<sender>`` (the Return-Path; ``<>``
  when there is none) and ``RCPT TO`` for each recipient (``postmaster@example.invalid``
  when there is none). The verdict is what Postfix did, read from its log
  (``maillog_file``), its hold queue (``postqueue -j``) and the sink's capture files:

  ============================================  ==========  ====================
  Postfix                                       action      ``how``
  ============================================  ==========  ====================
  5xx to ``DATA`` (stage 1 ``REJECT``)          block       ``smtp-reject``
  stage 2 said 5xx, stage 1 bounced (a DSN      block       ``bounce``
  to the sender, captured by the sink)
  ``hold:`` logged and the id in the hold       quarantine  ``hold``
  queue
  ``discard:`` logged                           discard     ``discard``
  delivered to ``smtp-sink`` and captured       allow       ``delivered``
  anything else (4xx, deferred: at once; none   error       ``error``
  within ``MESSAGE_TIMEOUT``)
  ============================================  ==========  ====================

  The deciding rule is the ``[mailpolicy rule ID]`` of the Postfix reply or log line
  (``-``, the encoded-name catch-all, is ``None``). ``deliver`` gives the same verdict
  in a ``Delivery`` with the stage, the queue ids, the SMTP reply the client got and,
  for a bounce, the path of the DSN the sink captured.
- ``close()`` stops Postfix
  (``postfix -c DIR stop``) and the sink (by pid) and waits for both to exit.

What only the live run shows: stage 1 runs the exempt table for *every* sender, so a
stage-1 ``HOLD`` (the encoded-name catch-all of ``--approximate``) keeps a message from
reaching stage 2, where a rule with a sender exception would have rejected it: the
verdict is quarantine where the table runner says block (both stop the message).

The private instance itself is ``postfix_instance.PostfixInstance``.
"""

from __future__ import annotations

import os
import re
import smtplib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailpolicy.policy.export.base import ExportResult
from mailpolicy.policy.export.postfix import PostfixRunner
from mailpolicy.policy.export.postfix_instance import HOST, PostfixInstance, Queued
from mailpolicy.policy.export.runner import TargetVerdict, VerifyError, need

if TYPE_CHECKING:
    pass

#: Seconds to wait for one message's fate.
MESSAGE_TIMEOUT = 30.0
POLL = 0.005
#: Used when a message names no recipient.
DEFAULT_RCPT = "postmaster@example.invalid"

_RULE = re.compile(r"\[mailpolicy rule ([^\]\s]+)\]")
_QUEUED = re.compile(r"queued as ([0-9A-Za-z]+)")


@dataclass(frozen=True, slots=True)
class Delivery:
    """What Postfix did with one message: the verdict and how it came about."""

    verdict: TargetVerdict
    how: str = ""  # smtp-reject, bounce, hold, discard, delivered, error
    stage: int = 0  # 1: the public smtpd's cleanup; 2: the FILTER smtpd's cleanup
    reply: str = ""  # the SMTP reply to DATA the sending client got
    queue_ids: tuple[str, ...] = ()
    dsn: str | None = None  # bounce: the sink's capture file of the DSN to the sender


def _outcome(
    action: str,
    rule: str | None,
    detail: str,
    how: str,
    stage: int = 0,
    reply: str = "",
    queue_ids: tuple[str, ...] = (),
    dsn: str | None = None,
) -> Delivery:
    return Delivery(TargetVerdict(action, rule, detail), how, stage, reply, queue_ids, dsn)


def _rule(text: str) -> str | None:
    m = _RULE.search(text)
    return None if m is None or m.group(1) == "-" else m.group(1)


class LivePostfixRunner:
    """The verify Runner over a live ``PostfixInstance`` (its own, or a shared one)."""

    def __init__(
        self, result: ExportResult, workdir: str, instance: PostfixInstance | None = None
    ) -> None:
        self.result = result
        self.tables = PostfixRunner(result, os.path.join(workdir, "tables"))
        self.own = instance is None
        self.pf = instance or PostfixInstance(workdir)

    def check(self) -> str | None:
        for tool in ("postfix", "postmap", "postqueue", "smtp-sink"):
            need(tool)
        problem = self.tables.check()
        if problem:
            return problem
        self.pf.configure(self.result)
        if not self.pf.running:
            self.pf.start()
        return None

    def close(self) -> None:
        if self.own:
            self.pf.stop()

    def run(self, data: bytes, sender: str | None, recipients: tuple[str, ...]) -> TargetVerdict:
        return self.deliver(data, sender, recipients).verdict

    def deliver(self, data: bytes, sender: str | None, recipients: tuple[str, ...]) -> Delivery:
        """``run`` with how Postfix came to its verdict (stage, reply, queue ids, DSN)."""
        if not self.pf.running:
            raise VerifyError("the live Postfix instance is not running (call check() first)")
        rcpts = recipients or (DEFAULT_RCPT,)
        code, reply = self.send(data, sender or "", rcpts)
        if code >= 500 and _rule(reply) is not None:
            return _outcome(
                "block", _rule(reply), f"stage 1 SMTP reject: {reply}", "smtp-reject", 1, reply
            )
        m = _QUEUED.search(reply)
        if code != 250 or m is None:
            return _outcome("error", None, f"SMTP {code} {reply}", "error", 0, reply)
        return self.follow(m.group(1), sender or "", reply)

    def send(self, data: bytes, sender: str, rcpts: tuple[str, ...]) -> tuple[int, str]:
        """One SMTP transaction; the reply to the first refused command, else to DATA.
        A lost connection means Postfix is not working: a ``VerifyError``."""
        opts = ["SMTPUTF8"] if not (sender + "".join(rcpts)).isascii() else []
        if any(b > 0x7F for b in data):
            opts.append("BODY=8BITMIME")
        try:
            with smtplib.SMTP(
                HOST, self.pf.port1, local_hostname="verify.client.invalid", timeout=MESSAGE_TIMEOUT
            ) as s:
                s.ehlo()
                code, resp = s.mail(sender, opts)
                for r in rcpts if code == 250 else ():
                    code, resp = s.rcpt(r)
                    if code not in (250, 251):
                        break
                if code in (250, 251):
                    try:
                        code, resp = s.data(data)
                    except smtplib.SMTPDataError as exc:
                        err = exc.smtp_error
                        code, resp = exc.smtp_code, err if isinstance(err, bytes) else err.encode()
        except (OSError, smtplib.SMTPException) as exc:
            raise VerifyError(
                f"SMTP to Postfix on {HOST}:{self.pf.port1} failed: {exc!r}{self.pf._log_tail()}"
            ) from exc
        return code, resp.decode("utf-8", "replace")

    def follow(self, qid: str, sender: str, reply: str) -> Delivery:
        """Wait for the fate of queue id ``qid`` (and of the FILTERed copy)."""
        pf = self.pf
        ids, stage = [qid], 1
        deadline = time.monotonic() + MESSAGE_TIMEOUT
        problems = len(pf.problems)
        while True:
            pf.read_log()
            if len(pf.problems) > problems:
                return _outcome(
                    "error",
                    None,
                    "; ".join(pf.problems[problems:]),
                    "error",
                    stage,
                    reply,
                    tuple(ids),
                )
            q = pf.facts.get(ids[-1], Queued())
            verdict = self._decide(q, ids, stage, sender, reply)
            if isinstance(verdict, Delivery):
                return verdict
            if verdict is not None:  # FILTERed: follow the stage 2 copy
                ids.append(verdict)
                stage = 2
                continue
            if time.monotonic() > deadline:
                late = [f"{d[0]}: {d[2]} ({d[3]})" for d in q.deliveries]
                return _outcome(
                    "error",
                    None,
                    f"no outcome within {MESSAGE_TIMEOUT:.0f} s "
                    f"for {' -> '.join(ids)}: {'; '.join(late) or 'no delivery'}",
                    "error",
                    stage,
                    reply,
                    tuple(ids),
                )
            time.sleep(POLL)

    def _decide(
        self, q: Queued, ids: list[str], stage: int, sender: str, reply: str
    ) -> Delivery | str | None:
        """A verdict, the next queue id (FILTER), or None (not decided yet)."""
        pf, qid, ids_t = self.pf, ids[-1], tuple(ids)
        if q.hold is not None:
            if not pf.held(qid):
                return None
            return _outcome(
                "quarantine",
                _rule(q.hold),
                f"stage {stage} HOLD: {q.hold}",
                "hold",
                stage,
                reply,
                ids_t,
            )
        if q.discard is not None:
            return _outcome(
                "discard",
                _rule(q.discard),
                f"stage {stage} DISCARD: {q.discard}",
                "discard",
                stage,
                reply,
                ids_t,
            )
        for _rcpt, relay, status, text in q.deliveries:
            if relay.endswith(f":{pf.port2}") and status == "sent":
                m = _QUEUED.search(text)
                if m is None:
                    return _outcome(
                        "error",
                        None,
                        f"stage 2 accepted without a queue id: {text}",
                        "error",
                        stage,
                        reply,
                        ids_t,
                    )
                return m.group(1)
        odd = [
            d
            for d in q.deliveries
            if d[2] not in ("sent", "bounced")
            or (d[2] == "bounced" and not d[1].endswith(f":{pf.port2}"))
        ]
        if odd:  # deferred (Postfix would retry in minutes) or a bounce not from stage 2
            return _outcome(
                "error",
                None,
                f"{qid}: to=<{odd[0][0]}> relay={odd[0][1]} status={odd[0][2]} ({odd[0][3]})",
                "error",
                stage,
                reply,
                ids_t,
            )
        if not q.removed:
            return None
        bounced = [d for d in q.deliveries if d[2] == "bounced"]
        if bounced:
            return self._bounce(q, ids_t, sender, bounced[0][3], reply)
        sent = [d for d in q.deliveries if d[2] == "sent" and d[1].endswith(f":{pf.sink_port}")]
        if sent and len(sent) == len(q.deliveries):
            where = pf.captured(f" id {qid}".encode(), headers_only=True)
            if where is None:
                return None
            return _outcome(
                "allow",
                None,
                f"stage {stage}: delivered to the sink ({len(sent)} recipients)",
                "delivered",
                stage,
                reply,
                ids_t,
            )
        return _outcome(
            "error", None, f"{qid} removed: {q.deliveries}", "error", stage, reply, ids_t
        )

    def _bounce(
        self, q: Queued, ids: tuple[str, ...], sender: str, text: str, reply: str
    ) -> Delivery | None:
        """A stage-2 reject: stage 1 accepted (250) and bounced; the DSN went to the sink."""
        dsn = None
        if sender:  # Postfix sends no notice for a bounce of a null-sender message
            if q.notice is None:
                return None
            dsn = self.pf.captured(f"X-Postfix-Queue-ID: {ids[0]}".encode())
            if dsn is None:
                return None
        return _outcome(
            "block",
            _rule(text),
            f"stage 2 reject after 250, bounced to <{sender}>: {text}",
            "bounce",
            2,
            reply,
            ids,
            dsn,
        )
