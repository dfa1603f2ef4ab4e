"""``--verify`` for the rspamd target: a private rspamd daemon on 127.0.0.1.

``RspamdRunner`` follows ``runner.Runner``: the export is installed as its header says
(``rspamd_deploy.install``: the files in ``$LOCAL_CONFDIR/mailpolicy``, one include line
in each site file) over Debian's stock ``/etc/rspamd``; ``check()`` runs ``rspamadm
configtest -s`` on it (half a second, no daemon: what ``export`` runs before it exits 0);
the first ``run()`` starts the daemon (a few seconds) and every ``run()`` scans one
message with ``rspamc -j`` and reads which ``force_actions`` rule fired; ``close()``
stops the daemon.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any

from mailpolicy.policy.export.base import ExportResult
from mailpolicy.policy.export.rspamd import ACTIONS, STOPS
from mailpolicy.policy.export.rspamd_deploy import MAP_DIR, install
from mailpolicy.policy.export.runner import TargetVerdict, VerifyError

#: Seconds the daemon may take to start and load the maps.
START_TIMEOUT = 60
#: ``rspamadm lua`` script: every map line that rspamd's own regex engine refuses (the
#: daemon would drop it with a log line and start anyway; configtest never reads maps).
MAP_CHECK = """\
local rspamd_regexp = require "rspamd_regexp"
if not arg or #arg == 0 then print("rspamadm lua passed no map file to the check") end
for _, path in ipairs(arg or {}) do
  local n = 0
  for line in io.lines(path) do
    n = n + 1
    if line ~= "" and line:sub(1, 1) ~= "#" and not rspamd_regexp.create(line) then
      print(path:match("[^/]*$") .. ":" .. n .. ": rspamd cannot compile " .. line:sub(1, 80))
    end
  end
end
"""


def find_rspamd() -> str | None:
    """None when rspamd, rspamc and rspamadm are installed, else what is missing."""
    missing = [
        t
        for t in ("rspamd", "rspamc", "rspamadm")
        if shutil.which(t, path="/usr/bin:/usr/sbin:/bin" + os.pathsep + os.environ.get("PATH", ""))
        is None
    ]
    return (
        None if not missing else (f"{', '.join(missing)} not installed (run .ci/install-rspamd.sh)")
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RspamdRunner:
    """An rspamd daemon on 127.0.0.1 with the exported files, scanned with ``rspamc -j``.

    Everything lives in a fresh temporary directory (``LOCAL_CONFDIR``, ``DBDIR``,
    ``RUNDIR``; the stock config in ``/etc/rspamd`` is read, never written, and the
    site's own ``local.d`` there is not used); this machine's settings (not the
    export's) go in ``local.d`` beside the include lines: the workers listen on free
    loopback ports, the log is a file, fuzzy_check is disabled (it resolves
    ``fuzzy1.rspamd.com``). ``check()`` runs ``rspamadm configtest -s``. ``start()``
    (called by the first ``run()``) starts the daemon (``start_timeout`` seconds at most)
    and reads its log: a map regex rspamd could not compile, or fewer regexes loaded
    than written, is a ``VerifyError``. ``close()`` stops the daemon by its pid and
    removes the directory.
    """

    def __init__(self, result: ExportResult, start_timeout: float = START_TIMEOUT) -> None:
        self.result = result
        self.start_timeout = start_timeout
        self.forces: dict[str, tuple[str | None, str]] = result.meta.get("forces", {})
        self.dir = tempfile.mkdtemp(prefix="mailpolicy-rspamd-")
        os.chmod(self.dir, 0o755)
        self.conf, self.db, self.run_dir = (
            os.path.join(self.dir, d) for d in ("conf", "db", "run")
        )
        for d in (self.conf, self.db, self.run_dir):
            os.makedirs(d)
            os.chmod(d, 0o777)  # rspamd drops to _rspamd before it writes DBDIR/RUNDIR
        self.port = _free_port()
        self.log = os.path.join(self.run_dir, "rspamd.log")
        harness = {
            "local.d/worker-normal.inc": f'bind_socket = "127.0.0.1:{self.port}";\ncount = 1;\n',
            "local.d/worker-controller.inc": f'bind_socket = "127.0.0.1:{_free_port()}";\n',
            "local.d/worker-proxy.inc": f'bind_socket = "127.0.0.1:{_free_port()}";\n',
            "local.d/logging.inc": f'type = "file";\nfilename = "{self.log}";\nlevel = "info";\n',
            "local.d/fuzzy_check.conf": "enabled = false;\n",
        }
        for name, text in harness.items():
            dest = os.path.join(self.conf, name)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "w", encoding="utf-8") as fh:
                fh.write(text)
        install(result.files, self.conf)
        for top, dirs, files in os.walk(self.conf):  # rspamd reads them as _rspamd
            for d in dirs:
                os.chmod(os.path.join(top, d), 0o755)
            for f in files:
                os.chmod(os.path.join(top, f), 0o644)
        self.msg = os.path.join(self.dir, "message.eml")
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = False

    def _vars(self) -> list[str]:
        return [
            f"--var=LOCAL_CONFDIR={self.conf}",
            f"--var=DBDIR={self.db}",
            f"--var=RUNDIR={self.run_dir}",
        ]

    def available(self) -> str | None:
        return find_rspamd()

    def configtest(self) -> str | None:
        """``rspamadm configtest -s``: None, or its complaint on one line."""
        p = subprocess.run(
            ["rspamadm", *self._vars(), "configtest", "-s"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if p.returncode == 0:
            return None
        lines = [ln.strip() for ln in (p.stdout + p.stderr).splitlines() if ln.strip()]
        said = [ln for ln in lines if ln != "syntax BAD" and not ln.endswith("errors found")]
        count = next((ln for ln in lines if ln.endswith("errors found")), "syntax BAD")
        return f"rspamadm configtest: {'; '.join(said[:5]) or 'no message'} ({count})"[:2000]

    def start(self) -> str | None:
        """Start the daemon and wait for it; None, or why it did not come up."""
        self.started = True
        argv = ["rspamd", "-f", *self._vars(), "-p", os.path.join(self.run_dir, "rspamd.pid")]
        if os.geteuid() == 0:
            argv[2:2] = ["-u", "_rspamd", "-g", "_rspamd"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"rspamd exited with {self.proc.returncode}: {self._log_tail()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self._maps_loaded(deadline)
            except OSError:
                time.sleep(0.3)
        return f"rspamd did not listen on 127.0.0.1:{self.port} within {self.start_timeout:.0f} s"

    def _maps_loaded(self, deadline: float) -> str | None:
        want = sorted(n for n in self.result.meta.get("maps", {}).values())
        while True:
            text = self._log_text()
            bad = re.findall(r"cannot parse regexp[^\n]*", text)
            if bad:
                return "rspamd could not compile a map regex: " + "; ".join(bad[:3])
            got = sorted(int(n) for n in re.findall(r"read regexp list of (\d+) elements", text))
            if all(got.count(n) >= want.count(n) for n in set(want)):
                return None
            if time.monotonic() > deadline:
                return f"rspamd loaded map regexes {got}, the export wrote {want}"
            time.sleep(0.3)

    def _log_text(self) -> str:
        try:
            with open(self.log, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""

    def _log_tail(self) -> str:
        return self._log_text()[-800:]

    def check(self) -> str | None:
        """``rspamadm configtest -s`` on the installed export, then every map line through
        rspamd's own regex engine (``rspamadm lua``); no daemon. Raises ``VerifyError``
        when rspamd is missing."""
        problem = self.available()
        if problem is not None:
            raise VerifyError(problem)
        return self.configtest() or self.maps_compile()

    def maps_compile(self) -> str | None:
        """None, or the map lines rspamd's regex engine refuses, on one line."""
        maps = [os.path.join(self.conf, MAP_DIR, n) for n in sorted(self.result.files)]
        maps = [m for m in maps if m.endswith(".map")]
        if not maps:
            return None
        script = os.path.join(self.dir, "maps.lua")
        with open(script, "w", encoding="utf-8") as fh:
            fh.write(MAP_CHECK)
        argv = ["rspamadm", "lua", *(x for m in maps for x in ("-a", m)), script]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        said = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.strip()]
        return "; ".join(said[:5])[:2000] or None

    def run(self, data: bytes, sender: str | None, recipients: tuple[str, ...]) -> TargetVerdict:
        if not self.started:
            problem = self.start()
            if problem:
                raise VerifyError(f"rspamd did not start: {problem}")
        with open(self.msg, "wb") as fh:
            fh.write(data)
        os.chmod(self.msg, 0o644)
        argv = ["rspamc", "-h", f"127.0.0.1:{self.port}", "-j", "-i", "127.0.0.1", "-t", "60"]
        if sender:
            argv += ["--from", sender]
        for r in recipients:
            argv += ["--rcpt", r]
        p = subprocess.run([*argv, self.msg], capture_output=True, timeout=90, check=False)
        try:
            d = json.loads(p.stdout.decode("utf-8", "replace"))
        except ValueError:
            return TargetVerdict(
                "error", None, (p.stdout + p.stderr).decode("utf-8", "replace")[-300:]
            )
        return self.parse(d)

    def parse(self, d: dict[str, Any]) -> TargetVerdict:
        """The verdict from ``rspamc -j`` output: the policy's forced rule, else rspamd's
        own action (reject and soft reject read as block, quarantine and discard as
        themselves, anything else as allow), with rule None."""
        symbols = d.get("symbols", {})
        got = d.get("action")
        for sym, (rule, action) in self.forces.items():
            if sym not in symbols:
                continue
            if got == ACTIONS[action]:
                return TargetVerdict(action, rule, d.get("messages", {}).get("smtp_message", ""))
            if action == "tag" and got not in STOPS:  # least: a stronger mark of rspamd's
                return TargetVerdict(action, rule, f"{sym} fired; rspamd's action {got!r}")
            if action != "tag":
                return TargetVerdict(
                    "error", rule, f"{sym} fired but action is {got!r}, not {ACTIONS[action]!r}"
                )
            break
        own = {"reject": "block", "soft reject": "block"}.get(str(got), str(got))
        if own in ("block", "quarantine", "discard"):
            return TargetVerdict(own, None, f"rspamd's own scoring: {got} score {d.get('score')}")
        return TargetVerdict("allow", None)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
