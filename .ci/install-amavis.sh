#!/usr/bin/env bash
# Unpack Debian's amavisd-new and libmime-tools-perl into /opt/mailpolicy-amavis without
# installing amavisd-new as a package (no amavis user, no daemon, no postinst): the amavis
# verifier loads amavis's own Perl modules (Amavis::Unpackers::MIME::mime_decode, the
# Amavis::Unpackers decoders and file(1) typing, Amavis::Unpackers::Validity's
# check_for_banned_names) from there with `perl -I`. Then install the Perl libraries those
# modules load (all plain library packages) and file(1). Safe to run twice.
# Override the destination with MAILPOLICY_AMAVIS_ROOT (the tests read the same variable).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
ROOT="${MAILPOLICY_AMAVIS_ROOT:-/opt/mailpolicy-amavis}"
LIB="$ROOT/usr/share/perl5"

if ! [ -f "$LIB/Amavis/Unpackers/MIME.pm" ] || ! [ -f "$LIB/MIME/Parser.pm" ]; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    chmod 0777 "$work"  # apt-get download runs as _apt
    $SUDO apt-get update -qq
    (cd "$work" && $SUDO apt-get download -qq amavisd-new libmime-tools-perl)
    $SUDO mkdir -p "$ROOT"
    for deb in "$work"/*.deb; do $SUDO dpkg -x "$deb" "$ROOT"; done
fi
# The libraries Amavis::Unpackers, Amavis::Log and MIME-tools load, and file(1).
$SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends \
    perl file libmailtools-perl libio-stringy-perl libunix-syslog-perl libarchive-zip-perl \
    libconvert-tnef-perl libconvert-uulib-perl libnet-libidn-perl >/dev/null
# amavisd runs under taint mode (perl -T), and so does the verifier
version="$(perl -T -I"$LIB" -e 'require Amavis::Util; require Amavis::Unpackers;
    require Amavis::Unpackers::MIME; require Amavis::Unpackers::Validity; require MIME::Parser;
    print $Amavis::Conf::myversion')" \
    || { echo "install-amavis: amavis modules do not load from $LIB" >&2; exit 1; }
echo "install-amavis: $version modules ready in $LIB (MAILPOLICY_AMAVIS_ROOT=$ROOT)"
