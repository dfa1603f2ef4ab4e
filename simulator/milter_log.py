"""The milter's records: the decision log (JSON Lines, rotated) and kept messages.

Contract:
- ``DecisionLog(path, max_bytes=0, keep=5)`` appends one JSON object a line, flushed per
  line. ``reopen()`` closes and opens ``path`` again (SIGHUP after logrotate's ``create``
  moved it away). With ``max_bytes``, a line that would take the file past it first
  rotates: ``FILE.K-1`` -> ``FILE.K`` ... ``FILE`` -> ``FILE.1`` (``FILE.K`` dropped), then
  the line goes to a new ``FILE``; rotation happens between whole lines only, so no line
  is ever split or lost. ``DecisionLog.over(stream)`` writes to an open text stream
  (neither rotated nor reopened). Writes come from one thread (the server's event loop);
  a lock keeps them whole all the same.
- ``keep(directory, data)`` writes a judged message's bytes as ``DIR/<sha256>.eml``,
  atomically (a temporary file in ``DIR``, then a rename), once per content; it returns
  that path. ``digest(data)`` is the sha256 both the log line (``"sha256"``) and the
  file name carry; ``simulate --decision-log`` finds kept messages by them.
- ``record(...)`` is the decision-log line of one message.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from typing import IO, Any

from mailpolicy.simulator.milter_judge import Decision, Outcome
from mailpolicy.simulator.milter_judge import digest as digest  # the log's hash


class DecisionLog:
    def __init__(self, path: str | None, max_bytes: int = 0, keep: int = 5) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = max(1, keep)
        self.lock = threading.Lock()
        self.stream: IO[str] | None = None
        self.file: IO[bytes] | None = None
        self.size = 0
        if path is not None:
            self._open()

    @classmethod
    def over(cls, stream: IO[str]) -> DecisionLog:
        log = cls(None)
        log.stream = stream
        return log

    def _open(self) -> None:
        assert self.path is not None
        self.file = open(self.path, "ab")  # noqa: SIM115 - kept open, closed in close()
        self.size = os.fstat(self.file.fileno()).st_size

    def write(self, line: dict[str, Any]) -> None:
        text = json.dumps(line, ensure_ascii=False) + "\n"
        with self.lock:
            if self.stream is not None:
                self.stream.write(text)
                self.stream.flush()
                return
            if self.file is None:
                return
            data = text.encode("utf-8")
            if self.max_bytes and self.size and self.size + len(data) > self.max_bytes:
                self._rotate()
            self.file.write(data)
            self.file.flush()
            self.size += len(data)

    def _rotate(self) -> None:
        assert self.path is not None and self.file is not None
        self.file.close()
        for n in range(self.keep - 1, 0, -1):
            older = f"{self.path}.{n}"
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{n + 1}")
        os.replace(self.path, f"{self.path}.1")
        self._open()

    def reopen(self) -> None:
        with self.lock:
            if self.file is not None:
                self.file.close()
                self._open()

    def close(self) -> None:
        with self.lock:
            if self.file is not None:
                self.file.close()
                self.file = None


def keep(directory: str, data: bytes, sha: str) -> str:
    """``DIR/<sha256>.eml`` holding ``data`` (written once, atomically); its path."""
    path = os.path.join(directory, f"{sha}.eml")
    if os.path.exists(path):
        return path
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".keep-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _decision_json(d: Decision) -> dict[str, Any]:
    return {"action": d.action, "rule": d.rule, "reason": d.reason, "attachment": d.attachment}


def record(
    *,
    macros: dict[str, str],
    headers: list[tuple[str, bytes]],
    sender: str,
    recipients: list[str],
    outcome: Outcome,
    fallback: str,
    policy_hash: str,
    audit: bool,
    auth: str | None,
    sha256: str,
    kept: str | None,
) -> dict[str, Any]:
    """The decision-log line of one message."""
    d = outcome.decision
    mid = next((val for n, val in headers if n.lower() == "message-id"), b"")
    line: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "queue_id": macros.get("i"),
        "message_id": mid.decode("utf-8", "replace").strip() or None,
        "sender": sender,
        "recipients": list(recipients),
        "auth": auth,
        "action": d.action if d is not None else f"fallback:{fallback}",
        "rule": d.rule if d is not None else None,
        "attachment": d.attachment if d is not None else None,
        "reason": d.reason if d is not None else outcome.error,
        "exhausted": outcome.exhausted,
        "policy_sha256": policy_hash,
        "mode": "audit" if audit else "enforce",
        "audited": [_decision_json(a) for a in d.audited] if d is not None else [],
        "sha256": sha256,
    }
    if d is not None and d.rebuilt is not None:
        line["stripped"] = list(d.rebuilt.removed)
    if d is not None and d.refused:
        line["strip_refused"] = d.refused
    if kept is not None:
        line["kept"] = kept
    return line
