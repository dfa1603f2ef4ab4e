"""Replay engine: every item of a corpus through a judge, in corpus order.

The one loop over a corpus: ``simulate`` and ``diff`` (``Decide``: one ``Decision`` per
matcher), ``explain`` (the traced verdict) and ``export --verify`` (the engine and the
target's runner) all run through ``replay``.

Contract:
- ``replay(judge, paths, labels=..., workers=N)`` yields, for every item the corpus
  readers find, the judge's result (``judge.decide(raw)`` for a message the readers could
  read, ``judge.unreadable(item)`` for one they could not), in corpus order, whatever
  ``workers`` is. ``diff`` decides with two matchers so both policies see each message
  from one read of the corpus.
- Reading happens in the parent: ``corpus.readers.iter_raw`` streams raw bytes and reports
  what it cannot read (``Unreadable``); those are judged in the parent. Parsing
  (``corpus.mime.parse_message``) and deciding run in worker processes that receive the
  judge once, through the pool initializer (so it must pickle).
- Memory does not grow with the corpus: raw messages travel in batches of at most
  ``BATCH_MESSAGES`` messages / ``BATCH_BYTES`` bytes, and at most ``2 * workers`` batches
  are in flight; the parent stops reading until the oldest batch is back.
- ``workers=1`` runs everything in this process, with no pool; results are identical.
- With ``Decide``, a message whose evaluation raises (a bug, or a lazy fact that fails) is
  reported as ``unreadable`` with reason ``evaluation failed: ...`` rather than stopping
  the run, so every message read is still accounted for.
- Every message is parsed and decided under a per-message budget of time and memory
  (``simulator.budget``, ``Decide.budget``): one that runs out is decided on the facts
  read before, plus ``message unscannable`` ("time budget of 1.5 s exhausted ..."), and
  its decisions say so (``Decision.exhausted``).
- The corpus is only ever opened for reading (by the readers); nothing here writes to it.
  ``Decide(..., facts=store)`` reads each content's facts from a ``simulator.factstore``
  instead of parsing it when the store has them, and stores those it parsed (each batch's
  in one transaction, after the batch): decisions are the same with and without it.

Limits: one message is held whole in memory while it is parsed (the readers bound message
size). Worker processes ignore SIGINT: the parent owns Ctrl-C, stops reading, terminates
the pool, and the caller reports what was decided so far.

Evaluators: ``reference`` walks the AST (``policy.evaluate``). ``compiled`` uses
``mailpolicy.policy.compile.compile_policy(policy)`` when that module exists (an object
with ``evaluate(msg) -> Verdict``, picklable); without it it falls back to the reference
evaluator and says so once (``make_matcher(..., warn=...)``).
"""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from multiprocessing.pool import AsyncResult
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from mailpolicy.corpus import names as _names
from mailpolicy.corpus.readers import RawMessage, Unreadable, iter_raw
from mailpolicy.policy.ast import STOPPING_ACTIONS
from mailpolicy.simulator import budget as _budget
from mailpolicy.simulator.staged import Staged, staged

if TYPE_CHECKING:
    from mailpolicy.corpus.labels import Labels
    from mailpolicy.corpus.message import Message
    from mailpolicy.policy.checked import CheckedPolicy
    from mailpolicy.policy.verdict import Verdict
    from mailpolicy.simulator.factstore import FactStore, Reading

#: Most raw messages sent to a worker at once.
BATCH_MESSAGES = 64
#: Most raw bytes sent to a worker at once (a batch closes at whichever limit comes first).
BATCH_BYTES = 4 * 1024 * 1024
#: Batches in flight per worker.
INFLIGHT_PER_WORKER = 2
#: Attachment names kept per decision (for samples and reports).
MAX_NAMES = 20

UNREADABLE = "unreadable"
EVALUATORS = ("reference", "compiled")

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
Item = RawMessage | Unreadable
Reader = Callable[[Sequence[str], "Labels | None"], Iterable[Item]]


@dataclass(frozen=True, slots=True)
class Decision:
    """What one policy decided for one message (or why the message could not be read)."""

    path: str
    key: str | None
    message_id: str | None
    label: str | None
    action: str
    rule: str | None = None
    line: int | None = None
    #: name of the attachment that triggered the deciding rule, if any
    attachment: str | None = None
    #: extension of that attachment (lower case), if any
    extension: str | None = None
    reason: str = ""
    #: decoded names of every attachment of the message (at most ``MAX_NAMES``)
    attachments: tuple[str, ...] = ()
    #: true type of every named attachment, parallel to ``attachments``, for a message
    #: labelled malicious that was delivered only (what a reviewer of a miss needs;
    #: detecting costs, so stopped and unlabelled messages are not typed for it)
    types: tuple[str, ...] = ()
    #: last extension of every named attachment, in order, duplicates kept
    extensions: tuple[str, ...] = ()
    size: int = 0
    #: what the MIME parser found wrong with the message (it was still decided)
    defects: tuple[str, ...] = ()
    #: ``"time"`` or ``"memory"`` when the message ran out of its budget (it was decided
    #: on the facts read before, plus ``message unscannable``), else None
    exhausted: str | None = None
    #: the file the message was read from (the Maildir or MH file, the mbox; None for
    #: standard input); ``location`` is what ``explain`` and ``inspect`` take back
    file: str | None = None
    #: the staged rules (``mode audit``) that matched before the deciding rule, in order
    audited: tuple[Staged, ...] = ()

    @property
    def location(self) -> str:
        return f"{self.path}:{self.key}" if self.key is not None else self.path

    @property
    def unreadable(self) -> bool:
        return self.action == UNREADABLE

    def to_json(self) -> dict[str, Any]:
        """The ``--decisions`` line: keys in a fixed order."""
        return {
            "path": self.path,
            "key": self.key,
            "message_id": self.message_id,
            "label": self.label,
            "action": self.action,
            "rule": self.rule,
            "line": self.line,
            "attachment": self.attachment,
            "reason": self.reason,
            "attachments": list(self.attachments),
            "defects": list(self.defects),
            "exhausted": self.exhausted,
            "file": self.file,
            "location": self.location,
            "audited": [s.to_json() for s in self.audited],
        }


class Matcher(Protocol):
    """Anything that turns a parsed message into a verdict (reference or compiled)."""

    def evaluate(self, msg: Message) -> Verdict: ...


class ReferenceMatcher:
    """The reference evaluator bound to one checked policy; picklable (holds only the policy)."""

    def __init__(self, policy: CheckedPolicy) -> None:
        self.policy = policy

    def evaluate(self, msg: Message) -> Verdict:
        from mailpolicy.policy.evaluate import evaluate

        return evaluate(self.policy, msg, trace=False)


def make_matcher(
    policy: CheckedPolicy, evaluator: str = "reference", warn: Callable[[str], None] | None = None
) -> Matcher:
    """A matcher for ``policy``; ``compiled`` falls back to the reference evaluator (and
    calls ``warn`` once with why) while ``mailpolicy.policy.compile`` does not exist."""
    if evaluator not in EVALUATORS:
        raise ValueError(f"unknown evaluator {evaluator!r}")
    if evaluator == "compiled":
        try:
            from mailpolicy.policy.compile import compile_policy
        except ImportError:
            if warn is not None:
                warn("the compiled evaluator is not available yet; using the reference evaluator")
        else:
            compiled: Matcher = compile_policy(policy)
            return compiled
    return ReferenceMatcher(policy)


def evaluator_name(matcher: Matcher) -> str:
    """``reference`` or ``compiled``: which evaluator ``matcher`` is."""
    return "reference" if isinstance(matcher, ReferenceMatcher) else "compiled"


# ---- turning verdicts into decisions ---------------------------------------------------------
def _ext(name: str | None) -> str | None:
    if not name:
        return None
    exts = _names.extensions(_names.normalize(name))
    return exts[-1] if exts else None


def decide(matcher: Matcher, msg: Message) -> Decision:
    """The decision of one matcher on one parsed message; never raises."""
    atts = msg.attachments
    base = Decision(
        path=msg.path,
        key=msg.key,
        message_id=msg.message_id,
        label=msg.label,
        action=UNREADABLE,
        attachments=tuple(a.name for a in atts if a.name)[:MAX_NAMES],
        extensions=tuple(e for e in (a.extension for a in atts) if e),
        size=msg.size,
    )
    try:
        v = matcher.evaluate(msg)
    except MemoryError:  # the message's memory budget: ``decide_raw`` records it
        raise
    except Exception as exc:  # noqa: BLE001 - one bad message must not stop a replay
        return dataclasses.replace(base, reason=f"evaluation failed: {type(exc).__name__}: {exc}")
    shown = v.name or (v.attachment.name if v.attachment is not None else None)
    ext = _ext(shown) if shown else None
    if ext is None and v.attachment is not None:
        ext = v.attachment.extension
    named = [a for a in atts if a.name][:MAX_NAMES]
    return dataclasses.replace(
        base,
        types=tuple(f"{a.detected_type}, {a.type_class}" for a in named)
        if msg.label == "malicious" and v.action not in STOPPING_ACTIONS
        else (),
        action=v.action,
        rule=v.rule,
        line=v.line,
        attachment=shown,
        extension=ext,
        reason=v.reason,
        audited=staged(v),
        # Defects found while decoding a payload on demand appear only after evaluation.
        defects=tuple(msg.defects)[:MAX_NAMES],
    )


def unreadable(item: Unreadable) -> Decision:
    """The decision recorded for an item the readers (or the parser) could not read."""
    return Decision(
        path=item.path,
        key=item.key,
        message_id=None,
        label=item.label,
        action=UNREADABLE,
        reason=str(item.reason),
    )


def parse(raw: RawMessage) -> Message:
    """The parsed message of ``raw``, carrying where it came from and its label."""
    from mailpolicy.corpus.mime import parse_message

    return parse_message(raw.data, path=raw.path, key=raw.key, label=raw.label)


def location(item: Item) -> str:
    """``path``, or ``path:key`` for an item inside a mailbox or Maildir."""
    return f"{item.path}:{item.key}" if item.key else item.path


def decide_raw(
    matchers: Sequence[Matcher],
    raw: RawMessage,
    labels: Labels | None = None,
    budget: _budget.Budget = _budget.DEFAULT,
    facts: FactStore | None = None,
) -> tuple[Decision, ...]:
    """Parse one raw message and decide it with every matcher, under ``budget``; never raises.

    ``labels`` (a ``corpus.labels.Labels``) relabels the message once its Message-ID is
    known, as ``readers.iter_messages`` does. A message that runs out of its budget is
    decided as ``judge_raw`` says, and its decisions carry ``exhausted``. With ``facts``
    (a ``simulator.factstore.FactStore``) the message is built from its stored facts when
    the store has its content, and its facts are stored when it had not.
    """
    out, kind = judge_raw(
        raw,
        labels,
        budget,
        lambda msg: tuple(decide(m, msg) for m in matchers),
        lambda reason: tuple(_parse_failed(raw, reason) for _ in matchers),
        facts,
    )
    return tuple(dataclasses.replace(d, exhausted=kind, file=raw.file) for d in out)


def judge_raw(
    raw: RawMessage,
    labels: Labels | None,
    budget: _budget.Budget,
    judge: Callable[[Message], R],
    failed: Callable[[str], R],
    facts: FactStore | None = None,
) -> tuple[R, str | None]:
    """``(judge(message), None)`` for ``raw`` parsed (and relabelled), all under ``budget``;
    ``failed(reason)`` when the parser raised (a bug there).

    A message that runs out of its budget (time or memory, ``simulator.budget``), or whose
    archive readers stopped at its deadline, is judged on what was read before, with the
    budget's reason added to ``Message.unscannable``: the message as parsed when the
    parser had finished (judged again under ``FALLBACK_SECONDS``: its facts are cached and
    the archive deadline has passed), else its header block alone (``fallback_message``).
    The second value is then the budget's kind (``"time"`` or ``"memory"``).

    With ``facts``, the content is looked up first (``factstore.Reading``); a message parsed
    and judged within its budget has its facts kept afterwards, under a budget of their own.
    """
    read: list[Message] = []
    reading = None
    if facts is not None:
        from mailpolicy.simulator.factstore import Reading

        reading = Reading(facts, raw)

    def work() -> R:
        msg = _parse_labelled(raw, labels, reading)
        if isinstance(msg, str):
            return failed(msg)
        read.append(msg)
        out = judge(msg)
        if _budget.overran():  # an archive reader stopped at the deadline: say so as well
            raise _budget.Exhausted("time", budget.reason("time", "while reading the message"))
        return out

    try:
        out = _budget.within(budget, work)
    except _budget.Exhausted as exc:
        reason, kind = exc.reason, exc.kind
    else:
        if reading is not None and read:
            reading.keep(read[0], budget)
        return out, None
    short = _budget.Budget(seconds=FALLBACK_SECONDS, memory=budget.memory)
    if read:
        msg = read[0]
        msg.unscannable = (*msg.unscannable, reason)
        try:
            return _budget.within(short, lambda: judge(msg)), kind
        except _budget.Exhausted:
            pass
    return judge(fallback_message(raw, labels, reason)), kind


def _parse_labelled(
    raw: RawMessage, labels: Labels | None, reading: Reading | None = None
) -> Message | str:
    """The parsed (or, through ``reading``, stored), relabelled message; or why the parser
    failed (a bug there)."""
    try:
        msg = parse(raw) if reading is None else reading.message(parse)
        if labels is not None:
            msg.label = labels.label_for(raw.path, raw.key, msg.message_id, raw.label)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - parse_message promises not to raise; belt and braces
        return f"parse failed: {type(exc).__name__}: {exc}"
    return msg


def _parse_failed(raw: RawMessage, reason: str) -> Decision:
    found = unreadable(Unreadable(raw.path, raw.key, reason, raw.label))
    return dataclasses.replace(found, size=len(raw.data))


#: Time for judging again a message that ran out of its budget.
FALLBACK_SECONDS = 0.25
#: Most header bytes parsed for a message whose own reading ran out of budget.
FALLBACK_HEAD = 64 << 10


def fallback_message(raw: RawMessage, labels: Labels | None, reason: str) -> Message:
    """What is known of ``raw`` without reading its body: its header block (at most
    ``FALLBACK_HEAD`` bytes, under a short budget) or, failing that, where it came from;
    ``reason`` as its ``unscannable`` fact."""
    from mailpolicy.corpus.message import Message

    end = raw.data.find(b"\n\n", 0, FALLBACK_HEAD)
    head = dataclasses.replace(raw, data=raw.data[: end + 1 if end != -1 else FALLBACK_HEAD])
    short = _budget.Budget(seconds=FALLBACK_SECONDS, memory=_budget.DEFAULT.memory)
    msg: Message | str
    try:
        msg = _budget.within(short, lambda: _parse_labelled(head, labels))
    except _budget.Exhausted:
        msg = "out of budget"
    if isinstance(msg, str):
        msg = Message(path=raw.path, key=raw.key, label=raw.label)
    msg.attachments, msg.body = (), ""
    msg.size = len(raw.data)
    msg.unscannable = (*msg.unscannable, reason)
    return msg


# ---- what a replay does with each corpus item ------------------------------------------------
class Judge(Protocol[R_co]):
    """What a replay does with each corpus item: one result per item, in corpus order.

    ``decide`` gets a message the readers could read, ``unreadable`` one they could not.
    With ``workers > 1`` the judge is pickled into every worker process once, and
    ``decide`` runs there; a judge that drives a tool or keeps state runs with one worker.
    """

    def decide(self, raw: RawMessage) -> R_co: ...

    def unreadable(self, item: Unreadable) -> R_co: ...


@dataclass(frozen=True, slots=True)
class Decide:
    """The judge of ``simulate`` and ``diff``: one ``Decision`` per matcher, labels applied."""

    matchers: tuple[Matcher, ...]
    labels: Labels | None = None
    budget: _budget.Budget = _budget.DEFAULT
    #: the fact store (``simulator.factstore``), or None to read every message
    facts: FactStore | None = None

    def decide(self, raw: RawMessage) -> tuple[Decision, ...]:
        return decide_raw(self.matchers, raw, self.labels, self.budget, self.facts)

    def unreadable(self, item: Unreadable) -> tuple[Decision, ...]:
        return (unreadable(item),) * len(self.matchers)


# ---- worker side -----------------------------------------------------------------------------
# A worker holds one judge whatever its result type: Any is the pickling boundary.
_JUDGE: Judge[Any] | None = None


def _init_worker(judge: Judge[Any]) -> None:
    global _JUDGE
    # The parent owns Ctrl-C: a worker killed mid-batch would leave the pool waiting forever.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _JUDGE = judge
    # The compiled policy lives as long as the worker: out of the collector's sight, so a
    # large policy does not make every collection walk it (BENCHMARKS.md, rule index).
    gc.freeze()


def _work(batch: list[RawMessage]) -> list[Any]:
    assert _JUDGE is not None, "the pool initializer sets the judge"
    out = [_JUDGE.decide(raw) for raw in batch]
    flush_facts(_JUDGE)
    return out


def flush_facts(judge: Judge[Any]) -> None:
    """Write the facts the judge's store queued (``Decide.facts``): call it after each batch,
    in the process that decided it (one transaction per batch, ``simulator.factstore``)."""
    store = getattr(judge, "facts", None)
    if store is not None:
        store.flush()


# ---- parent side -----------------------------------------------------------------------------
@dataclass
class Progress:
    """Counters the caller may read while a replay runs (for a progress line)."""

    messages: int = 0
    bytes_read: int = 0
    started: float = 0.0


def _batches(items: Iterable[Item], progress: Progress) -> Iterator[list[Item]]:
    """Corpus items in batches: each batch is a list of RawMessage or Unreadable."""
    batch: list[Item] = []
    size = 0
    for item in items:
        if isinstance(item, RawMessage):
            size += len(item.data)
            progress.bytes_read += len(item.data)
        batch.append(item)
        if len(batch) >= BATCH_MESSAGES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


#: A place in a batch: the result of an unreadable item, decided in the parent, or None for
#: the next result of the batch's raw messages.
_Slot = tuple[R] | None


def _split(judge: Judge[R], batch: list[Item]) -> tuple[list[RawMessage], list[_Slot[R]]]:
    """The raw messages to decide, and a slot per item: filled for unreadable ones."""
    raws: list[RawMessage] = []
    slots: list[_Slot[R]] = []
    for item in batch:
        if isinstance(item, Unreadable):
            slots.append((judge.unreadable(item),))
        else:
            raws.append(item)
            slots.append(None)
    return raws, slots


def _merge(slots: list[_Slot[R]], results: list[R]) -> Iterator[R]:
    it = iter(results)
    for slot in slots:
        yield slot[0] if slot is not None else next(it)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _context() -> BaseContext:
    # fork is the cheap start on Linux; with other threads alive it is unsafe, so spawn.
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def replay(
    judge: Judge[R],
    paths: Sequence[str],
    labels: Labels | None = None,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    read: Reader | None = None,
) -> Generator[R, None, None]:
    """The judge's result for every corpus item, in corpus order (see the module docstring).

    ``read(paths, labels)`` defaults to ``corpus.readers.iter_raw``. Closing the generator
    (or an exception in the caller, such as KeyboardInterrupt) terminates the workers.
    """
    progress = progress if progress is not None else Progress()
    progress.started = time.monotonic()
    workers = default_workers() if workers is None else max(1, workers)
    batches = _batches((read or iter_raw)(paths, labels), progress)

    if workers == 1:
        for batch in batches:
            raws, slots = _split(judge, batch)
            decided = [judge.decide(r) for r in raws]
            flush_facts(judge)
            for row in _merge(slots, decided):
                progress.messages += 1
                yield row
        return

    # The policy's objects live as long as the run: move them out of the collector's way, so
    # neither the parent nor the forked workers scan (and copy) them at every full collection.
    gc.freeze()
    pool = _context().Pool(workers, initializer=_init_worker, initargs=(judge,))
    pending: deque[tuple[list[_Slot[R]], AsyncResult[list[R]] | None]] = deque()
    limit = INFLIGHT_PER_WORKER * workers
    clean = False
    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) < limit:
                more = next(batches, None)
                if more is None:
                    exhausted = True
                    break
                raws, slots = _split(judge, more)
                pending.append((slots, pool.apply_async(_work, (raws,)) if raws else None))
            if not pending:
                break
            slots, result = pending.popleft()
            rows: list[R] = []
            if result is not None:
                # A timed wait keeps the main thread responsive to Ctrl-C.
                while not result.ready():
                    result.wait(0.2)
                rows = result.get()
            for row in _merge(slots, rows):
                progress.messages += 1
                yield row
        clean = True
    finally:
        if clean:
            pool.close()
        else:
            pool.terminate()
        pool.join()
        gc.unfreeze()
