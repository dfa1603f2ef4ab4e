"""A Sieve export deployed exactly as its header says, into a copy of the stock /etc/dovecot.

The header's deploy lines (between ``# deploy`` and ``# undo``) run as a shell script with
``/etc/dovecot`` moved under a temporary root (nothing else changed), then the
distribution's own checks: ``doveconf -n`` on that configuration, and ``sieve-test`` with
it (no ``-x``: only the extensions that configuration enables) on one message per
verdict. Needs dovecot-core and dovecot-sieve (``.ci/install-mta.sh``); a missing tool
is a failure, never a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from mailpolicy.policy import loader
from mailpolicy.policy.export.runner import need
from mailpolicy.policy.export.sieve import SieveExporter, SieveRunner
from mailpolicy.policy.export.sieve_deploy import DROPIN_PATH, SCRIPT_PATH

POLICY = """\
policy "deploy"
default allow
block attachment extension in ["exe", "pif"] as "exe" reason "no programs"
quarantine size > 200KB as "big"
tag "X-Policy: from a partner" when sender in ["partner.example"] as "partner"
"""


def _script(text: str, root: str) -> str:
    """The header's deploy lines as a shell script, /etc/dovecot moved under ``root``."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("# deploy"))
    end = next(i for i, ln in enumerate(lines) if ln.startswith("# undo"))
    body = "\n".join(ln.removeprefix("#   ") for ln in lines[start + 1 : end])
    conf = f"{root}/etc/dovecot/dovecot.conf"
    body = body.replace("/etc/dovecot", f"{root}/etc/dovecot")
    body = body.replace("sievec ", f"{need('sievec')} -c {conf} ")
    body = body.replace("doveconf -n", f"{need('doveconf')} -c {conf} -n")
    return body.replace("doveadm reload", "true")  # no running Dovecot to reload


def _message(name: str, sender: str, size: int = 0) -> bytes:
    pad = "x" * 76 + "\n"
    return (
        f"Return-Path: <{sender}>\nFrom: {sender}\nTo: bob@example.com\nSubject: t\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n'
        f"--b\nContent-Type: text/plain\n\n{pad * (size // 77)}\n--b\n"
        f'Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="{name}"\n'
        "Content-Transfer-Encoding: base64\n\naGk=\n--b--\n"
    ).encode()


def test_deploy_into_stock_dovecot() -> None:
    ex = SieveExporter(loader.load_text(POLICY, "deploy.policy"))
    ex.accept = frozenset(
        f"sieve:{k}"
        for k in ("embedded", "homoglyph", "ambiguous-mime", "encoded-quote", "raw-non-utf8")
    )
    result = ex.export()
    assert result.ok, [d.message for d in result.diagnostics]
    text = result.files["policy.sieve"]
    assert "sieve_global_extensions = +editheader" in text  # a tag rule needs it
    with tempfile.TemporaryDirectory() as root:
        os.chmod(root, 0o755)
        shutil.copytree("/etc/dovecot", f"{root}/etc/dovecot")
        Path(root, "policy.sieve").write_text(text, encoding="utf-8")
        p = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", _script(text, root)],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert p.returncode == 0, p.stderr
        installed = root + SCRIPT_PATH
        assert Path(installed).read_text(encoding="utf-8") == text
        assert os.path.exists(installed.removesuffix(".sieve") + ".svbin")
        conf = f"{root}/etc/dovecot/dovecot.conf"
        shown = subprocess.run(
            [need("doveconf"), "-c", conf, "-n"], capture_output=True, text=True, check=False
        )
        assert shown.returncode == 0, shown.stderr
        assert f"sieve_before = {root}{SCRIPT_PATH}" in shown.stdout
        assert re.search(r"protocol lmtp \{\n  mail_plugins = \S* ?sieve", shown.stdout)
        for path in Path(root, "etc").rglob("*"):  # sieve-test runs as nobody
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        home = os.path.join(root, "home")
        os.makedirs(home, mode=0o777)
        os.chmod(home, 0o777)
        verdicts = {}
        cases = {
            "program": (_message("setup.exe", "mallory@example.net"), "block"),
            "big": (_message("report.pdf", "mallory@example.net", 250_000), "quarantine"),
            "partner": (_message("report.pdf", "ann@partner.example"), "tag"),
            "plain": (_message("report.pdf", "mallory@example.net"), "allow"),
        }
        runner = SieveRunner(result, root)  # only for its trace parser and rule lines
        for key, (data, _want) in cases.items():
            msg = os.path.join(root, f"{key}.eml")
            Path(msg).write_bytes(data)
            os.chmod(msg, 0o644)
            sender = re.search(rb"Return-Path: <([^>]+)>", data)
            assert sender is not None
            argv = [need("sieve-test"), "-c", conf, "-l", f"maildir:{home}/Maildir"]
            argv += ["-t", "-", "-Tlevel=commands", "-f", sender.group(1).decode()]
            argv += [installed, msg]
            if os.geteuid() == 0:  # Pigeonhole refuses root
                argv = [
                    need("setpriv"),
                    "--reuid=nobody",
                    "--regid=nogroup",
                    "--clear-groups",
                ] + argv
            run = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env={"HOME": home, "PATH": os.environ.get("PATH", "")},
            )
            assert run.returncode == 0, run.stderr
            verdicts[key] = runner.parse(run.stdout).action
        assert verdicts == {k: want for k, (_d, want) in cases.items()}
        # undo, as the header says: the drop-in goes, the stock configuration is back
        undo = next(ln for ln in text.splitlines() if ln.startswith("# undo: "))
        command = undo.removeprefix("# undo: ").replace("/etc/dovecot", f"{root}/etc/dovecot")
        assert (
            subprocess.run(
                ["bash", "-c", command.replace("doveadm reload", "true")], check=False
            ).returncode
            == 0
        )
        assert not os.path.exists(root + DROPIN_PATH)
        back = subprocess.run(
            [need("doveconf"), "-c", conf, "-n"], capture_output=True, text=True, check=False
        )
        assert back.returncode == 0 and "sieve_before" not in back.stdout
