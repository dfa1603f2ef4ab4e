#!/usr/bin/env bash
# Unpack Debian's amavisd-new and libmime-tools-perl into /opt/mailpolicy-amavis without
# installing amavisd-new as a package (no amavis user, no daemon, no postinst): the amavis
# verifier loads amavis's own Perl modules (Amavis::Unpackers::MIME::mime_decode, the
# Amavis::Unpackers decoders and file(1) typing, Amavis::Unpackers::Validity's
# check_for_banned_names) from there with `perl -I`. Then install the Perl libraries those
# modules load (all plain library packages), file(1) and the decoder programs a Debian
# install of amavisd-new has (pax, bzip2, xz-utils), and Net::Server (libnet-server-perl, a
# dependency of amavisd-new) so that amavisd itself loads and runs `amavisd test-config`
# (tests/export/test_deploy_amavis.py). Safe to run twice.
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
# The libraries Amavis::Unpackers, Amavis::Log and MIME-tools load, file(1), and the
# programs Debian's stock @decoders run on a Debian install: pax (a dependency of
# amavisd-new, its only tar and cpio decoder: without it scripts.tar.gz stays a leaf),
# bzip2 and xz-utils (standard priority). Recommends: ripole is not in bookworm, altermime
# and libnet-patricia-perl decode nothing. 7-Zip, unrar, cabextract and arj are only
# suggested, so a stock amavisd opens no 7z, rar, cab or arj (the export's "containers"
# limit); they stay uninstalled here too.
$SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends \
    perl file libmailtools-perl libio-stringy-perl libunix-syslog-perl libarchive-zip-perl \
    libconvert-tnef-perl libconvert-uulib-perl libnet-libidn-perl libnet-server-perl \
    pax bzip2 xz-utils >/dev/null
# amavisd runs under taint mode (perl -T), and so does the verifier
version="$(perl -T -I"$LIB" -e 'require Amavis::Util; require Amavis::Unpackers;
    require Amavis::Unpackers::MIME; require Amavis::Unpackers::Validity; require MIME::Parser;
    print $Amavis::Conf::myversion')" \
    || { echo "install-amavis: amavis modules do not load from $LIB" >&2; exit 1; }
# amavisd (Amavis.pm, loaded by `amavisd test-config`) needs Net::Server at compile time
perl -T -I"$LIB" -e 'require Amavis::Boot; require Net::Server::PreForkSimple' \
    || { echo "install-amavis: amavisd cannot load (Net::Server)" >&2; exit 1; }
for prog in file pax bzip2 xz; do
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin:/usr/bin:/bin command -v "$prog" >/dev/null \
        || { echo "install-amavis: $prog not found: amavis would not decode with it" >&2; exit 1; }
done
echo "install-amavis: $version modules ready in $LIB (MAILPOLICY_AMAVIS_ROOT=$ROOT)"
