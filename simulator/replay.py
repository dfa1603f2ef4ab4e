"""Replay engine: every message of a corpus through one or more policies, in corpus order.

Contract:
- ``replay(matchers, paths, labels=..., workers=N)`` yields, for every item the corpus
  readers find, one ``tuple[Decision, ...]`` (one decision per matcher, in the order the
  matchers were given), in corpus order, whatever ``workers`` is. ``diff`` passes two
  matchers so both policies see each message from one read of the corpus.
- Reading happens in the parent: ``corpus.readers.iter_raw`` streams raw bytes and reports
  what it cannot read (``Unreadable``); those become decisions with action
  ``"unreadable"`` in the parent. Parsing (``corpus.mime.parse_message``) and evaluation run
  in worker processes that receive the matchers once, through the pool initializer.
- Memory does not grow with the corpus: raw messages travel in batches of at most
  ``BATCH_MESSAGES`` messages / ``BATCH_BYTES`` bytes, and at most ``2 * workers`` batches
  are in flight; the parent stops reading until the oldest batch is back.
- ``workers=1`` runs everything in this process, with no pool; results are identical.
- A message whose evaluation raises (a bug, or a lazy fact that fails) is reported as
  ``unreadable`` with reason ``evaluation failed: ...`` rather than stopping the run, so
  every message read is still accounted for.
- The corpus is only ever opened for reading (by the readers); nothing here writes.

Limits: one message is held whole in memory while it is parsed (the readers bound message
size). Worker processes ignore SIGINT: the parent owns Ctrl-C, stops reading, terminates
the pool, and the caller reports what was decided so far.

Evaluators: ``reference`` walks the AST (``policy.evaluate``). ``compiled`` uses
``mailpolicy.policy.compile.compile_policy(policy)`` when that module exists (an object
with ``evaluate(msg) -> Verdict``, picklable); without it it falls back to the reference
evaluator and says so once (``make_matcher(..., warn=...)``).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mailpolicy.corpus import names as _names

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
    #: last extension of every named attachment, in order, duplicates kept
    extensions: tuple[str, ...] = ()
    size: int = 0
    #: what the MIME parser found wrong with the message (it was still decided)
    defects: tuple[str, ...] = ()

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
        }


class Matcher(Protocol):
    """Anything that turns a parsed message into a verdict (reference or compiled)."""

    def evaluate(self, msg: Any) -> Any: ...


class ReferenceMatcher:
    """The reference evaluator bound to one checked policy; picklable (holds only the policy)."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy

    def evaluate(self, msg: Any) -> Any:
        from mailpolicy.policy.evaluate import evaluate

        return evaluate(self.policy, msg, trace=False)


def make_matcher(
    policy: Any, evaluator: str = "reference", warn: Callable[[str], None] | None = None
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


# ---- turning verdicts into decisions ---------------------------------------------------------
def _ext(name: str | None) -> str | None:
    if not name:
        return None
    exts = _names.extensions(_names.normalize(name))
    return exts[-1] if exts else None


def decide(matcher: Matcher, msg: Any) -> Decision:
    """The decision of one matcher on one parsed message; never raises."""
    atts = msg.attachments
    names = tuple(a.name for a in atts if a.name)[:MAX_NAMES]
    exts = tuple(e for e in (a.extension for a in atts) if e)
    base = {
        "path": msg.path,
        "key": msg.key,
        "message_id": msg.message_id,
        "label": msg.label,
        "attachments": names,
        "extensions": exts,
        "size": msg.size,
    }
    try:
        v = matcher.evaluate(msg)
    except Exception as exc:  # noqa: BLE001 - one bad message must not stop a replay
        return Decision(
            action=UNREADABLE, reason=f"evaluation failed: {type(exc).__name__}: {exc}", **base
        )  # type: ignore[arg-type]
    # Defects found while decoding a payload on demand appear only after evaluation.
    base["defects"] = tuple(msg.defects)[:MAX_NAMES]
    shown = v.name or (v.attachment.name if v.attachment is not None else None)
    ext = _ext(shown) if shown else None
    if ext is None and v.attachment is not None:
        ext = v.attachment.extension
    return Decision(
        action=v.action,
        rule=v.rule,
        line=v.line,
        attachment=shown,
        extension=ext,
        reason=v.reason,
        **base,
    )  # type: ignore[arg-type]


def unreadable(item: Any) -> Decision:
    """The decision recorded for an item the readers (or the parser) could not read."""
    return Decision(
        path=item.path,
        key=item.key,
        message_id=None,
        label=item.label,
        action=UNREADABLE,
        reason=str(item.reason),
    )


def _parse(raw: Any) -> Any:
    from mailpolicy.corpus.mime import parse_message

    return parse_message(raw.data, path=raw.path, key=raw.key, label=raw.label)


def decide_raw(matchers: Sequence[Matcher], raw: Any, labels: Any = None) -> tuple[Decision, ...]:
    """Parse one raw message and decide it with every matcher; never raises.

    ``labels`` (a ``corpus.labels.Labels``) relabels the message once its Message-ID is
    known, as ``readers.iter_messages`` does.
    """
    try:
        msg = _parse(raw)
        if labels is not None:
            msg.label = labels.label_for(raw.path, raw.key, msg.message_id, raw.label)
    except Exception as exc:  # noqa: BLE001 - parse_message promises not to raise; belt and braces
        d = Decision(
            path=raw.path,
            key=raw.key,
            message_id=None,
            label=raw.label,
            action=UNREADABLE,
            reason=f"parse failed: {type(exc).__name__}: {exc}",
            size=len(raw.data),
        )
        return tuple(d for _ in matchers)
    return tuple(decide(m, msg) for m in matchers)


# ---- worker side -----------------------------------------------------------------------------
_MATCHERS: Sequence[Matcher] = ()
_LABELS: Any = None


def _init_worker(matchers: Sequence[Matcher], labels: Any) -> None:
    global _MATCHERS, _LABELS
    # The parent owns Ctrl-C: a worker killed mid-batch would leave the pool waiting forever.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _MATCHERS, _LABELS = matchers, labels


def _work(batch: list[Any]) -> list[tuple[Decision, ...]]:
    return [decide_raw(_MATCHERS, raw, _LABELS) for raw in batch]


# ---- parent side -----------------------------------------------------------------------------
@dataclass
class Progress:
    """Counters the caller may read while a replay runs (for a progress line)."""

    messages: int = 0
    bytes_read: int = 0
    started: float = 0.0


def _batches(items: Iterable[Any], progress: Progress) -> Iterator[list[Any]]:
    """Corpus items in batches: each batch is a list of RawMessage or Unreadable."""
    batch: list[Any] = []
    size = 0
    for item in items:
        data = getattr(item, "data", None)
        if data is not None:
            size += len(data)
            progress.bytes_read += len(data)
        batch.append(item)
        if len(batch) >= BATCH_MESSAGES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _split(batch: list[Any]) -> tuple[list[Any], list[Decision | None]]:
    """The raw messages to send, and a slot per item: filled for unreadable ones."""
    raws: list[Any] = []
    slots: list[Decision | None] = []
    for item in batch:
        if getattr(item, "data", None) is None:
            slots.append(unreadable(item))
        else:
            raws.append(item)
            slots.append(None)
    return raws, slots


def _merge(
    n: int, slots: list[Decision | None], results: list[tuple[Decision, ...]]
) -> Iterator[tuple[Decision, ...]]:
    it = iter(results)
    for slot in slots:
        yield (slot,) * n if slot is not None else next(it)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _context() -> Any:
    # fork is the cheap start on Linux; with other threads alive it is unsafe, so spawn.
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def replay(
    matchers: Sequence[Matcher],
    paths: Sequence[str],
    labels: Any = None,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    read: Callable[..., Iterable[Any]] | None = None,
) -> Iterator[tuple[Decision, ...]]:
    """Decisions for every corpus item, in corpus order (see the module docstring).

    ``read(paths, labels)`` defaults to ``corpus.readers.iter_raw``. Closing the generator
    (or an exception in the caller, such as KeyboardInterrupt) terminates the workers.
    """
    if read is None:
        from mailpolicy.corpus.readers import iter_raw as read
    progress = progress if progress is not None else Progress()
    progress.started = time.monotonic()
    n = len(matchers)
    workers = default_workers() if workers is None else max(1, workers)
    batches = _batches(read(paths, labels), progress)

    if workers == 1:
        for batch in batches:
            raws, slots = _split(batch)
            for row in _merge(n, slots, [decide_raw(matchers, r, labels) for r in raws]):
                progress.messages += 1
                yield row
        return

    # The policy's objects live as long as the run: move them out of the collector's way, so
    # neither the parent nor the forked workers scan (and copy) them at every full collection.
    gc.freeze()
    pool = _context().Pool(workers, initializer=_init_worker, initargs=(tuple(matchers), labels))
    pending: deque[tuple[list[Decision | None], Any]] = deque()
    limit = INFLIGHT_PER_WORKER * workers
    clean = False
    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) < limit:
                batch = next(batches, None)
                if batch is None:
                    exhausted = True
                    break
                raws, slots = _split(batch)
                pending.append((slots, pool.apply_async(_work, (raws,)) if raws else None))
            if not pending:
                break
            slots, result = pending.popleft()
            rows: list[tuple[Decision, ...]] = []
            if result is not None:
                # A timed wait keeps the main thread responsive to Ctrl-C.
                while not result.ready():
                    result.wait(0.2)
                rows = result.get()
            for row in _merge(n, slots, rows):
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
