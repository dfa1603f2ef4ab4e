"""The ``simulate`` and ``diff`` verbs (called by ``mailpolicy.policy.cli`` with checked policies).

``simulate(policy, args, out=, err=)`` replays every corpus message through the policy and
prints a summary (human tables or ``--json``), optionally writing ``--decisions`` (JSON
Lines in corpus order, unreadable messages included) and ``--report`` (one self-contained
HTML file). ``diff(old, new, args, out=, err=)`` replays the corpus once through both
policies and lists every message whose action changes.

Exit codes: 0 done; 2 an input cannot be used (a corpus path or labels file that does not
exist, an output file that cannot be written: checked before the replay starts); 130
interrupted by Ctrl-C, after writing the partial results (marked ``"partial": true``).
Unreadable messages do not change the exit code: they are listed in the results.

Progress goes to stderr only when stderr is a terminal: messages done, rate, and an ETA
when the corpus size is known from a cheap ``stat`` (uncompressed files only).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Self, TextIO

from tabulate import tabulate

from mailpolicy.policy.diagnostics import InputError
from mailpolicy.simulator import replay as _replay
from mailpolicy.simulator.score import (
    BENIGN,
    DEFAULT_RULE,
    MALICIOUS,
    NO_LABEL,
    Score,
    ratio,
    sort_actions,
    stopped,
)

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".z")


def _input_error(message: str) -> Exception:
    return InputError(message)


# ---- inputs ----------------------------------------------------------------------------------
def _corpus_paths(paths: Sequence[str]) -> list[str]:
    for p in paths:
        if not os.path.exists(p):
            raise _input_error(f"cannot read corpus {p}: no such file or directory")
        if not os.access(p, os.R_OK):
            raise _input_error(f"cannot read corpus {p}: permission denied")
    return list(paths)


def _labels(path: str | None) -> Any:
    if not path:
        return None
    if not os.path.isfile(path):
        raise _input_error(f"cannot read labels {path}: no such file")
    from mailpolicy.corpus.labels import Labels

    try:
        return Labels.load(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise _input_error(f"cannot read labels {path}: {exc}") from None


def _writable(path: str | None, what: str) -> None:
    if not path:
        return
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise _input_error(f"cannot write {what} {path}: it is a directory")
    if not os.path.isdir(parent):
        raise _input_error(f"cannot write {what} {path}: no such directory {parent}")
    if not os.access(parent, os.W_OK):
        raise _input_error(f"cannot write {what} {path}: permission denied")


def _workers(args: Any) -> int:
    n = getattr(args, "workers", None)
    if n is not None and n < 1:
        raise _input_error(f"--workers must be at least 1, not {n}")
    return _replay.default_workers() if n is None else int(n)


def _matchers(policies: Sequence[Any], args: Any, err: TextIO) -> list[Any]:
    """One matcher per policy; a fallback note is printed once, not once per policy."""
    said: set[str] = set()

    def warn(message: str) -> None:
        if message not in said:
            said.add(message)
            print(f"mailpolicy: note: {message}", file=err)

    evaluator = getattr(args, "evaluator", None) or "compiled"
    return [_replay.make_matcher(p, evaluator, warn) for p in policies]


# ---- progress --------------------------------------------------------------------------------
def corpus_bytes(paths: Sequence[str], limit: int = 200_000) -> int | None:
    """Total size of the corpus files, or None when it would not predict the work (a
    compressed file) or would be costly to find (more than ``limit`` files)."""
    total, seen = 0, 0
    for p in paths:
        walk = [(p, [], [""])] if os.path.isfile(p) else os.walk(p)
        for root, _dirs, files in walk:
            for f in files:
                full = os.path.join(root, f) if f else root
                seen += 1
                if seen > limit or full.lower().endswith(COMPRESSED):
                    return None
                try:
                    total += os.stat(full).st_size
                except OSError:
                    pass
    return total


class Ticker:
    """A one-line progress display on a terminal, redrawn at most four times a second."""

    def __init__(self, err: TextIO, progress: _replay.Progress, total_bytes: int | None) -> None:
        self.err, self.progress, self.total = err, progress, total_bytes
        self.last = 0.0

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.25:
            return
        self.last = now
        p = self.progress
        elapsed = max(now - p.started, 1e-9)
        rate = p.messages / elapsed
        line = f"{p.messages} messages, {rate:,.0f}/s"
        if self.total and p.bytes_read:
            done = min(p.bytes_read / self.total, 1.0)
            eta = elapsed * (1 - done) / done if done > 0 else 0
            line += f", {done:.0%}, ETA {eta:,.0f} s"
        self.err.write(f"\r{line}\033[K")
        self.err.flush()

    def close(self) -> None:
        self.err.write("\r\033[K")
        self.err.flush()


def _ticker(err: TextIO, progress: _replay.Progress, paths: Sequence[str]) -> Ticker | None:
    isatty = getattr(err, "isatty", None)
    if isatty is None or not isatty():
        return None
    return Ticker(err, progress, corpus_bytes(paths))


class Interrupt:
    """Ctrl-C as a flag: the replay loop stops between two messages, so the outputs stay
    consistent (every decision written is counted). A second Ctrl-C raises at once."""

    def __init__(self) -> None:
        self.hit = False
        self._old: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.hit:
            raise KeyboardInterrupt
        self.hit = True

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


# ---- simulate --------------------------------------------------------------------------------
def _consume(rows: Any, ticker: Any, each: Callable[[tuple[Any, ...]], None]) -> bool:
    """Feed every replayed row to ``each`` until the corpus ends or the user presses Ctrl-C;
    True when stopped early (the outputs are then marked partial). Always stops the replay."""
    partial = False
    try:
        with Interrupt() as stop:
            for row in rows:
                each(row)
                if ticker is not None:
                    ticker.tick()
                if stop.hit:
                    partial = True
                    break
    except KeyboardInterrupt:
        partial = True
    finally:
        rows.close()
        if ticker is not None:
            ticker.close()
    return partial


def simulate(policy: Any, args: Any, *, out: TextIO, err: TextIO) -> int:
    """Replay ``args.corpus`` through ``policy``; print the score, write the outputs."""
    paths = _corpus_paths(args.corpus)
    labels = _labels(getattr(args, "labels", None))
    decisions_path = getattr(args, "decisions", None)
    report_path = getattr(args, "report", None)
    _writable(decisions_path, "decisions")
    _writable(report_path, "report")
    workers = _workers(args)
    samples = getattr(args, "samples", 10)
    (matcher,) = _matchers([policy], args, err)
    score = Score.for_policy(policy, samples=samples if samples is not None else 10)
    progress = _replay.Progress()
    ticker = _ticker(err, progress, paths)
    started = time.monotonic()
    rows = _replay.replay([matcher], paths, labels, workers=workers, progress=progress)
    fh = open(decisions_path, "w", encoding="utf-8") if decisions_path else None  # noqa: SIM115

    def each(row: tuple[Any, ...]) -> None:
        (d,) = row
        score.add(d)
        if fh is not None:
            fh.write(json.dumps(d.to_json(), ensure_ascii=False) + "\n")

    try:
        partial = _consume(rows, ticker, each)
    finally:
        if fh is not None:
            fh.close()
    elapsed = time.monotonic() - started
    doc = result_json(
        policy,
        score,
        paths=paths,
        elapsed=elapsed,
        partial=partial,
        evaluator=getattr(matcher, "name", None) or _evaluator_name(matcher),
        workers=workers,
    )
    if report_path:
        from mailpolicy.simulator import report

        report.write(report_path, doc)
    if getattr(args, "json", False):
        json.dump(doc, out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        out.write(render_simulate(doc) + "\n")
    if partial:
        print(
            f"mailpolicy: interrupted after {score.total} messages; results are partial", file=err
        )
        return EXIT_INTERRUPTED
    return EXIT_OK


def _evaluator_name(matcher: Any) -> str:
    return "reference" if isinstance(matcher, _replay.ReferenceMatcher) else "compiled"


def result_json(
    policy: Any,
    score: Score,
    *,
    paths: Sequence[str],
    elapsed: float,
    partial: bool,
    evaluator: str,
    workers: int,
) -> dict[str, Any]:
    """The ``simulate --json`` object: the score plus how the run went."""
    doc = score.to_json()
    doc.update(
        {
            "policy": policy.name,
            "policy_path": policy.path,
            "corpus": list(paths),
            "partial": partial,
            "evaluator": evaluator,
            "workers": workers,
            "elapsed_s": round(elapsed, 3),
            "messages_per_s": round(score.total / elapsed, 1) if elapsed > 0 else None,
            "mb_per_s": round(score.bytes / 1e6 / elapsed, 2) if elapsed > 0 else None,
        }
    )
    return doc


def _clip(text: str | None, width: int = 60) -> str:
    text = "" if text is None else " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _where(s: dict[str, Any], width: int = 0) -> str:
    """``path:key``; clipped in the middle to ``width``, since both ends tell messages apart."""
    text = f"{s['path']}:{s['key']}" if s.get("key") is not None else str(s["path"])
    if width and len(text) > width:
        half = (width - 1) // 2
        text = text[:half] + "…" + text[len(text) - (width - 1 - half) :]
    return text


def render_simulate(doc: dict[str, Any]) -> str:
    """The human form of a ``simulate`` result."""
    parts = []
    head = (
        f"policy {doc['policy']} over {', '.join(doc['corpus'])}: {doc['messages']} messages, "
        f"{doc['unreadable']} unreadable, {doc['elapsed_s']:.2f} s "
        f"({doc['messages_per_s'] or 0:,.0f} messages/s, {doc['workers']} workers, "
        f"{doc['evaluator']} evaluator)"
    )
    if doc["partial"]:
        head = "PARTIAL (interrupted): " + head
    parts.append(head)

    labels = list(doc["labels"])
    actions = sort_actions({a for c in doc["labels"].values() for a in c})
    rows = [
        [
            a,
            sum(c.get(a, 0) for c in doc["labels"].values()),
            *[doc["labels"][lab].get(a, 0) for lab in labels],
        ]
        for a in actions
    ]
    rows.append(
        [
            "total",
            doc["messages"] + doc["unreadable"],
            *[sum(doc["labels"][lab].values()) for lab in labels],
        ]
    )
    parts.append(tabulate(rows, headers=["action", "messages", *labels], tablefmt="simple"))

    c = doc["confusion"]
    if c["true_positives"] + c["false_positives"] + c["true_negatives"] + c["false_negatives"]:
        conf = [
            ["benign", c["true_negatives"], c["false_positives"]],
            ["malicious", c["false_negatives"], c["true_positives"]],
        ]
        parts.append(tabulate(conf, headers=["label", "delivered", "stopped"]))
        parts.append(
            f"precision {ratio(doc['precision'])}  recall {ratio(doc['recall'])}  "
            "(malicious is positive; stopped = block, quarantine, strip, discard)"
        )
    else:
        parts.append("no benign/malicious labels: no confusion table (see --labels)")

    rules = [
        [r["id"], r["action"], r["line"] or "", r["hits"], r["benign_hits"], r["malicious_hits"]]
        for r in doc["rules"]
    ]
    parts.append(tabulate(rules, headers=["rule", "action", "line", "hits", "benign", "malicious"]))

    for key, title in (
        ("false_positives", "false positives (benign, stopped)"),
        ("false_negatives", "false negatives (malicious, delivered)"),
    ):
        shown = doc["samples"][key]
        if not doc[key]:
            parts.append(f"{title}: none")
            continue
        rows = [
            [
                _where(s, 72),
                _clip(s["attachment"] or ", ".join(s["attachments"]), 40),
                s["action"],
                s["rule"] or DEFAULT_RULE,
                _clip(s["reason"], 50),
            ]
            for s in shown
        ]
        more = f", first {len(shown)}" if len(shown) < doc[key] else ""
        parts.append(
            f"{title}: {doc[key]}{more}\n"
            + tabulate(rows, headers=["message", "attachment", "action", "rule", "reason"])
        )
    if doc["false_positives_by_extension"]:
        parts.append(
            "false positives by extension: "
            + ", ".join(f"{e} {n}" for e, n in doc["false_positives_by_extension"].items())
        )
    if doc["unreadable"]:
        rows = [[_where(s, 60), _clip(s["reason"], 70)] for s in doc["samples"]["unreadable"]]
        parts.append(
            f"unreadable: {doc['unreadable']}\n" + tabulate(rows, headers=["message", "reason"])
        )
    if doc["defective"]:
        rows = [
            [_where(s, 60), s["action"], _clip(", ".join(s["defects"]), 60)]
            for s in doc["samples"]["defective"]
        ]
        parts.append(
            f"decided despite MIME defects: {doc['defective']}\n"
            + tabulate(rows, headers=["message", "action", "defects"])
        )
    return "\n\n".join(parts)


# ---- diff ------------------------------------------------------------------------------------
def _side(d: _replay.Decision) -> dict[str, Any]:
    return {"action": d.action, "rule": d.rule, "attachment": d.attachment, "reason": d.reason}


def diff(old: Any, new: Any, args: Any, *, out: TextIO, err: TextIO) -> int:
    """Replay the corpus once through both policies; list every message whose action changes.

    A message whose action stays the same but is now decided by another rule is counted
    in ``rule_changes`` (a rule renamed or reordered), not in ``changed``.
    """
    paths = _corpus_paths(args.corpus)
    labels = _labels(getattr(args, "labels", None))
    workers = _workers(args)
    matchers = _matchers([old, new], args, err)
    progress = _replay.Progress()
    ticker = _ticker(err, progress, paths)
    total = unreadable = 0
    changes: list[dict[str, Any]] = []
    rule_changes: list[dict[str, Any]] = []
    started = time.monotonic()
    rows = _replay.replay(matchers, paths, labels, workers=workers, progress=progress)

    def each(row: tuple[Any, ...]) -> None:
        nonlocal total, unreadable
        od, nd = row
        total += 1
        if od.action == _replay.UNREADABLE and nd.action == _replay.UNREADABLE:
            unreadable += 1
        elif od.action != nd.action or od.rule != nd.rule:
            entry = {
                "path": od.path,
                "key": od.key,
                "message_id": od.message_id,
                "label": od.label,
                "old": _side(od),
                "new": _side(nd),
            }
            (changes if od.action != nd.action else rule_changes).append(entry)

    partial = _consume(rows, ticker, each)
    elapsed = time.monotonic() - started
    doc = diff_json(
        old,
        new,
        paths=paths,
        total=total,
        unreadable=unreadable,
        changes=changes,
        rule_changes=rule_changes,
        partial=partial,
        elapsed=elapsed,
    )
    if getattr(args, "json", False):
        json.dump(doc, out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        out.write(render_diff(doc) + "\n")
    if partial:
        print(f"mailpolicy: interrupted after {total} messages; results are partial", file=err)
        return EXIT_INTERRUPTED
    return EXIT_OK


def diff_json(
    old: Any,
    new: Any,
    *,
    paths: Sequence[str],
    total: int,
    unreadable: int,
    changes: list[dict[str, Any]],
    rule_changes: list[dict[str, Any]],
    partial: bool,
    elapsed: float,
) -> dict[str, Any]:
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for c in changes:
        key = (c["old"]["action"], c["new"]["action"])
        g = groups.setdefault(
            key,
            {"old": key[0], "new": key[1], "messages": 0, "labels": Counter(), "rules": Counter()},
        )
        g["messages"] += 1
        g["labels"][c["label"] or NO_LABEL] += 1
        g["rules"][(c["old"]["rule"] or DEFAULT_RULE, c["new"]["rule"] or DEFAULT_RULE)] += 1
    group_list = [
        {
            "old": g["old"],
            "new": g["new"],
            "messages": g["messages"],
            "labels": dict(g["labels"].most_common()),
            "rules": [
                {"old": o, "new": n, "messages": k} for (o, n), k in g["rules"].most_common()
            ],
        }
        for g in sorted(groups.values(), key=lambda g: (-g["messages"], g["old"], g["new"]))
    ]

    def count(label: str, became_stopped: bool) -> int:
        return sum(
            1
            for c in changes
            if c["label"] == label
            and stopped(c["new"]["action"]) == became_stopped
            and stopped(c["old"]["action"]) != became_stopped
        )

    return {
        "old_policy": old.name,
        "new_policy": new.name,
        "corpus": list(paths),
        "messages": total - unreadable,
        "unreadable": unreadable,
        "changed": len(changes),
        "newly_stopped_benign": count(BENIGN, True),
        "newly_delivered_malicious": count(MALICIOUS, False),
        "newly_stopped_malicious": count(MALICIOUS, True),
        "newly_delivered_benign": count(BENIGN, False),
        "groups": group_list,
        "changes": changes,
        "rule_changes": rule_changes,
        "partial": partial,
        "elapsed_s": round(elapsed, 3),
    }


def _verdict(side: dict[str, Any]) -> str:
    return f"{side['action']} ({side['rule'] or 'default'})"


def render_diff(doc: dict[str, Any]) -> str:
    parts = []
    head = (
        f"{doc['old_policy']} -> {doc['new_policy']} over {', '.join(doc['corpus'])}: "
        f"{doc['messages']} messages ({doc['unreadable']} unreadable), "
        f"{doc['changed']} change action"
    )
    if doc["partial"]:
        head = "PARTIAL (interrupted): " + head
    parts.append(head)
    parts.append(
        f"newly stopped benign: {doc['newly_stopped_benign']}   "
        f"newly delivered malicious: {doc['newly_delivered_malicious']}   "
        f"newly stopped malicious: {doc['newly_stopped_malicious']}   "
        f"newly delivered benign: {doc['newly_delivered_benign']}"
    )
    if doc["groups"]:
        rows = []
        for g in doc["groups"]:
            rules = "; ".join(f"{r['old']} -> {r['new']} ({r['messages']})" for r in g["rules"])
            labels = ", ".join(f"{k} {v}" for k, v in g["labels"].items())
            rows.append([f"{g['old']} -> {g['new']}", g["messages"], labels, rules])
        parts.append(tabulate(rows, headers=["change", "messages", "labels", "rules (old -> new)"]))
        rows = [
            [
                _where(c, 72),
                c["label"] or "",
                _clip(c["new"]["attachment"] or c["old"]["attachment"], 36),
                _verdict(c["old"]),
                _verdict(c["new"]),
            ]
            for c in doc["changes"]
        ]
        parts.append(tabulate(rows, headers=["message", "label", "attachment", "old", "new"]))
    if doc["rule_changes"]:
        parts.append(
            f"{len(doc['rule_changes'])} messages keep their action but are decided by "
            "another rule (see --json rule_changes)"
        )
    return "\n\n".join(parts)
