"""The rspamd export installed as its header says, into the distribution's stock config.

A copy of the installed package's ``/etc/rspamd`` (``.ci/install-rspamd.sh``) in a
temporary directory stands for the site, with its own settings already in ``local.d``
(a multimap symbol, a force rule, an action threshold) that the export must keep. The
header's ``$`` lines are run as written, ``/etc/rspamd`` read as the copy: the export
command (in-process), the ``echo ... >>`` include lines (``sh``), then ``rspamadm
configtest -c COPY/rspamd.conf``; rspamd is started on loopback with that configuration
and messages go through it with ``rspamc``: a blocked name is rejected with the rule's
message, a clean message gets no action, a trusted partner's executable that the policy
allows gets no action although mime_types still scores it, a quarantined name is
quarantined, and the site's own reject still beats the policy's allow. Then the undo
lines: the site's files are back as they were and the configuration still passes.

This machine's settings (not the export's) are written as the site's too: loopback
ports, a log file, and fuzzy_check off (it resolves fuzzy1.rspamd.com; no DNS here).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from toolsupport import IN_CI

from mailpolicy.policy import loader
from mailpolicy.policy.export.rspamd import RspamdExporter
from mailpolicy.policy.export.rspamd_deploy import CONF_DIR, MAP_DIR
from mailpolicy.policy.export.rspamd_runner import find_rspamd
from mailpolicy.simulator.cli import main

STOCK = Path(CONF_DIR)
MISSING = find_rspamd()
pytestmark = pytest.mark.skipif(
    (MISSING is not None or not (STOCK / "rspamd.conf").is_file()) and not IN_CI,
    reason=MISSING or "no stock /etc/rspamd (run .ci/install-rspamd.sh)",
)

POLICY = """\
list trusted = ["partner.example"]
allow sender in trusted and attachment extension in ["exe"]
block attachment extension in ["pif", "exe"] reason "executable attachment"
quarantine attachment extension in ["scr"]
"""
#: The site's own settings, kept by the export's include lines.
SITE = {
    "local.d/multimap.conf": (
        'SITE_SPAM_SUBJECT { type = "header"; header = "Subject"; regexp = true;\n'
        '  map = "${LOCAL_CONFDIR}/site-spam.map"; score = 20.0; }\n'
    ),
    "local.d/force_actions.conf": (
        'rules { SITE_RULE { action = "reject"; expression = "MIME_BAD_UNICODE"; } }\n'
    ),
    "local.d/actions.conf": "reject = 14;\n",
    "site-spam.map": "/buy now/i\n",
}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Site:
    """The copy of /etc/rspamd, its variables and (once started) its daemon."""

    def __init__(self, root: Path) -> None:
        self.root, self.conf = root, root / "rspamd"
        self.db, self.run = root / "db", root / "run"
        shutil.copytree(STOCK, self.conf)
        for d in (self.db, self.run):
            d.mkdir()
            os.chmod(d, 0o777)  # rspamd drops to _rspamd before it writes them
        self.port = _port()
        self.log = self.run / "rspamd.log"
        machine = {
            "local.d/worker-normal.inc": f'bind_socket = "127.0.0.1:{self.port}";\ncount = 1;\n',
            "local.d/worker-controller.inc": f'bind_socket = "127.0.0.1:{_port()}";\n',
            "local.d/worker-proxy.inc": f'bind_socket = "127.0.0.1:{_port()}";\n',
            "local.d/logging.inc": f'type = "file";\nfilename = "{self.log}";\n',
            "local.d/fuzzy_check.conf": "enabled = false;\n",
        }
        for name, text in {**SITE, **machine}.items():
            (self.conf / name).write_text(text)
        self.proc: subprocess.Popen[bytes] | None = None

    def args(self) -> list[str]:
        return [
            f"--var=CONFDIR={self.conf}",
            f"--var=LOCAL_CONFDIR={self.conf}",
            f"--var=DBDIR={self.db}",
            f"--var=RUNDIR={self.run}",
        ]

    def configtest(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["rspamadm", *self.args(), "configtest", "-c", str(self.conf / "rspamd.conf"), "-s"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def shell(self, line: str) -> None:
        """One of the header's ``$`` lines, ``/etc/rspamd`` read as the copy."""
        p = subprocess.run(
            ["sh", "-ec", line.replace(CONF_DIR, str(self.conf))],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert p.returncode == 0, (line, p.stderr)

    def start(self) -> None:
        for top, dirs, files in os.walk(self.root):  # read as _rspamd
            for d in dirs:
                os.chmod(os.path.join(top, d), 0o777 if top == str(self.root) else 0o755)
            for f in files:
                os.chmod(os.path.join(top, f), 0o644)
        argv = ["rspamd", "-f", *self.args(), "-c", str(self.conf / "rspamd.conf")]
        if os.geteuid() == 0:
            argv[2:2] = ["-u", "_rspamd", "-g", "_rspamd"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")[-800:]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.3)
        pytest.fail(f"rspamd did not listen on 127.0.0.1:{self.port}")

    def scan(self, sender: str, name: str, subject: str = "notes") -> dict[str, object]:
        msg = self.root / "message.eml"
        msg.write_text(_message(name, subject))
        os.chmod(msg, 0o644)
        p = subprocess.run(
            ["rspamc", "-h", f"127.0.0.1:{self.port}", "-j", "-i", "127.0.0.1", "-t", "60"]
            + ["--from", sender, "--rcpt", "root@localhost", str(msg)],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        d: dict[str, object] = json.loads(p.stdout)
        return d

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _message(name: str, subject: str) -> str:
    return "\n".join(
        [
            "From: a@example.net",
            "To: root@localhost",
            f"Subject: {subject}",
            "Message-ID: <deploy@example.net>",
            "Date: Mon, 16 Jul 2001 23:12:00 +0900",
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="B"',
            "",
            "--B",
            "Content-Type: text/plain",
            "",
            "the file you asked for",
            "--B",
            "Content-Type: application/octet-stream",
            f'Content-Disposition: attachment; filename="{name}"',
            "Content-Transfer-Encoding: base64",
            "",
            "QUFBQQ==",
            "--B--",
            "",
        ]
    )


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[Site, list[str]]]:
    # rspamd reads the files as _rspamd: a directory it can reach (pytest's is private)
    root = Path(tempfile.mkdtemp(prefix="mailpolicy-deploy-rspamd-"))
    os.chmod(root, 0o755)
    s = Site(root)
    try:
        yield s, _install(s)
    finally:
        s.stop()
        shutil.rmtree(root, ignore_errors=True)


def _install(s: Site) -> list[str]:
    """The header's lines, in order; returns the undo lines."""
    policy = s.root / "site.policy"
    policy.write_text(POLICY)
    wide = RspamdExporter(loader.load_text(POLICY), approximate=True).export().losses
    accept = ",".join(sorted(x.key for x in wide if not x.sound))
    probe = RspamdExporter(loader.load_text(POLICY))
    probe.accept = frozenset(accept.split(","))
    header = probe.export().files["multimap.conf"]
    lines = [ln.split("$ ", 1)[1] for ln in header.splitlines() if ln.startswith("#   $ ")]
    undo_at = next(i for i, ln in enumerate(lines) if ln.startswith("sed -i"))
    export, enable, undo = lines[0], lines[1:undo_at], lines[undo_at:]
    assert export == f"mailpolicy export POLICY --target rspamd -o {CONF_DIR}/{MAP_DIR}"
    argv = export.split()[1:]
    argv[argv.index("POLICY")] = str(policy)
    argv[-1] = argv[-1].replace(CONF_DIR, str(s.conf))
    err = io.StringIO()
    assert main([*argv, "--accept-loss", accept], io.StringIO(), err) == 0, err.getvalue()
    assert len(enable) == 4 and enable[-1] == "rspamadm configtest && systemctl reload rspamd"
    for line in enable[:-1]:
        s.shell(line)
    return undo


def test_header_lines_install_into_the_stock_config_and_keep_the_site(
    site: tuple[Site, list[str]],
) -> None:
    s, _ = site
    p = s.configtest()
    assert p.returncode == 0 and "syntax OK" in p.stdout, p.stdout + p.stderr
    # nothing of the site's was replaced: each of its files only gained one line
    for name, text in SITE.items():
        now = (s.conf / name).read_text()
        assert now.startswith(text), name
        assert now.count("\n") - text.count("\n") == (name.startswith("local.d/")), name
    assert not (s.conf / "local.d" / "mime_types.conf").exists()
    assert (s.conf / "actions.conf").read_bytes() == (STOCK / "actions.conf").read_bytes()


def test_messages_through_the_installed_export(site: tuple[Site, list[str]]) -> None:
    s, _ = site
    s.start()
    blocked = s.scan("mallory@example.net", "invoice.pif")
    assert blocked["action"] == "reject", blocked
    assert "executable attachment [mailpolicy rule" in str(blocked["messages"])
    clean = s.scan("mallory@example.net", "notes.txt")
    assert clean["action"] == "no action", clean
    # the trusted partner's installer: allowed by the policy, still scored by mime_types
    partner = s.scan("bob@partner.example", "tool.exe")
    assert partner["action"] == "no action", partner
    symbols = partner["symbols"]
    assert isinstance(symbols, dict) and "MIME_BAD_EXTENSION" in symbols
    assert any(k.startswith("FORCE_ACTION_MAILPOLICY_") for k in symbols), symbols
    held = s.scan("mallory@example.net", "screen.scr")
    assert held["action"] == "quarantine", held
    # the site's own rules are still there and a site reject beats the policy's allow
    spam = s.scan("bob@partner.example", "tool.exe", subject="buy now")
    assert spam["action"] == "reject" and "SITE_SPAM_SUBJECT" in str(spam["symbols"]), spam


def test_undo_lines_restore_the_site(site: tuple[Site, list[str]]) -> None:
    s, undo = site
    s.stop()
    for line in undo:
        s.shell(line)
    for name, text in SITE.items():
        assert (s.conf / name).read_text() == text, name
    assert not (s.conf / MAP_DIR).exists()
    p = s.configtest()
    assert p.returncode == 0, p.stdout + p.stderr
