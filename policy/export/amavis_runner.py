"""``--verify`` for the amavis target: amavis's own code decides, loaded in Perl.

No amavisd daemon is started (it needs an MTA, a socket and its own user). Instead one Perl
process loads amavis's modules from Debian's amavisd-new package (unpacked by
``.ci/install-amavis.sh`` into ``/opt/mailpolicy-amavis``; ``MAILPOLICY_AMAVIS_ROOT``
overrides), with Debian's MIME-tools, and does per message what amavisd does between
receiving a message and its banned check:

1. the configuration: Debian's stock ``conf.d`` files of the package, then the exported
   ``60-mailpolicy``, read by ``Amavis::Conf::include_config_files`` (amavisd's own
   reader), and the decoders' programs found by amavisd's own ``find_program_path`` /
   ``find_external_programs`` (their source is read out of ``Amavis.pm`` and compiled:
   ``Amavis.pm`` itself starts the daemon when loaded); the programs those decoders run on
   a Debian install (``DECODER_PROGRAMS``: pax, a dependency of the package, for tar) must
   be there, else every message is an error rather than a verdict of a weaker amavis;
2. ``Amavis::Unpackers::MIME::mime_decode`` (MIME::Parser, the names of every part, raw and
   RFC 2047/2231-decoded, from ``Content-Disposition`` ``filename`` and ``Content-Type``
   ``name``), then ``Amavis::Unpackers::decompose_mail`` (file(1) types, the archive
   decoders amavisd would run);
3. ``Amavis::Unpackers::Validity::check_for_banned_names`` on a message object with one
   recipient: the namepath strings and the ``$banned_namepath_re`` lookup amavisd does.

The verdict: banned -> the action of the rule whose ``(?#id)`` comment the banning regex
carries (``block`` or ``quarantine``: ``$final_banned_destiny`` is one for both), else
``allow``. The export's limits (``losses.py``) predict where it differs from the engine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from typing import IO

from mailpolicy.policy.export.base import ExportResult
from mailpolicy.policy.export.runner import TIMEOUT, TargetVerdict, VerifyError

#: Where ``.ci/install-amavis.sh`` unpacks amavisd-new and libmime-tools-perl.
DEFAULT_ROOT = "/opt/mailpolicy-amavis"

#: The driver: argv = perl5 lib dir, Amavis.pm, temp dir, config files...; then per message
#: a line with its length and that many bytes on stdin; one JSON line per message out.
DRIVER = r"""
use strict; no warnings;
require JSON::PP; require File::Path;
require Amavis::Conf; Amavis::Conf->import(qw(:platform :confvars c cr ca));
require Amavis::Lookup::RE;
require Amavis::Util;
require Amavis::Unpackers; require Amavis::Unpackers::MIME;
require Amavis::Unpackers::NewFilename; require Amavis::Unpackers::Part;
require Amavis::Unpackers::Validity;
require Amavis::In::Message; require Amavis::In::Message::PerRecip;
my ($amavis_pm, $tmp, @conf) = map { Amavis::Util::untaint($_) } @ARGV;
# what amavisd's main program does before it reads the configuration
$Amavis::Conf::map_full_type_to_short_type_re =
  Amavis::Lookup::RE->new(@$Amavis::Conf::map_full_type_to_short_type_re);
$Amavis::Conf::i_know_what_i_am_doing{no_conf_file_writable_check} = 1;
Amavis::Conf::include_config_files(@conf);
$Amavis::Conf::daemon_user = ''; @Amavis::Conf::daemon_groups = ('root');  # no such user here
Amavis::Conf::supply_after_defaults();
$Amavis::Conf::TEMPBASE = $tmp; $Amavis::Conf::MYHOME = $tmp;
# amavisd's own program lookup, compiled from its source (loading Amavis.pm runs amavisd)
{ open(my $fh, '<', $amavis_pm) or die "cannot read $amavis_pm: $!";
  local $/; my $src = <$fh>; close $fh;
  my $code = "package Amavis; no strict; use Errno qw(ENOENT);\n"
    . "BEGIN { Amavis::Conf->import(qw(:platform :confvars c cr ca));"
    . " Amavis::Util->import(qw(do_log ll)) }\n";
  for my $sub ('find_program_path', 'find_external_programs') {
    $src =~ /^(sub \Q$sub\E\(.*?^\}\n)/ms or die "no sub $sub in $amavis_pm";
    $code .= $1;
  }
  $code = Amavis::Util::untaint($code);
  eval "$code; 1" or die "compiling amavisd's program lookup: $@";
  $ENV{PATH} = Amavis::Util::untaint($Amavis::Conf::path);
  Amavis::find_external_programs([split(/:/, $Amavis::Conf::path, -1)]);
}
my $json = JSON::PP->new->utf8->canonical;
$| = 1; binmode STDIN; binmode STDOUT;
my $n = 0;
while (defined(my $len = <STDIN>)) {
  ($len) = Amavis::Util::untaint($len) =~ /^(\d+)/ or last;
  my $data = ''; my $got = 0;
  while ($got < $len) { my $r = read(STDIN, $data, $len - $got, $got) or last; $got += $r }
  $n++; my $dir = "$tmp/m$n"; mkdir $dir or die "mkdir $dir: $!";
  mkdir "$dir/parts" or die "mkdir $dir/parts: $!";
  my %out;
  eval {
    chdir $dir;
    my $msginfo = Amavis::In::Message->new;
    $msginfo->mail_tempdir($dir);
    my $gen = Amavis::Unpackers::NewFilename->new(
      $Amavis::Conf::MAXFILES ? $Amavis::Conf::MAXFILES : undef, length $data);
    Amavis::Unpackers::Part::init($gen);
    my $root = Amavis::Unpackers::Part->new;
    $msginfo->parts_root($root);
    my ($entity, $mime_err) = Amavis::Unpackers::MIME::mime_decode(\$data, $dir, $root);
    my ($hold) = Amavis::Unpackers::decompose_mail($dir, $gen);
    my $r = Amavis::In::Message::PerRecip->new;
    $r->recip_addr('postmaster@example.com');
    $msginfo->per_recip_data([$r]);
    Amavis::Unpackers::Validity::check_for_banned_names($msginfo);
    my $rhs = $r->banning_rule_rhs || [];
    %out = (banned => (grep($_, @$rhs) ? 1 : 0),
            rules => [map { "$_" } @{$r->banning_rule_comment || []}],
            keys => [map { "$_" } @{$r->banning_rule_key || []}],
            parts => [map { "$_" } @{$r->banned_parts_as_attr || []}],
            mime_error => $mime_err, hold => $hold);
    1;
  } or do { %out = (error => "$@") };
  chdir $tmp;
  File::Path::rmtree($dir);
  print $json->encode(\%out), "\n";
}
"""


#: The programs Debian's stock ``@decoders`` run for the formats the engine opens, by the
#: package that gives them: amavisd-new depends on ``pax`` (its only tar and cpio decoder:
#: ``do_pax_cpio``) and ``file``; ``bzip2`` and ``xz-utils`` are of standard priority, so on
#: every Debian install. zip, gzip, TNEF and MIME are decoded in Perl. Without one of them
#: amavis leaves such a container unopened and the runner is not a Debian amavisd.
DECODER_PROGRAMS = {"file": "file", "pax": "pax", "bzip2": "bzip2", "xz": "xz-utils"}
#: Where amavisd looks for them (``$path`` of Debian's ``01-debian``).
AMAVIS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin:/usr/bin:/bin"


def missing_decoders() -> list[str]:
    """``program (package)`` for each decoder program of a Debian install not found."""
    return [
        f"{prog} ({pkg})"
        for prog, pkg in DECODER_PROGRAMS.items()
        if shutil.which(prog, path=AMAVIS_PATH) is None
    ]


def find_amavis() -> tuple[str, str] | None:
    """(perl5 lib dir, Amavis.pm) of the unpacked amavisd-new, or None."""
    root = os.environ.get("MAILPOLICY_AMAVIS_ROOT", DEFAULT_ROOT)
    lib = os.path.join(root, "usr", "share", "perl5")
    pm = os.path.join(lib, "Amavis.pm")
    mime = os.path.join(lib, "Amavis", "Unpackers", "MIME.pm")
    if shutil.which("perl") and os.path.isfile(pm) and os.path.isfile(mime):
        return lib, pm
    return None


def stock_config(lib: str) -> list[tuple[str, str]]:
    """Debian's stock configuration files of the unpacked package in amavisd's order
    (``run-parts --list`` of ``/usr/share/amavis/conf.d`` then ``/etc/amavis/conf.d``), as
    (name, text), with ``/etc/amavis`` pointing into the unpacked tree."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(lib)))
    out = []
    for d in ("usr/share/amavis/conf.d", "etc/amavis/conf.d"):
        path = os.path.join(root, d)
        if not os.path.isdir(path):
            continue
        for name in sorted(os.listdir(path)):
            if _run_parts(name):
                with open(os.path.join(path, name), encoding="utf-8", errors="replace") as fh:
                    text = re.sub(r"(?<![\w/])/etc/amavis\b", f"{root}/etc/amavis", fh.read())
                out.append((f"{d.split('/')[0]}-{name}", text))
    return out


def _run_parts(name: str) -> bool:
    """The names ``run-parts --list`` keeps (Debian: letters, digits, ``_`` and ``-``)."""
    return bool(name) and all(c.isalnum() or c in "_-" for c in name) and name.isascii()


class AmavisRunner:
    """amavis's own name extraction and banned check, one Perl process for all messages
    (a ``runner.Runner``; see the module docstring)."""

    def __init__(self, result: ExportResult, workdir: str, actions: dict[str, str]) -> None:
        self.result = result
        self.found = find_amavis()
        self.dir = tempfile.mkdtemp(prefix="mailpolicy-amavis-", dir=workdir or None)
        self.conf = os.path.join(self.dir, "60-mailpolicy")
        with open(self.conf, "w", encoding="utf-8") as fh:
            fh.write(result.stdout_text())
        self.proc: subprocess.Popen[bytes] | None = None
        #: decoder programs a Debian install has that this machine lacks (``run`` errors)
        self.missing = missing_decoders()
        #: the ``(?#id)`` comment of each banning regex -> the policy action it stands for
        self.actions = actions

    def available(self) -> str | None:
        if self.found is None:
            return "amavisd-new not found (run .ci/install-amavis.sh or set MAILPOLICY_AMAVIS_ROOT)"
        return None

    def config_files(self) -> list[str]:
        """Debian's stock files (copied into the temp dir), then the export."""
        assert self.found is not None
        confd = os.path.join(self.dir, "conf.d")
        os.makedirs(confd, exist_ok=True)
        out = []
        for name, text in stock_config(self.found[0]):
            path = os.path.join(confd, name)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
            out.append(path)
        return [*out, self.conf]

    def check(self) -> str | None:
        """``perl -c`` on the export, then amavis reads it after Debian's stock files and
        the driver starts; None, or what was refused."""
        problem = self.available()
        if problem is not None:
            raise VerifyError(problem)
        assert self.found is not None
        p = subprocess.run(
            ["perl", "-c", self.conf], capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
        if p.returncode != 0:
            return p.stderr.strip()[-1000:]
        work = os.path.join(self.dir, "work")
        os.makedirs(work, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                "perl",
                "-T",
                f"-I{self.found[0]}",
                "-e",
                DRIVER,
                self.found[1],
                work,
                *self.config_files(),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        probe = self._ask(b"Subject: probe\n\nhello\n")
        if probe.action == "error":
            return probe.detail
        return None

    def run(self, data: bytes, sender: str | None, recipients: tuple[str, ...]) -> TargetVerdict:
        """amavis's verdict; an error for every message while a decoder program of a Debian
        install is missing (amavis would leave those containers unopened)."""
        if self.missing:
            return TargetVerdict(
                "error",
                None,
                f"amavis decoders missing: {', '.join(self.missing)} (run .ci/install-amavis.sh)",
            )
        return self._ask(data)

    def _ask(self, data: bytes) -> TargetVerdict:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return TargetVerdict("error", None, self._stderr(proc))
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(b"%d\n" % len(data) + data)
            proc.stdin.flush()
            line = proc.stdout.readline()
        except OSError as exc:
            return TargetVerdict("error", None, f"amavis driver: {exc}")
        if not line:
            return TargetVerdict("error", None, self._stderr(proc))
        d = json.loads(line)
        if "error" in d:
            return TargetVerdict("error", None, str(d["error"]).strip()[-400:])
        if not d["banned"]:
            return TargetVerdict("allow", None, str(d.get("mime_error") or ""))
        rule = next((r for r in d["rules"] if r in self.actions), None)
        detail = "; ".join(str(p) for p in d["parts"])[:400]
        if rule is None:  # banned by the site's own lists (Debian's $banned_filename_re)
            detail = f"site list {', '.join(map(str, d['keys']))[:200]}: {detail}"
        return TargetVerdict(self.actions.get(rule or "", "block"), rule, detail)

    def _stderr(self, proc: subprocess.Popen[bytes] | None) -> str:
        if proc is None:
            return "amavis driver not started"
        err: IO[bytes] | None = proc.stderr
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        text = err.read().decode("utf-8", "replace") if err is not None else ""
        return "amavis driver exited: " + text.strip()[-600:]

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            for fh in (self.proc.stdout, self.proc.stderr):
                if fh is not None:
                    fh.close()
        shutil.rmtree(self.dir, ignore_errors=True)
