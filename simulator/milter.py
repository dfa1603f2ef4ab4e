"""The milter: the policy enforced at the MTA, on the bytes the MTA hands over.

Contract:
- ``Milter(config).serve(listen)`` speaks the Sendmail milter protocol (version 6, as
  Postfix's ``smtpd_milters`` and Sendmail's ``InputMailFilters``) on ``HOST:PORT`` or
  ``unix:PATH`` (created with ``socket_mode``); frames are read and unpacked by
  ``milter_wire`` (the codec is ``kilter.protocol``). On a unix socket the MTA is asked
  not to wait for replies at the stages with nothing to say (``milter_wire.QUIET``); on
  TCP every stage is answered. Each message is reassembled from the header fields and
  body chunks the MTA sends (``reassemble``) and judged (``milter_judge.judge``) exactly
  as ``explain`` judges the same bytes, with ``Message.smtp_auth`` from the
  ``{auth_authen}`` macro.
- The decision becomes the reply at end of message (``reply``): ``block`` is ``550 5.7.1``
  with the rule's reason; ``quarantine`` the milter quarantine (Postfix: the hold queue);
  ``tag`` adds the rule's header; ``discard`` discards; ``allow`` accepts; ``strip``
  replaces the body (SMFIR_REPLBODY, in chunks under 64 KB) with the removed parts'
  places taken by a notice, plus header changes when the whole message was the part
  (``simulator.strip``); a strip that cannot be done safely is quarantined instead. Each
  ``mode audit`` rule that matched before the deciding one adds ``X-Mailpolicy-Would:
  ACTION rule=ID``. Whole-milter ``audit`` accepts everything and adds one
  ``X-Mailpolicy-Would:`` for the verdict. Body, header and quarantine actions are
  negotiated; a decision the MTA did not allow is never delivered (``451 4.7.1``).
- Never hangs the MTA, never loses mail: an analysis that fails, or does not finish within
  the budget plus ``GRACE`` (queueing for a slot included), gets the fallback (``tempfail``:
  ``451 4.7.1``; or ``accept``, ``reject``); at most ``max_concurrent`` analyses run at once,
  in worker processes with hard limits or in threads (``milter_pool``). Memory is bounded:
  a message is kept up to ``MAX_MESSAGE`` bytes (the rest is judged unread: ``message
  unscannable``), and all messages together up to ``max_buffered`` bytes; a message that
  finds no room gets ``451 4.3.2`` at end of message (a load condition, not a verdict). A
  connection whose bytes the codec cannot read gets the fallback and is closed.
- ``reload(load)`` swaps the policy atomically (messages in flight finish on the old one)
  when ``load`` returns it, else keeps the old; ``daily(load)`` reloads just after each
  UTC midnight, so that list entries past their ``until`` day stop applying;
  ``reopen()`` reopens the decision log.
- Shutdown (``serve`` cancelled): no new connection is accepted, idle connections are
  closed, a message in flight gets its answer (at most the analysis limit), then
  ``serve`` returns.
- ``decision_log``: one JSON object a line per message (``milter_log.record``) and per
  reload; ``keep``: each judged message's bytes as ``DIR/<sha256>.eml``.
"""

from __future__ import annotations

import asyncio
import datetime
import gc
import os
import re
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

from kilter.protocol import messages as km

from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.simulator import budget as _budget
from mailpolicy.simulator import milter_log, milter_pool, milter_wire
from mailpolicy.simulator.milter_judge import MAX_MESSAGE, Decision, Outcome

__all__ = [
    "MAX_MESSAGE",
    "Config",
    "Decision",
    "Envelope",
    "Milter",
    "Outcome",
    "reassemble",
    "reply",
]

FALLBACKS = ("tempfail", "accept", "reject")
ISOLATIONS = milter_pool.ISOLATIONS
#: Seconds past the budget before an analysis is given up (the fallback is sent).
GRACE = 2.0
#: Seconds past that limit the server waits for a worker to be stopped and reported.
SLACK = 0.25
#: Bytes of all messages kept at once, by default (``--max-buffered``).
MAX_BUFFERED = 256 << 20
WOULD_HEADER = "X-Mailpolicy-Would"
AUTH_MACRO = "{auth_authen}"
_AUTH_MACROS = ("{auth_authen}", "{auth_type}", "{auth_author}")
_CHUNK = 65535  # SMFIR_REPLBODY chunk (libmilter's MILTER_CHUNK_SIZE)
_BODY, _END = ord("B"), ord("E")
_NEWLINE = re.compile(rb"\r?\n")


@dataclass(frozen=True, slots=True)
class Config:
    policy: CheckedPolicy
    #: sha256 of the policy source, for the decision log
    policy_hash: str
    audit: bool = False
    fallback: str = "tempfail"
    max_concurrent: int = 4
    budget: _budget.Budget = _budget.DEFAULT
    decision_log: IO[str] | milter_log.DecisionLog | None = None
    #: where the analyses run: ``process`` (isolated, hard limits) or ``thread``
    isolation: str = "process"
    #: keep each judged message as ``DIR/<sha256>.eml``
    keep: str | None = None
    max_buffered: int = MAX_BUFFERED
    #: permissions of a ``unix:`` socket (the MTA's user must be able to write to it)
    socket_mode: int = 0o660


@dataclass(slots=True)
class Envelope:
    """What the MTA said about one message, gathered until end of message."""

    sender: str = ""
    recipients: list[str] = field(default_factory=list)
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    macros: dict[str, str] = field(default_factory=dict)
    leading_space: bool = False
    #: bytes held for this message (counted in ``Milter.buffered``)
    size: int = 0
    #: more was sent than ``MAX_MESSAGE``: judged on what was kept
    truncated: bool = False
    #: no room in ``max_buffered``: the message gets ``451 4.3.2``
    refused: bool = False


def reassemble(env: Envelope) -> bytes:
    """The message bytes: header fields as sent (``Name:`` + value, the leading space put
    back when the MTA stripped it), a blank line, the body; the body's line ending."""
    nl = b"\r\n" if b"\r\n" in env.body[:65536] or not env.body else b"\n"
    sep = b":" if env.leading_space else b": "
    lines = [
        name.encode("ascii", "replace") + sep + _NEWLINE.sub(nl, value) + nl
        for name, value in env.headers
    ]
    return b"".join((*lines, nl, env.body))


def _header_value(text: str) -> str:
    return re.sub(r"[\r\n]+\s*", " ", text).strip()


def _code(code: str, text: str) -> km.Message:
    line = _header_value(text).replace("%", "%%")[:400]
    return km.ReplyCode(f"{code} {line}".encode("utf-8", "replace") + b"\0")


def _would(d: Decision) -> str:
    return _header_value(f"{d.action} rule={d.rule or 'default'}")


def reply(
    outcome: Outcome,
    audit: bool,
    fallback: str,
    actions: int = int(milter_wire.WANT),
    lead: bool = False,
) -> tuple[list[km.Message], km.Message]:
    """The edits and the final reply for one outcome; ``actions`` what the MTA allowed
    (``ActionFlags``), ``lead`` whether header values carry their leading space."""
    sp = " " if lead else ""

    def add(name: str, value: str) -> km.Message:
        return km.AddHeader(name, (sp + _header_value(value)).encode("utf-8", "replace"))

    def refuse(why: str) -> tuple[list[km.Message], km.Message]:
        return [], _code("451 4.7.1", f"message cannot be handled as the policy says ({why})")

    d = outcome.decision
    if d is None:
        if fallback == "accept":
            return [], km.Accept()
        if fallback == "reject":
            return [], _code("550 5.7.1", "message could not be analysed")
        return [], _code("451 4.7.1", "message could not be analysed, try again later")
    can_add = bool(actions & km.ActionFlags.ADD_HEADERS)
    if audit:
        return ([add(WOULD_HEADER, _would(d))] if can_add else []), km.Accept()
    edits = [add(WOULD_HEADER, _would(a)) for a in d.audited] if can_add else []
    rule = d.rule or "default"
    if d.action == "block":
        return [], _code("550 5.7.1", d.reason or f"blocked by rule {rule}")
    if d.action == "discard":
        return [], km.Discard()
    if d.action == "quarantine":
        if not actions & km.ActionFlags.QUARANTINE:
            return refuse("the MTA does not allow quarantine")
        why = f"rule={rule}: {d.reason}"
        if d.refused:
            why = f"rule={rule}: strip not possible ({d.refused}): {d.reason}"
        return [*edits, km.Quarantine(_header_value(why)[:900])], km.Accept()
    if d.action == "tag" and d.header:
        if not can_add:
            return refuse("the MTA does not allow adding a header")
        name, _, value = d.header.partition(":")
        edits.append(add(name.strip(), value))
    if d.action == "strip":
        if d.rebuilt is None:
            return refuse("strip without a rebuilt message")
        need = km.ActionFlags.CHANGE_BODY
        if d.rebuilt.headers:
            need |= km.ActionFlags.CHANGE_HEADERS | km.ActionFlags.ADD_HEADERS
        if actions & need != need:
            return refuse("the MTA does not allow changing the body")
        for h in d.rebuilt.headers:
            raw = (sp + h.value).encode("ascii") if h.value else b""
            if h.index == 0:
                edits.append(km.AddHeader(h.name, raw))
            else:
                edits.append(km.ChangeHeader(h.index, h.name, raw))
        body = d.rebuilt.data[d.rebuilt.body_start :]
        edits += [km.ReplaceBody(body[i : i + _CHUNK]) for i in range(0, len(body), _CHUNK)]
        if not body:
            edits.append(km.ReplaceBody(b""))
    return edits, km.Accept()


def until_next_day(now: datetime.datetime) -> float:
    """Seconds from ``now`` (UTC) to one second past the next midnight UTC."""
    start = datetime.datetime.combine(now.date(), datetime.time(0, 0, 1), datetime.UTC)
    return (start + datetime.timedelta(days=1) - now).total_seconds()


def _addr(raw: bytes | memoryview) -> str:
    return bytes(raw).decode("utf-8", "replace").strip().strip("<>")


@dataclass(slots=True)
class _Negotiated:
    """What one connection's negotiation settled."""

    local: bool  #: a unix socket: the no-reply stages may be asked for
    leading: bool = False  #: header values keep their leading space
    quiet: km.ProtocolFlags = km.ProtocolFlags(0)  #: the stages that get no reply
    actions: int = int(milter_wire.WANT)  #: what the MTA allows the filter to do


class _Engine:
    """One policy and where its analyses run; retired engines close when idle."""

    def __init__(self, policy: CheckedPolicy, sha: str, runner: milter_pool.Runner) -> None:
        self.policy = policy
        self.sha = sha
        self.runner = runner
        self.inflight = 0
        self.retired = False


class Milter:
    """The server: one ``Envelope`` per connection at a time, analyses in a runner."""

    def __init__(self, cfg: Config, log: Callable[[str], None] = lambda _: None) -> None:
        self.cfg = cfg
        self.log = log
        self.decisions = (
            milter_log.DecisionLog.over(cfg.decision_log)
            if cfg.decision_log is not None
            and not isinstance(cfg.decision_log, milter_log.DecisionLog)
            else cfg.decision_log
        )
        self.pool = ThreadPoolExecutor(max_workers=cfg.max_concurrent)
        self.slots = asyncio.Semaphore(cfg.max_concurrent)
        self.engine = _Engine(cfg.policy, cfg.policy_hash, self._runner(cfg.policy))
        self.active: dict[asyncio.Task[Any], bool] = {}  # session -> inside a message
        self.writers: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self.buffered = 0
        self.stopping = False

    def _runner(self, policy: CheckedPolicy) -> milter_pool.Runner:
        c = self.cfg
        return milter_pool.runner(c.isolation, policy, c.budget, c.max_concurrent)

    @property
    def limit(self) -> float:
        """Seconds an analysis may take, waiting for a slot included."""
        return (self.cfg.budget.seconds or 30.0) + GRACE

    # -- policy reload and the decision log --------------------------------------------
    async def reload(self, load: Callable[[], tuple[CheckedPolicy, str]]) -> bool:
        """Load the policy again; swap it in when it loads and checks clean."""
        loop = asyncio.get_running_loop()
        try:
            policy, sha = await loop.run_in_executor(None, load)
            runner = await loop.run_in_executor(None, self._runner, policy)
        except Exception as exc:  # noqa: BLE001 - the old policy stays, whatever went wrong
            error = " ".join(str(exc).split()) or type(exc).__name__
            self.log(
                f"mailpolicy milter: reload failed, policy {self.engine.sha[:12]} kept: {error}"
            )
            self._event(
                {"event": "reload", "ok": False, "error": error, "policy_sha256": self.engine.sha}
            )
            return False
        old, self.engine = self.engine, _Engine(policy, sha, runner)
        old.retired = True
        if old.inflight == 0:
            await loop.run_in_executor(None, old.runner.close)
        self.log(f"mailpolicy milter: policy reloaded, sha256 {sha}")
        self._event({"event": "reload", "ok": True, "policy_sha256": sha})
        return True

    async def daily(self, load: Callable[[], tuple[CheckedPolicy, str]]) -> None:
        """Reload the policy just after each UTC midnight, so that list entries past their
        ``until`` day stop applying on time (the checker judges expiry when it loads)."""
        while True:
            await asyncio.sleep(until_next_day(datetime.datetime.now(datetime.UTC)))
            await self.reload(load)

    def reopen(self) -> None:
        if self.decisions is not None:
            try:
                self.decisions.reopen()
            except OSError as exc:
                self.log(f"mailpolicy milter: cannot reopen the decision log: {exc}")

    def _event(self, line: dict[str, Any]) -> None:
        if self.decisions is not None:
            line = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **line}
            self._write(line)

    def _write(self, line: dict[str, Any]) -> None:
        assert self.decisions is not None
        try:
            self.decisions.write(line)
        except OSError as exc:  # a full disk must not stop the mail
            self.log(f"mailpolicy milter: cannot write the decision log: {exc}")

    # -- one message -------------------------------------------------------------------
    def _hold(self, env: Envelope, data: bytes) -> bytes:
        """What of ``data`` the message may keep (``MAX_MESSAGE``, ``max_buffered``)."""
        if env.refused:
            return b""
        room = MAX_MESSAGE - env.size
        if len(data) > room:
            env.truncated = True
            data = data[: max(room, 0)]
        if self.buffered + len(data) > self.cfg.max_buffered:
            env.refused = True
            self._release(env)
            return b""
        env.size += len(data)
        self.buffered += len(data)
        return data

    def _reset(self, env: Envelope) -> None:
        """Ready for the next message: its bytes released, its envelope and flags cleared."""
        self._release(env)
        env.sender, env.recipients = "", []
        env.truncated = env.refused = False

    def _release(self, env: Envelope) -> None:
        self.buffered -= env.size
        env.size = 0
        env.headers.clear()
        env.body = bytearray()

    async def analyse(self, engine: _Engine, job: milter_pool.Job) -> Outcome:
        limit = self.limit
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def run() -> Outcome:
            async with self.slots:
                left = limit - (loop.time() - start)
                return await loop.run_in_executor(self.pool, engine.runner.call, job, left)

        try:
            return await asyncio.wait_for(run(), limit + SLACK)
        except TimeoutError:
            return Outcome(None, f"analysis did not finish within {limit:g} s")

    def _keep(self, data: bytes, sha: str) -> str | None:
        if self.cfg.keep is None:
            return None
        try:
            return milter_log.keep(self.cfg.keep, data, sha)
        except OSError as exc:
            self.log(f"mailpolicy milter: cannot keep {sha}.eml: {exc}")
            return None

    async def end_of_message(
        self, env: Envelope, actions: int = int(milter_wire.WANT), lead: bool = False
    ) -> list[km.Message]:
        if env.refused:
            why = f"no room: --max-buffered {self.cfg.max_buffered} bytes reached"
            if self.decisions is not None:
                line = self._record(env, Outcome(None, why), self.engine.sha, None, "", None)
                self._write({**line, "action": "tempfail"})
            self.log(f"{env.macros.get('i') or '-'}: 451 4.3.2 ({why})")
            return [_code("451 4.3.2", "too much mail being analysed, try again later")]
        data = reassemble(env)
        auth = env.macros.get(AUTH_MACRO) or None
        where = env.macros.get("i") or "milter"
        engine = self.engine
        engine.inflight += 1
        try:
            envelope = (env.sender, tuple(env.recipients))
            hashed = self.decisions is not None or self.cfg.keep is not None
            job = milter_pool.Job(data, where, auth, env.truncated, *envelope, hashed)
            outcome = await self.analyse(engine, job)
        finally:
            engine.inflight -= 1
            if engine.retired and engine.inflight == 0:
                asyncio.get_running_loop().run_in_executor(None, engine.runner.close)
        # taken in the worker when it answered; only a decision log or --keep needs it
        sha = outcome.sha256 or (milter_log.digest(data) if hashed else "")
        kept = None
        if self.cfg.keep is not None:
            kept = await asyncio.get_running_loop().run_in_executor(None, self._keep, data, sha)
        edits, final = reply(outcome, self.cfg.audit, self.cfg.fallback, actions, lead)
        line = self._record(env, outcome, engine.sha, auth, sha, kept)
        if self.decisions is not None:
            self._write(line)
        d = outcome.decision
        note = f" (strip refused: {d.refused})" if d is not None and d.refused else ""
        self.log(f"{line['queue_id'] or '-'}: {line['action']} rule={line['rule']}{note}")
        return [*edits, final]

    def _record(
        self,
        env: Envelope,
        outcome: Outcome,
        policy_sha: str,
        auth: str | None,
        sha: str,
        kept: str | None,
    ) -> dict[str, Any]:
        return milter_log.record(
            macros=env.macros,
            headers=env.headers,
            sender=env.sender,
            recipients=env.recipients,
            outcome=outcome,
            fallback=self.cfg.fallback,
            policy_hash=policy_sha,
            audit=self.cfg.audit,
            auth=auth,
            sha256=sha,
            kept=kept,
        )

    # -- connections -------------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.active[task] = False
            self.writers[task] = writer
        env = Envelope()
        try:
            await self._session(reader, writer, env, task)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if task is not None:
                self.active.pop(task, None)
                self.writers.pop(task, None)
            self._release(env)
            writer.close()

    def _mark(self, task: asyncio.Task[Any] | None, busy: bool) -> None:
        if task is not None and task in self.active:
            self.active[task] = busy

    async def _session(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        env: Envelope,
        task: asyncio.Task[Any] | None,
    ) -> None:
        sock = writer.get_extra_info("socket")
        state = _Negotiated(local=sock is not None and sock.family == socket.AF_UNIX)
        while True:
            try:
                ident, payload = await milter_wire.frame(reader)
            except ValueError as exc:
                return await self._unreadable(writer, exc)
            answer: list[km.Message] | None
            if ident == _BODY:  # the bulk of the bytes: no codec object
                env.body += self._hold(env, payload)
                if not state.quiet & milter_wire.P.NR_BODY:
                    await milter_wire.send(writer, [km.Continue()])
                continue
            if ident == _END:
                env.body += self._hold(env, payload)
                self._mark(task, True)
                answer = await self.end_of_message(env, state.actions, state.leading)
                self._reset(env)
                self._mark(task, False)
            else:
                try:
                    msg = milter_wire.command(ident, payload)
                except Exception as exc:  # noqa: BLE001 - bytes the codec cannot read
                    return await self._unreadable(writer, exc)
                answer = self._command(msg, env, task, state)
                if answer is None:
                    return  # the MTA closed the session
            await milter_wire.send(writer, answer)
            if self.stopping and task is not None and not self.active.get(task, False):
                return  # shutting down: the connection closes between messages

    def _command(
        self,
        msg: km.Message,
        env: Envelope,
        task: asyncio.Task[Any] | None,
        state: _Negotiated,
    ) -> list[km.Message] | None:
        """The replies to one command before end of message; None for Close."""
        answer: list[km.Message] = [km.Continue()]
        match msg:
            case km.Negotiate():
                state.leading = bool(msg.protocol_flags & km.ProtocolFlags.HDR_LEADSPC)
                state.actions = int(msg.action_flags & milter_wire.WANT)
                if state.local:  # no Nagle on a local socket: the MTA need not wait
                    state.quiet = msg.protocol_flags & milter_wire.NO_REPLY
                flags = (msg.protocol_flags & km.ProtocolFlags.HDR_LEADSPC) | state.quiet
                return [km.Negotiate(6, km.ActionFlags(state.actions), flags)]
            case km.Macro():
                if msg.stage == ord("M"):  # MAIL: this message's authentication
                    for k in _AUTH_MACROS:
                        env.macros.pop(k, None)
                env.macros.update(msg.macros)
                answer = []
            case km.EnvelopeFrom():
                self._reset(env)
                env.sender = _addr(msg.sender)
                env.leading_space = state.leading
                self._mark(task, True)
            case km.EnvelopeRecipient():
                env.recipients.append(_addr(msg.recipient))
            case km.Header():
                value = bytes(msg.value)
                line = msg.name.encode("ascii", "replace") + b": " + value
                if len(self._hold(env, line)) == len(line):
                    env.headers.append((msg.name, value))
            case km.Abort():
                self._reset(env)
                self._mark(task, False)
                answer = []
            case km.Close():
                return None
        if state.quiet & milter_wire.QUIET.get(type(msg), 0):
            return []  # negotiated: the MTA does not wait for this reply
        return answer

    async def _unreadable(self, writer: asyncio.StreamWriter, exc: Exception) -> None:
        """The fallback for a connection whose bytes cannot be read; the caller closes it."""
        self.log(f"unreadable milter message: {type(exc).__name__}: {exc}")
        out = reply(Outcome(None, "unreadable"), False, self.cfg.fallback)[1]
        await milter_wire.send(writer, [out])

    async def serve(self, listen: str, ready: Callable[[], None] = lambda: None) -> None:
        """Serve until cancelled (SIGTERM: the caller cancels); then accept nothing new,
        let each message in flight get its answer (at most the analysis limit), close the
        connections and the workers, and return."""
        try:
            if listen.startswith("unix:"):
                path = listen[5:]
                if os.path.exists(path):
                    os.unlink(path)
                server = await asyncio.start_unix_server(self.handle, path)
                os.chmod(path, self.cfg.socket_mode)
            else:
                host, _, port = listen.rpartition(":")
                server = await asyncio.start_server(self.handle, host or "127.0.0.1", int(port))
        except BaseException:
            self.close()  # the workers started for nothing
            raise
        gc.collect()  # what is loaded by now stays: out of the collector's way (milter_pool)
        gc.freeze()
        ready()
        try:
            await server.serve_forever()
        except asyncio.CancelledError:
            pass
        finally:
            server.close()
            await self.drain()
            self.close()

    async def drain(self) -> None:
        """Close idle connections; wait for the messages in flight to be answered."""
        self.stopping = True
        for task, busy in list(self.active.items()):
            if not busy:  # its read ends: the session returns
                self.writers[task].close()
        busy_tasks = {t for t, b in self.active.items() if b}
        if busy_tasks:
            await asyncio.wait(busy_tasks, timeout=self.limit + SLACK + 1)
        for task in list(self.active):  # a client too slow to finish its message
            self.writers[task].close()
        if self.active:
            await asyncio.wait(set(self.active), timeout=1)

    def close(self) -> None:
        """Stop the workers (the runner of the policy in use)."""
        self.engine.runner.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
