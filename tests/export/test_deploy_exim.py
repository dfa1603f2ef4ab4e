"""The exim export installed as its header says, into Debian's stock configuration.

A copy of the unpacked exim4-config package's ``/etc/exim4`` (``.ci/install-exim.sh``) in
a temporary directory; the export written to ``<copy>/mailpolicy`` (its paths pointed
there); then the header's lines: split configuration, ``macros.conf`` copied to
``conf.d/main/00_mailpolicy``; non-split, ``macros.conf`` put before the template (what
``update-exim4.conf`` does with ``exim4.conf.localmacros``, whose path it hard-codes under
``/etc/exim4``). Debian's own ``update-exim4.conf -d COPY -o CONF`` builds the
configuration; ``exim -C CONF -bV`` must accept it; the site's ``acl_check_data`` must be
kept; one message with a blocked name and one without go through ``exim -bh``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from toolsupport import IN_CI

from mailpolicy.policy import loader
from mailpolicy.policy.export.exim import DEPLOY_DIR, EximExporter
from mailpolicy.policy.export.exim_runner import find_exim

EXIM = find_exim()
ROOT = Path(EXIM).parents[2] if EXIM else Path("/nonexistent")
STOCK = ROOT / "etc" / "exim4"
UPDATE = ROOT / "usr" / "sbin" / "update-exim4.conf"
pytestmark = pytest.mark.skipif(
    (EXIM is None or not STOCK.is_dir() or not UPDATE.is_file()) and not IN_CI,
    reason="exim4-daemon-heavy and exim4-config not unpacked (run .ci/install-exim.sh)",
)

_DEBCONF = """\
dc_eximconfig_configtype='local'
dc_other_hostnames=''
dc_local_interfaces='127.0.0.1'
dc_readhost=''
dc_relay_domains=''
dc_minimaldns='false'
dc_relay_nets=''
dc_smarthost=''
CFILEMODE='644'
dc_use_split_config='{split}'
dc_hide_mailname=''
dc_mailname_in_oh='true'
dc_localdelivery='mail_spool'
"""
#: The test machine's own settings (a spool it may write), not part of the export.
_SITE = "SPOOLDIR = {spool}\n"

POLICY = """\
list trusted = ["partner.example"]
block attachment extension in ["pif", "exe"] unless sender in trusted
"""


def _install(tmp: Path, split: bool) -> Path:
    conf = tmp / "exim4"
    shutil.copytree(STOCK, conf)
    spool = tmp / "spool"
    spool.mkdir()
    os.chmod(tmp, 0o755)
    os.chmod(spool, 0o1777)
    (conf / "update-exim4.conf.conf").write_text(_DEBCONF.format(split=str(split).lower()))
    exporter = EximExporter(loader.load_text(POLICY))
    exporter.accept = frozenset(
        x.key
        for x in EximExporter(loader.load_text(POLICY), approximate=True).export().losses
        if not x.sound
    )
    result = exporter.export()
    assert result.ok, [d.message for d in result.diagnostics]
    deploy = conf / "mailpolicy"
    deploy.mkdir()
    for name, text in result.files.items():
        (deploy / name).write_text(text.replace(f"{DEPLOY_DIR}/", f"{deploy}/"))
        os.chmod(deploy / name, 0o644)
    macros = (deploy / "macros.conf").read_text()
    if split:  # cp macros.conf /etc/exim4/conf.d/main/00_mailpolicy
        (conf / "conf.d" / "main" / "00_mailpolicy").write_text(macros)
        (conf / "conf.d" / "main" / "00_site").write_text(_SITE.format(spool=spool))
    else:  # cat macros.conf >> exim4.conf.localmacros (read before the template)
        template = conf / "exim4.conf.template"
        template.write_text(_SITE.format(spool=spool) + macros + template.read_text())
    out = tmp / "exim4.conf"
    p = subprocess.run(
        ["sh", str(UPDATE), "-d", str(conf), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert p.returncode == 0 and out.is_file(), p.stderr
    return out


def _smtp(conf: Path, sender: str, name: str) -> str:
    assert EXIM is not None
    body = [
        "From: a@example.net",
        "To: root@localhost",
        "Subject: t",
        "Message-ID: <deploy@example.net>",
        "Date: Mon, 16 Jul 2001 23:12:00 +0900",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="B"',
        "",
        "--B",
        "Content-Type: text/plain",
        "",
        "hi",
        "--B",
        "Content-Type: application/octet-stream",
        f'Content-Disposition: attachment; filename="{name}"',
        "",
        "AA",
        "--B--",
    ]
    dialogue = [
        "EHLO client.example.net",
        f"MAIL FROM:<{sender}>",
        "RCPT TO:<root@localhost>",
        "DATA",
        *body,
        ".",
        "QUIT",
    ]
    p = subprocess.run(
        [EXIM, "-C", str(conf), "-bh", "127.0.0.1"],
        input="\r\n".join(dialogue) + "\r\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = p.stdout.splitlines()
    reply = next((out[k + 1] for k, ln in enumerate(out[:-1]) if ln.startswith("354")), "")
    return reply + "\n" + p.stderr


@pytest.mark.parametrize("split", [True, False], ids=["split", "non-split"])
def test_deploys_into_the_stock_debian_configuration(split: bool) -> None:
    assert EXIM is not None
    # Exim reads the files as its own user: a directory it can reach (pytest's is private)
    tmp = Path(tempfile.mkdtemp(prefix="mailpolicy-deploy-exim-"))
    try:
        _check(_install(tmp, split))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check(conf: Path) -> None:
    assert EXIM is not None
    text = conf.read_text()
    # the site's DATA ACL is kept, and ends with the policy's statements
    assert "MAIN_ACL_CHECK_DATA = acl_check_data" in text and "\nacl_check_data:\n" in text
    assert "acl_smtp_data = MAIN_ACL_CHECK_DATA" in text
    assert ".include CHECK_DATA_LOCAL_ACL_FILE" in text
    p = subprocess.run(
        [EXIM, "-C", str(conf), "-bV"], capture_output=True, text=True, timeout=60, check=False
    )
    assert p.returncode == 0 and "Content_Scanning" in p.stdout, p.stdout + p.stderr
    blocked = _smtp(conf, "mallory@example.net", "invoice.pif")
    assert blocked.startswith("550 5.7.1"), blocked
    assert re.search(r"mailpolicy: rule=\S+ action=block", blocked)
    assert _smtp(conf, "mallory@example.net", "notes.txt").startswith("250"), "clean mail"
    assert _smtp(conf, "bob@partner.example", "tool.exe").startswith("250"), "trusted sender"
