"""The milter: the policy enforced at the MTA, on the bytes the MTA hands over.

Contract:
- ``Milter(config).serve(listen)`` speaks the Sendmail milter protocol (version 6, as
  Postfix's ``smtpd_milters`` and Sendmail's ``InputMailFilters``) on ``HOST:PORT`` or
  ``unix:PATH``; the wire format is ``kilter.protocol`` (pure Python). Each message is
  reassembled from the header fields and body chunks the MTA sends (``reassemble``) and
  judged by ``judge`` exactly as ``explain`` judges the same bytes: ``replay.judge_raw``
  under the per-message budget, the reference evaluator.
- The verdict becomes the reply at end of message (``reply``): ``block`` is ``550 5.7.1``
  with the rule's reason; ``quarantine`` the milter quarantine (Postfix: the hold queue);
  ``tag`` adds the rule's header; ``discard`` discards; ``allow`` accepts; ``strip`` is not
  done yet: the message is accepted with ``X-Mailpolicy-Strip:`` naming what would have
  been removed. ``audit`` accepts everything and adds ``X-Mailpolicy-Would: ACTION
  rule=ID``.
- Never hangs the MTA, never loses mail: an analysis that raises, or does not finish
  within the budget plus ``GRACE`` (queueing for a slot included), gets the fallback
  (``tempfail``: ``451 4.7.1``; or ``accept``, ``reject``); at most ``max_concurrent``
  analyses run at once (threads: in them only the cooperative archive deadline of
  ``simulator.budget`` holds, the hard watchdog needs the main thread, hence the outer
  timeout). A connection whose bytes the codec cannot read gets the fallback and is closed.
- ``decision_log``: one JSON object a line per message decided (``record``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

from kilter.protocol import messages as km
from kilter.protocol.buffer import SimpleBuffer
from kilter.protocol.exceptions import NeedsMore

from mailpolicy.corpus.message import Message
from mailpolicy.corpus.readers import RawMessage
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.evaluate import Verdict, evaluate
from mailpolicy.simulator import budget as _budget
from mailpolicy.simulator.replay import judge_raw

FALLBACKS = ("tempfail", "accept", "reject")
#: Seconds past the budget before an analysis is given up (the fallback is sent).
GRACE = 2.0
#: Largest message the milter reads; a larger one is judged on what was read, plus a fact.
MAX_MESSAGE = 64 << 20
WOULD_HEADER = "X-Mailpolicy-Would"
STRIP_HEADER = "X-Mailpolicy-Strip"
_BUFFER = 1 << 20  # the codec's buffer (the MTA sends body chunks of 64 KB at most)


@dataclass(frozen=True, slots=True)
class Config:
    policy: CheckedPolicy
    #: sha256 of the policy source, for the decision log
    policy_hash: str
    audit: bool = False
    fallback: str = "tempfail"
    max_concurrent: int = 4
    budget: _budget.Budget = _budget.DEFAULT
    decision_log: IO[str] | None = None


@dataclass(slots=True)
class Envelope:
    """What the MTA said about one message, gathered until end of message."""

    sender: str = ""
    recipients: list[str] = field(default_factory=list)
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    macros: dict[str, str] = field(default_factory=dict)
    leading_space: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """The decision on one message: the verdict, or why there is none (the fallback)."""

    verdict: Verdict | None
    error: str = ""
    exhausted: str | None = None


def policy_hash(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def reassemble(env: Envelope) -> bytes:
    """The message bytes: header fields as sent (``Name:`` + value, the leading space put
    back when the MTA stripped it), a blank line, the body; the body's line ending."""
    nl = b"\r\n" if b"\r\n" in env.body[:65536] or not env.body else b"\n"
    out = bytearray()
    for name, value in env.headers:
        sep = b":" if env.leading_space else b": "
        value = re.sub(rb"\r?\n", nl, value)
        out += name.encode("ascii", "replace") + sep + value + nl
    out += nl
    out += env.body
    return bytes(out)


def judge(policy: CheckedPolicy, data: bytes, budget: _budget.Budget, where: str) -> Outcome:
    """The verdict ``explain`` gives for ``data``; never raises."""

    def failed(reason: str) -> Verdict | str:
        return reason

    def decide(msg: Message) -> Verdict | str:
        return evaluate(policy, msg, trace=False)

    try:
        found, kind = judge_raw(RawMessage(where, None, data, None), None, budget, decide, failed)
    except Exception as exc:  # noqa: BLE001 - the fallback, never a crash of the milter
        return Outcome(None, f"analysis failed: {type(exc).__name__}: {exc}")
    if isinstance(found, str):
        return Outcome(None, found)
    return Outcome(found, exhausted=kind)


def _header_value(text: str) -> str:
    return re.sub(r"[\r\n]+\s*", " ", text).strip()


def reply(outcome: Outcome, audit: bool, fallback: str) -> tuple[list[km.Message], km.Message]:
    """The edits and the final reply for one outcome."""
    v = outcome.verdict
    if v is None:
        if fallback == "accept":
            return [], km.Accept()
        if fallback == "reject":
            return [], _code("550 5.7.1", "message could not be analysed")
        return [], _code("451 4.7.1", "message could not be analysed, try again later")
    rule = v.rule or "default"
    if audit:
        would = _header_value(f"{v.action} rule={rule}")
        return [km.AddHeader(WOULD_HEADER, would.encode())], km.Accept()
    if v.action == "block":
        return [], _code("550 5.7.1", v.reason or f"blocked by rule {rule}")
    if v.action == "quarantine":
        return [km.Quarantine(_header_value(f"rule={rule}: {v.reason}"))], km.Accept()
    if v.action == "discard":
        return [], km.Discard()
    edits: list[km.Message] = []
    if v.action == "tag" and v.header:
        name, _, value = v.header.partition(":")
        edits.append(km.AddHeader(name.strip(), _header_value(value).encode()))
    if v.action == "strip":
        names = ", ".join(a.name or a.part for a in v.stripped) or "matching parts"
        text = f"not stripped (not implemented): {names}; rule={rule}"
        edits.append(km.AddHeader(STRIP_HEADER, _header_value(text).encode()))
    return edits, km.Accept()


def _code(code: str, text: str) -> km.Message:
    line = _header_value(text).replace("%", "%%")[:400]
    return km.ReplyCode(f"{code} {line}".encode("utf-8", "replace") + b"\0")


def record(cfg: Config, env: Envelope, outcome: Outcome) -> dict[str, Any]:
    """The decision-log line of one message."""
    v = outcome.verdict
    mid = next((val for n, val in env.headers if n.lower() == "message-id"), b"")
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "queue_id": env.macros.get("i"),
        "message_id": mid.decode("utf-8", "replace").strip() or None,
        "sender": env.sender,
        "recipients": list(env.recipients),
        "action": v.action if v is not None else f"fallback:{cfg.fallback}",
        "rule": v.rule if v is not None else None,
        "attachment": (v.name or (v.attachment.name if v.attachment else None)) if v else None,
        "reason": v.reason if v is not None else outcome.error,
        "exhausted": outcome.exhausted,
        "policy_sha256": cfg.policy_hash,
        "mode": "audit" if cfg.audit else "enforce",
    }


def _addr(raw: bytes | memoryview) -> str:
    return bytes(raw).decode("utf-8", "replace").strip().strip("<>")


class Milter:
    """The server: one ``Envelope`` per connection at a time, analyses in a thread pool."""

    def __init__(self, cfg: Config, log: Callable[[str], None] = lambda _: None) -> None:
        self.cfg = cfg
        self.log = log
        self.pool = ThreadPoolExecutor(max_workers=cfg.max_concurrent)
        self.slots = asyncio.Semaphore(cfg.max_concurrent)
        self.active: set[asyncio.Task[Any]] = set()

    async def analyse(self, env: Envelope) -> Outcome:
        data = reassemble(env)
        limit = (self.cfg.budget.seconds or 30.0) + GRACE
        where = env.macros.get("i") or "milter"
        loop = asyncio.get_running_loop()

        async def run() -> Outcome:
            async with self.slots:
                return await loop.run_in_executor(
                    self.pool, judge, self.cfg.policy, data, self.cfg.budget, where
                )

        try:
            return await asyncio.wait_for(run(), limit)
        except TimeoutError:
            return Outcome(None, f"analysis did not finish within {limit:g} s")

    async def end_of_message(self, env: Envelope) -> list[km.Message]:
        outcome = await self.analyse(env)
        edits, final = reply(outcome, self.cfg.audit, self.cfg.fallback)
        line = record(self.cfg, env, outcome)
        if self.cfg.decision_log is not None:
            self.cfg.decision_log.write(json.dumps(line, ensure_ascii=False) + "\n")
            self.cfg.decision_log.flush()
        self.log(f"{line['queue_id'] or '-'}: {line['action']} rule={line['rule']}")
        return [*edits, final]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.active.add(task)
        try:
            await self._session(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if task is not None:
                self.active.discard(task)
            writer.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = SimpleBuffer(_BUFFER)
        env = Envelope()
        leading = False
        while True:
            chunk = await reader.read(buf.available)
            if not chunk:
                return
            buf[:] = chunk
            while True:
                try:
                    msg, size = km.Message.unpack(buf)
                except NeedsMore:
                    break
                except Exception as exc:  # noqa: BLE001 - bytes the codec cannot read
                    self.log(f"unreadable milter message: {type(exc).__name__}: {exc}")
                    out = reply(Outcome(None, "unreadable"), False, self.cfg.fallback)[1]
                    await _send(writer, [out])
                    return
                msg.freeze()
                del buf[:size]
                answer: list[km.Message] = []
                match msg:
                    case km.Negotiate():
                        leading = bool(msg.protocol_flags & km.ProtocolFlags.HDR_LEADSPC)
                        want = km.ActionFlags.ADD_HEADERS | km.ActionFlags.QUARANTINE
                        answer = [
                            km.Negotiate(
                                6,
                                msg.action_flags & want,
                                msg.protocol_flags & km.ProtocolFlags.HDR_LEADSPC,
                            )
                        ]
                    case km.Macro():
                        env.macros.update(msg.macros)
                    case km.EnvelopeFrom():
                        macros = env.macros
                        env = Envelope(sender=_addr(msg.sender), macros=macros)
                        env.leading_space = leading
                        answer = [km.Continue()]
                    case km.EnvelopeRecipient():
                        env.recipients.append(_addr(msg.recipient))
                        answer = [km.Continue()]
                    case km.Header():
                        env.headers.append((msg.name, bytes(msg.value)))
                        answer = [km.Continue()]
                    case km.Body():
                        if len(env.body) < MAX_MESSAGE:
                            env.body += bytes(msg.content)
                        answer = [km.Continue()]
                    case km.EndOfMessage():
                        env.body += bytes(msg.content)
                        answer = await self.end_of_message(env)
                        env = Envelope(macros=env.macros)
                    case km.Abort():
                        env = Envelope(macros=env.macros)
                    case km.Close():
                        return
                    case _:
                        answer = [km.Continue()]
                await _send(writer, answer)

    async def serve(self, listen: str, ready: Callable[[], None] = lambda: None) -> None:
        """Serve until cancelled (SIGTERM: the caller cancels), then let the connections
        in flight finish their message (at most the analysis limit) and return."""
        if listen.startswith("unix:"):
            path = listen[5:]
            if os.path.exists(path):
                os.unlink(path)
            server = await asyncio.start_unix_server(self.handle, path)
        else:
            host, _, port = listen.rpartition(":")
            server = await asyncio.start_server(self.handle, host or "127.0.0.1", int(port))
        ready()
        try:
            async with server:
                await server.serve_forever()
        except asyncio.CancelledError:
            pass
        finally:
            server.close()
            limit = (self.cfg.budget.seconds or 30.0) + GRACE
            if self.active:
                await asyncio.wait(set(self.active), timeout=limit)
            self.pool.shutdown(wait=False, cancel_futures=True)


async def _send(writer: asyncio.StreamWriter, out: list[km.Message]) -> None:
    for m in out:
        b = SimpleBuffer(_BUFFER)
        m.pack(b)
        writer.write(b[:].tobytes())
    await writer.drain()
