#!/usr/bin/env bash
# Install the real mail software the sieve and postfix exporters are verified with
# (Dovecot Pigeonhole's sievec/sieve-test, Postfix's postmap with the pcre: map type).
# Non-interactive, Debian/Ubuntu. No daemon is started or enabled here: the verifiers run the
# tools' own test modes, and start a private Postfix on 127.0.0.1 themselves. Safe to run twice.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
# Without this, postfix's postinst asks which mailer configuration to write.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
if ! command -v sievec >/dev/null || ! command -v postmap >/dev/null \
        || ! [ -e /usr/lib/postfix/postfix-pcre.so ] && ! ls /usr/lib/postfix/*pcre* >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends \
        postfix postfix-pcre dovecot-core dovecot-sieve >/dev/null
fi
# setpriv (util-linux) runs sieve-test as nobody; it is part of every Debian base system.
# doveconf, postconf and postsuper: the deploy tests run the export headers' own commands.
for tool in sievec sieve-test sieve-filter doveconf postmap postconf postfix postqueue postsuper \
        smtp-sink setpriv; do
    command -v "$tool" >/dev/null || { echo "install-mta: $tool missing after install" >&2; exit 1; }
done
