"""``export --verify``: run the exported rules through the real software, compare verdicts.

Driver contract (``run``): every message of the corpus (``corpus.readers.iter_raw``) is
parsed (``corpus.mime.parse_message``) and judged by the reference evaluator; the same
raw bytes go to the target's runner with the envelope sender (the message's
Return-Path) and recipients. Each pair of verdicts is compared by action (allow, block,
quarantine, tag, discard; ``error`` when the tool failed on the message). The report is
an agreement table (tabulate) and every disagreement: message, engine verdict and rule,
target verdict and rule, and the loss that explains it, if any. Exit 0 when every
disagreement is explained by a named loss of the export, 1 otherwise, 2 when the tool is
missing or rejects the exported files.

A target's runner (``Exporter.verifier(result, workdir)``) has:

- ``check() -> str | None``: validate the exported files with the tool (``sievec``,
  ``postmap``...); a message on failure.
- ``run(data, sender, recipients) -> verdict``: an object with ``action`` and ``rule``
  (the id of the rule that decided, None for the default) and optionally ``detail``.
- optionally ``explain(msg, engine, target) -> str | None``: a target-wide reason for a
  disagreement (a ``Limit`` key such as Postfix's encoded names), and ``close()``.

Rule-level explanation is generic: a disagreement is explained when the engine's or the
target's deciding rule has a ``Loss`` in the export result.

Runners here: ``SieveRunner`` (``sievec`` then ``sieve-test`` as ``nobody`` with a
one-line config), ``PostfixRunner`` (``postmap -c DIR -hm -q - pcre:TABLE``; any
``postmap: warning:`` is a failure; the sender table decides which table applies).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from typing import Any, TextIO

from mailpolicy.policy.export.base import Exporter, ExportResult
from mailpolicy.policy.export.runner import TargetVerdict, VerifyError, need

TIMEOUT = 60


@dataclass(frozen=True, slots=True)
class Row:
    message: str
    engine: str
    engine_rule: str | None
    target: str
    target_rule: str | None
    explained_by: str | None
    detail: str = ""


def compare(exporter: Exporter, result: ExportResult, paths: list[str]) -> tuple[list[Row], int]:
    """Every message's (engine, target) verdicts; returns the rows and unreadable count."""
    from mailpolicy.corpus import mime, readers
    from mailpolicy.policy.evaluate import evaluate

    losses_by_rule: dict[str, list[str]] = {}
    for loss in result.losses:
        losses_by_rule.setdefault(loss.rule, []).append(loss.text())
    rows: list[Row] = []
    unreadable = 0
    with tempfile.TemporaryDirectory(prefix="mailpolicy-verify-") as workdir:
        os.chmod(workdir, 0o755)
        runner = exporter.verifier(result, workdir)
        if runner is None:
            raise VerifyError(f"target {exporter.target} has no verifier")
        try:
            problem = runner.check()
            if problem:
                raise VerifyError(f"{exporter.target} rejects the exported files: {problem}")
            for item in readers.iter_raw(paths):
                if not isinstance(item, readers.RawMessage):
                    unreadable += 1
                    continue
                where = f"{item.path}:{item.key}" if item.key is not None else item.path
                msg = mime.parse_message(item.data)
                engine = evaluate(exporter.policy, msg, trace=False)
                target = runner.run(item.data, msg.sender, tuple(msg.recipients))
                explained = None
                if target.action != engine.action:
                    for rid in (engine.rule, target.rule):
                        if rid is not None and rid in losses_by_rule:
                            explained = losses_by_rule[rid][-1]
                            break
                    if explained is None and hasattr(runner, "explain"):
                        explained = runner.explain(msg, engine, target)
                rows.append(
                    Row(
                        where,
                        engine.action,
                        engine.rule,
                        target.action,
                        target.rule,
                        explained,
                        getattr(target, "detail", "") or "",
                    )
                )
        finally:
            if hasattr(runner, "close"):
                runner.close()
    return rows, unreadable


def run(
    exporter: Exporter, result: ExportResult, paths: list[str], *, out: TextIO, err: TextIO
) -> int:
    """Print the agreement table and the disagreements; the exit code (0, 1 or 2)."""
    from tabulate import tabulate

    for p in paths:
        if not os.path.exists(p):
            print(f"mailpolicy: error: cannot read {p}: no such file or directory", file=err)
            return 2
    try:
        rows, unreadable = compare(exporter, result, paths)
    except VerifyError as exc:
        print(f"mailpolicy: error: verify: {exc}", file=err)
        return 2
    counts = Counter((r.engine, r.target) for r in rows)
    table = [(e, t, n, "yes" if e == t else "NO") for (e, t), n in sorted(counts.items())]
    agree = sum(1 for r in rows if r.engine == r.target)
    print(
        f"verify {exporter.target}: {len(rows)} messages, {agree} agree, "
        f"{len(rows) - agree} disagree" + (f", {unreadable} unreadable" if unreadable else ""),
        file=out,
    )
    print(tabulate(table, headers=["engine", exporter.target, "messages", "agree"]), file=out)
    bad = [r for r in rows if r.engine != r.target]
    unexplained = [r for r in bad if r.explained_by is None]
    if bad:
        print("\ndisagreements:", file=out)
        print(
            tabulate(
                [
                    (
                        r.message,
                        f"{r.engine} ({r.engine_rule or 'default'})",
                        f"{r.target} ({r.target_rule or 'default'})",
                        r.explained_by or "UNEXPLAINED",
                    )
                    for r in bad
                ],
                headers=["message", "engine (rule)", f"{exporter.target} (rule)", "explained by"],
                maxcolwidths=[None, None, None, 70],
            ),
            file=out,
        )
    if unexplained:
        print(f"\n{len(unexplained)} disagreements are not explained by the loss report", file=out)
        return 1
    return 0


def embedded(result: ExportResult, engine: Any) -> str | None:
    """The target-wide loss for names found in bodies or TNEF, when the engine's verdict
    came from such an attachment (part ids ``1.uu1``, ``1.hqx1``, ``2.tnef1``)."""
    att = engine.attachment
    if att is not None and re.search(r"\.(uu|hqx|tnef)\d+", att.part or ""):
        return next(
            (x.text() for x in result.losses if x.rule == "*" and "uuencoded" in x.what), None
        )
    return None


def _as_nobody(argv: list[str]) -> list[str]:
    """Run as nobody when we are root (Pigeonhole refuses root)."""
    if os.geteuid() != 0:
        return argv
    return [need("setpriv"), "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]


class SieveRunner:
    """``sievec`` + ``sieve-test`` (Pigeonhole) with a one-line config, no daemon."""

    _ACTION = re.compile(
        r"^\s*(\d+):\s+(reject action|fileinto action|discard action|keep action"
        r"|addheader|stop command)"
    )

    def __init__(self, exporter: Any, result: ExportResult, workdir: str) -> None:
        self.result = result
        self.workdir = workdir
        self.script = os.path.join(workdir, "policy.sieve")
        with open(self.script, "w", encoding="utf-8") as fh:
            fh.write(result.files["policy.sieve"])
        self.conf = os.path.join(workdir, "min-dovecot.conf")
        with open(self.conf, "w", encoding="utf-8") as fh:
            fh.write(f"mail_location = maildir:{workdir}/Maildir\n")
        self.msg = os.path.join(workdir, "message.eml")
        self.ext = " ".join("+" + e for e in exporter.extra_extensions)
        self.lines: dict[int, str] = result.meta.get("rule_lines", {})
        for path in (self.script, self.conf):
            os.chmod(path, 0o644)

    def check(self) -> str | None:
        p = subprocess.run(
            [
                need("sievec"),
                "-x",
                self.ext,
                self.script,
                os.path.join(self.workdir, "policy.svbin"),
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        return None if p.returncode == 0 else (p.stderr or p.stdout).strip()

    def run(self, data: bytes, sender: str | None, recipients: tuple[str, ...]) -> TargetVerdict:
        with open(self.msg, "wb") as fh:
            fh.write(data)
        os.chmod(self.msg, 0o644)
        argv = [need("sieve-test"), "-c", self.conf, "-x", self.ext, "-t", "-", "-Tlevel=commands"]
        if sender:
            argv += ["-f", sender]
        if recipients:
            argv += ["-a", recipients[0], "-r", recipients[0]]
        argv += [self.script, self.msg]
        p = subprocess.run(
            _as_nobody(argv),
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
            env={"HOME": self.workdir, "PATH": os.environ.get("PATH", "")},
        )
        out = p.stdout.decode("utf-8", "replace")
        if p.returncode != 0:
            return TargetVerdict("error", None, p.stderr.decode("utf-8", "replace")[-300:])
        return self.parse(out)

    def parse(self, out: str) -> TargetVerdict:
        action, line, tagged = None, None, False
        for ln in out.splitlines():
            m = self._ACTION.match(ln)
            if m is None:
                continue
            kind = m.group(2)
            if kind == "addheader":
                tagged = True
            elif kind != "stop command":
                action = {
                    "reject action": "block",
                    "fileinto action": "quarantine",
                    "discard action": "discard",
                    "keep action": "allow",
                }[kind]
                line = int(m.group(1))
        if action is None:  # implicit keep
            return TargetVerdict("allow", None)
        rule = self.lines.get(line) if line is not None else None
        if action == "allow" and tagged:
            action = "tag"
        return TargetVerdict(action, rule)

    def explain(self, msg: Any, engine: Any, target: Any) -> str | None:
        return embedded(self.result, engine)


class PostfixRunner:
    """``postmap -c DIR -hm -q - pcre:TABLE < message``, the table chosen by the sender."""

    _RESULT = re.compile(r"(REJECT|HOLD|DISCARD) .*\[mailpolicy rule ([^\]\s]+)\]")

    def __init__(self, result: ExportResult, workdir: str) -> None:
        self.result = result
        self.workdir = workdir
        self.conf = os.path.join(workdir, "conf")
        os.makedirs(self.conf, exist_ok=True)
        main_cf = os.path.join(self.conf, "main.cf")
        with open(main_cf, "w", encoding="utf-8") as fh:
            fh.write("compatibility_level = 3.6\n")
        # Postfix waits (about 2 s) for a main.cf modified in the last second to settle.
        os.utime(main_cf, (0, 0))
        for name, text in result.files.items():
            with open(os.path.join(workdir, name), "w", encoding="utf-8") as fh:
                fh.write(text)
        self.table = os.path.join(workdir, "mime_header_checks.pcre")
        exempt = os.path.join(workdir, "mime_header_checks_exempt.pcre")
        self.exempt = exempt if os.path.exists(exempt) else None
        senders = os.path.join(workdir, "sender_access.pcre")
        self.senders = senders if os.path.exists(senders) else None

    def _postmap(self, args: list[str], data: bytes | None = None) -> tuple[int, str]:
        p = subprocess.run(
            [need("postmap"), "-c", self.conf, *args],
            input=data,
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        errtext = p.stderr.decode("utf-8", "replace")
        if "warning:" in errtext or "fatal:" in errtext:
            raise VerifyError(f"postmap {' '.join(args)}: {errtext.strip()}")
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def check(self) -> str | None:
        try:
            for table in (self.table, self.exempt, self.senders):
                if table is not None:
                    self._postmap(["-q", "mailpolicy-check@invalid", f"pcre:{table}"])
        except VerifyError as exc:
            return str(exc)
        return None

    def exempt_sender(self, sender: str | None) -> bool:
        if not sender or self.senders is None:
            return False
        rc, out = self._postmap(["-q", sender, f"pcre:{self.senders}"])
        return rc == 0 and out.strip().upper().startswith("OK")

    def run(self, data: bytes, sender: str | None, recipients: tuple[str, ...]) -> TargetVerdict:
        table = self.exempt if self.exempt and self.exempt_sender(sender) else self.table
        try:
            _rc, out = self._postmap(["-hm", "-q", "-", f"pcre:{table}"], data)
        except VerifyError as exc:
            return TargetVerdict("error", None, str(exc))
        # cleanup acts on headers in message order: REJECT and DISCARD end it, HOLD does not
        hold: TargetVerdict | None = None
        for m in self._RESULT.finditer(out):
            action = {"REJECT": "block", "HOLD": "quarantine", "DISCARD": "discard"}[m.group(1)]
            rule = None if m.group(2) == "-" else m.group(2)
            if action != "quarantine":
                return TargetVerdict(action, rule)
            hold = hold or TargetVerdict(action, rule)
        return hold or TargetVerdict("allow", None)

    def explain(self, msg: Any, engine: Any, target: Any) -> str | None:
        from mailpolicy.policy.ast import STOPPING_ACTIONS

        if embedded(self.result, engine):
            return embedded(self.result, engine)
        if engine.action in STOPPING_ACTIONS and target.action in STOPPING_ACTIONS:
            return next(
                (
                    x.text()
                    for x in self.result.losses
                    if x.what.startswith("Postfix decides per header")
                ),
                None,
            )
        if target.rule is None and target.action == "quarantine":  # the encoded-name catch-all
            return next((x.text() for x in self.result.losses if "encoded" in x.what), None)
        return None
