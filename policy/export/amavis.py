"""The ``amavis`` target: a ``$banned_namepath_re`` fragment for amavisd-new 2.7+ (Debian:
``/etc/amavis/conf.d/60-mailpolicy``).

Why ``$banned_namepath_re`` and not ``$banned_filename_re``: amavis tests each *leaf* of the
decoded message tree; the traditional list is given one flat list of keys for the leaf
and all its ancestors (MIME types, names, ``.exe-ms``-style file(1) types), so a name
regex there also meets MIME types (``application/vnd.ms-excel`` for ``*.*``), type keys
(``.exe`` for ``*.exe``) and the names of the archive a member came from. The namepath
string keeps them apart: one line per node from the top part down to the leaf, fields
``P=``, ``L=``, ``M=`` (declared MIME type: MIME parts only), ``T=`` (file(1) short
types), ``N=`` (every declared name, raw and RFC 2047/2231-decoded, from ``filename`` and
``name``) separated by tabs. So:

- ``attachment P``: some line *with* an ``M=`` field (a MIME part) satisfies P;
- ``archive contains P``: some line *without* one (a decoded member) satisfies P;
- a name test is a ``\\tN=`` field matched whole, after the normalisation the engine does
  (last path component, trailing dots and spaces), case-insensitively as the engine's globs
  are (Python's case variants spelled out; Perl's ``/i`` folds differently);
- ``type executable``: a ``T=exe|exe-ms|exe-unix|dll`` field (amavis's file(1) mapping:
  approximate, see below); ``declared type``: the ``M=`` field.

Rules keep their order in the list and the first regex that matches decides for that
leaf: ``[qr'...' => 1]`` bans (block), ``[qr'...' => 0]`` allows. The file extends the
site's banned checks: ``@banned_filename_maps`` (Debian's ``$banned_filename_re``) stays and
is checked first (an allow rule cannot exempt what it bans: the sound ``site-lists``
limit), and a ``$banned_namepath_re`` the site set before is kept after the policy's
entries. ``--verify`` runs amavis's own code over it (``amavis_runner``).

What amavis cannot do (``--strict`` refuses, ``--approximate`` records a ``Loss``):
- it decides per leaf, not per message: an allow rule exempts only the parts it matches
  (stricter than the policy: sound, stated once);
- one destiny for every banned message (``$final_banned_destiny``): block and quarantine
  rules cannot differ, no tag or discard;
- no envelope sender or recipient conditions: banned checks are bypassed per
  *recipient* (``@bypass_banned_checks_maps``), policy banks are chosen by client IP or
  port, and ``@author_to_policy_bank_maps`` needs a valid DKIM author signature;
- no body, subject, header or size tests, no ``and``/``not`` across attachments;
- raw 8-bit names are decoded as ISO-8859-1 (a Shift_JIS name is seen as mojibake);
- it unpacks only the containers its decoders open (Debian's stock set: zip with stored
  or deflate members, tar, gzip, bzip2, xz): ``archive contains`` does not reach members
  of 7z, rar, cab and the like, of Deflate64 zip entries, or of a mailbox in a zip.

Quoting: every regex is a ``qr'...'`` literal (no interpolation); every ASCII character
that is not a letter or digit is written ``\\xHH`` and every non-ASCII one ``\\x{HHHH}``,
so no ``'``, ``\\``, ``$``, ``@`` or delimiter can appear raw; control characters are
refused by ``Exporter.safe``; rule ids in ``(?#...)`` comments (which amavis shows in its
log and DSN) are reduced to ``[A-Za-z0-9._-]``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mailpolicy.corpus.archives import formats, zipdir
from mailpolicy.corpus.archives.limits import LIMITS, Budget
from mailpolicy.corpus.archives.protocol import Level
from mailpolicy.policy import ast, conditions, globs
from mailpolicy.policy.checked import CheckedPolicy, CheckedRule
from mailpolicy.policy.export import when
from mailpolicy.policy.export.base import (
    NAME_MATCHING,
    NAME_TESTS,
    STOPPING,
    Capabilities,
    Exporter,
    ExportResult,
    Gap,
    Limit,
    Unexpressible,
    supports,
)
from mailpolicy.policy.export.dialect import FIELD_END, PERL, name_pattern
from mailpolicy.policy.export.shared_limits import SHARED
from mailpolicy.policy.globs import Lit

if TYPE_CHECKING:
    from mailpolicy.corpus.message import Attachment, Message
    from mailpolicy.policy.export.amavis_runner import AmavisRunner

#: Debian's stock ``$banned_filename_re`` (``/etc/amavis/conf.d/20-debian_defaults``), as
#: amavis applies it to the keys of a part and its ancestors (names, declared types,
#: ``.``-prefixed file(1) short types): the predicate of the ``site-lists`` limit.
_DEBIAN_NAME = (
    re.compile(r"\.[^./]*\.(exe|vbs|pif|scr|bat|cmd|com|cpl|dll)\.?$", re.I),
    re.compile(r"\{[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\}?$", re.I),
    re.compile(r".\.(exe|vbs|pif|scr|bat|cmd|com|cpl)$", re.I),
)
_DEBIAN_TYPE = re.compile(r"^application/(x-msdownload|x-msdos-program|hta)$", re.I)


def _debian_banned(msg: Message, att: Attachment | None) -> bool:
    if att is None:
        return False
    for a in att.walk():
        names = (*a.names, *a.raw_names)
        if any(rx.search(n) for rx in _DEBIAN_NAME for n in names):
            return True
        detected = a.detected_type
        if _DEBIAN_TYPE.match(a.declared_type) or "dosexec" in detected or "portable" in detected:
            return True
    return False


DEBIAN_BANNED = when.register("amavis-debian-banned", _debian_banned)

#: The engine's container formats that Debian's stock amavisd opens (``@decoders`` with the
#: programs a Debian install has: the package's dependencies, pax among them, and the
#: standard-priority bzip2 and xz-utils; 7-Zip, unrar, cabextract and arj are only
#: suggested, so 7z, rar, cab, iso, MSI, OneNote and disk images stay leaves).
AMAVIS_OPENS = frozenset({"zip", "gzip", "bzip2", "xz", "tar"})
#: Zip methods ``Archive::Zip`` reads (stored, deflate); ``do_unzip`` marks a member
#: compressed otherwise undecipherable (``A=U``) and leaves it unread.
_ZIP_METHODS = frozenset({0, 8})


def _unread_zip_method(data: bytes) -> bool:
    level = Level(budget=Budget(LIMITS), name=None, part="", depth=0)
    return any(e.method not in _ZIP_METHODS for e in zipdir.entries(data, level))


def _unopened(a: Attachment) -> bool:
    """``a`` has members (in the engine) that amavis does not reach: a mail folder inside an
    archive (file(1) types it text, which no decoder opens), a container amavis has no
    decoder for (or an Office document's parts), a zip with a member in a method that
    ``Archive::Zip`` does not read."""
    if not a.members:
        return False
    if not a.is_archive:
        return True  # a mail folder, an Office document, a smuggling page
    fmt = formats.sniff(a.data[: formats.SNIFF_BYTES])
    return fmt not in AMAVIS_OPENS or (fmt == "zip" and _unread_zip_method(a.data))


UNOPENED = when.register(
    "amavis-unopened-container",
    lambda msg, att: att is not None and any(_unopened(a) for a in att.walk()),
)

#: amavis file(1) short types of executable content (``%map_full_type_to_short_type``).
EXECUTABLE_TYPES = ("exe", "exe-ms", "exe-unix", "dll")
_MIME_LINE = r"(?=[^\n]*\tM=)"
_MEMBER_LINE = r"(?![^\n]*\tM=)"


def comment_id(rid: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", rid)[:60]


CONTAINERS = Limit(
    "containers",
    "Debian's stock amavisd opens zip, tar, gzip, bzip2 and xz only (its other decoders "
    "need 7-Zip, unrar, cabextract or arj, which the package only suggests): members of 7z, "
    "rar, cab, ISO, MSI and OneNote files and disk images, of Office documents, of zip "
    "entries compressed with other methods than stored and deflate (Deflate64, bzip2, LZMA: "
    "marked undecipherable) and of mail folders inside archives (file(1) types an mbox as "
    "text) are not unpacked",
    "names and types below such a container are not tested",
    strict=False,
    when=(UNOPENED,),
)


class AmavisExporter(Exporter):
    """``mailpolicy export --target amavis -o /etc/amavis/conf.d/60-mailpolicy``."""

    target = "amavis"
    description = "amavisd-new 2.7+: $banned_namepath_re, first match per decoded leaf"
    filenames = ("60-mailpolicy",)
    caps = Capabilities(
        conditions=supports(NAME_MATCHING, ("type class", "declared type matches")),
        actions=frozenset({"allow", "block", "quarantine"}),
        name_encodings=frozenset({"rfc2047", "rfc2231", "rfc2231-continuations"}),
        all_filenames=False,
        archive_members=True,
        true_types=True,
        combinators=frozenset({"and", "or"}),
        executable_types=Limit(
            "file-types",
            "amavis types content with file(1) short types (T=exe for PE, DOS, "
            "ELF, COFF; not Windows shortcuts, MSI or Java)",
            "matched as T=" + "|".join(EXECUTABLE_TYPES),
        ),
        limits=(
            *SHARED,
            Limit(
                "per-leaf",
                "amavis decides per decoded part, not per message: an allow rule exempts "
                "only the parts it matches, and a later block rule still bans the others",
                "amavis stops at least what the policy stops",
                strict=False,
                sound=True,
            ),
            Limit(
                "raw-8bit",
                "amavis decodes raw 8-bit names as ISO-8859-1 (a Shift_JIS or UTF-8 name "
                "sent without RFC 2047/2231 is seen as mojibake, a UTF-8 no-break space "
                "after the extension as two letters)",
                "non-ASCII characters of a pattern do not match such names, nor an "
                "extension followed by a raw 8-bit space",
                strict=False,
            ),
            Limit(
                "one-filename",
                "amavis (MIME-tools) keeps one value per parameter and header: of two "
                "filename parameters the last (filename* before filename), of two "
                "Content-Disposition headers the first; the Content-Type name is kept too",
                "a part that carries a second, different filename is judged by the one "
                "MIME-tools kept",
                strict=False,
            ),
            Limit(
                "attached-message",
                "amavis does not open attached messages (message/rfc822): MIME-tools runs "
                "with extract_nested_messages off and file(1)'s 'mail text' is typed txt, "
                "which no decoder opens",
                "names inside a forwarded message are not tested",
                strict=False,
                when=("attached-message",),
            ),
            Limit(
                "site-lists",
                "the site's own banned lists stay in force and are checked first (Debian's "
                "$banned_filename_re in 20-debian_defaults bans .exe, .pif, .bat, .com, "
                "double extensions, application/x-msdownload and PE executables): an "
                "allow rule of the policy cannot exempt what they ban",
                "amavis stops at least what the policy stops",
                strict=False,
                sound=True,
                when=(DEBIAN_BANNED,),
            ),
        ),
    )

    def __init__(self, policy: CheckedPolicy, *, approximate: bool = False) -> None:
        super().__init__(policy, approximate=approximate)
        self._entries: list[tuple[CheckedRule, int, str]] = []  # rule, result, regex
        self._actions: set[str] = set()
        self._rule_actions: dict[str, str] = {}  # comment id -> action, for the runner

    def gap(self, node: ast.Cond, *, in_attachment: bool, unless_root: bool = False) -> Gap | None:
        if isinstance(node, ast.Not):
            return Gap("amavis cannot negate a test (a leaf that fails a test is not banned by it)")
        if isinstance(node, ast.And) and not in_attachment:
            return Gap(
                "amavis tests one decoded part at a time: 'and' across attachments "
                "or with a message test cannot be expressed"
            )
        if isinstance(node, ast.Test) and not isinstance(
            node, (ast.MessageUnscannable, ast.EvasiveMime)
        ):
            field, op = conditions.keyword(node)
            return Gap(
                f"amavis cannot test the message {field} ({op}) in banned "
                "rules (sender exceptions: banned checks are bypassed per recipient, "
                "policy banks are chosen by client IP or port)"
            )
        return super().gap(node, in_attachment=in_attachment, unless_root=unless_root)

    def unsupported_action(self, crule: CheckedRule) -> str | None:
        if crule.action in ("discard", "strip"):
            self.unsupported(
                crule,
                crule.rule,
                f"amavis has no per-rule '{crule.action}'",
                how="the message is banned like a block (final_banned_destiny)",
            )
            return "block"
        return super().unsupported_action(crule)

    def emit_rule(
        self, crule: CheckedRule, action: str, cond: ast.Cond, unless: ast.Cond | None
    ) -> None:
        if unless is not None:  # an attachment test after 'unless': a negation
            self.unsupported(
                crule,
                crule.rule,
                "amavis cannot express 'unless' (a negation)",
                how="'unless' dropped" if crule.action in STOPPING else "rule left out",
                sound=True,
            )
            if crule.action not in STOPPING:
                return
        regexes = self._message(cond)
        result = 0 if action == "allow" else 1
        if action != "allow":
            self._actions.add(action)
            self._rule_actions[comment_id(crule.id)] = action
        for rx in regexes:
            self._entries.append((crule, result, rx))

    def _message(self, node: ast.Cond) -> list[str]:
        if isinstance(node, ast.Or):
            return [rx for i in node.items for rx in self._message(i)]
        if isinstance(node, ast.AnyAttachment):
            return [rf"^{_MIME_LINE}{self._line(node.pred)}"]
        raise Unexpressible("amavis can only test attachments")

    def _line(self, node: ast.Cond) -> str:
        """Lookaheads over one line of the namepath string for an attachment-level node."""
        match node:
            case ast.And(items=items):
                return "".join(self._line(i) for i in items)
            case ast.Or(items=items):
                return "(?:" + "|".join(self._line(i) for i in items) + ")"
            case ast.ArchiveContains(pred=pred):
                self._state(CONTAINERS)
                return rf"(?:[^\n]*\n)*?{_MEMBER_LINE}{self._line(pred)}"
            case ast.TypeClass():  # executable (caps.executable_types)
                types = "|".join(PERL.render(Lit(t)) for t in EXECUTABLE_TYPES)
                return rf"(?=[^\n]*\tT=(?:{types}){FIELD_END})"
            case ast.DeclaredType(operand=ast.Str(value=glob)):
                return rf"(?=[^\n]*\tM=(?:{PERL.render(globs.parse(glob))}){FIELD_END})"
            case _:
                assert isinstance(node, NAME_TESTS), node  # relax() removed everything else
                return rf"(?=[^\n]*{PERL.for_name(name_pattern(self.policy, node))})"

    def _state(self, limit: Limit) -> None:
        """A target-wide ``limit`` stated once, by the first rule that reads what it
        concerns (``containers``: archive members; a rule on MIME parts alone never meets
        it, so it is not in ``caps.limits``, which every name rule states)."""
        loss = limit.loss(self.target)
        self._record(loss.acknowledge() if loss.key in self.accept else loss)

    def render(self) -> dict[str, str]:
        extra = [f"limit:   {lim.what}" for lim in (*self.caps.limits, CONTAINERS)]
        out = [self.header("#", extra).rstrip("\n")]
        if self.result.losses:
            out.append(self.loss_comments("#").rstrip("\n"))
        destiny = "D_REJECT" if "block" in self._actions or not self._actions else "D_DISCARD"
        if {"block", "quarantine"} <= self._actions:
            out.append(
                "# NOTE: quarantine rules share block's destiny (D_REJECT); a copy of "
                "banned mail is kept only if $banned_quarantine_to is set."
            )
        out += [
            "# Install: copy to /etc/amavis/conf.d/60-mailpolicy (Debian, Ubuntu; read after",
            "#   50-user) or include it at the end of amavisd.conf, then check and enable:",
            "#   amavisd test-config && systemctl reload amavis",
            "# Undo: remove the file and reload.",
            "# It extends the site's banned checks: @banned_filename_maps and",
            "# $banned_filename_re (Debian's defaults) keep working and are checked first;",
            "# the site's own $banned_namepath_re entries are kept after the policy's.",
            f"$final_banned_destiny = {destiny};",
            "{",
            "  my $site = $banned_namepath_re;",
            "  $site = $$site if ref($site) eq 'REF';",
            "  $banned_namepath_re = new_RE(",
        ]
        last = None
        for crule, result, rx in self._entries:
            if crule is not last:
                out.append("    " + self.rule_comment(crule, "#"))
                last = crule
            out.append(f"    [qr'(?#{comment_id(crule.id)}){rx}'m => {result}],")
        out += [
            "    # the site's own entries, after the policy's",
            "    (ref($site) ? @$site : ()),",
            "  );",
            "}",
            "",
            "1;  # conf.d files must end with a true value",
        ]
        return {"60-mailpolicy": "\n".join(out) + "\n"}

    def runner(self, result: ExportResult, workdir: str) -> AmavisRunner:
        from mailpolicy.policy.export.amavis_runner import AmavisRunner

        return AmavisRunner(result, workdir, dict(self._rule_actions))
