#!/usr/bin/env bash
# Unpack Exim 4.96 exim4-daemon-heavy (the build with Content_Scanning, i.e. acl_smtp_mime)
# into /opt/mailpolicy-exim without installing it as a package: Debian's exim4 and postfix
# both Conflict with mail-transport-agent, and the postfix verifier needs postfix installed.
# Then install the libraries the binary links against and the compiled-in Debian-exim user.
# No daemon is started: the verifier runs `exim -C CONF -bV/-bh/-be`. Safe to run twice.
# Override the destination with MAILPOLICY_EXIM_ROOT (the tests read MAILPOLICY_EXIM).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
ROOT="${MAILPOLICY_EXIM_ROOT:-/opt/mailpolicy-exim}"
BIN="$ROOT/usr/sbin/exim4"

if ! [ -x "$BIN" ]; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    # apt-get download runs as _apt; give it a directory it may write
    chmod 0777 "$work"
    $SUDO apt-get update -qq
    (cd "$work" && $SUDO apt-get download -qq exim4-daemon-heavy exim4-base exim4-config)
    $SUDO mkdir -p "$ROOT"
    for deb in "$work"/*.deb; do $SUDO dpkg -x "$deb" "$ROOT"; done
fi
# Libraries: the three the notes found, then whatever ldd still reports missing.
$SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends \
    libidn12 libmariadb3 libspf2-2 >/dev/null
missing="$(ldd "$BIN" | awk '/not found/ {print $1}')"
if [ -n "$missing" ]; then
    echo "install-exim: libraries still missing: $missing" >&2
    exit 1
fi
# The binary refuses to run without its compiled-in user.
if ! id Debian-exim >/dev/null 2>&1; then
    $SUDO adduser --system --group --no-create-home --allow-bad-names Debian-exim >/dev/null
fi
"$BIN" -C /dev/null -bV 2>/dev/null | grep -q Content_Scanning \
    || { echo "install-exim: $BIN has no Content_Scanning (not the heavy daemon?)" >&2; exit 1; }
echo "install-exim: $BIN ready (export MAILPOLICY_EXIM=$BIN if it is not the default path)"
