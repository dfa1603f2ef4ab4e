"""How an rspamd export is installed, enabled, enforced and undone: one place for the
header's words and for the code that follows them (the runner, the deploy test).

The export writes only its own directory, ``$LOCAL_CONFDIR/mailpolicy`` (``/etc/rspamd/
mailpolicy`` on Debian and Ubuntu). The site's files are never replaced: one ``.include``
line is appended to each of ``local.d/multimap.conf`` and ``local.d/force_actions.conf``
(and to ``local.d/actions.conf`` when the policy quarantines or discards: rspamd 3.4
knows those actions only once they are declared, and a ``force_actions`` rule with an
undeclared action fails at scan time, "unknown action quarantine", and lets the message
through). ``duplicate=merge`` merges the included ``rules {}`` and symbols into the
site's own, so the site's multimap symbols, force rules and action thresholds stay.

Limits: a site whose ``actions.conf`` already declares ``quarantine`` or ``discard`` with
a score leaves the actions line out (the merge would add ``no_threshold`` to its action).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

#: rspamd's ``$LOCAL_CONFDIR`` on Debian and Ubuntu.
CONF_DIR = "/etc/rspamd"
#: The export's own directory under ``$LOCAL_CONFDIR`` (``-o CONF_DIR/MAP_DIR``).
MAP_DIR = "mailpolicy"
#: Exported file -> the site file (under ``local.d/``) that includes it.
INCLUDED = {
    "multimap.conf": "local.d/multimap.conf",
    "force_actions.conf": "local.d/force_actions.conf",
    "actions.conf": "local.d/actions.conf",
}


def include_line(name: str) -> str:
    """The line appended to the site file that includes the exported ``name``."""
    return f'.include(try=true; priority=1; duplicate=merge) "$LOCAL_CONFDIR/{MAP_DIR}/{name}"'


def commands(names: Iterable[str], conf_dir: str = CONF_DIR) -> tuple[list[str], list[str]]:
    """The shell lines that enable and undo an export whose files are ``names``."""
    sites = [(n, INCLUDED[n]) for n in INCLUDED if n in names]
    enable = [f"echo '{include_line(n)}' >> {conf_dir}/{site}" for n, site in sites]
    undo = [
        f"sed -i '\\|\"$LOCAL_CONFDIR/{MAP_DIR}/|d' "
        + " ".join(f"{conf_dir}/{s}" for _, s in sites),
        f"rm -r {conf_dir}/{MAP_DIR}",
    ]
    return enable, undo


def install_text(names: Iterable[str]) -> str:
    """The "where it goes, how to enable, how to undo, who enforces" block of the header."""
    names = list(names)
    enable, undo = commands(names)
    actions = "actions.conf" in names
    lines = [
        "Install (rspamd 3.4+, Debian/Ubuntu; $LOCAL_CONFDIR is /etc/rspamd):",
        f"  $ mailpolicy export POLICY --target rspamd -o {CONF_DIR}/{MAP_DIR}",
        "Enable: append one include line to each site file (created if missing; the site's",
        "own symbols, force rules and thresholds in it are kept and merged):",
        *(f"  $ {c}" for c in enable),
        "  $ rspamadm configtest && systemctl reload rspamd",
        "(once: a later export into the same directory needs only the reload)",
        *(
            [
                "The actions line declares rspamd's quarantine and discard actions (flag",
                "no_threshold: no score ever reaches them); a site that already declares",
                "either with a score leaves that line out.",
            ]
            if actions
            else []
        ),
        "Undo (then systemctl reload rspamd):",
        *(f"  $ {c}" for c in undo),
        "Enforcement: rspamd only answers; the MTA applies its action.",
        "  Postfix: rspamd's proxy worker in milter mode (Debian's worker-proxy.inc: milter =",
        "  yes, localhost:11332), then postconf -e 'smtpd_milters = inet:localhost:11332'",
        "  'non_smtpd_milters = inet:localhost:11332' 'milter_default_action = tempfail'",
        "  (tempfail: mail waits while rspamd is down instead of passing unscanned).",
        "  Exim (exim4-daemon-heavy): spamd_address = 127.0.0.1 11333 variant=rspamd, and in",
        "  the DATA ACL 'warn spam = nobody:true' then one statement per $spam_action:",
        "  deny for reject, defer for soft reject, control = freeze for quarantine,",
        "  discard for discard, add_header for add header.",
        "At the MTA (milter): reject = 5xx at the end of DATA, the rule's message as its text;",
        "  soft reject = 4xx, the client retries; quarantine = accepted and held (Postfix hold",
        "  queue: postqueue -p marks it '!', postsuper -H ID releases it, postsuper -d ID",
        "  deletes it); discard = accepted and dropped; add header = delivered with the",
        "  proxy's spam header (X-Spam: Yes); rewrite subject = delivered with the subject",
        "  rewritten (actions.conf subject); no action = delivered.",
        "What stays rspamd's own: mime_types and every other module still score all mail. A",
        "  policy stop (reject) ends rspamd's checks for the message; quarantine, discard,",
        "  tag (add header, as the least action) and allow rules (no action) yield to a",
        "  reject, soft reject, quarantine or discard rspamd reaches on its own; mail the",
        "  policy leaves to its default allow gets rspamd's own action. A site rule that",
        "  forces no action, or a settings entry that skips checks (want_spam,",
        "  symbols_disabled), beats a policy stop too: review them.",
    ]
    return "\n".join(lines) + "\n"


def install(files: Mapping[str, str], conf_dir: str) -> list[str]:
    """Install an export into ``conf_dir`` (a ``$LOCAL_CONFDIR``) exactly as the header
    says: the files into ``conf_dir/mailpolicy``, one include line appended to each site
    file (not twice). Returns the paths written."""
    written = []
    target = os.path.join(conf_dir, MAP_DIR)
    os.makedirs(target, exist_ok=True)
    for name, text in files.items():
        dest = os.path.join(target, name)
        with open(dest, "w", encoding="utf-8") as fh:
            fh.write(text)
        written.append(dest)
    for name, site in INCLUDED.items():
        if name not in files:
            continue
        path = os.path.join(conf_dir, site)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        line = include_line(name)
        old = ""
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                old = fh.read()
        if line not in old.splitlines():
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(("" if not old or old.endswith("\n") else "\n") + line + "\n")
        written.append(path)
    return written
