"""The milter's judge: one message's bytes in, a picklable decision out.

Contract:
- ``judge(policy, data, budget, where, auth=None, truncated=False, envelope=None)`` gives
  the verdict ``explain`` gives for the same bytes as delivered (``replay.judge_raw`` under
  the per-message budget, the reference evaluator): the sender and recipients are the
  envelope's (MAIL FROM and RCPT TO, what delivery writes as ``Return-Path`` and
  ``Delivered-To``), ``Message.smtp_auth`` is ``auth`` (the MTA's ``{auth_authen}``) and,
  when the MTA sent more than the milter keeps (``truncated``), a ``message unscannable``
  reason is added. It never raises: a failure is an ``Outcome`` without a
  decision, which gets the fallback.
- The ``Decision`` holds plain values only (names, not ``Attachment`` objects), so it
  crosses from a worker process; ``audited`` holds the decisions of the ``mode audit``
  rules that matched before the deciding one (``Verdict.audited``).
- A ``strip`` is carried out here, inside the budget (``simulator.strip``): the decision
  carries the rebuilt message; when the strip is refused the decision becomes
  ``quarantine`` and ``refused`` says why: a part that cannot be removed safely is never
  delivered.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Protocol

from mailpolicy.corpus import headers as H
from mailpolicy.corpus.message import Message
from mailpolicy.corpus.readers import RawMessage
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.evaluate import Verdict, evaluate
from mailpolicy.simulator import budget as _budget
from mailpolicy.simulator import strip as _strip
from mailpolicy.simulator.replay import judge_raw

#: Largest message the milter keeps; a larger one is judged on what was read, plus a fact.
MAX_MESSAGE = 64 << 20


class Envelope(Protocol):
    """The MTA's envelope of a message (``milter_pool.Job`` is one)."""

    @property
    def sender(self) -> str | None: ...

    @property
    def recipients(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """What one rule (or the default) decided, in plain values."""

    action: str
    rule: str | None
    reason: str
    #: the name of the attachment that triggered it
    attachment: str | None = None
    header: str | None = None
    #: a strip carried out: the rebuilt message and the names removed
    rebuilt: _strip.Rebuilt | None = None
    #: a strip that could not be carried out safely (the action is then quarantine)
    refused: str = ""
    audited: tuple[Decision, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """The decision on one message, or why there is none (the fallback)."""

    decision: Decision | None
    error: str = ""
    exhausted: str | None = None
    #: the sha256 of the message judged (``milter_log.digest``), taken where it was judged
    sha256: str = ""


def digest(data: bytes) -> str:
    """The sha256 a decision log line names a message by."""
    return hashlib.sha256(data).hexdigest()


def truncated_reason() -> str:
    return f"message larger than {MAX_MESSAGE >> 20} MB: judged on its first {MAX_MESSAGE >> 20} MB"


def decision(v: Verdict, msg: Message | None = None, data: bytes = b"") -> Decision:
    """The plain form of a verdict; a ``strip`` is carried out on ``data`` (``msg`` its
    reading), or refused and turned into quarantine."""
    name = v.name or (v.attachment.name if v.attachment else None)
    audited = tuple(decision(a) for a in v.audited)
    base = Decision(v.action, v.rule, v.reason, name, v.header, audited=audited)
    if v.action != "strip" or msg is None:
        return base
    try:
        done = _strip.strip(data, msg, v.stripped, v.rule or "default", v.reason)
    except MemoryError:
        done = _strip.Refused("out of memory while rebuilding the message")
    except Exception as exc:  # noqa: BLE001 - a bug in the rebuild quarantines, never delivers
        done = _strip.Refused(f"rebuild failed: {type(exc).__name__}: {exc}"[:200])
    if isinstance(done, _strip.Refused):
        return dataclasses.replace(base, action="quarantine", refused=done.reason)
    return dataclasses.replace(base, rebuilt=done)


def judge(
    policy: CheckedPolicy,
    data: bytes,
    budget: _budget.Budget,
    where: str,
    auth: str | None = None,
    truncated: bool = False,
    envelope: Envelope | None = None,
    hashed: bool = True,
) -> Outcome:
    """The decision ``explain`` gives for ``data`` as delivered; never raises.

    ``envelope``: the MTA's MAIL FROM and RCPT TO. They are the message's sender and
    recipients, as the ``Return-Path`` and ``Delivered-To`` fields that delivery adds say
    in recorded mail; a ``Return-Path`` the client wrote into the message is not believed.
    ``hashed``: take the message's sha256 (``Outcome.sha256``, for the decision log and
    ``--keep``) here, where it is judged, rather than in the server."""

    def failed(reason: str) -> Decision | str:
        return reason

    def decide(msg: Message) -> Decision | str:
        extra = (truncated_reason(),) if truncated else ()
        if auth is not None or extra:
            unscannable = (*msg.unscannable, *extra)
            msg = dataclasses.replace(msg, smtp_auth=auth, unscannable=unscannable)
        if envelope is not None and envelope.sender is not None:
            msg = dataclasses.replace(msg, sender=H.address(envelope.sender))
        if envelope is not None and envelope.recipients:
            found = (H.address(r) for r in envelope.recipients)
            msg = dataclasses.replace(msg, recipients=tuple(r for r in found if r))
        return decision(evaluate(policy, msg, trace=False), msg, data)

    sha = digest(data) if hashed else ""
    try:
        found, kind = judge_raw(RawMessage(where, None, data, None), None, budget, decide, failed)
    except Exception as exc:  # noqa: BLE001 - the fallback, never a crash of the milter
        return Outcome(None, f"analysis failed: {type(exc).__name__}: {exc}", sha256=sha)
    if isinstance(found, str):
        return Outcome(None, found, sha256=sha)
    return Outcome(found, exhausted=kind, sha256=sha)


def load_source(path: str, list_root: str | None = None) -> tuple[CheckedPolicy, str]:
    """The checked policy in ``path`` (``-``: standard input) and the sha256 of the very
    bytes it was read from. ``InputError`` or ``PolicyError`` as ``loader.load_policy``."""
    from mailpolicy.policy import loader

    policy, data = loader.load_source(path, list_root=list_root)
    return policy, digest(data)
