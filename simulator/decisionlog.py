"""Reading the milter's decision logs back: which messages were decided, and how.

A decision log is JSON Lines (``mailpolicy milter --decision-log``): one object a line per
message (``time``, ``queue_id``, ``message_id``, ``sender``, ``recipients``, ``action``,
``rule``, ``reason``, ``policy_sha256``, ``mode``, ``sha256`` of the bytes judged, and
``kept`` when the milter kept them with ``--keep DIR``), plus event lines
(``{"event": "reload", ...}``) that are not messages.

Contract:
- ``read(paths)`` reads every line of every log (plain or gzip, as logrotate leaves them),
  in order; a line that is not a JSON object (a line cut short by a crash, a stray edit) is
  counted in ``LogRead.bad`` with its place, never raised.
- ``locate(read, corpus)`` finds each logged message's bytes: the ``kept`` file first (a
  relative path is taken from the log's directory, else the current one), verified by its
  sha256; else a message of the corpus (the archive the MTA kept, ``always_bcc`` for
  instance) with the same sha256, else with the same Message-ID. Each located entry gets
  the corpus location it is replayed from (``PATH`` or ``PATH:KEY``); the others are
  listed as not kept.
- ``compare(located, decisions)`` pairs the live decision of each entry with the
  decision the policy gives now, and ``section(...)`` is the ``"decision_log"`` part of
  the ``simulate --json`` document.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from mailpolicy.corpus import readers
from mailpolicy.simulator import milter_log

#: changed decisions listed in the summary (all of them are in ``--json``)
SHOWN = 20
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.I | re.M)


@dataclass(frozen=True, slots=True)
class Entry:
    """One message line of a decision log."""

    log: str
    line: int
    record: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.log}:{self.line}"

    def text(self, key: str) -> str | None:
        value = self.record.get(key)
        return value if isinstance(value, str) and value else None


@dataclass(slots=True)
class LogRead:
    entries: list[Entry] = field(default_factory=list)
    #: ``(log:line, why)`` of every line that is not a decision
    bad: list[tuple[str, str]] = field(default_factory=list)
    events: int = 0


@dataclass(slots=True)
class Located:
    """The entries, each with the corpus location its message is replayed from."""

    found: list[tuple[Entry, str]] = field(default_factory=list)
    #: ``(entry, why)`` for every entry whose message could not be found
    missing: list[tuple[Entry, str]] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        """Every location to replay, once each, in log order."""
        return list(dict.fromkeys(where for _, where in self.found))


def _open(path: str) -> IO[str]:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by caller


def read(paths: Sequence[str]) -> LogRead:
    """Every decision of the logs ``paths``, in order. OSError when a log cannot be read."""
    out = LogRead()
    for path in paths:
        with _open(path) as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    out.bad.append((f"{path}:{n}", "not JSON (a line cut short?)"))
                    continue
                if not isinstance(record, dict):
                    out.bad.append((f"{path}:{n}", "not a JSON object"))
                elif "event" in record:
                    out.events += 1
                elif not isinstance(record.get("action"), str):
                    out.bad.append((f"{path}:{n}", "no action: not a decision line"))
                else:
                    out.entries.append(Entry(path, n, record))
    return out


def message_id(data: bytes) -> str | None:
    """The Message-ID field of a message's header block, unfolded, or None."""
    end = re.search(rb"\r?\n\r?\n", data)
    head = data[: end.start() if end else len(data)]
    found = _MESSAGE_ID.search(head)
    if found is None:
        return None
    value = re.sub(rb"\r?\n[ \t]+", b" ", found.group(1)).strip()
    return value.decode("utf-8", "replace") or None


def _kept(entry: Entry) -> tuple[str | None, str]:
    """The kept file of ``entry`` when it holds the logged bytes; else why not."""
    kept = entry.text("kept")
    if kept is None:
        return None, "not kept by the milter"
    path = kept
    if not os.path.isabs(kept):  # relative to the log's directory, else to the current one
        beside = os.path.join(os.path.dirname(entry.log), kept)
        path = beside if os.path.exists(beside) else kept
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return None, f"kept file {kept}: {exc.strerror or exc}"
    want = entry.text("sha256")
    if want is not None and milter_log.digest(data) != want:
        return None, f"kept file {kept} does not hold the logged message (sha256 differs)"
    return path, ""


def _index(corpus: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Locations in ``corpus`` by sha256 and by Message-ID (the first of each)."""
    by_hash: dict[str, str] = {}
    by_id: dict[str, str] = {}
    for item in readers.iter_raw(corpus):
        if isinstance(item, readers.Unreadable):
            continue
        where = f"{item.path}:{item.key}" if item.key is not None else item.path
        by_hash.setdefault(milter_log.digest(item.data), where)
        mid = message_id(item.data)
        if mid is not None:
            by_id.setdefault(mid, where)
    return by_hash, by_id


def locate(log: LogRead, corpus: Sequence[str] = ()) -> Located:
    """Where each logged message can be read again (see the module's contract)."""
    out = Located()
    pending: list[tuple[Entry, str]] = []
    for entry in log.entries:
        path, why = _kept(entry)
        if path is not None:
            out.found.append((entry, path))
        else:
            pending.append((entry, why))
    if not pending:
        return out
    by_hash, by_id = _index(corpus) if corpus else ({}, {})
    for entry, why in pending:
        sha, mid = entry.text("sha256"), entry.text("message_id")
        where = (by_hash.get(sha) if sha else None) or (by_id.get(mid) if mid else None)
        if where is not None:
            out.found.append((entry, where))
        else:
            more = " nor in the corpus given" if corpus else "; no corpus given to search"
            out.missing.append((entry, why + more))
    return out


def _now(decision: Any) -> dict[str, Any]:
    return {"action": decision.action, "rule": decision.rule, "reason": decision.reason}


def compare(located: Located, decisions: dict[str, Any]) -> list[dict[str, Any]]:
    """For every located entry whose decision now (``decisions``: location -> the replay's
    ``Decision``) differs from the live one: both, and where the message was read."""
    changed = []
    for entry, where in located.found:
        now = decisions.get(where)
        if now is None:
            continue
        live = entry.record
        if (now.action, now.rule) == (live.get("action"), live.get("rule")):
            continue
        changed.append(
            {
                "log": entry.where,
                "queue_id": live.get("queue_id"),
                "message_id": live.get("message_id"),
                "location": where,
                "live": {k: live.get(k) for k in ("action", "rule", "reason")},
                "now": _now(now),
                "policy_sha256": live.get("policy_sha256"),
            }
        )
    return changed


def section(
    paths: Sequence[str], log: LogRead, located: Located, changed: list[dict[str, Any]]
) -> dict[str, Any]:
    """The ``"decision_log"`` part of the ``simulate --json`` document."""
    live = Counter(str(e.record.get("action")) for e in log.entries)
    hashes = Counter(str(e.record.get("policy_sha256") or "") for e in log.entries)
    return {
        "logs": list(paths),
        "entries": len(log.entries),
        "replayed": len(located.found),
        "not_kept": len(located.missing),
        "missing": [{"log": e.where, "why": why} for e, why in located.missing],
        "bad_lines": [{"log": where, "why": why} for where, why in log.bad],
        "live_actions": dict(sorted(live.items())),
        "policies": dict(hashes.most_common()),
        "changed": changed,
    }


def render(doc: dict[str, Any]) -> str:
    """The human form of a ``"decision_log"`` section."""
    s = doc["decision_log"]
    lines = [
        f"decision log: {s['entries']} decisions, {s['replayed']} replayed, "
        f"{s['not_kept']} not kept, {len(s['bad_lines'])} unreadable lines; "
        f"{len(s['changed'])} decided differently now"
    ]
    for c in s["changed"][:SHOWN]:
        live, now = c["live"], c["now"]
        who = c["queue_id"] or c["message_id"] or c["location"]
        lines.append(
            f"  {who}: live {live['action']} ({live['rule'] or 'default'}) -> now "
            f"{now['action']} ({now['rule'] or 'default'})  [{c['log']}]"
        )
    if len(s["changed"]) > SHOWN:
        lines.append(f"  ... {len(s['changed']) - SHOWN} more in --json")
    for m in s["missing"][:3]:
        lines.append(f"  not replayed: {m['log']}: {m['why']}")
    if len(s["missing"]) > 3:
        lines.append(f"  ... {len(s['missing']) - 3} more not replayed")
    return "\n".join(lines)
