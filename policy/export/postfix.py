"""The ``postfix`` target: a ``mime_header_checks`` ``pcre:`` table (plus a sender stage).

Each name rule becomes one table line over the raw MIME header line (Postfix unfolds
folded headers and runs ``mime_header_checks`` on every ``Content-*`` header at any
nesting level)::

    /^Content-(?:Disposition|Type):(?:[^"]|"(?:[^"\\\\]|\\\\.)*")*?;\\s*(?:file)?name
      (?: =\\s*"QUOTED" | =\\s*TOKEN | \\*=\\s*CHARSET'LANG'TOKEN | \\*N\\*?=... )/ REJECT ...

The glob is translated once per value form: inside quotes (quoted-pairs allowed, ``*``
never runs past the closing quote), as a bare token, as an RFC 2231 ``name*=`` value,
and, for globs that start with ``*``, against any RFC 2231 continuation segment (the
suffix is visible there). Trailing dots and spaces are tolerated (``[. ]*``) and a path
before the base name is skipped, as the engine's normalisation does. ``i`` (caseless) is
Postfix's default; no flag letters are written (a letter *toggles* a default). The
table text never holds an unescaped ``/``; ``$`` in result text is ``$$``.

Why strict mode refuses every name rule (``Capabilities.limits``): Postfix matches raw
header text and decodes nothing, so RFC 2047 names (what Outlook and most non-English
clients send), ``%``-encoded RFC 2231 names and names split over continuations are not
seen: the table does not give the policy's verdicts on ordinary mail, and the design
promise is "the same verdicts, or say which rules cannot be expressed". With
``--approximate`` a last table line quarantines (``HOLD``) every attachment whose name
is encoded: sound (nothing the policy stops gets through), at the price of holding
benign encoded names for release by hand. Use the ``sieve`` target for exact names.

Actions: block -> ``REJECT``, quarantine -> ``HOLD`` (the hold queue: kept, not
delivered), discard -> ``DISCARD``; strip -> ``HOLD`` of the whole message; tag and
allow cannot be expressed by header checks (approximate: left out, which only lets later
stopping rules decide: sound). Postfix decides per header line, in message order: when
two attachments match different rules, the first matching header decides (a loss stated
when the policy has more than one stopping action).

Sender exceptions (``unless sender in LIST`` on whole rules, one list per policy):
header checks never see the envelope, so the export is a two-stage set-up. The public
smtpd checks ``sender_access.pcre`` (``OK`` for exempt senders) and FILTERs every other
sender to a second smtpd on 127.0.0.1:10026; the public smtpd's cleanup runs
``mime_header_checks_exempt.pcre`` (the rules without the exception), the second one
the full table. A rule matched in the second stage is a *bounce* (the mail was already
accepted with 250): a non-delivery notice goes to the envelope sender. This is stated in
the header comment. The sender table is ``pcre:`` so that it is searched with the whole
address only (an ``access(5)`` hash table would also match bare domains and ``user@``).
"""

from __future__ import annotations

import os
import re
import subprocess
from typing import TYPE_CHECKING

from mailpolicy.policy import ast
from mailpolicy.policy.checked import CheckedPolicy, CheckedRule
from mailpolicy.policy.export.base import (
    NAME_MATCHING,
    NAME_TESTS,
    STOPPING,
    Capabilities,
    Exporter,
    ExportResult,
    Gap,
    Limit,
    supports,
)
from mailpolicy.policy.export.dialect import PCRE, address, name_pattern
from mailpolicy.policy.export.postfix_deploy import CONFIG_DIR, deploy_lines
from mailpolicy.policy.export.postfix_names import (
    ENCODED,
    byte_sensitive,
    cased_non_ascii,
    check_delimiters,
    line_regex,
    split,
)
from mailpolicy.policy.export.runner import (
    TIMEOUT,
    Runner,
    TargetVerdict,
    VerifyError,
    need,
)
from mailpolicy.policy.export.shared_limits import SHARED
from mailpolicy.policy.export.sieve_names import DOUBLE_PADDING, SPACED_EXTENSION
from mailpolicy.policy.globs import Pat

if TYPE_CHECKING:
    pass

FILTER_PORT = 10026


def result_text(text: str) -> str:
    """Result text of a table line: ``$`` doubled (``$N`` would be a substitution)."""
    return re.sub(r"\s+", " ", text).replace("$", "$$")


class PostfixExporter(Exporter):
    target = "postfix"
    description = "Postfix mime_header_checks (pcre:), two-stage sender exceptions"
    filenames = (
        "mime_header_checks.pcre",
        "mime_header_checks_exempt.pcre",
        "sender_access.pcre",
        "main.cf.fragment",
        "master.cf.fragment",
    )
    caps = Capabilities(
        conditions=supports(("sender in", "sender matches"), NAME_MATCHING),
        actions=frozenset({"block", "quarantine", "discard"}),
        name_encodings=frozenset(),
        all_filenames=True,
        archive_members=False,
        true_types=False,
        combinators=frozenset({"or"}),
        limits=(
            *SHARED,
            Limit(
                "encoded",
                "Postfix matches the raw header text: RFC 2047-encoded names, "
                "%-encoded RFC 2231 names and names split over RFC 2231 continuations "
                "are not seen",
                "a last table line quarantines (HOLD) every attachment whose name is encoded",
                strict=True,
                sound=True,
            ),
            Limit(
                "embedded",
                "Postfix does not see the names of uuencoded or BinHex files "
                "inside text bodies, nor winmail.dat (TNEF) members",
                "those names are not tested",
                strict=False,
                sound=False,
            ),
        ),
        notes=(
            (
                "header checks never see the envelope: sender exceptions need two stages, "
                "and a rule matched in the second stage bounces"
            ),
        ),
    )

    def __init__(self, policy: CheckedPolicy, *, approximate: bool = False) -> None:
        super().__init__(policy, approximate=approximate)
        self.lines: list[tuple[CheckedRule, str, bool]] = []  # (rule, line, exempt-able)
        self.exemption: tuple[str, ...] | None = None
        self.exemption_rule: CheckedRule | None = None
        self.has_names = False

    def gap(self, node: ast.Cond, *, in_attachment: bool, unless_root: bool = False) -> Gap | None:
        if isinstance(node, (ast.SenderIn, ast.SenderMatches)):
            if not unless_root:
                return Gap(
                    "Postfix header checks cannot see the envelope sender (only a "
                    "whole-rule 'unless sender in LIST' has a two-stage form)"
                )
            entries = self._sender_entries(node)
            if self.exemption_rule is not None and entries != self.exemption:
                return Gap(
                    "Postfix's two-stage set-up carries one sender exception list "
                    f"per policy (already used by rule {self.exemption_rule.id})"
                )
            return None
        if unless_root:
            # The two-stage set-up exempts by envelope sender only; anything else in a
            # whole-rule 'unless' (an attachment test, 'not', 'and') has no Postfix form.
            return Gap(
                "Postfix can only except a rule by its envelope sender ('unless sender in LIST')"
            )
        if (
            isinstance(node, ast.Or)
            and not in_attachment
            and not all(isinstance(i, ast.AnyAttachment) for i in node.items)
        ):
            return Gap("Postfix can only join attachment tests with 'or'")
        return super().gap(node, in_attachment=in_attachment, unless_root=unless_root)

    def _sender_entries(self, node: ast.SenderIn | ast.SenderMatches) -> tuple[str, ...]:
        entries = self.policy.entries(node.operand)
        if isinstance(node, ast.SenderIn):
            return tuple(entries)
        return tuple("@" + e if "@" not in e else e for e in entries)

    def _att_pats(self, node: ast.Cond) -> list[Pat]:
        if isinstance(node, ast.Or):
            return [p for i in node.items for p in self._att_pats(i)]
        if isinstance(node, ast.AnyAttachment):
            return self._att_pats(node.pred)
        assert isinstance(node, NAME_TESTS), node
        return [name_pattern(self.policy, node)]

    def emit_rule(
        self, crule: CheckedRule, action: str, cond: ast.Cond, unless: ast.Cond | None
    ) -> None:
        exemptable = False
        if unless is not None:
            assert isinstance(unless, (ast.SenderIn, ast.SenderMatches))
            if self.exemption is None:
                self.exemption, self.exemption_rule = self._sender_entries(unless), crule
            exemptable = True
        word = {"block": "REJECT", "quarantine": "HOLD", "discard": "DISCARD"}[action]
        reason = crule.rule.reason.value if crule.rule.reason else "attachment refused by policy"
        text = result_text(f"{word} {reason} [mailpolicy rule {crule.id}]")
        pats = [q for p in self._att_pats(cond) for q in split(p)]
        for node in ast.walk(cond):
            if isinstance(node, ast.DoubleExtensionIn):
                self.unsupported(
                    crule,
                    node,
                    DOUBLE_PADDING,
                    how="such names are not matched by this rule",
                    sound=False,
                    key="padded-double-extension",
                    when=(SPACED_EXTENSION,),
                )
        self._byte_limits(crule, cond, pats)
        for pat in pats:
            self.has_names = True
            self.lines.append((crule, f"/{line_regex(pat)}/ {text}", exemptable))

    def _byte_limits(self, crule: CheckedRule, cond: ast.Cond, pats: list[Pat]) -> None:
        """Per-rule losses of byte-mode matching (non-ASCII names only)."""
        if any(byte_sensitive(p) for p in pats):
            self.unsupported(
                crule,
                cond,
                "a single '?' or negated class matches one byte of a non-ASCII name in "
                "Postfix, one character in the engine",
                how="such names may be judged differently",
                sound=False,
                key="one-byte",
                when=("non-ascii-name",),
            )
        if any(cased_non_ascii(p) for p in pats):
            self.unsupported(
                crule,
                cond,
                "Postfix folds the case of ASCII letters only: a non-ASCII letter of the "
                "pattern matches as written",
                how="other cases of that letter are not matched",
                sound=False,
                key="non-ascii-case",
                when=("non-ascii-name",),
            )

    # -- files --------------------------------------------------------------------------------
    def _sender_table(self) -> str:
        out = []
        for e in self.exemption or ():
            rx = PCRE.address(address(e))
            check_delimiters(rx)
            out.append(f"/^(?:{rx})$/ OK")
        return "\n".join(out) + "\n"

    def render(self) -> dict[str, str]:
        stopping = {c.action for c, _, _ in self.lines} | (
            {"quarantine"} if self.approximate and self.has_names else set()
        )
        if len({a for a in stopping if a in STOPPING}) > 1 or len(self.lines) > 1:
            self.unsupported(
                None,
                self.policy.ast,
                "Postfix decides per header line in message "
                "order: when two attachments match different rules, the first "
                "matching header decides, not the first rule",
                how="both verdicts stop the message",
                key="header-order",
                when=("several-attachments",),
            )
        if self.policy.default != "allow":
            self.unsupported(
                None,
                self.policy.ast,
                f"default {self.policy.default} cannot be expressed by header checks",
                how="default allow",
                sound=self.policy.default not in STOPPING,
                key="default",
                when=("always",),
            )
        two_stage = self.exemption is not None
        extra = deploy_lines(two_stage=two_stage)
        if two_stage:
            extra += [
                "two stages: senders in sender_access.pcre are checked against the rules",
                "  without the sender exception only; every other sender is FILTERed to a",
                f"  second smtpd on 127.0.0.1:{FILTER_PORT} that runs the full table.",
                "BOUNCES: a rule matched in the second stage rejects after the mail was",
                "  accepted, so Postfix sends a non-delivery notice to the (possibly forged)",
                "  envelope sender (backscatter). Quarantine (HOLD) and DISCARD do not bounce.",
            ]
        head = self.header("#", extra)
        losses = self.loss_comments("#")
        full: list[str] = []
        exempt: list[str] = []
        for crule, line, exemptable in self.lines:
            for table, take in ((full, True), (exempt, not exemptable)):
                if take:
                    table += ["", self.rule_comment(crule, "#"), line]
        if self.approximate and self.has_names:
            tail = [
                "",
                "# Names Postfix cannot read (RFC 2047, %-encoded or continued RFC 2231):",
                "# quarantined for release by hand; the policy may or may not stop them.",
                f"/{ENCODED}/ HOLD attachment name cannot be checked [mailpolicy rule -]",
            ]
            full += tail
            exempt += tail
        files = {"mime_header_checks.pcre": head + losses + "\n".join(full).lstrip("\n") + "\n"}
        main = [f"mime_header_checks = pcre:{CONFIG_DIR}/mime_header_checks.pcre"]
        if two_stage:
            files["mime_header_checks_exempt.pcre"] = (
                head
                + losses
                + "# Rules for senders in sender_access.pcre (stage 1).\n"
                + ("\n".join(exempt).lstrip("\n") + "\n" if exempt else "")
            )
            files["sender_access.pcre"] = head + self._sender_table()
            main += [
                "# the site's own checks, kept in stage 1 too (deploy: the value before)",
                "mailpolicy_site_mime_header_checks = $header_checks",
                "mailpolicy_stage1_sender_restrictions =",
                f"    check_sender_access pcre:{CONFIG_DIR}/sender_access.pcre,",
                f"    check_sender_access static:{{FILTER smtp:[127.0.0.1]:{FILTER_PORT}}}",
            ]
            files["master.cf.fragment"] = (
                head
                + "\n".join(
                    [
                        "# stage 1: the public smtpd; exempt senders get the exempt table only",
                        "smtp      inet  n       -       y       -       -       smtpd",
                        "  -o smtpd_sender_restrictions=$mailpolicy_stage1_sender_restrictions",
                        "  -o cleanup_service_name=mailpolicy_cleanup1",
                        "mailpolicy_cleanup1 unix n    -       y       -       0       cleanup",
                        "  -o mime_header_checks=$mailpolicy_site_mime_header_checks,"
                        f"pcre:{CONFIG_DIR}/mime_header_checks_exempt.pcre",
                        "# stage 2: every other sender, full table (a reject here bounces)",
                        f"127.0.0.1:{FILTER_PORT} inet n  -       y       -       -       smtpd",
                        "  -o smtpd_sender_restrictions=",
                        "  -o content_filter=",
                        "  -o smtpd_client_restrictions=permit_mynetworks,reject",
                        "  -o mynetworks=127.0.0.0/8",
                    ]
                )
                + "\n"
            )
        files["main.cf.fragment"] = head + "\n".join(main) + "\n"
        order = [n for n in self.filenames if n in files]
        return {n: files[n] for n in order}

    def runner(self, result: ExportResult, workdir: str) -> Runner:
        # Sender exceptions are a two-stage configuration, not a table: only a running
        # Postfix says what it does, so those exports are verified end to end.
        if "sender_access.pcre" in result.files:
            from mailpolicy.policy.export.postfix_live import LivePostfixRunner

            return LivePostfixRunner(result, workdir)
        return PostfixRunner(result, workdir)


# ---- running the real Postfix tables --------------------------------------------------------
class PostfixRunner:
    """``postmap -c DIR -hm -q - pcre:TABLE < message``, the table chosen by the sender
    (a ``runner.Runner``; any ``postmap: warning:`` is a failure)."""

    _RESULT = re.compile(r"(REJECT|HOLD|DISCARD) .*\[mailpolicy rule ([^\]\s]+)\]")

    def __init__(self, result: ExportResult, workdir: str) -> None:
        self.result = result
        self.workdir = workdir
        self.conf = os.path.join(workdir, "conf")
        os.makedirs(self.conf, exist_ok=True)
        main_cf = os.path.join(self.conf, "main.cf")
        with open(main_cf, "w", encoding="utf-8") as fh:
            fh.write("compatibility_level = 3.6\n")
        # Postfix waits (about 2 s) for a main.cf modified in the last second to settle.
        os.utime(main_cf, (0, 0))
        for name, text in result.files.items():
            with open(os.path.join(workdir, name), "w", encoding="utf-8") as fh:
                fh.write(text)
        self.table = os.path.join(workdir, "mime_header_checks.pcre")
        exempt = os.path.join(workdir, "mime_header_checks_exempt.pcre")
        self.exempt = exempt if os.path.exists(exempt) else None
        senders = os.path.join(workdir, "sender_access.pcre")
        self.senders = senders if os.path.exists(senders) else None

    def _postmap(self, args: list[str], data: bytes | None = None) -> tuple[int, str]:
        p = subprocess.run(
            [need("postmap"), "-c", self.conf, *args],
            input=data,
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        errtext = p.stderr.decode("utf-8", "replace")
        if "warning:" in errtext or "fatal:" in errtext:
            raise VerifyError(f"postmap {' '.join(args)}: {errtext.strip()}")
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def check(self) -> str | None:
        try:
            for table in (self.table, self.exempt, self.senders):
                if table is not None:
                    self._postmap(["-q", "mailpolicy-check@invalid", f"pcre:{table}"])
        except VerifyError as exc:
            return str(exc)
        return None

    def exempt_sender(self, sender: str | None) -> bool:
        if not sender or self.senders is None:
            return False
        rc, out = self._postmap(["-q", sender, f"pcre:{self.senders}"])
        return rc == 0 and out.strip().upper().startswith("OK")

    def run(self, data: bytes, sender: str | None, recipients: tuple[str, ...]) -> TargetVerdict:
        table = self.exempt if self.exempt and self.exempt_sender(sender) else self.table
        try:
            _rc, out = self._postmap(["-hm", "-q", "-", f"pcre:{table}"], data)
        except VerifyError as exc:
            return TargetVerdict("error", None, str(exc))
        # cleanup acts on headers in message order: REJECT and DISCARD end it, HOLD does not
        hold: TargetVerdict | None = None
        for m in self._RESULT.finditer(out):
            action = {"REJECT": "block", "HOLD": "quarantine", "DISCARD": "discard"}[m.group(1)]
            rule = None if m.group(2) == "-" else m.group(2)
            if action != "quarantine":
                return TargetVerdict(action, rule)
            hold = hold or TargetVerdict(action, rule)
        return hold or TargetVerdict("allow", None)

    def close(self) -> None:
        """Nothing runs between messages."""
