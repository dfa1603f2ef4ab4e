#!/usr/bin/env bash
# Install rspamd 3.4 from Debian for the rspamd exporter's check and --verify, and its stock
# /etc/rspamd for tests/export/test_deploy_rspamd.py (which copies it; nothing here or in
# the tests writes /etc/rspamd). No daemon is started or enabled by the tests' use: they
# start their own on 127.0.0.1 free ports with --var=LOCAL_CONFDIR=... and stop it by pid.
# redis is only Recommended and not needed. Safe to run twice.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v rspamd >/dev/null || ! command -v rspamc >/dev/null \
        || ! command -v rspamadm >/dev/null; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends rspamd >/dev/null
fi
for tool in rspamd rspamc rspamadm; do
    command -v "$tool" >/dev/null || { echo "install-rspamd: $tool missing after install" >&2; exit 1; }
done
[ -f /etc/rspamd/rspamd.conf ] && [ -f /etc/rspamd/actions.conf ] \
    || { echo "install-rspamd: the package's /etc/rspamd is incomplete" >&2; exit 1; }
id _rspamd >/dev/null 2>&1 || { echo "install-rspamd: user _rspamd missing" >&2; exit 1; }
echo "install-rspamd: $(rspamd --version 2>/dev/null | head -1) ready"
