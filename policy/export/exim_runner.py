"""``--verify`` for the exim target: ``exim -C CONF -bh 127.0.0.1``, no daemon.

The test configuration is the exported ``macros.conf`` (its paths pointed at a temporary
copy of ``mime.acl`` and ``data.acl``) in a minimal main section whose DATA ACL includes
``data.acl`` exactly as Debian's ``acl_check_data`` does (``.include
CHECK_DATA_LOCAL_ACL_FILE``); routers and transports deliver to ``/dev/null``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from typing import TYPE_CHECKING

from mailpolicy.policy.export.base import ExportResult
from mailpolicy.policy.export.exim import DEPLOY_DIR
from mailpolicy.policy.export.runner import TIMEOUT, TargetVerdict, VerifyError

if TYPE_CHECKING:
    pass

#: Where ``.ci/install-exim.sh`` unpacks exim4-daemon-heavy; ``MAILPOLICY_EXIM`` overrides.
EXIM_CANDIDATES = ("/opt/mailpolicy-exim/usr/sbin/exim4", "/usr/sbin/exim4", "/usr/sbin/exim")


def find_exim() -> str | None:
    """The exim4-daemon-heavy binary (``MAILPOLICY_EXIM``, the CI unpack dir, or PATH)."""
    env = os.environ.get("MAILPOLICY_EXIM")
    for path in (env,) if env else EXIM_CANDIDATES:
        if path and os.access(path, os.X_OK):
            return path
    return shutil.which("exim4") if not env else None


_TEST_MAIN = """\
primary_hostname = mx.mailpolicy.invalid
keep_environment =
message_body_visible = 65536
spool_directory = {spool}
log_file_path = {spool}/%slog
headers_charset = UTF-8
acl_smtp_rcpt = acl_mailpolicy_rcpt
acl_smtp_data = acl_mailpolicy_data
"""
_TEST_TAIL = """
acl_mailpolicy_rcpt:
  accept

acl_mailpolicy_data:
  .include CHECK_DATA_LOCAL_ACL_FILE
  accept

begin routers
mailpolicy_sink:
  driver = accept
  transport = mailpolicy_null

begin transports
mailpolicy_null:
  driver = appendfile
  file = /dev/null
"""
_LOG_RULE = re.compile(r"mailpolicy: rule=(\S+) action=(\w+)")


class EximRunner:
    """Runs exported rules through ``exim -C CONF -bh 127.0.0.1`` (no daemon, nothing queued;
    a ``runner.Runner``).

    ``check()`` runs ``-bV`` (syntax) and returns an error text or None; ``run(data,
    sender, recipients)`` feeds one SMTP dialogue and reads the verdict: the reply after
    the data plus the ``mailpolicy: rule=`` log line. A ``451`` or a missing log line is an
    ``error`` verdict (a broken expansion is only found at run time).
    """

    def __init__(self, result: ExportResult, workdir: str, exim: str | None = None) -> None:
        self.exim = exim or find_exim()
        # Exim drops to its own user (Debian-exim) before it touches the spool, so the spool
        # must be reachable from / for that user: a fresh directory in the system temp dir,
        # not under ``workdir`` (which may be private); ``close()`` removes it.
        self.dir = tempfile.mkdtemp(prefix="mailpolicy-exim-")
        spool = os.path.join(self.dir, "spool")
        os.makedirs(spool)
        os.chmod(self.dir, 0o755)
        os.chmod(spool, 0o1777)  # exim drops to Debian-exim before it writes the spool
        for name in ("mime.acl", "data.acl"):
            with open(os.path.join(self.dir, name), "w", encoding="utf-8") as fh:
                fh.write(result.files[name])
        self.conf = os.path.join(self.dir, "exim.conf")
        macros = result.files["macros.conf"].replace(f"{DEPLOY_DIR}/", f"{self.dir}/")
        with open(self.conf, "w", encoding="utf-8") as fh:
            fh.write(_TEST_MAIN.format(spool=spool) + macros + "\nbegin acl\n" + _TEST_TAIL)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def available(self) -> str | None:
        """None when Exim with Content_Scanning can run here, else the reason it cannot."""
        if self.exim is None:
            return "exim4-daemon-heavy not found (run .ci/install-exim.sh or set MAILPOLICY_EXIM)"
        return None

    def check(self) -> str | None:
        """``exim -bV`` on the generated config: None, or why it was refused.

        Raises ``VerifyError`` when no suitable Exim is installed."""
        problem = self.available()
        if problem is not None:
            raise VerifyError(problem)
        assert self.exim is not None
        p = subprocess.run(
            [self.exim, "-C", self.conf, "-bV"],
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT,
        )
        if p.returncode != 0:
            return (p.stdout + p.stderr).strip()
        if "Content_Scanning" not in p.stdout:
            return "this Exim has no Content_Scanning (install exim4-daemon-heavy)"
        return None

    def run(self, data: bytes, sender: str | None, recipients: tuple[str, ...]) -> TargetVerdict:
        assert self.exim is not None
        body = data.replace(b"\r\n", b"\n").split(b"\n")
        if body and body[-1] == b"":
            body.pop()
        lines = [b"EHLO client.mailpolicy.invalid", f"MAIL FROM:<{sender or ''}>".encode()]
        lines += [f"RCPT TO:<{r}>".encode() for r in (recipients or ("postmaster@example.com",))]
        lines += [
            b"DATA",
            *((b"." + ln) if ln.startswith(b".") else ln for ln in body),
            b".",
            b"QUIT",
        ]
        p = subprocess.run(
            [self.exim, "-C", self.conf, "-bh", "127.0.0.1"],
            input=b"\r\n".join(lines) + b"\r\n",
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        out = p.stdout.decode("utf-8", "replace").splitlines()
        err = p.stderr.decode("utf-8", "replace")
        code, reply = "", ""
        for k, ln in enumerate(out):
            if ln.startswith("354"):
                reply = out[k + 1] if k + 1 < len(out) else ""
                code = reply[:3]
                break
        logged = _LOG_RULE.findall(err)
        if code == "451" or not code:
            return TargetVerdict("error", None, reply or err[-400:])
        if not logged:
            return TargetVerdict("error", None, f"no mailpolicy log line; reply {reply!r}")
        rule, action = logged[-1]
        if action == "block" and code != "550":
            return TargetVerdict("error", rule, f"block without 550: {reply!r}")
        return TargetVerdict(action, None if rule == "-" else rule, reply)
