"""The ``sieve`` target: one Sieve script for Dovecot Pigeonhole (RFC 5228, RFC 5703).

What the script does: each rule becomes ``if TEST { ACTION; stop; }`` in policy order,
then the default action. Attachment names are tested with ``header :mime :anychild
:param "filename" "Content-Disposition"`` *and* ``:param "name" "Content-Type"``: Pigeonhole
decodes RFC 2047 and RFC 2231 (continuations included) and returns every value of every
part, so no ``filename``/``filename*``/duplicate-header trick hides a name (see
``MTA-VERIFICATION.md``). Name patterns are POSIX regexes (``:regex`` with
``:comparator "i;ascii-casemap"``) anchored as ``^(.*[/\\])?PATTERN[. ]*$``: trailing
dots and spaces and a path before the base name are tolerated, as the engine's
normalisation does.

Actions: block -> ``reject "reason"``; quarantine -> ``fileinto :create "Quarantine"``
(``QUARANTINE_FOLDER``, created when missing); tag -> ``addheader`` (the ``editheader``
extension, which the deploy drop-in enables for global scripts only, ``sieve_deploy``)
then ``keep``; discard -> ``discard``; allow ->
``keep; stop;``; strip -> not expressible (approximate: quarantine the whole message).
Sender exceptions: ``envelope :all :comparator "i;ascii-casemap" :matches "from"``, a
domain entry becoming ``*@domain`` and ``*@*.domain``.

Not expressible (``--strict`` fails, ``--approximate`` relaxes soundly): true types,
``type mismatch``, archive members and limits, ``evasive name``, attachment size and
declared type, message size and attachment count, ``and``/``not`` between predicates of
one attachment (``:anychild`` tests parts independently). Target-wide limit, stated in
the loss report: names of uuencoded/BinHex files in bodies and TNEF members are not seen.
Names are matched as the engine normalises them (``sieve_names``: trailing dots and
spaces, every Unicode space, UTF-8 characters, non-ASCII case variants).

Escaping: the script never requires ``variables``, so ``${1}`` in a policy value is text.
It requires ``encoded-character`` (on by default in Pigeonhole) when it writes bytes that
way (the non-ASCII spaces of ``sieve_names``); every ``$`` from the policy is then written
``${hex:24}``, so a policy value never forms an escape. Strings escape ``\\`` and ``"``;
``:matches`` keys escape ``*``, ``?`` and ``\\``; regex keys escape every ERE
metacharacter; control characters are rejected before anything is emitted
(``Exporter.safe``).
"""

from __future__ import annotations

import os
import re
import subprocess
from typing import TYPE_CHECKING, assert_never

from mailpolicy.policy import ast, conditions, globs
from mailpolicy.policy.checked import CheckedPolicy, CheckedRule
from mailpolicy.policy.conditions import norm_extension
from mailpolicy.policy.diagnostics import Diagnostic
from mailpolicy.policy.export.base import (
    E_UNSAFE,
    E_UNSUPPORTED,
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
    ERE,
    AddressTest,
    address,
    address_globs,
    envelope,
    matches_key,
    name_pattern,
)
from mailpolicy.policy.export.runner import TIMEOUT, TargetVerdict, need
from mailpolicy.policy.export.shared_limits import SHARED
from mailpolicy.policy.export.sieve_deploy import MAX_SCRIPT_BYTES, deploy_lines
from mailpolicy.policy.export.sieve_names import (
    ENCODED_QUOTE,
    RAW_NON_UTF8,
    extension_key,
    literal_dollars,
    name_keys,
    size_test,
)
from mailpolicy.policy.globs import Pat

if TYPE_CHECKING:
    pass

#: Pigeonhole's default ``sieve_editheader_max_header_size``: a longer ``addheader`` value
#: fails compilation (measured with sievec 0.5.19: 2048 bytes compile, 2049 do not).
MAX_HEADER_VALUE = 2048
#: The folder ``quarantine`` files messages into.
QUARANTINE_FOLDER = "Quarantine"
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")


def quote(value: str) -> str:
    """A Sieve quoted string: ``\\`` and ``"`` escaped, ``$`` as ``${hex:24}`` (values are
    checked by ``safe``). Every ``${`` of the script is then an ``encoded-character``
    escape the exporter wrote (``render`` requires the extension when there is one):
    name regexes write ``$`` and ``{`` with a backslash, so a policy value never forms one."""
    return quote_regex(value.replace("$", "\0")).replace("\0", "${hex:24}")


def quote_regex(value: str) -> str:
    """A regex key (from ``sieve_names`` or ``ERE``): its ``$`` and ``{`` that came from the
    policy carry a backslash, so its ``${`` are the exporter's ``encoded-character`` escapes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def string_list(values: list[str], *, regex: bool = False) -> str:
    q = quote_regex if regex else quote
    return q(values[0]) if len(values) == 1 else "[" + ", ".join(q(v) for v in values) + "]"


class SieveExporter(Exporter):
    target = "sieve"
    description = "Dovecot Pigeonhole Sieve, RFC 5228 + RFC 5703 mime"
    filenames = ("policy.sieve",)
    caps = Capabilities(
        conditions=supports(
            ENVELOPE,
            NAME_MATCHING,
            ("subject contains", "subject matches", "from contains", "from matches"),
            ("header contains", "header matches", "body contains"),
            ("message size",),
        ),
        actions=frozenset({"allow", "block", "quarantine", "tag", "discard"}),
        name_encodings=frozenset({"rfc2047", "rfc2231", "rfc2231-continuations"}),
        all_filenames=True,
        archive_members=False,
        true_types=False,
        limits=(
            *SHARED,
            Limit(
                "embedded",
                "Sieve does not see the names of uuencoded or BinHex files "
                "inside text bodies, nor winmail.dat (TNEF) members",
                "those names are not tested",
                strict=False,
                sound=False,
            ),
            Limit(
                "encoded-quote",
                "Pigeonhole ends an RFC 2047-encoded name at a decoded '\"' "
                "('invoice\".exe' is read as 'invoice')",
                "the rest of such a name is not tested",
                strict=False,
                sound=False,
                when=ENCODED_QUOTE,
            ),
            Limit(
                "raw-non-utf8",
                "Pigeonhole reads a raw 8-bit name that is not UTF-8 (Latin-1, Shift_JIS) "
                "with U+FFFD for each undecodable byte, where the engine guesses the charset",
                "a space or letter in those bytes is not seen",
                strict=False,
                sound=False,
                when=RAW_NON_UTF8,
            ),
        ),
    )
    #: extensions the verifier must enable (Pigeonhole disables editheader by default)
    extra_extensions = ("editheader",)

    def __init__(self, policy: CheckedPolicy, *, approximate: bool = False) -> None:
        super().__init__(policy, approximate=approximate)
        self.requires: set[str] = set()
        self.blocks: list[tuple[CheckedRule | None, list[str]]] = []

    def gap(self, node: ast.Cond, *, in_attachment: bool, unless_root: bool = False) -> Gap | None:
        if in_attachment and isinstance(node, (ast.And, ast.Not)):
            return Gap(
                "Sieve tests each name on its own ('header :mime :anychild'): "
                f"'{type(node).__name__.lower()}' between predicates of one "
                "attachment cannot be expressed"
            )
        return super().gap(node, in_attachment=in_attachment)

    # -- tests --------------------------------------------------------------------------------
    def _cond(self, crule: CheckedRule, node: ast.Cond) -> str:
        match node:
            case ast.And(items=items):
                return "allof(" + ", ".join(self._cond(crule, i) for i in items) + ")"
            case ast.Or(items=items):
                return "anyof(" + ", ".join(self._cond(crule, i) for i in items) + ")"
            case ast.Not(item=item):
                return "not " + self._cond(crule, item)
            case ast.AnyAttachment(pred=pred):
                return self._att(crule, pred)
            case ast.SenderIn() | ast.SenderMatches() | ast.RecipientIn() | ast.RecipientMatches():
                return self._address(node)
            case (
                ast.TextContains() | ast.TextMatches() | ast.HeaderContains() | ast.HeaderMatches()
            ):
                return self._text(node)
            case ast.MessageSize(op=op, operand=ast.Number(value=value)):
                return size_test(op, value)
            case _:  # relax() removed everything else
                raise TypeError(f"unexpected node {node!r}")

    def _att(self, crule: CheckedRule, node: ast.Cond) -> str:
        if isinstance(node, ast.Or):
            return "anyof(" + ", ".join(self._att(crule, i) for i in node.items) + ")"
        assert isinstance(node, NAME_TESTS), node
        self.requires.update(("mime", "regex"))
        match node:
            case ast.ExtensionIn() | ast.ExtensionIs() | ast.DoubleExtensionIn():
                exts = [norm_extension(e) for e in self.policy.entries(node.operand)]
                keys = [
                    extension_key(
                        [e for e in exts if e], double=isinstance(node, ast.DoubleExtensionIn)
                    )
                ]
            case _:
                keys = name_keys(name_pattern(self.policy, node))
        tests = [
            (
                f'header :mime :anychild :param "filename" :comparator "i;ascii-casemap" :regex '
                f'"Content-Disposition" {string_list(keys, regex=True)}'
            ),
            (
                f'header :mime :anychild :param "name" :comparator "i;ascii-casemap" :regex '
                f'"Content-Type" {string_list(keys, regex=True)}'
            ),
        ]
        return "anyof(" + ", ".join(tests) + ")"

    def _address(self, node: AddressTest) -> str:
        self.requires.add("envelope")
        role, domain_rule = envelope(node)
        pats = [
            p
            for e in self.policy.entries(node.operand)
            for p in address_globs(address(e, domain_rule=domain_rule))
        ]
        part = "from" if role == "sender" else "to"
        return self._keyed('envelope :all :comparator "i;ascii-casemap"', quote(part), pats)

    def _text(
        self, node: ast.TextContains | ast.TextMatches | ast.HeaderContains | ast.HeaderMatches
    ) -> str:
        assert isinstance(node.operand, ast.Str)
        value = node.operand.value
        match node:
            case ast.HeaderContains() | ast.HeaderMatches():
                name = node.header
            case ast.TextContains() | ast.TextMatches():
                text = conditions.keyword(node)[0]  # from, subject or body
                if text == "body":  # only 'contains' (caps)
                    self.requires.add("body")
                    return f'body :text :comparator "i;ascii-casemap" :contains {quote(value)}'
                name = "Subject" if text == "subject" else "From"
            case _:
                assert_never(node)
        if isinstance(node, (ast.TextContains, ast.HeaderContains)):
            return f'header :comparator "i;ascii-casemap" :contains {quote(name)} {quote(value)}'
        return self._keyed(
            'header :comparator "i;ascii-casemap"', quote(name), [globs.parse(value)]
        )

    def _keyed(self, head: str, what: str, pats: list[Pat]) -> str:
        """``head :matches what [keys]`` (or ``:regex`` for patterns :matches cannot say)."""
        plain = [k for k in (matches_key(p) for p in pats) if k is not None]
        regex = ["^" + literal_dollars(ERE.render(p)) + "$" for p in pats if matches_key(p) is None]
        tests = []
        if plain:
            tests.append(f"{head} :matches {what} {string_list(plain)}")
        if regex:
            self.requires.add("regex")
            tests.append(f"{head} :regex {what} {string_list(regex, regex=True)}")
        return tests[0] if len(tests) == 1 else "anyof(" + ", ".join(tests) + ")"

    # -- actions ------------------------------------------------------------------------------
    def _action(self, crule: CheckedRule | None, action: str) -> list[str]:
        reason = crule.rule.reason.value if crule and crule.rule.reason else None
        if action == "block":
            self.requires.add("reject")
            text = reason or (
                f"message refused by mail policy (rule {crule.id})"
                if crule
                else "message refused by mail policy (default)"
            )
            return [f"reject {quote(text)};"]
        if action == "quarantine":  # :create: a missing folder would mean INBOX
            self.requires.update(("fileinto", "mailbox"))
            return [f"fileinto :create {quote(QUARANTINE_FOLDER)};"]
        if action == "discard":
            return ["discard;"]
        if action == "tag":
            assert crule is not None and crule.rule.header is not None
            name, _, value = crule.rule.header.value.partition(":")
            if not _HEADER_NAME.match(name.strip()):
                self.result.diagnostics.append(_bad_header(crule, crule.rule.header.value))
            size = len(value.strip().encode("utf-8"))
            if size > MAX_HEADER_VALUE:
                raise Unexpressible(
                    f"the tag header value is {size} bytes; Pigeonhole's addheader refuses "
                    f"more than {MAX_HEADER_VALUE} (sieve_editheader_max_header_size) and "
                    "a script that does not compile keeps every message",
                    how="rule left out",
                    key="tag-too-long",
                )
            self.requires.add("editheader")
            return [f"addheader {quote(name.strip())} {quote(value.strip())};", "keep;"]
        return ["keep;"]

    def emit_rule(
        self, crule: CheckedRule, action: str, cond: ast.Cond, unless: ast.Cond | None
    ) -> None:
        test = self._cond(crule, cond)
        if unless is not None:
            test = f"allof({test}, not {self._cond(crule, unless)})"
        self.blocks.append(
            (
                crule,
                [f"if {test} {{", *("  " + a for a in self._action(crule, action)), "  stop;", "}"],
            )
        )

    def render(self) -> dict[str, str]:
        default = self.policy.default
        if default not in ("allow", "block", "quarantine", "discard"):
            self.unsupported(
                None,
                self.policy.ast,
                f"default {default} cannot be expressed",
                how="default allow (keep)",
                sound=default not in ("strip",),
            )
            default = "allow"
        tail = self._action(None, default)
        if any("${" in ln for _, block in self.blocks for ln in block) or "${" in "".join(tail):
            self.requires.add("encoded-character")
        lines: list[str] = []
        extra = [f"requires: Pigeonhole with {', '.join(sorted(self.requires))}"]
        extra += deploy_lines(
            editheader="editheader" in self.requires,
            quarantine=QUARANTINE_FOLDER if "fileinto" in self.requires else None,
        )
        extra.append(
            "verify before deploying: sievec (a script that does not compile means every "
            "message is kept; export has compiled it when sievec was installed)"
        )
        lines.append(self.header("#", extra).rstrip("\n"))
        losses = self.loss_comments("#").rstrip("\n")
        if losses:
            lines.append(losses)
        lines.append(f"require {string_list(sorted(self.requires))};" if self.requires else "")
        rule_lines: dict[int, str] = {}
        for crule, block in self.blocks:
            lines.append("")
            assert crule is not None
            lines.append(self.rule_comment(crule, "#"))
            first = len("\n".join(lines).split("\n")) + 1
            for k in range(len(block)):
                rule_lines[first + k] = crule.id
            lines.extend(block)
        lines.append("")
        lines.append(f"# default: {default}")
        lines.extend(tail)
        self.result.meta["rule_lines"] = rule_lines
        text = "\n".join(lines) + "\n"
        if len(text.encode("utf-8")) > MAX_SCRIPT_BYTES:
            self.result.diagnostics.append(
                Diagnostic(
                    E_UNSUPPORTED,
                    "error",
                    f"the script is {len(text.encode('utf-8'))} bytes; Pigeonhole compiles "
                    f"no script over {MAX_SCRIPT_BYTES} (sieve_max_script_size)",
                    self.policy.ast.span,
                )
            )
        return {"policy.sieve": text}

    def runner(self, result: ExportResult, workdir: str) -> SieveRunner:
        return SieveRunner(result, workdir)


def _bad_header(crule: CheckedRule, header: str) -> Diagnostic:
    return Diagnostic(
        E_UNSAFE,
        "error",
        f"rule {crule.id} (line {crule.line}): tag header "
        f"{header!r} is not 'Name: value' with a valid header name",
        crule.rule.span,
    )


# ---- running the real Pigeonhole ------------------------------------------------------------
def _as_nobody(argv: list[str]) -> list[str]:
    """Run as nobody when we are root (Pigeonhole refuses root)."""
    if os.geteuid() != 0:
        return argv
    return [need("setpriv"), "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]


class SieveRunner:
    """``sievec`` + ``sieve-test`` (Pigeonhole) with a one-line config, no daemon
    (a ``runner.Runner``)."""

    _ACTION = re.compile(
        r"^\s*(\d+):\s+(reject action|fileinto action|discard action|keep action"
        r"|addheader|stop command)"
    )

    def __init__(self, result: ExportResult, workdir: str) -> None:
        self.result = result
        self.workdir = workdir
        self.script = os.path.join(workdir, "policy.sieve")
        with open(self.script, "w", encoding="utf-8") as fh:
            fh.write(result.files["policy.sieve"])
        self.conf = os.path.join(workdir, "min-dovecot.conf")
        with open(self.conf, "w", encoding="utf-8") as fh:
            fh.write(f"mail_location = maildir:{workdir}/Maildir\n")
        self.msg = os.path.join(workdir, "message.eml")
        self.ext = " ".join("+" + e for e in SieveExporter.extra_extensions)
        self.lines: dict[int, str] = result.meta.get("rule_lines", {})
        for path in (self.script, self.conf):
            os.chmod(path, 0o644)

    def check(self) -> str | None:
        p = subprocess.run(
            [
                need("sievec"),
                "-x",
                self.ext,
                self.script,
                os.path.join(self.workdir, "policy.svbin"),
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        return None if p.returncode == 0 else (p.stderr or p.stdout).strip()

    def run(self, data: bytes, sender: str | None, recipients: tuple[str, ...]) -> TargetVerdict:
        with open(self.msg, "wb") as fh:
            fh.write(data)
        os.chmod(self.msg, 0o644)
        argv = [need("sieve-test"), "-c", self.conf, "-x", self.ext, "-t", "-", "-Tlevel=commands"]
        if sender:
            argv += ["-f", sender]
        if recipients:
            argv += ["-a", recipients[0], "-r", recipients[0]]
        argv += [self.script, self.msg]
        p = subprocess.run(
            _as_nobody(argv),
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
            env={"HOME": self.workdir, "PATH": os.environ.get("PATH", "")},
        )
        out = p.stdout.decode("utf-8", "replace")
        if p.returncode != 0:
            return TargetVerdict("error", None, p.stderr.decode("utf-8", "replace")[-300:])
        return self.parse(out)

    def parse(self, out: str) -> TargetVerdict:
        action, line, tagged = None, None, False
        for ln in out.splitlines():
            m = self._ACTION.match(ln)
            if m is None:
                continue
            kind = m.group(2)
            if kind == "addheader":
                tagged = True
            elif kind != "stop command":
                action = {
                    "reject action": "block",
                    "fileinto action": "quarantine",
                    "discard action": "discard",
                    "keep action": "allow",
                }[kind]
                line = int(m.group(1))
        if action is None:  # implicit keep
            return TargetVerdict("allow", None)
        rule = self.lines.get(line) if line is not None else None
        if action == "allow" and tagged:
            action = "tag"
        return TargetVerdict(action, rule)

    def close(self) -> None:
        """Nothing runs between messages."""
