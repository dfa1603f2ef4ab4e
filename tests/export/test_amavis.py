"""The amavis target: golden files, the support table, strict failures, Perl quoting, and
the generated ``$banned_namepath_re`` evaluated by Perl itself.

Perl is the judge of syntax (``perl -c`` and a ``do FILE`` with a stub ``new_RE``) and of
meaning: ``_judge`` loads the exported file and runs amavis's own lookup (first regex in
the list that matches the leaf's namepath string decides; a message is banned when any
leaf is) over namepath strings built from the sample corpus' attachments, and the result
is compared with the reference evaluator. Golden files: ``tests/export/golden/amavis/``;
``MAILPOLICY_UPDATE_GOLDEN=1`` rewrites them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import Unsupported, check_support
from toolsupport import IN_CI

from mailpolicy.corpus import names, readers
from mailpolicy.corpus.message import Message
from mailpolicy.policy import globs, loader
from mailpolicy.policy.evaluate import evaluate
from mailpolicy.policy.export.amavis import AmavisExporter
from mailpolicy.policy.export.amavis_runner import find_amavis, missing_decoders
from mailpolicy.policy.export.base import E_UNSAFE
from mailpolicy.policy.printer import quote
from mailpolicy.simulator.verify import compare, render, unexplained

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policy" / "policies"
GOLDEN = Path(__file__).parent / "golden" / "amavis"
SAMPLES = ROOT / "corpus" / "samples" / "maildir"
UPDATE = os.environ.get("MAILPOLICY_UPDATE_GOLDEN") == "1"
PERL = shutil.which("perl")
needs_perl = pytest.mark.skipif(PERL is None and not IN_CI, reason="perl not installed")

#: Loads an exported fragment as amavis would (in package Amavis::Conf, with new_RE), then
#: judges each message (a list of leaf namepath strings) by amavis's lookup_re order.
_JUDGE = r"""
package Amavis::Conf; no strict; use JSON::PP;
sub new_RE { return [@_] } sub D_REJECT { 'D_REJECT' } sub D_DISCARD { 'D_DISCARD' }
my $file = shift; my $ok = do $file; die "load: $@" if $@; die "false value" unless $ok;
local $/; my $in = JSON::PP->new->utf8->decode(<STDIN>); my @out;
for my $leaves (@$in) {
  my ($banned, $by) = (0, '');
  LEAF: for my $path (@$leaves) {
    for my $e (@$banned_namepath_re) {
      my ($re, $r) = @$e;
      if ($path =~ $re) { if ($r) { $banned = 1; ($by) = "$re" =~ /\(\?#([^)]*)\)/; last LEAF }
                          next LEAF }
    }
  }
  push @out, [$banned, $by];
}
print JSON::PP->new->utf8->encode(\@out);
"""


class Amavis(AmavisExporter):
    """Strict exports in these tests accept the target-wide limits (each stated by name
    with ``--accept-loss``), so what a strict export refuses is a rule's own."""

    def export(self):  # type: ignore[no-untyped-def]
        if not self.approximate:
            probe = AmavisExporter(self.policy, approximate=True).export()
            wide = {x.key for x in probe.losses if x.rule == "*" and not x.sound}
            self.accept = self.accept | wide
        return super().export()


@pytest.fixture(autouse=True)
def _fixed_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")


def export(text: str, *, approximate: bool = False):  # type: ignore[no-untyped-def]
    return Amavis(loader.load_text(text), approximate=approximate).export()


def _judge(fragment: str, messages: list[list[str]], tmp: Path) -> list[tuple[int, str]]:
    assert PERL is not None
    conf = tmp / "60-mailpolicy"
    conf.write_text(fragment, encoding="utf-8")
    p = subprocess.run(
        [PERL, "-e", _JUDGE, str(conf)],
        input=json.dumps(messages).encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert p.returncode == 0, p.stderr.decode()
    return [(int(b), str(r)) for b, r in json.loads(p.stdout)]


def _leaves(msg: Message) -> list[str]:
    """amavis-style namepath strings for the MIME parts of ``msg`` that carry names."""
    out = []
    for i, a in enumerate(msg.attachments, start=2):
        fields = [f"P=p{i:03d}", f"L=1/{i}", f"M={a.declared_type}"]
        fields += [f"N={n.replace(chr(9), ' ')}" for n in a.names]
        out.append("P=p001\tL=1\tM=multipart/mixed\n" + "\t".join(fields))
    return out or ["P=p001\tL=1\tM=text/plain\tT=asc"]


# ---- golden files ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy", "mode"), [("sircam-2001", "strict"), ("baseline", "approximate")]
)
def test_golden(policy: str, mode: str) -> None:
    result = Amavis(
        loader.load_policy(str(POLICIES / f"{policy}.policy"), lint=True),
        approximate=mode == "approximate",
    ).export()
    assert result.ok, result.diagnostics
    for name, text in result.files.items():
        path = GOLDEN / f"{policy}.{mode}.{name}"
        if UPDATE:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        assert path.exists(), f"run with MAILPOLICY_UPDATE_GOLDEN=1 to create {path.name}"
        assert text == path.read_text(encoding="utf-8"), f"{path.name} differs"


def test_baseline_strict_names_every_unsupported_rule() -> None:
    result = Amavis(loader.load_policy(str(POLICIES / "baseline.policy"), lint=True)).export()
    assert not result.ok and not result.files
    text = "\n".join(d.message for d in result.diagnostics if d.severity == "error")
    for rid in (
        "unscannable",
        "evasive-mime",
        "smuggling",
        "auto-run-macros",
        "evasive-name",
        "executable-content",
        "executable-extension",
        "sircam-body",
        "partner-executable",
    ):
        assert f"rule {rid} (line" in text, rid
    golden = GOLDEN / "baseline.strict.error"
    if UPDATE:
        golden.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == golden.read_text(encoding="utf-8")


# ---- support table ------------------------------------------------------------------------------
TABLE: list[tuple[str, str | type[Unsupported]]] = [
    ('block attachment "*.pif"', r"\x2e[Pp][Ii][Ff])(?<![. ])"),
    ('block attachment extension in ["exe"]', "(?:[Ee][Xx][Ee])"),
    ('block attachment double extension in ["bat"]', "(?:[Bb][Aa][Tt])"),
    ('block attachment declared type "application/x-msdownload"', r"\tM=(?:[Aa][Pp]"),
    ('block attachment archive contains "*.exe"', r"(?![^\n]*\tM=)"),
    ('allow attachment "*.txt"', "'m => 0]"),
    ('quarantine attachment "*.pif"', "$final_banned_destiny = D_DISCARD;"),
    ('block attachment ("*.exe" or "*.scr")', "(?:(?="),
    ("block attachment type executable", Unsupported),
    ('block attachment "*.pif" unless sender in ["a@example.org"]', Unsupported),
    ('block recipient in ["example.com"]', Unsupported),
    ('tag "X-Checked: yes" when attachment "*.zip"', Unsupported),
    ('strip attachment "*.hta"', Unsupported),
    ('discard attachment "*.hta"', Unsupported),
    ("block attachment archive encrypted", Unsupported),
    ("block attachment size > 10MB", Unsupported),
    ('block attachment (not "*.txt")', Unsupported),
    ('block attachment "*.exe" and attachment "*.txt"', Unsupported),
    ('block body contains "x"', Unsupported),
]


@pytest.mark.parametrize(("line", "want"), TABLE)
def test_support_table(line: str, want: str | type[Unsupported]) -> None:
    check_support(export(line + "\n"), want)


def test_approximate_sender_exception_is_dropped_soundly() -> None:
    result = export(
        'block attachment "*.pif" unless sender in ["a@example.org"]\n'
        'allow sender in ["b@example.org"]\n',
        approximate=True,
    )
    assert result.ok
    assert result.stdout_text().count("'m => 1]") == 1
    assert "'m => 0]" not in result.stdout_text()
    assert all(loss.sound for loss in result.losses if loss.rule != "*")


def test_control_characters_are_refused() -> None:
    result = export('block attachment "*.pif" reason "x\x1b[2J"\n')
    assert not result.ok
    assert any(d.code == E_UNSAFE and "line 1" in d.message for d in result.diagnostics)


# ---- Perl -----------------------------------------------------------------------------------------
@needs_perl
@pytest.mark.parametrize(("policy", "approximate"), [("sircam-2001", False), ("baseline", True)])
def test_perl_compiles_the_fragment(policy: str, approximate: bool, tmp_path: Path) -> None:
    text = (
        Amavis(
            loader.load_policy(str(POLICIES / f"{policy}.policy"), lint=True),
            approximate=approximate,
        )
        .export()
        .stdout_text()
    )
    conf = tmp_path / "60-mailpolicy"
    conf.write_text(text, encoding="utf-8")
    p = subprocess.run(
        [PERL or "perl", "-c", str(conf)], capture_output=True, text=True, check=False
    )
    assert p.returncode == 0 and "syntax OK" in p.stderr, p.stderr
    assert _judge(text, [["P=p001\tL=1\tM=text/plain"]], tmp_path) == [(0, "")]


@needs_perl
@pytest.mark.skipif(not SAMPLES.is_dir(), reason="corpus/samples not present")
def test_perl_verdicts_equal_the_engine_on_the_sample_corpus(tmp_path: Path) -> None:
    """sircam-2001 has name rules only: amavis's verdict must be the engine's, per message."""
    pol = loader.load_policy(str(POLICIES / "sircam-2001.policy"), lint=True)
    result = Amavis(pol).export()
    msgs = [m for m in readers.iter_messages([SAMPLES]) if isinstance(m, Message)]
    assert len(msgs) >= 50
    got = _judge(result.stdout_text(), [_leaves(m) for m in msgs], tmp_path)
    for msg, (banned, rule) in zip(msgs, got):
        engine = evaluate(pol, msg, trace=False)
        if "ambiguous-mime" in msg.tricks:
            # the export's stated limit: the MIME is read one way (amavis's MIME-tools);
            # whichever reading it takes, the loss report says so
            assert any(x.what.startswith("MIME that common readers") for x in result.losses)
            continue
        if "homoglyph" in {t for a in msg.attachments for t in a.tricks}:
            # the export's stated limit: names are matched as written, 'ехе' is not 'exe'
            assert (banned, engine.action) == (False, "block"), (msg.key, engine, rule)
            continue
        assert banned == (engine.action == "block"), (msg.key, engine, rule)
        if banned:
            assert rule == engine.rule


_name_chars = st.characters(
    blacklist_categories=("Cc", "Cs"), blacklist_characters="\x85\u2028\u2029"
)


@needs_perl
@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    name=st.text(_name_chars, min_size=1, max_size=12),
    reason=st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
)
def test_literal_name_rule_matches_exactly_that_name(
    name: str, reason: str, tmp_path: Path
) -> None:
    glob = globs.escape(name)
    try:
        pol = loader.load_text(
            f"block attachment name matches {quote(glob)} reason {quote(reason)}\n"
        )
    except Exception:  # noqa: BLE001 a value the language itself refuses
        return
    result = Amavis(pol).export()
    if not result.ok:
        assert all(d.code == E_UNSAFE for d in result.diagnostics)
        return
    cands = [
        c
        for c in (name, name + "x", "x" + name, name.upper(), name + ". ", name[:-1])
        if c and "\t" not in c and "\n" not in c
    ]
    leaves = [[f"P=p001\tL=1\tM=multipart/mixed\nP=p002\tL=1/2\tM=x/y\tN={c}"] for c in cands]
    got = _judge(result.stdout_text(), leaves, tmp_path)
    for cand, (banned, _) in zip(cands, got):
        want = globs.match(glob, names.normalize(cand))
        assert bool(banned) == want, (cand, result.stdout_text()[-400:])


# ---- amavis's own code (Debian's amavisd-new and MIME-tools, .ci/install-amavis.sh) ------------
AMAVIS = find_amavis()
needs_amavis = pytest.mark.skipif(
    (AMAVIS is None or bool(missing_decoders())) and not IN_CI,
    reason="amavisd-new not unpacked or its decoders missing (run .ci/install-amavis.sh or "
    "set MAILPOLICY_AMAVIS_ROOT)",
)


def _part(headers: bytes) -> bytes:
    return (
        b"From: a@example.net\nTo: b@example.com\nSubject: t\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n\nhi\n'
        b"--B\n" + headers + b"\nContent-Transfer-Encoding: base64\n\naGVsbG8K\n--B--\n"
    )


@needs_amavis
@pytest.mark.skipif(not SAMPLES.is_dir(), reason="corpus/samples not present")
@pytest.mark.parametrize(("policy", "approximate"), [("sircam-2001", False), ("baseline", True)])
def test_verify_with_amavis_own_code(policy: str, approximate: bool) -> None:
    """export --verify: amavis's mime_decode, decompose_mail and check_for_banned_names over
    the sample corpus; every disagreement is predicted by a loss whose facts hold."""
    exporter = Amavis(
        loader.load_policy(str(POLICIES / f"{policy}.policy"), lint=True), approximate=approximate
    )
    result = exporter.export()
    rows, unreadable = compare(exporter, result, [str(SAMPLES)])
    assert rows and unexplained(rows) == [], render("amavis", rows, unreadable)
    assert [r for r in rows if r.target == "error"] == []


@needs_amavis
@pytest.mark.parametrize(
    ("headers", "want", "limit"),
    [
        # two filename parameters: MIME-tools keeps the last
        (b'Content-Disposition: attachment; filename="a.pif"; filename="a.txt"', "allow", "one"),
        (b'Content-Disposition: attachment; filename="a.txt"; filename="a.pif"', "block", ""),
        # two Content-Disposition headers: the first
        (
            b'Content-Disposition: attachment; filename="a.txt"\n'
            b'Content-Disposition: attachment; filename="a.pif"',
            "allow",
            "one",
        ),
        # the Content-Type name is kept beside the filename
        (
            b'Content-Type: application/octet-stream; name="a.pif"\n'
            b'Content-Disposition: attachment; filename="a.txt"',
            "block",
            "",
        ),
        (b'Content-Disposition: attachment; filename="evil.ex\\e"', "block", ""),
        (b"Content-Disposition: attachment; filename*0=a.p; filename*1=if", "block", ""),
        (b'Content-Disposition: attachment; filename="a.pif\xc2\xa0"', "allow", "raw"),
    ],
)
def test_amavis_reads_names_as_stated(headers: bytes, want: str, limit: str) -> None:
    """What amavis's own name extraction does with duplicate and odd names, and the limit
    of the export that predicts each difference from the engine."""
    from mailpolicy.corpus.mime import parse_message
    from mailpolicy.policy.export import when

    pol = loader.load_text('block attachment extension in ["pif", "exe"]\n')
    exporter = Amavis(pol)
    result = exporter.export()
    runner = exporter.runner(result, "")
    data = _part(headers)
    try:
        assert runner.check() is None
        got = runner.run(data, "a@example.net", ("b@example.com",))
    finally:
        runner.close()
    assert got.action == want, got
    msg = parse_message(data)
    engine = evaluate(pol, msg, trace=False)
    if got.action != engine.action:
        key = {"one": "amavis:one-filename", "raw": "amavis:raw-8bit"}[limit]
        loss = next(x for x in result.losses if x.key == key)
        assert when.holds(loss.when, msg, engine.attachment)


@needs_amavis
def test_site_lists_are_kept() -> None:
    """The fragment extends Debian's banned lists: an .exe (Debian's stock list) is still
    banned by the site's list when the policy says nothing about it."""
    exporter = Amavis(loader.load_text('block attachment "*.pif"\n'))
    result = exporter.export()
    assert "@banned_filename_maps = ();" not in result.stdout_text()
    runner = exporter.runner(result, "")
    try:
        assert runner.check() is None
        exe = runner.run(_part(b'Content-Disposition: attachment; filename="a.exe"'), None, ())
        pif = runner.run(_part(b'Content-Disposition: attachment; filename="b.pif"'), None, ())
        txt = runner.run(_part(b'Content-Disposition: attachment; filename="c.txt"'), None, ())
    finally:
        runner.close()
    assert (exe.action, exe.rule) == ("block", None) and "site list" in exe.detail
    assert pif.action == "block" and txt.action == "allow"


# ---- containers: what amavis unpacks with Debian's stock decoders -------------------------------
def _zip(name: str, data: bytes, *, method: int = 8) -> bytes:
    """A one-member zip; ``method`` is written into both headers (the deflate stream of a
    short payload without 258-byte matches reads the same as Deflate64, method 9)."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    out = bytearray(buf.getvalue())
    if method != 8:
        local = out.index(b"PK\x03\x04")
        central = out.index(b"PK\x01\x02")
        out[local + 8 : local + 10] = method.to_bytes(2, "little")
        out[central + 10 : central + 12] = method.to_bytes(2, "little")
    return bytes(out)


def _tar_gz(name: str, data: bytes) -> bytes:
    import gzip
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


def _attached(name: str, payload: bytes) -> bytes:
    import base64

    body = base64.encodebytes(payload)
    return _part(
        f'Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="{name}"'.encode()
    ).replace(b"aGVsbG8K\n", body)


_SCRIPT = b"WScript.Echo('run me');\r\n"
_MBOX = b"From a@example.net Mon Jul 16 10:00:00 2001\n" + _attached("run.js", _SCRIPT).replace(
    b"\n\n--B--", b"\n--B--"
)
_CONTAINERS = [
    # a tar in a gzip: pax (a dependency of amavisd-new) unpacks it
    ("scripts.tar.gz", _tar_gz("scripts/run.js", _SCRIPT), "block"),
    ("docs.zip", _zip("run.js", _SCRIPT), "block"),
    # Deflate64: Archive::Zip marks the member undecipherable; the zip inside is not opened
    ("outer.zip", _zip("inner.zip", _zip("run.js", _SCRIPT), method=9), "allow"),
    # a mailbox in a zip: file(1) says text, no decoder opens it
    ("mail.zip", _zip("Inbox.mbx", _MBOX), "allow"),
]


@needs_amavis
@pytest.mark.parametrize(("name", "payload", "want"), _CONTAINERS, ids=[c[0] for c in _CONTAINERS])
def test_amavis_unpacks_as_debian_does(name: str, payload: bytes, want: str) -> None:
    """Containers through amavis's own decompose_mail with the stock decoders: a tar.gz and
    a deflate zip are unpacked and their member is banned by the policy's own regex (not
    Debian's list: ``.js`` is not on it); a Deflate64 zip entry and a mailbox inside a zip
    are not, where the engine reads them: the ``containers`` limit predicts exactly that."""
    from mailpolicy.corpus.mime import parse_message
    from mailpolicy.policy.export.losses import explaining

    pol = loader.load_text('block attachment archive contains extension "js" as "r1"\n')
    exporter = Amavis(pol, approximate=True)
    result = exporter.export()
    runner = exporter.runner(result, "")
    data = _attached(name, payload)
    try:
        assert runner.check() is None
        got = runner.run(data, None, ())
    finally:
        runner.close()
    msg = parse_message(data)
    engine = evaluate(pol, msg, trace=False)
    assert engine.action == "block", engine  # the engine reads every one of them
    assert (got.action, got.rule) == (want, "r1" if want == "block" else None), got
    found = explaining(
        result.losses, msg, engine.rule, engine.action, engine.attachment, got.rule, got.action
    )
    keys = {x.key for x in found.losses}
    assert ("amavis:containers" in keys) == (want == "allow"), keys


def test_containers_predicate() -> None:
    """``amavis-unopened-container`` holds below a Deflate64 entry, a mailbox in a zip and
    a container amavis has no decoder for, and not on what the stock decoders open."""
    from mailpolicy.corpus.message import Attachment
    from mailpolicy.policy.export import when
    from mailpolicy.policy.export.amavis import UNOPENED

    def holds(payload: bytes) -> bool:
        att = Attachment(names=("a",), data=payload, part="2")
        assert att.walk()[1:], "the engine opens it"
        return when.PREDICATES[UNOPENED](Message(), att)

    assert not holds(_zip("run.js", _SCRIPT))
    assert not holds(_tar_gz("run.js", _SCRIPT))
    assert holds(_zip("inner.zip", _zip("run.js", _SCRIPT), method=9))
    assert holds(_zip("Inbox.mbx", _MBOX))
    assert not when.PREDICATES[UNOPENED](Message(), None)


def test_containers_limit_stated_for_member_rules() -> None:
    """A rule that reads archive members states the ``containers`` limit, with or without a
    name test, and strict export fails until it is accepted by name; a rule on MIME parts
    alone does not meet it."""
    for text in (
        "block attachment archive contains type executable\n",
        'block attachment archive contains extension "js"\n',
    ):
        pol = loader.load_text(text)
        result = AmavisExporter(pol, approximate=True).export()
        assert "amavis:containers" in {x.key for x in result.losses}, text
        strict = AmavisExporter(pol).export()
        assert any("[amavis:containers]" in d.message for d in strict.diagnostics), text
    plain = AmavisExporter(loader.load_text('block attachment extension "js"\n'), approximate=True)
    assert "amavis:containers" not in {x.key for x in plain.export().losses}
