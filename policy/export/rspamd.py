"""The ``rspamd`` target: multimap symbols and ``force_actions`` rules for rspamd 3.4+.

Output (``-o /etc/rspamd/mailpolicy``: the export's own directory; ``rspamd_deploy`` says
how the site's ``local.d`` files include it, and the header of ``multimap.conf`` repeats
it with the enforcing hookup):

- ``multimap.conf``: one symbol per distinct test, score 0. Name tests are
  ``type = "filename"`` symbols over a ``regexp = true`` map (``skip_archives`` and
  ``skip_detected`` set, so only the part's own name is matched); sender and recipient
  lists are ``type = "from"`` / ``"rcpt"`` symbols with ``filter = "email:addr"`` (the
  envelope addresses) over an anchored regex map, one regex per list entry.
- ``mailpolicy_tN.map``: the maps, one ``/regex/`` a line, every line validated before
  it is written (rspamd drops a line it cannot compile without failing the config).
- ``force_actions.conf``: one rule per policy rule, allow rules included. First match is
  reproduced without priorities: the expression of rule *i* is its condition ``& !``
  (condition of every earlier emitted rule), so at most one rule can hold for a message,
  and it is the one the reference evaluator picks. block forces ``reject`` (rspamd stops
  checking the message); quarantine and discard force theirs unless rspamd's own verdict
  is already ``reject``; tag forces ``add header`` as the *least* action (a stronger
  verdict of rspamd's stays); allow forces ``no action`` unless rspamd's own verdict
  stops the message (reject, soft reject, quarantine, discard). The default allow forces
  nothing: such mail gets rspamd's own verdict.
- ``actions.conf`` (only for a policy that quarantines or discards): declares those two
  actions with ``no_threshold``; rspamd 3.4 refuses them in ``force_actions`` at scan
  time until they exist ("unknown action quarantine", and the message passes).

Nothing global is switched off: rspamd's ``mime_types`` module and every other module
keep scoring all mail. Where that makes rspamd stricter than the policy (mail the policy
allows by default, a site reject beating a quarantine), the ``own-scoring`` limit states
it; with the stock configuration it never lets through what the policy stops (a site's
own ``no action`` force rule or a settings entry that skips checks can, and says so).

Names: rspamd matches the decoded name (RFC 2047 and RFC 2231 with charsets converted to
UTF-8) in PCRE byte mode, so patterns are the Exim target's byte-mode regexes
(``exim.name_regex`` / ``exim.ext_regex``: Windows' trailing dots and spaces, the last path
component, non-ASCII case spelled out), with every ``/`` written ``\\x2f``.

What rspamd cannot do exactly (``--strict`` refuses, ``--approximate`` records a ``Loss``):
one filename per part (the *first* ``filename``/``filename*``, Content-Disposition before
the Content-Type ``name``), quoted-pairs kept in names, no uuencoded/TNEF attachments;
archive members only as rspamd lists them (first level of zip/rar/7z, the gzip header
name; no tar, no nesting) and only by name; true types only as ``lua_magic`` detects
them; ``tag`` forces rspamd's own ``add header`` action (its spam header, not the
policy's header text); no sizes, body, subject or header tests, no ``not`` inside one
attachment.

Escaping: map lines hold only ASCII regex text without ``/``, newline or NUL; the SMTP
message of a rule is printable ASCII without ``"``, ``\\``, ``$``, ``{``, ``}`` (UCL and
force_actions' ``${selector}`` expansion); symbol names are generated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailpolicy.policy import ast, conditions
from mailpolicy.policy.checked import CheckedPolicy, CheckedRule
from mailpolicy.policy.export.base import (
    ENVELOPE,
    NAME_MATCHING,
    NAME_TESTS,
    Capabilities,
    Exporter,
    ExportResult,
    Gap,
    Limit,
    Unexpressible,
    supports,
)
from mailpolicy.policy.export.dialect import (
    ADDRESS_TESTS,
    byte_address,
    byte_name_test,
    envelope,
    map_line,
)
from mailpolicy.policy.export.rspamd_deploy import MAP_DIR, install_text
from mailpolicy.policy.export.shared_limits import SHARED

if TYPE_CHECKING:
    from mailpolicy.policy.export.rspamd_runner import RspamdRunner

#: force_actions action per policy action (allow emits no force rule).
ACTIONS = {
    "allow": "no action",
    "block": "reject",
    "quarantine": "quarantine",
    "discard": "discard",
    "tag": "add header",
}
#: rspamd verdicts of its own that a forced rule of this action yields to (``honor_action``).
STOPS = ("reject", "soft reject", "quarantine", "discard")
HONOR = {"allow": STOPS, "quarantine": ("reject",), "discard": ("reject",)}
#: lua_magic extensions of executable content (``detected.EXT`` in a filename multimap).
DETECTED_EXECUTABLE = (
    "exe",
    "elf",
    "lnk",
    "msi",
    "dll",
    "com",
    "bat",
    "class",
    "jar",
    "macho",
    "ps1",
    "vbs",
)


def smtp_message(text: str) -> str:
    """A force_actions ``message``: printable ASCII, no UCL quote/escape, no ``${...}``."""
    return "".join(c if " " <= c <= "~" and c not in '"\\${}' else "?" for c in text)


@dataclass
class _Symbol:
    name: str
    kind: str  # filename | archive | detected | from | rcpt
    lines: tuple[str, ...]
    comment: str


@dataclass
class _Force:
    crule: CheckedRule | None
    action: str
    cond: str  # the rule's own condition (an rspamd expression)
    name: str = ""


class RspamdExporter(Exporter):
    """``mailpolicy export --target rspamd -o /etc/rspamd/mailpolicy``."""

    target = "rspamd"
    description = "rspamd 3.4+: multimap symbols, force_actions in rule order"
    filenames = ("multimap.conf", "force_actions.conf", "actions.conf")
    caps = Capabilities(
        conditions=supports(ENVELOPE, NAME_MATCHING, ("type class",)),
        actions=frozenset({"allow", "block", "quarantine", "discard", "tag"}),
        name_encodings=frozenset({"rfc2047", "rfc2231", "rfc2231-continuations"}),
        all_filenames=False,
        archive_members=True,
        true_types=True,
        action_limits=(
            Limit(
                "tag",
                "rspamd can force its 'add header' action but not add the policy's own header text",
                "action 'add header' (rspamd's spam header)",
                sound=True,
            ),
        ),
        executable_types=Limit(
            "lua-magic",
            "rspamd detects content types with its own lua_magic signatures, not libmagic",
            "matched as rspamd's detected extension (detected."
            + "|".join(DETECTED_EXECUTABLE)
            + ")",
        ),
        limits=(
            *SHARED,
            Limit(
                "one-filename",
                "rspamd sees one filename per part (the first filename or filename* "
                "parameter, Content-Disposition before the Content-Type name)",
                "each name test is matched against that one name: a part that carries a "
                "second, different name is judged by the one rspamd chose",
                strict=False,
            ),
            Limit(
                "quoted-pair",
                'rspamd keeps the backslashes of a quoted-string\'s quoted-pairs ("evil.ex\\e" '
                "is evil.ex\\e, not evil.exe)",
                "such names are matched with their backslashes: an extension written with a "
                "quoted-pair is not seen",
                strict=False,
                when=("quoted-pair",),
            ),
            Limit(
                "raw-8bit",
                "rspamd reads a raw 8-bit name (sent without RFC 2047 or RFC 2231) as UTF-8 "
                "only: in another charset (Shift_JIS, Latin-1) its spaces and letters are "
                "not seen",
                "such names are matched as their bytes: a space before the extension in "
                "another charset hides the extension",
                strict=False,
                when=("raw-non-utf8-name",),
            ),
            Limit(
                "mime-parts-only",
                "rspamd's filename maps see MIME parts only: uuencoded or BinHex files "
                "in a text body and the members of a TNEF winmail.dat are not tested",
                "those attachments are not tested",
                strict=False,
            ),
            Limit(
                "own-scoring",
                "rspamd's own modules still score every message (mime_types adds up to 10 "
                "for extensions it dislikes): mail the policy leaves to its default allow "
                "gets rspamd's own action, and a reject, soft reject, quarantine or discard "
                "that rspamd reaches on its own beats a policy allow, tag, quarantine or "
                "discard",
                "rspamd may stop or mark mail the policy delivers; with the stock "
                "configuration it never delivers mail a policy rule stops (a site's own force "
                "rule with 'no action', or a settings entry that skips checks, can)",
                strict=False,
                sound=True,
                when="always",
            ),
        ),
        notes=(
            "nothing global is switched off: rspamd's own modules (mime_types included) "
            "keep scoring all mail; the site's actions.conf and local.d files are extended "
            "by one include line each, never replaced",
        ),
    )

    def __init__(self, policy: CheckedPolicy, *, approximate: bool = False) -> None:
        super().__init__(policy, approximate=approximate)
        self._symbols: dict[tuple[str, tuple[str, ...]], _Symbol] = {}
        self._forces: list[_Force] = []

    # -- what rspamd cannot express ------------------------------------------------------------
    def gap(self, node: ast.Cond, *, in_attachment: bool, unless_root: bool = False) -> Gap | None:
        if isinstance(node, ast.Not) and in_attachment:
            return Gap(
                "rspamd cannot negate a test about one attachment (its filename "
                "symbols are true when any part matches)"
            )
        if isinstance(node, ast.ArchiveContains):
            names_only = all(
                isinstance(n, (ast.And, ast.Or, *NAME_TESTS)) for n in ast.walk(node.pred)
            )
            return Gap(
                "rspamd lists archive members only by name and only the first level of "
                "zip, rar and 7z archives plus the name in a gzip header (no tar, no "
                "nested archives, no member types); its archive symbol also matches "
                "the attachment's own name",
                keep=True,
                how="members tested by name as rspamd lists them"
                + ("" if names_only else "; member type tests left out"),
                sound=False,
            )
        return super().gap(node, in_attachment=in_attachment, unless_root=unless_root)

    # -- rules ----------------------------------------------------------------------------------
    def emit_rule(
        self, crule: CheckedRule, action: str, cond: ast.Cond, unless: ast.Cond | None
    ) -> None:
        text = self._cond(crule, cond)
        if unless is not None:
            text = f"({text}) & !({self._cond(crule, unless)})"
        self._forces.append(_Force(crule, action, text))

    def _cond(self, crule: CheckedRule, node: ast.Cond) -> str:
        """An rspamd expression (symbols, ``&``, ``|``, ``!``) for a message-level node."""
        if isinstance(node, (ast.And, ast.Or)):
            op = " & " if isinstance(node, ast.And) else " | "
            return "(" + op.join(self._cond(crule, i) for i in node.items) + ")"
        if isinstance(node, ast.Not):
            return "!" + self._cond(crule, node.item)
        if isinstance(node, ast.AnyAttachment):
            return self._attachment(crule, node.pred)
        if isinstance(node, ADDRESS_TESTS):
            role, domain_rule = envelope(node)
            lines = [
                byte_address(entry, domain_rule=domain_rule)
                for entry in self.policy.entries(node.operand)
            ]
            kind = "from" if role == "sender" else "rcpt"
            field, op = conditions.keyword(node)
            return self._symbol(
                crule, kind, lines, f"envelope {field} {op} {_operand_text(node.operand)}"
            )
        what = conditions.keyword(node)[0] if isinstance(node, ast.Leaf) else type(node).__name__
        raise Unexpressible(f"rspamd cannot test {what}")

    def _attachment(self, crule: CheckedRule, node: ast.Cond) -> str:
        """Symbols for ``attachment P``: ``or`` is distributed over symbols (exact); ``and``
        of name tests is one regex; archive members and detected types get their own."""
        if isinstance(node, ast.Or):
            return "(" + " | ".join(self._attachment(crule, i) for i in node.items) + ")"
        if isinstance(node, ast.ArchiveContains):
            lines = self._name_lines(node.pred, keep_types=False)
            if not lines:
                raise Unexpressible("no member name test rspamd can express")
            return self._symbol(crule, "archive", lines, "archive member")
        if isinstance(node, ast.TypeClass):  # executable (caps.executable_types)
            rx = r"(?i)\Adetected\.(?:" + "|".join(DETECTED_EXECUTABLE) + r")\z"
            return self._symbol(crule, "detected", [rx], "type executable (lua_magic)")
        lines = self._name_lines(node, keep_types=True)
        return self._symbol(crule, "filename", lines, "attachment name")

    def _name_lines(self, node: ast.Cond, *, keep_types: bool) -> list[str]:
        """Map lines (regexes over one name) for name tests joined by ``and``/``or``."""
        if isinstance(node, ast.Or):
            return [ln for i in node.items for ln in self._name_lines(i, keep_types=keep_types)]
        if isinstance(node, ast.And):
            parts = [self._name_lines(i, keep_types=keep_types) for i in node.items]
            if any(not p for p in parts):
                return []
            bare = [[x.removeprefix("(?i)") for x in p] for p in parts]  # one flag, in front
            ahead = "".join("(?=" + "|".join(p) + ")" for p in bare[:-1])
            return [f"(?i){ahead}(?:{'|'.join(bare[-1])})"]
        if isinstance(node, NAME_TESTS):
            rx = byte_name_test(self.policy, node)
            return [] if rx is None else [rx]
        if keep_types:
            raise Unexpressible(
                "rspamd cannot combine this test with a name test about the same attachment"
            )
        return []  # a member type test inside 'archive contains': stated by gap()

    def _symbol(self, crule: CheckedRule, kind: str, lines: list[str], comment: str) -> str:
        checked = tuple(map_line(x) for x in lines)
        key = (kind, checked)
        if key not in self._symbols:
            n = len(self._symbols) + 1
            self._symbols[key] = _Symbol(
                f"MAILPOLICY_T{n}", kind, checked, f"{comment} (first used by rule {crule.id})"
            )
        return self._symbols[key].name

    # -- output -----------------------------------------------------------------------------------
    def render(self) -> dict[str, str]:
        head = self.header(
            "#",
            [f"note:    {n}" for n in self.caps.notes]
            + [f"limit:   {lim.what}" for lim in self.caps.limits],
        )
        losses = self.loss_comments("#")
        rules, quarantines = self._force_rules()
        names = ["multimap.conf", "force_actions.conf"] + (["actions.conf"] if quarantines else [])
        install = "".join(f"# {ln}".rstrip() + "\n" for ln in install_text(names).splitlines())
        mm = [
            head + losses + install,
            f"# Maps are read from $LOCAL_CONFDIR/{MAP_DIR}/. Every symbol scores 0: the rules",
            "# of force_actions.conf decide.",
            "",
        ]
        files: dict[str, str] = {}
        for sym in self._symbols.values():
            mapname = f"{sym.name.lower()}.map"
            opts = {
                "filename": 'type = "filename"; skip_archives = true; skip_detected = true;',
                "archive": 'type = "filename"; skip_detected = true;',
                "detected": 'type = "filename"; skip_archives = true;',
                "from": 'type = "from"; filter = "email:addr";',
                "rcpt": 'type = "rcpt"; filter = "email:addr";',
            }[sym.kind]
            mm += [
                f"# {_comment(sym.comment)}",
                f"{sym.name} {{ {opts} regexp = true; score = 0.0;",
                f'  map = "${{LOCAL_CONFDIR}}/{MAP_DIR}/{mapname}";',
                '  description = "mailpolicy test"; }',
            ]
            files[mapname] = head + "".join(f"/{ln}/\n" for ln in sym.lines)
        self.result.meta["maps"] = {
            f"{s.name.lower()}.map": len(s.lines) for s in self._symbols.values()
        }
        out = {
            "multimap.conf": "\n".join(mm) + "\n",
            "force_actions.conf": head + losses + "\n" + rules,
        }
        if quarantines:
            out["actions.conf"] = (
                head + "# Included from local.d/actions.conf: rspamd 3.4 accepts these actions in\n"
                "# force_actions only once they are declared; no score ever reaches them.\n"
                + "".join(f'{a} {{ flags = ["no_threshold"]; }}\n' for a in quarantines)
            )
        return {**out, **dict(sorted(files.items()))}

    def _force_rules(self) -> tuple[str, list[str]]:
        """``force_actions.conf``'s ``rules {}`` (first match by guards) and the declared
        actions it needs (quarantine, discard)."""
        fa = ["rules {"]
        earlier: list[str] = []
        meta: dict[str, tuple[str | None, str]] = {}
        forces = list(self._forces)
        if self.policy.default != "allow":
            forces.append(_Force(None, self.policy.default, ""))
        for i, f in enumerate(forces, start=1):
            guard = " & ".join(f"!({c})" for c in earlier)
            expr = f"({f.cond})" + (f" & {guard}" if guard else "") if f.cond else guard
            if f.cond:
                earlier.append(f.cond)
            if not expr:
                continue
            rid = f.crule.id if f.crule else "-"
            name = f"MAILPOLICY_R{i}"
            meta[f"FORCE_ACTION_{name}"] = (None if f.crule is None else rid, f.action)
            reason = (
                f.crule.rule.reason.value
                if f.crule and f.crule.rule.reason
                else f.crule.rule.header.value
                if f.crule and f.crule.rule.header
                else f"attachment refused by policy rule {rid}"
                if f.action != "allow"
                else f"attachment allowed by policy rule {rid}"
            )
            body = [
                f'    action = "{ACTIONS[f.action]}";',
                f'    expression = "{expr}";',
                f'    message = "{smtp_message(reason)} [mailpolicy rule {smtp_message(rid)}]";',
            ]
            if f.action in HONOR:
                body.append(
                    "    honor_action = [" + ", ".join(f'"{a}"' for a in HONOR[f.action]) + "];"
                )
            if f.action == "tag":
                body.append("    least = true;")
            fa += [
                f"  # {_comment(self.rule_comment(f.crule, '') if f.crule else 'the default')}",
                f"  {name} {{",
                *body,
                "  }",
            ]
        fa.append("}")
        self.result.meta["forces"] = meta
        used = {a for _, a in meta.values()}
        return "\n".join(fa) + "\n", [a for a in ("quarantine", "discard") if a in used]

    def runner(self, result: ExportResult, workdir: str) -> RspamdRunner:
        from mailpolicy.policy.export.rspamd_runner import RspamdRunner

        return RspamdRunner(result)


def _comment(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _operand_text(operand: ast.Operand) -> str:
    return operand.name if isinstance(operand, ast.ListRef) else "[...]"
