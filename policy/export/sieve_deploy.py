"""How a Sieve export goes live on a stock Dovecot: the header lines that say it.

The script runs as a ``sieve_before`` script (before every user's own script, at
delivery by ``dovecot-lda`` or LMTP), from a drop-in file in ``conf.d`` that turns the
``sieve`` plugin on for LDA and LMTP (Debian's stock configuration leaves it off) and,
only for a script that needs it, enables ``editheader`` for global scripts alone
(``sieve_global_extensions``: users' scripts do not get it). Every other extension the
script requires is on by default in Pigeonhole (``mime``, ``regex``, ``reject``,
``fileinto``, ``mailbox``, ``envelope``, ``body``, ``encoded-character``).

The lines between ``# deploy`` and ``# undo`` are a shell script once the leading
``#   `` is removed (``tests/export/test_deploy_sieve.py`` runs exactly that, against a
copy of the stock ``/etc/dovecot``).
"""

from __future__ import annotations

SCRIPT_PATH = "/etc/dovecot/sieve/mailpolicy.sieve"
DROPIN_PATH = "/etc/dovecot/conf.d/95-mailpolicy.conf"
#: Pigeonhole's default ``sieve_max_script_size``: a larger script is not compiled.
MAX_SCRIPT_BYTES = 1024 * 1024


def dropin(editheader: bool) -> list[str]:
    """The drop-in configuration file's lines."""
    lines = [
        "protocol lda {",
        "  mail_plugins = $mail_plugins sieve",
        "}",
        "protocol lmtp {",
        "  mail_plugins = $mail_plugins sieve",
        "}",
        "plugin {",
        f"  sieve_before = {SCRIPT_PATH}",
    ]
    if editheader:
        lines.append("  sieve_global_extensions = +editheader")
    return [*lines, "}"]


def deploy_lines(*, editheader: bool, quarantine: str | None) -> list[str]:
    """The header lines: where the script goes, how to enable it, how to undo it."""
    out = [
        "deploy (Dovecot 2.3 with Pigeonhole, stock Debian/Ubuntu configuration; run as root):",
        f"  install -D -m 0644 policy.sieve {SCRIPT_PATH}",
        f"  cat > {DROPIN_PATH} <<'EOF'",
        *("  " + ln for ln in dropin(editheader)),
        "  EOF",
        f"  sievec {SCRIPT_PATH}",
        "  doveconf -n >/dev/null && doveadm reload",
        f"undo: rm {DROPIN_PATH} && doveadm reload",
        "notes: a site that already sets sieve_before uses the first free sieve_beforeN;",
        "  the script runs at delivery, after the MTA accepted the message: 'reject' sends",
        "  a rejection message to the envelope sender.",
    ]
    if editheader:
        out.append("  editheader (tag rules) is enabled for global scripts only, by the drop-in.")
    if quarantine:
        out.append(
            f"  quarantine files into the folder '{quarantine}' (created when missing); "
            "release by moving the message back to INBOX."
        )
    return out
