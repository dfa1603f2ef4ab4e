"""How a Postfix export goes live on a stock Postfix: the header lines that say it.

A single-stage export (no sender exception) is one table added *after* the site's own
``mime_header_checks`` (stock: ``$header_checks``), never instead of them: the value
before is kept in ``mailpolicy/mime_header_checks.before`` and the new value is that
value followed by the export's table (Postfix searches the tables in order and the
first match decides for a header line, so the site's own rules keep deciding first).
The undo puts the kept value back. Quarantine is Postfix's hold queue: ``postsuper -H``
releases a message, ``postsuper -d`` deletes it.

A two-stage export (``unless sender in``) replaces the public ``smtp`` service and adds
a cleanup and a second smtpd: its ``master.cf.fragment`` is merged by hand (the header
says so); both stages run the site's checks first (stage 1's cleanup through
``mailpolicy_site_mime_header_checks``, which the deploy lines set to the value before).

The lines between ``# deploy`` and ``# undo`` are a shell script once the leading
``#   `` is removed (``tests/export/test_deploy_postfix.py`` runs exactly that, against
a private copy of Debian's stock ``main.cf`` and ``master.cf``).
"""

from __future__ import annotations

CONFIG_DIR = "/etc/postfix/mailpolicy"
BEFORE = f"{CONFIG_DIR}/mime_header_checks.before"


def deploy_lines(*, two_stage: bool) -> list[str]:
    """The header lines: where the files go, how to enable them, how to undo, held mail."""
    table = f"pcre:{CONFIG_DIR}/mime_header_checks.pcre"
    out = [
        "deploy (Postfix 3.x with postfix-pcre; run once, as root):",
        f"  install -d {CONFIG_DIR}",
        f"  install -m 0644 *.pcre {CONFIG_DIR}/",
        f"  postconf -h mime_header_checks > {BEFORE}",
        f'  postconf -e "mime_header_checks = $(cat {BEFORE}) {table}"',
    ]
    if two_stage:
        out += [
            f'  postconf -e "mailpolicy_site_mime_header_checks = $(cat {BEFORE})"',
            "  # two stages: also merge the other main.cf.fragment lines and",
            "  # master.cf.fragment into main.cf and master.cf by hand",
        ]
    out += [
        "  postfix check && postfix reload",
        f'undo: postconf -e "mime_header_checks = $(cat {BEFORE})" && postfix reload',
        "held mail (quarantine is Postfix's hold queue): 'mailq' marks it with '!';",
        "  release: postsuper -H QUEUE_ID (every held message: postsuper -H ALL);",
        "  delete: postsuper -d QUEUE_ID",
        "the site's own header checks are searched first: a header line they match is",
        "  decided by them.",
    ]
    return out
