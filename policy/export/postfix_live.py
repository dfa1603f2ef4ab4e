"""``--verify`` for the postfix target with a real Postfix on 127.0.0.1 (end to end).

Why: the table runner (``verify.PostfixRunner``: ``postmap -hm -q - pcre:TABLE``) answers
for the tables, but sender exceptions are a two-stage *configuration* (``smtpd``
``check_sender_access`` -> ``FILTER`` -> a second ``smtpd`` whose ``cleanup`` runs the
full table). Only a running Postfix says what that configuration does with a message.

Contract (``LivePostfixRunner``, the ``verify`` Runner protocol):

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
  (``-``, the encoded-name catch-all, is ``None``). ``LiveVerdict`` also carries the
  stage, the queue ids, the SMTP reply the client got and, for a bounce, the path of
  the DSN the sink captured.
- ``explain``: as ``PostfixRunner`` (the same losses apply); ``close()`` stops Postfix
  (``postfix -c DIR stop``) and the sink (by pid) and waits for both to exit.

The instance (``PostfixInstance``) lives in ``WORKDIR/live``: its own ``config_directory``
(``conf/``: main.cf and master.cf built from the exported ``main.cf.fragment`` and
``master.cf.fragment``, the tables with ``/etc/postfix/mailpolicy`` replaced by that
directory), ``queue_directory``, ``data_directory``, ``maillog_file`` (no syslog) and the
sink's capture directory (WORKDIR gets o+x: the ``postfix`` user must reach them).
Three free loopback ports are chosen on the first ``configure``: the public
(stage 1) ``smtpd``, the stage 2 ``smtpd`` (the fragment's 10026) and ``smtp-sink``,
which is the ``relayhost`` for everything (``mydestination`` is empty: no local
delivery). One instance can be ``configure``d with another export and reloaded
(``postfix reload``, what an administrator does after installing the files).

Limits and differences from a production install:

- It needs root (``postfix start`` and ``smtp-sink -u postfix``) and Postfix with
  ``pcre:`` (tested: 3.7.11, ``.ci/install-mta.sh``). Start about 0.4 s; one message at
  a time, about 0.02 s each.
- ``chroot`` is off for every service (a private queue has no chroot files); the
  service lines are otherwise the fragment's, ports aside.
- Delivered mail is ``allow``: the export writes no ``PREPEND``, so a policy ``tag``
  cannot show up (its loss explains the difference).
- The log is parsed for Postfix 3.x wording (``hold:``, ``discard:``, ``status=``,
  ``queued as``, ``sender non-delivery notification:``); a Postfix ``warning:``,
  ``fatal:`` or ``panic:`` about a table during a message makes that message ``error``.

What only the live run shows: stage 1 runs the exempt table for *every* sender, so a
stage-1 ``HOLD`` (the encoded-name catch-all of ``--approximate``) keeps a message from
reaching stage 2, where a rule with a sender exception would have rejected it: the
verdict is quarantine where the table runner says block (both stop the message).
"""

from __future__ import annotations

import glob
import json
import os
import re
import smtplib
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from mailpolicy.policy.export.base import ExportResult
from mailpolicy.policy.export.postfix import CONFIG_DIR, FILTER_PORT
from mailpolicy.policy.export.verify import PostfixRunner, VerifyError, need

#: Seconds to wait for one message's fate, for the instance to listen and to stop.
MESSAGE_TIMEOUT = 30.0
START_TIMEOUT = 20.0
POLL = 0.005
HOST = "127.0.0.1"
#: Used when a message names no recipient.
DEFAULT_RCPT = "postmaster@example.invalid"

_RULE = re.compile(r"\[mailpolicy rule ([^\]\s]+)\]")
_LOG = re.compile(r"\spostfix[^\s\[]*/([\w-]+)\[\d+\]: (?:([0-9A-Za-z]{8,}): )?(.*)$")
_PROBLEM = re.compile(r"^(warning|fatal|panic|error): (.*)")
_STATUS = re.compile(r"^to=<([^>]*)>,.* relay=([^,]*), .*status=(\w+) \((.*)\)$")
_QUEUED = re.compile(r"queued as ([0-9A-Za-z]+)")

#: The services a private instance needs, chroot off (master.cf(5) columns).
BASE_MASTER = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


@dataclass(frozen=True, slots=True)
class LiveVerdict:
    """What Postfix did with one message (``action``/``rule``/``detail`` for ``verify``)."""

    action: str
    rule: str | None
    detail: str = ""
    how: str = ""  # smtp-reject, bounce, hold, discard, delivered, error
    stage: int = 0  # 1: the public smtpd's cleanup; 2: the FILTER smtpd's cleanup
    reply: str = ""  # the SMTP reply to DATA the sending client got
    queue_ids: tuple[str, ...] = ()
    dsn: str | None = None  # bounce: the sink's capture file of the DSN to the sender


@dataclass
class _Queued:
    """Log facts about one queue id."""

    hold: str | None = None
    discard: str | None = None
    deliveries: list[tuple[str, str, str, str]] = field(default_factory=list)  # rcpt, relay,..
    notice: str | None = None  # the queue id of the sender non-delivery notification
    removed: bool = False


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def adapt_master(fragment: str, conf_dir: str, port1: int, port2: int) -> str:
    """The exported master.cf fragment for a private instance: the public ``smtp`` service
    on ``127.0.0.1:port1``, the FILTER ``smtpd`` on ``port2``, chroot off, tables in
    ``conf_dir``. A fragment of another shape is a ``VerifyError``."""
    out, seen = [], set()
    for line in fragment.replace(CONFIG_DIR, conf_dir).splitlines():
        fields = line.split()
        if line.startswith(("#", " ", "\t")) or len(fields) < 8:
            out.append(line)
            continue
        name = (
            {"smtp": f"{HOST}:{port1}", f"{HOST}:{FILTER_PORT}": f"{HOST}:{port2}"}.get(
                fields[0], fields[0]
            )
            if fields[1] == "inet"
            else fields[0]
        )
        seen.add(fields[0] if name != fields[0] else "")
        fields[0], fields[4] = name, "n"
        out.append("  ".join(fields))
    if seen - {""} != {"smtp", f"{HOST}:{FILTER_PORT}"}:
        raise VerifyError(
            "master.cf.fragment has no public smtp and 127.0.0.1:"
            f"{FILTER_PORT} inet services: the live runner cannot use it"
        )
    return "\n".join(out) + "\n"


def adapt_main(fragment: str, conf_dir: str, port2: int) -> str:
    """The exported main.cf fragment with the tables in ``conf_dir``, FILTER to ``port2``."""
    text = fragment.replace(CONFIG_DIR, conf_dir)
    old = f"[{HOST}]:{FILTER_PORT}"
    if "FILTER" in text and old not in text:
        raise VerifyError(f"main.cf.fragment FILTERs elsewhere than {old}")
    return text.replace(old, f"[{HOST}]:{port2}")


class PostfixInstance:
    """A private Postfix (master + services) and an ``smtp-sink`` on loopback ports."""

    def __init__(self, workdir: str) -> None:
        self.root = os.path.join(os.path.abspath(workdir), "live")
        self.conf = os.path.join(self.root, "conf")
        self.queue = os.path.join(self.root, "queue")
        self.data = os.path.join(self.root, "data")
        self.sink_dir = os.path.join(self.root, "sink")
        self.maillog = os.path.join(self.root, "maillog")
        self.port1, self.port2, self.sink_port = 0, 0, 0
        self.two_stage = False
        self.running = False
        self.sink: subprocess.Popen[bytes] | None = None
        self._offset = 0
        self._partial = b""
        self.facts: dict[str, _Queued] = {}
        self.problems: list[str] = []
        self._sink_seen: dict[str, bytes] = {}

    # -- configuration ------------------------------------------------------------------------
    def main_cf(self, fragment: str) -> str:
        base = f"""\
# A private instance written by mailpolicy's live verifier; not for production.
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.data}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = {HOST}
inet_protocols = ipv4
myhostname = mailpolicy-verify.invalid
mydomain = mailpolicy-verify.invalid
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
relayhost = [{HOST}]:{self.sink_port}
smtp_dns_support_level = disabled
maillog_file = {self.maillog}
maillog_file_prefixes = {self.root}
enable_long_queue_ids = yes
in_flow_delay = 0
biff = no
"""
        return base + adapt_main(fragment, self.conf, self.port2)

    def configure(self, result: ExportResult) -> None:
        """Write the export's tables and main.cf/master.cf; reload when running and changed."""
        if not self.port1:
            self.port1, self.port2, self.sink_port = free_port(), free_port(), free_port()
        for d in (self.conf, self.queue, self.data, self.sink_dir):
            os.makedirs(d, exist_ok=True)
        self.two_stage = "master.cf.fragment" in result.files
        master = BASE_MASTER + (
            adapt_master(result.files["master.cf.fragment"], self.conf, self.port1, self.port2)
            if self.two_stage
            else f"{HOST}:{self.port1}  inet  n  -  n  -  -  smtpd\n"
        )
        files = {n: t for n, t in result.files.items() if n.endswith(".pcre")}
        files |= {"main.cf": self.main_cf(result.files["main.cf.fragment"]), "master.cf": master}
        changed = False
        for name, text in files.items():
            path = os.path.join(self.conf, name)
            if os.path.exists(path):
                with open(path, encoding="utf-8") as fh:
                    if fh.read() == text:
                        continue
            changed = True
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.utime(path, (0, 0))  # Postfix waits for a main.cf changed in the last second
        if self.running and changed:
            self._postfix("reload")
            time.sleep(0.3)  # the old cleanup and smtpd processes finish and exit

    # -- life cycle ---------------------------------------------------------------------------
    def _postfix(self, verb: str) -> None:
        p = _run([need("postfix"), "-c", self.conf, verb])
        if p.returncode != 0:
            raise VerifyError(
                f"postfix -c {self.conf} {verb} failed (rc {p.returncode}): "
                f"{(p.stderr + p.stdout).strip()[-600:]}{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        try:
            with open(self.maillog, encoding="utf-8", errors="replace") as fh:
                return "\n  maillog: " + "\n  maillog: ".join(fh.read().splitlines()[-8:])
        except OSError:
            return ""

    def start(self) -> None:
        """Start the sink and Postfix; wait until all three ports listen."""
        if os.geteuid() != 0:
            raise VerifyError("the live Postfix verifier must run as root (postfix start)")
        for tool in ("postfix", "postqueue", "smtp-sink"):
            need(tool)
        for d in (self.sink_dir, self.data):  # written by the sink and the master as postfix
            os.chown(d, *_ids("postfix"))
        workdir = os.path.dirname(self.root)  # the postfix user must reach data/ and sink/
        os.chmod(workdir, os.stat(workdir).st_mode | 0o111)
        self.sink = subprocess.Popen(
            [
                need("smtp-sink"),
                "-u",
                "postfix",
                "-d",
                os.path.join(self.sink_dir, "m."),
                f"{HOST}:{self.sink_port}",
                "64",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            self._postfix("start")
        except VerifyError:
            self.stop()
            raise
        self.running = True
        deadline = time.monotonic() + START_TIMEOUT
        ports = [self.port1, self.sink_port] + ([self.port2] if self.two_stage else [])
        while not all(_listening(p) for p in ports):
            if self.sink.poll() is not None:
                err = self.sink.stderr.read().decode("utf-8", "replace") if self.sink.stderr else ""
                self.stop()
                raise VerifyError(f"smtp-sink exited at start: {err.strip()[-300:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise VerifyError(
                    f"Postfix did not listen on {HOST}:{ports} within "
                    f"{START_TIMEOUT:.0f} s{self._log_tail()}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop Postfix (``postfix stop``, then wait for the master) and the sink (by pid)."""
        if self.running:
            self.running = False
            pid = self._master_pid()
            _run([need("postfix"), "-c", self.conf, "stop"])
            deadline = time.monotonic() + START_TIMEOUT
            while pid and _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid and _alive(pid):
                _run([need("postfix"), "-c", self.conf, "abort"])
        if self.sink is not None:
            self.sink.terminate()
            try:
                self.sink.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.sink.kill()
                self.sink.wait(timeout=10)
            if self.sink.stderr:
                self.sink.stderr.close()
            self.sink = None

    def _master_pid(self) -> int | None:
        try:
            with open(os.path.join(self.queue, "pid", "master.pid"), encoding="ascii") as fh:
                return int(fh.read().strip())
        except (OSError, ValueError):
            return None

    # -- what happened ------------------------------------------------------------------------
    def read_log(self) -> None:
        """Fold new maillog lines into ``facts`` (per queue id) and ``problems``."""
        try:
            with open(self.maillog, "rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            m = _LOG.search(raw.decode("utf-8", "replace"))
            if m is None:
                continue
            prog, qid, text = m.groups()
            if qid is None:
                p = _PROBLEM.match(text)
                if p and (p.group(1) != "warning" or re.search(r"pcre|table|dict_", text)):
                    self.problems.append(f"{prog}: {text}")
                continue
            q = self.facts.setdefault(qid, _Queued())
            if prog == "cleanup" and text.startswith("hold: "):
                q.hold = text
            elif prog == "cleanup" and text.startswith("discard: "):
                q.discard = text
            elif text == "removed":
                q.removed = True
            elif text.startswith("sender non-delivery notification: "):
                q.notice = text.rsplit(" ", 1)[1]
            elif (s := _STATUS.match(text)) is not None:
                q.deliveries.append(s.groups())  # type: ignore[arg-type]

    def held(self, qid: str) -> bool:
        """``qid`` is in the hold queue (``postqueue -j``)."""
        p = _run([need("postqueue"), "-c", self.conf, "-j"])
        for line in p.stdout.splitlines():
            item = json.loads(line)
            if item.get("queue_id") == qid:
                return bool(item.get("queue_name") == "hold")
        return False

    def captured(self, needle: bytes, *, headers_only: bool = False) -> str | None:
        """The sink capture file that contains ``needle`` (in its top header block when
        ``headers_only``), if any. Files are read once, when complete (the log said sent)."""
        now = time.time()
        for path in sorted(glob.glob(os.path.join(self.sink_dir, "m.*"))):
            text = self._sink_seen.get(path)
            if text is None:
                with open(path, "rb") as fh:
                    text = fh.read()
                if now - os.path.getmtime(path) > 2:  # surely complete: keep it
                    self._sink_seen[path] = text
            if needle in (re.split(rb"\r?\n\r?\n", text, maxsplit=1)[0] if headers_only else text):
                return path
        return None


def _ids(user: str) -> tuple[int, int]:
    import pwd

    pw = pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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

    def explain(self, msg: Any, engine: Any, target: Any) -> str | None:
        return self.tables.explain(msg, engine, target)

    # -- one message --------------------------------------------------------------------------
    def run(self, data: bytes, sender: str | None, recipients: tuple[str, ...]) -> LiveVerdict:
        if not self.pf.running:
            raise VerifyError("the live Postfix instance is not running (call check() first)")
        rcpts = recipients or (DEFAULT_RCPT,)
        code, reply = self.send(data, sender or "", rcpts)
        if code >= 500 and _rule(reply) is not None:
            return LiveVerdict(
                "block", _rule(reply), f"stage 1 SMTP reject: {reply}", "smtp-reject", 1, reply
            )
        m = _QUEUED.search(reply)
        if code != 250 or m is None:
            return LiveVerdict("error", None, f"SMTP {code} {reply}", "error", 0, reply)
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

    def follow(self, qid: str, sender: str, reply: str) -> LiveVerdict:
        """Wait for the fate of queue id ``qid`` (and of the FILTERed copy)."""
        pf = self.pf
        ids, stage = [qid], 1
        deadline = time.monotonic() + MESSAGE_TIMEOUT
        problems = len(pf.problems)
        while True:
            pf.read_log()
            if len(pf.problems) > problems:
                return LiveVerdict(
                    "error",
                    None,
                    "; ".join(pf.problems[problems:]),
                    "error",
                    stage,
                    reply,
                    tuple(ids),
                )
            q = pf.facts.get(ids[-1], _Queued())
            verdict = self._decide(q, ids, stage, sender, reply)
            if isinstance(verdict, LiveVerdict):
                return verdict
            if verdict is not None:  # FILTERed: follow the stage 2 copy
                ids.append(verdict)
                stage = 2
                continue
            if time.monotonic() > deadline:
                late = [f"{d[0]}: {d[2]} ({d[3]})" for d in q.deliveries]
                return LiveVerdict(
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
        self, q: _Queued, ids: list[str], stage: int, sender: str, reply: str
    ) -> LiveVerdict | str | None:
        """A verdict, the next queue id (FILTER), or None (not decided yet)."""
        pf, qid, ids_t = self.pf, ids[-1], tuple(ids)
        if q.hold is not None:
            if not pf.held(qid):
                return None
            return LiveVerdict(
                "quarantine",
                _rule(q.hold),
                f"stage {stage} HOLD: {q.hold}",
                "hold",
                stage,
                reply,
                ids_t,
            )
        if q.discard is not None:
            return LiveVerdict(
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
                    return LiveVerdict(
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
            return LiveVerdict(
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
            return LiveVerdict(
                "allow",
                None,
                f"stage {stage}: delivered to the sink ({len(sent)} recipients)",
                "delivered",
                stage,
                reply,
                ids_t,
            )
        return LiveVerdict(
            "error", None, f"{qid} removed: {q.deliveries}", "error", stage, reply, ids_t
        )

    def _bounce(
        self, q: _Queued, ids: tuple[str, ...], sender: str, text: str, reply: str
    ) -> LiveVerdict | None:
        """A stage-2 reject: stage 1 accepted (250) and bounced; the DSN went to the sink."""
        dsn = None
        if sender:  # Postfix sends no notice for a bounce of a null-sender message
            if q.notice is None:
                return None
            dsn = self.pf.captured(f"X-Postfix-Queue-ID: {ids[0]}".encode())
            if dsn is None:
                return None
        return LiveVerdict(
            "block",
            _rule(text),
            f"stage 2 reject after 250, bounced to <{sender}>: {text}",
            "bounce",
            2,
            reply,
            ids,
            dsn,
        )
