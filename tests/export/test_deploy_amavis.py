"""The amavis export deployed as its header says, into Debian's stock configuration.

``policy/export/amavis.py`` says: ``-o /etc/amavis/conf.d/60-mailpolicy``, then
``amavisd test-config && systemctl reload amavis``. Here the stock ``/etc/amavis`` of
Debian's amavisd-new (unpacked by ``.ci/install-amavis.sh``) is copied to a temp dir, the
baseline policy is exported into its ``conf.d`` by the CLI, and amavisd's own ``test-config``
reads every file in ``run-parts`` order (``-c`` per file, as Debian's amavisd does for
``/usr/share/amavis/conf.d`` then ``/etc/amavis/conf.d``). The stock files and the export
are used as they are; the test adds two sandbox files of its own: ``29-sandbox`` (the stock
``30-template_localization`` reads ``/etc/amavis/en_US`` by an absolute path: it is pointed
at the copy) and ``99-sandbox`` (no ``amavis`` user here: no ``$daemon_user`` to drop to,
as amavisd refuses root; ``$MYHOME`` in the temp dir; and a report of the banned lists in
force, read by this test). One message goes through amavis's own banned check with the same
export; a broken file is shown to fail the check. Then the file is removed (the undo) and
test-config passes again, with the policy's rules gone and Debian's still there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from toolsupport import tool_missing

from mailpolicy.policy import loader
from mailpolicy.policy.export.amavis import AmavisExporter
from mailpolicy.policy.export.amavis_runner import DEFAULT_ROOT, missing_decoders
from mailpolicy.simulator.cli import main

BASELINE = Path(__file__).resolve().parents[2] / "policy" / "policies" / "baseline.policy"
ROOT = Path(os.environ.get("MAILPOLICY_AMAVIS_ROOT") or DEFAULT_ROOT)
LIB = ROOT / "usr" / "share" / "perl5"

#: The stock 30-template_localization calls read_l10n_templates('en_US', '/etc/amavis').
SANDBOX_TEMPLATES = r"""use strict;
# sandbox only: the stock /etc/amavis is the copy under %(etc)s
{ no warnings 'redefine';
  my $stock = \&Amavis::Conf::read_l10n_templates;
  *Amavis::Conf::read_l10n_templates = sub {
    my @a = @_; s{^/etc/amavis(?=/|\z)}{%(etc)s} for @a; $stock->(@a) };
}
1;
"""

#: Last file: no amavis user in the sandbox (none: the check runs as the test does); then what amavisd holds after every file.
SANDBOX_LAST = r"""use strict;
$daemon_user = ''; $daemon_group = undef; @daemon_groups = ();  # amavisd will not drop to root
$MYHOME = '%(home)s'; $TEMPBASE = "$MYHOME/tmp"; $QUARANTINEDIR = "$MYHOME/virusmails";
sub sandbox_list { my $o = shift; $o = $$o if ref($o) eq 'REF';
  map { ref($_) eq 'ARRAY' ? "$_->[0]" : "$_" } (ref($o) ? @$o : ()) }
print STDERR "SANDBOX namepath\t$_\n" for sandbox_list($banned_namepath_re);
print STDERR "SANDBOX filename\t$_\n" for sandbox_list($banned_filename_re);
1;
"""


def _amavisd(tmp: Path) -> Path:
    """amavisd re-runs itself ($0) to check the files are readable: a copy whose #! line
    finds the unpacked modules (the program itself is unchanged)."""
    src = (ROOT / "usr" / "sbin" / "amavisd").read_text(encoding="utf-8")
    first, rest = src.split("\n", 1)
    assert first == "#!/usr/bin/perl -T", first
    prog = tmp / "amavisd"
    prog.write_text(f"#!/usr/bin/perl -T -I{LIB}\n{rest}", encoding="utf-8")
    prog.chmod(0o755)
    return prog


def _run_parts(d: Path) -> list[str]:
    return [
        str(d / n)
        for n in sorted(os.listdir(d))
        if n.isascii() and all(c.isalnum() or c in "_-" for c in n)
    ]


def _test_config(prog: Path, etc: Path) -> tuple[int, dict[str, list[str]], str]:
    files = _run_parts(ROOT / "usr" / "share" / "amavis" / "conf.d") + _run_parts(etc / "conf.d")
    args = [a for f in files for a in ("-c", f)]
    proc = subprocess.run(
        ["perl", "-T", f"-I{LIB}", str(prog), *args, "test-config"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("AMAVIS_TEST_CONFIG")},
    )
    lists: dict[str, list[str]] = {"namepath": [], "filename": []}
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith("SANDBOX "):
            kind, _, re_ = line[len("SANDBOX ") :].partition("\t")
            lists[kind].append(re_)
    return proc.returncode, lists, proc.stdout + proc.stderr


def _ids(lists: dict[str, list[str]]) -> set[str]:
    return {m for r in lists["namepath"] for m in re.findall(r"\(\?#([\w-]+)\)", r)}


def test_deploy_into_stock_config_and_undo(tmp_path: Path) -> None:
    if not (ROOT / "etc" / "amavis" / "conf.d").is_dir() or not (LIB / "Amavis.pm").is_file():
        tool_missing(f"amavisd-new not unpacked in {ROOT} (run .ci/install-amavis.sh)")
    if shutil.which("perl") is None or missing_decoders():
        tool_missing("perl or amavis's decoder programs missing (run .ci/install-amavis.sh)")
    check = subprocess.run(
        ["perl", "-MNet::Server", "-e1"], capture_output=True, check=False, timeout=60
    )
    if check.returncode != 0:
        tool_missing("Net::Server missing: amavisd cannot load (run .ci/install-amavis.sh)")

    etc = tmp_path / "etc" / "amavis"
    shutil.copytree(ROOT / "etc" / "amavis", etc, symlinks=True)
    home = tmp_path / "var" / "lib" / "amavis"
    (home / "tmp").mkdir(parents=True)
    (etc / "conf.d" / "29-sandbox").write_text(SANDBOX_TEMPLATES % {"etc": etc}, encoding="utf-8")
    (etc / "conf.d" / "99-sandbox").write_text(SANDBOX_LAST % {"home": home}, encoding="utf-8")
    prog = _amavisd(tmp_path)

    rc, before, out = _test_config(prog, etc)
    assert rc == 0, out
    stock = before["filename"]
    assert any("exe|vbs|pif|scr" in r for r in stock), stock  # Debian's 20-debian_defaults

    target = etc / "conf.d" / "60-mailpolicy"
    argv = ["export", str(BASELINE), "--target", "amavis", "--approximate", "-o", str(target)]
    assert main(argv) == 0
    rc, after, out = _test_config(prog, etc)
    assert rc == 0, out
    exporter = AmavisExporter(loader.load_policy(str(BASELINE), lint=True), approximate=True)
    result = exporter.export()
    assert target.read_text(encoding="utf-8") == result.stdout_text()
    want = set(re.findall(r"\(\?#([\w-]+)\)", result.stdout_text()))
    assert want and _ids(after) == want, (want, _ids(after))
    assert after["filename"] == stock  # extended, not emptied: Debian's list still in force

    # one message through amavis's own banned check, with the stock files and this export
    runner = exporter.runner(result, "")
    try:
        assert runner.check() is None
        js = runner.run(_message("invoice.js"), "a@example.net", ("b@example.com",))
        txt = runner.run(_message("notes.txt"), "a@example.net", ("b@example.com",))
    finally:
        runner.close()
    assert (js.action, js.rule) == ("block", "executable-extension"), js
    assert txt.action == "allow", txt

    broken = etc / "conf.d" / "61-broken"
    broken.write_text("$banned_namepath_re = new_RE(\n1;\n", encoding="utf-8")
    rc, _, out = _test_config(prog, etc)
    assert rc != 0 and "61-broken" in out, out  # the check does reject a bad file
    broken.unlink()

    target.unlink()  # the undo
    rc, undone, out = _test_config(prog, etc)
    assert rc == 0, out
    assert _ids(undone) == set() and undone["filename"] == stock


def _message(name: str) -> bytes:
    return (
        b"From: a@example.net\nTo: b@example.com\nSubject: t\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\nhi\n'
        b'--B\nContent-Disposition: attachment; filename="' + name.encode() + b'"\n'
        b"Content-Transfer-Encoding: base64\n\naGVsbG8K\n--B--\n"
    )
