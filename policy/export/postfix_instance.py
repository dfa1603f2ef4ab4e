"""A private Postfix on loopback ports for the live runner (``postfix_live``).

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
"""

from __future__ import annotations

import glob
import json
import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass, field

from mailpolicy.policy.export.base import ExportResult
from mailpolicy.policy.export.postfix import FILTER_PORT
from mailpolicy.policy.export.postfix_deploy import CONFIG_DIR
from mailpolicy.policy.export.runner import VerifyError, need

#: Seconds to wait for the instance to listen and to stop.
START_TIMEOUT = 20.0
HOST = "127.0.0.1"

_LOG = re.compile(r"\spostfix[^\s\[]*/([\w-]+)\[\d+\]: (?:([0-9A-Za-z]{8,}): )?(.*)$")
_PROBLEM = re.compile(r"^(warning|fatal|panic|error): (.*)")
_STATUS = re.compile(r"^to=<([^>]*)>,.* relay=([^,]*), .*status=(\w+) \((.*)\)$")

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


@dataclass
class Queued:
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


def listening(port: int) -> bool:
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
        self.facts: dict[str, Queued] = {}
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
        while not all(listening(p) for p in ports):
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
            pid = self.master_pid()
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

    def master_pid(self) -> int | None:
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
            q = self.facts.setdefault(qid, Queued())
            if prog == "cleanup" and text.startswith("hold: "):
                q.hold = text
            elif prog == "cleanup" and text.startswith("discard: "):
                q.discard = text
            elif text == "removed":
                q.removed = True
            elif text.startswith("sender non-delivery notification: "):
                q.notice = text.rsplit(" ", 1)[1]
            elif (s := _STATUS.match(text)) is not None:
                rcpt, relay, status, said = s.group(1, 2, 3, 4)
                q.deliveries.append((rcpt, relay, status, said))

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
