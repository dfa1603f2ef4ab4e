"""A private Postfix on loopback with mailpolicy milters in front of it: the rig of the
milter's live tests (``tests/simulator/test_milter_postfix.py``) and of its benchmark
(``tests/bench/test_milter_bench.py``).

- ``Rig(workdir, routes)``: one Postfix (``PostfixInstance``: its own config, queue and
  log directories, chroot off, everything relayed to an ``smtp-sink`` that writes one file
  per message) with one loopback SMTP port per *route*. A route is an ``smtpd`` service
  whose ``smtpd_milters`` is one milter port (``Route.milter``), or none (the instance's
  own port, ``Rig.plain``). ``milter_protocol = 6``, ``milter_default_action = tempfail``
  (a milter that is down or silent gives 4xx), ``XCLIENT`` allowed from 127.0.0.0/8.
- ``MilterProcess``: ``mailpolicy milter POLICY --listen 127.0.0.1:PORT ARGS`` as a child
  process (``start``, ``stop`` with SIGTERM, its stderr in a file), or with ``local=True``
  on a ``unix:`` socket in the work directory (mode 666: Postfix runs as its own user);
  ``MilterProcess.address`` is what ``Route.milter`` takes. ``Silent``: a listener that
  accepts and never answers (a hung milter).
- What happened: ``Rig.delivered()`` (Message-ID -> list of the sink's captured bytes: a
  message delivered twice shows twice), ``Rig.held()`` (Message-IDs in the hold queue,
  ``postqueue -j`` and ``postcat -h``), ``Rig.queue()``; ``Rig.settle()`` waits until the
  queue holds nothing but the hold queue.

Needs root, ``postfix``, ``postqueue``, ``postcat`` and ``smtp-sink`` (``missing()`` says
what is absent). Starting the instance takes about 1 s, a milter process about 0.5 s.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mailpolicy.policy.export.postfix_instance import HOST, PostfixInstance, free_port, listening
from mailpolicy.policy.export.result import ExportResult

TOOLS = ("postfix", "postqueue", "postcat", "smtp-sink")
_MID = re.compile(rb"^message-id:[ \t]*(<[^>\r\n]*>)", re.I | re.M)


def tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")


def missing(tools: tuple[str, ...] = TOOLS, hint: str = "") -> str | None:
    """Why a private Postfix with ``tools`` cannot run here, or None (``hint``: how to get
    the missing ones)."""
    gone = [t for t in tools if tool(t) is None]
    if gone:
        return f"missing {', '.join(gone)}{hint}"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root"
    return None


def wait_for(check: Callable[[], bool], seconds: float = 15, step: float = 0.1) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


class MilterProcess:
    """``mailpolicy milter`` in a child process, on a fixed loopback port (so that it can be
    restarted where Postfix expects it)."""

    def __init__(
        self, workdir: Path, name: str, policy: str, *args: str, local: bool = False
    ) -> None:
        self.port = free_port()
        self.socket = str(workdir / f"milter-{name}.sock") if local else None
        self.policy = policy
        self.args = list(args)
        self.stderr = workdir / f"milter-{name}.err"
        self.decisions = workdir / f"milter-{name}.jsonl"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> int | str:
        """Where Postfix finds the milter: the loopback port, or ``unix:PATH``."""
        return self.port if self.socket is None else f"unix:{self.socket}"

    def listening(self) -> bool:
        if self.socket is None:
            return listening(self.port)
        with socket.socket(socket.AF_UNIX) as s:
            return s.connect_ex(self.socket) == 0

    def argv(self) -> list[str]:
        boot = "import sys; from mailpolicy.simulator.cli import main; sys.exit(main())"
        listen = f"{HOST}:{self.port}" if self.socket is None else f"unix:{self.socket}"
        mode = [] if self.socket is None else ["--socket-mode", "666"]
        return [sys.executable, "-c", boot, "milter", self.policy, "--listen", listen, *mode]

    def start(self, timeout: float = 20) -> None:
        argv = [*self.argv(), "--decision-log", str(self.decisions), *self.args]
        with open(self.stderr, "ab") as err:
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        if (
            not wait_for(
                lambda: self.listening() or self.proc is None or self.proc.poll() is not None,
                timeout,
                0.05,
            )
            or not self.listening()
        ):
            self.stop()
            raise RuntimeError(f"milter did not listen on {self.port}: {self.log()[-600:]}")

    def stop(self, timeout: float = 40) -> int | None:
        """SIGTERM, then wait; the exit code (None if it had to be killed)."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            return None

    def signal(self, sig: int) -> None:
        assert self.proc is not None and self.proc.poll() is None
        self.proc.send_signal(sig)

    def descendants(self) -> list[int]:
        """The process ids below the milter (its analysis workers and their fork server)."""
        if self.proc is None:
            return []
        parent: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (f := _stat(int(entry))):
                parent[int(entry)] = int(f[1])
        found, frontier = [], [self.proc.pid]
        while frontier:
            kids = [pid for pid, pp in parent.items() if pp in frontier]
            found += kids
            frontier = kids
        return found

    def log(self) -> str:
        try:
            return self.stderr.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def decisions_read(self, path: Path | None = None) -> list[dict[str, object]]:
        """The decision log's lines (or those of ``path``, a rotated one)."""
        try:
            lines = (path or self.decisions).read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def cpu_seconds(self) -> float:
        """CPU seconds of the milter so far: the process, its analysis workers (live, and
        those that ended, as their parents' children time)."""
        if self.proc is None:
            return 0.0
        pids = [self.proc.pid, *self.descendants()]
        return sum(cpu_seconds(pid, children=True) for pid in pids)


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (state is [0], ppid [1])."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return []


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User plus system CPU seconds of ``pid`` (with ``children``: plus those of its
    children it has waited for)."""
    f = _stat(pid)
    if not f:
        return 0.0
    ticks = int(f[11]) + int(f[12]) + (int(f[13]) + int(f[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


class Silent:
    """A listener that accepts milter connections and never answers (a hung milter)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@dataclass
class Route:
    """An smtpd service of the rig: its SMTP port, the milter behind it (a loopback port,
    or ``unix:PATH``), and extra ``-o name=value`` settings."""

    milter: int | str | None
    options: dict[str, str] = field(default_factory=dict)
    port: int = 0


class Rig:
    """One private Postfix with a port per route; see the module docstring."""

    def __init__(self, workdir: Path, routes: dict[str, Route], timeouts: str = "") -> None:
        self.workdir = workdir
        self.routes = routes
        self.pf = PostfixInstance(str(workdir))
        self.timeouts = timeouts or (
            "milter_connect_timeout = 2s\nmilter_command_timeout = 10s\n"
            "milter_content_timeout = 30s\n"
        )
        self._seen: dict[str, list[bytes]] = {}
        self._parsed: dict[str, tuple[float, bytes | None]] = {}

    @property
    def plain(self) -> int:
        """The port without a milter."""
        return self.pf.port1

    def port(self, route: str) -> int:
        return self.routes[route].port

    def start(self) -> None:
        fragment = (
            "smtpd_milters =\nmilter_protocol = 6\nmilter_default_action = tempfail\n"
            + self.timeouts
            + "smtpd_authorized_xclient_hosts = 127.0.0.0/8\nsmtputf8_enable = yes\n"
            "message_size_limit = 41943040\n"
        )
        self.pf.configure(ExportResult("postfix", files={"main.cf.fragment": fragment}))
        lines = []
        for route in self.routes.values():
            route.port = free_port()
            opts = dict(route.options)
            if route.milter is not None:
                m = route.milter
                opts["smtpd_milters"] = m if isinstance(m, str) else f"inet:{HOST}:{m}"
            args = " ".join(f"-o {k}={v}" for k, v in opts.items())
            lines.append(f"{HOST}:{route.port}  inet  n  -  n  -  -  smtpd {args}\n")
        master = Path(self.pf.conf) / "master.cf"
        master.write_text(master.read_text(encoding="utf-8") + "".join(lines), encoding="utf-8")
        self.pf.start()
        ports = [r.port for r in self.routes.values()]
        if not wait_for(lambda: all(listening(p) for p in ports), 20, 0.05):
            self.pf.stop()
            raise RuntimeError(f"Postfix did not listen on {ports}")

    def stop(self) -> None:
        self.pf.stop()

    def postfix_cpu(self) -> float:
        """CPU seconds of the Postfix master and its services so far: the master, the
        services it has reaped, and the live ones."""
        master = self.pf.master_pid()
        if master is None:
            return 0.0
        total = cpu_seconds(master, children=True)
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (f := _stat(int(entry))) and f[1] == str(master):
                total += cpu_seconds(int(entry))
        return total

    def sink_cpu(self) -> float:
        return cpu_seconds(self.pf.sink.pid) if self.pf.sink is not None else 0.0

    # -- what happened ------------------------------------------------------------------------
    def _postqueue(self) -> list[dict[str, object]]:
        p = subprocess.run(
            [str(tool("postqueue")), "-c", self.pf.conf, "-j"],
            capture_output=True,
            text=True,
            check=False,
        )
        return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]

    def queue(self) -> dict[str, str]:
        """Queue id -> queue name (``incoming``, ``active``, ``deferred``, ``hold``, ...)."""
        return {str(i["queue_id"]): str(i["queue_name"]) for i in self._postqueue()}

    def headers(self, qid: str) -> bytes:
        """The header block of a queued message (``postcat -h -q``)."""
        p = subprocess.run(
            [str(tool("postcat")), "-c", self.pf.conf, "-h", "-q", qid],
            capture_output=True,
            check=False,
        )
        return p.stdout

    def held(self) -> dict[str, bytes]:
        """Message-ID -> header block, for every message in the hold queue."""
        out = {}
        for qid, name in self.queue().items():
            if name == "hold":
                head = self.headers(qid)
                m = _MID.search(head)
                out[m.group(1).decode() if m else qid] = head
        return out

    def settle(self, seconds: float = 60) -> bool:
        """Wait until nothing but held mail is in the queue."""
        return wait_for(lambda: set(self.queue().values()) <= {"hold"}, seconds, 0.25)

    def delivered(self) -> dict[str, list[bytes]]:
        """Message-ID -> the captured messages (smtp-sink's files) that carry it. A file is
        read again while it is younger than 2 s (it may still be being written)."""
        now = time.time()
        found: dict[str, list[bytes]] = {}
        for path in glob.glob(os.path.join(self.pf.sink_dir, "m.*")):
            mtime, data = self._parsed.get(path, (0.0, None))
            if data is None or now - mtime < 2:
                with open(path, "rb") as fh:
                    data = fh.read()
                self._parsed[path] = (os.path.getmtime(path), data)
            head = re.split(rb"\r?\n\r?\n", data, maxsplit=1)[0]
            m = _MID.search(head)
            if m is not None:
                found.setdefault(m.group(1).decode("ascii", "replace"), []).append(data)
        return found

    def arrived(self, mid: str, seconds: float = 15) -> bytes | None:
        """The captured message with Message-ID ``mid``, waiting for it up to ``seconds``."""
        box: list[bytes] = []

        def seen() -> bool:  # and whole: the same bytes on two reads 0.2 s apart
            got = self.delivered().get(mid)
            if got:
                box.append(got[0])
            return len(box) >= 2 and box[-1] == box[-2]

        wait_for(seen, seconds, 0.2)
        return box[-1] if box else None
