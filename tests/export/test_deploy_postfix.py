"""A Postfix export deployed exactly as its header says, into Debian's stock main.cf.

A private instance (``postfix_instance``: its own queue, loopback ports, a sink as relay)
starts from the distribution's ``main.cf.debian`` with a site ``header_checks`` table of
its own; the header's deploy lines (between ``# deploy`` and ``# undo``) then run as a
shell script with ``/etc/postfix`` moved into that instance's configuration directory
(and ``postfix reload`` left to the start). Then ``postfix check``, messages over SMTP
(the export's rule, the site's rule, a held message released with the header's
``postsuper -H``) and the header's undo. Needs root, Postfix and postfix-pcre
(``.ci/install-mta.sh``); a missing tool is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import smtplib
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from mailpolicy.policy import loader
from mailpolicy.policy.export.postfix import PostfixExporter
from mailpolicy.policy.export.postfix_deploy import CONFIG_DIR
from mailpolicy.policy.export.postfix_instance import (
    BASE_MASTER,
    HOST,
    PostfixInstance,
    free_port,
)
from mailpolicy.policy.export.runner import need

POLICY = """\
policy "deploy"
default allow
block attachment extension in ["exe"] as "exe" reason "no programs"
quarantine attachment name matches "*.scr" as "scr"
"""
STOCK_MAIN = "/usr/share/postfix/main.cf.debian"


def _message(name: str, subject: str = "t") -> bytes:
    return (
        f"From: m@example.net\nTo: bob@example.com\nSubject: {subject}\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nhi\n'
        f'--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename="{name}"\n'
        "Content-Transfer-Encoding: base64\n\naGk=\n--b--\n"
    ).encode()


def _send(port: int, data: bytes) -> tuple[int, str]:
    with smtplib.SMTP(HOST, port, timeout=30) as s:
        try:
            s.sendmail("m@example.net", ["bob@example.com"], data)
        except smtplib.SMTPDataError as exc:
            return exc.smtp_code, exc.smtp_error.decode("utf-8", "replace")
    return 250, ""


def _commands(text: str, start: str, stop: str) -> list[str]:
    lines = text.splitlines()
    a = next(i for i, ln in enumerate(lines) if ln.startswith(start))
    b = next(i for i, ln in enumerate(lines) if ln.startswith(stop))
    return [ln.removeprefix("#   ") for ln in lines[a + 1 : b]]


def _local(command: str, conf: str) -> str:
    """A header command for the private instance: its config directory for /etc/postfix."""
    command = command.replace(CONFIG_DIR, f"{conf}/mailpolicy")
    for tool in ("postconf", "postsuper", "postqueue"):
        command = command.replace(f"{tool} ", f"{need(tool)} -c {conf} ")
    command = command.replace("postfix check", f"{need('postfix')} -c {conf} check")
    return command.replace("postfix reload", "true")  # started below instead


def _sh(command: str, cwd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _queue_ids(inst: PostfixInstance, queue: str) -> list[str]:
    import json

    p = subprocess.run(
        [need("postqueue"), "-c", inst.conf, "-j"], capture_output=True, text=True, check=False
    )
    items = [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]
    return [i["queue_id"] for i in items if i.get("queue_name") == queue]


@pytest.mark.skipif(os.geteuid() != 0, reason="a private Postfix needs root (CI runs as root)")
def test_deploy_into_stock_postfix() -> None:
    # not pytest's tmp_path: the postfix user must reach the instance's directories
    with tempfile.TemporaryDirectory(prefix="mailpolicy-deploy-") as work:
        _deploy(Path(work))


def _deploy(tmp_path: Path) -> None:
    result = PostfixExporter(loader.load_text(POLICY, "deploy.policy"), approximate=True).export()
    assert result.ok, [d.message for d in result.diagnostics]
    text = result.files["mime_header_checks.pcre"]
    out = tmp_path / "export"
    result.write(str(out), multi=True)
    inst = PostfixInstance(str(tmp_path))
    inst.port1, inst.port2, inst.sink_port = free_port(), free_port(), free_port()
    for d in (inst.conf, inst.queue, inst.data, inst.sink_dir):
        os.makedirs(d, exist_ok=True)
    for d in (inst.data, inst.sink_dir):  # written by the master and the sink as postfix
        shutil.chown(d, "postfix", "postfix")
    os.chmod(tmp_path, 0o755)
    conf = inst.conf
    # the distribution's main.cf, made a private instance by postconf -e (nothing else)
    Path(conf, "main.cf").write_text(Path(STOCK_MAIN).read_text(encoding="utf-8"))
    Path(conf, "master.cf").write_text(BASE_MASTER + f"{HOST}:{inst.port1} inet n - n - - smtpd\n")
    private = [
        ln.strip()
        for ln in inst.main_cf("").splitlines()
        if "=" in ln and not ln.lstrip().startswith("#")
    ]
    Path(conf, "site_header_checks").write_text(
        "/^Subject: site-blocked/ REJECT blocked by the site\n"
    )
    private.append(f"header_checks = regexp:{conf}/site_header_checks")
    p = subprocess.run(
        [need("postconf"), "-c", conf, "-e", *private], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    assert (
        subprocess.run(
            [need("postconf"), "-c", conf, "-h", "mime_header_checks"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        == "$header_checks"
    )
    os.utime(Path(conf, "main.cf"), (0, 0))
    # the header's deploy lines, as they are
    deploy = "\n".join(_local(c, conf) for c in _commands(text, "# deploy", "# undo"))
    run = _sh(deploy, str(out))
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == "" and run.stderr.strip() == ""  # postfix check said nothing
    log = Path(inst.maillog).read_text(encoding="utf-8") if os.path.exists(inst.maillog) else ""
    assert "warning" not in log and "fatal" not in log, log
    value = subprocess.run(
        [need("postconf"), "-c", conf, "-h", "mime_header_checks"], capture_output=True, text=True
    ).stdout.strip()
    assert value == f"$header_checks pcre:{conf}/mailpolicy/mime_header_checks.pcre"
    os.utime(Path(conf, "main.cf"), (0, 0))
    inst.start()
    try:
        code, reply = _send(inst.port1, _message("setup.exe"))
        assert code == 550 and "[mailpolicy rule exe]" in reply, reply
        code, reply = _send(inst.port1, _message("report.pdf", "site-blocked"))
        assert code == 550 and "blocked by the site" in reply, reply
        assert _send(inst.port1, _message("screen.scr"))[0] == 250
        deadline = time.monotonic() + 20
        while not _queue_ids(inst, "hold") and time.monotonic() < deadline:
            time.sleep(0.1)
        held = _queue_ids(inst, "hold")
        assert len(held) == 1
        # release as the header says
        release = next(ln for ln in text.splitlines() if "release: postsuper -H" in ln)
        assert "postsuper -H QUEUE_ID" in release
        freed = _sh(_local(f"postsuper -H {held[0]}", conf), str(out))
        assert freed.returncode == 0, freed.stderr
        assert not _queue_ids(inst, "hold")
        assert _send(inst.port1, _message("report.pdf"))[0] == 250
    finally:
        inst.stop()
    undo = next(ln for ln in text.splitlines() if ln.startswith("# undo: "))
    back = _sh(_local(undo.removeprefix("# undo: "), conf), str(out))
    assert back.returncode == 0, back.stderr
    value = subprocess.run(
        [need("postconf"), "-c", conf, "-h", "mime_header_checks"], capture_output=True, text=True
    ).stdout.strip()
    assert value == "$header_checks"
