"""The ``exim`` target: an ``acl_smtp_mime`` + ``acl_smtp_data`` pair for Exim 4.96+.

Design (first match over all attachments, not per part):
  Exim runs the MIME ACL once per MIME part, and an ``accept`` there ends the ACL for
  that part only, so rules written as per-part ``deny``/``accept`` statements decide on
  the first *part* that matches some rule, not on the first *rule* that matches some
  attachment (``allow *.exe`` then ``block *.pif`` would reject ``[x.pif, y.exe]``). So the
  MIME ACL only records facts: for every ``attachment P`` of the policy one ``warn``
  statement sets ``$acl_m_mpN`` to the first part's name that satisfies ``P``. The DATA
  ACL, which runs once after every MIME part, then walks the rules top to bottom exactly
  like the reference evaluator: the first statement whose condition holds decides
  (``deny`` for block, ``accept`` for allow and tag, ``discard``, and ``accept`` +
  ``control = freeze`` for quarantine), and the last statement is the policy default.
  Each deciding statement writes ``mailpolicy: rule=ID action=ACTION`` to the main log,
  which is also what ``--verify`` reads.

What is exact: the rule order, ``and``/``or``/``not``/``unless``, several predicates
about one attachment, envelope sender and recipient lists (every entry becomes an
anchored, case-insensitive regex item, so ``^``, ``:``, ``!``, ``+``, ``*``, ``;`` or
``lsearch;`` in an entry can never change its meaning), the name normalisation Windows
applies (trailing dots and spaces; a regex ``(?<![. ])[. ]*\\z`` tail), ASCII case,
non-ASCII case (literal alternatives), allow/block/tag/discard and the default.

What Exim cannot do (reported per rule; ``--strict`` refuses, ``--approximate`` records a
``Loss``): one filename per part (``$mime_filename``: the *last* ``filename``/``filename*``
parameter; the Content-Type ``name`` only when there is no Content-Disposition filename),
RFC 2047 names decoded but not charset-converted, no NFC normalisation; no true types,
sizes, archive members, encrypted archives, body text, uuencoded or TNEF attachments;
no quarantine (a frozen message is deleted after ``timeout_frozen_after``, 7 days on
Debian) and no strip (the whole message is frozen instead).

Escaping: regexes go inside ``\\N...\\N`` and never contain ``\\N`` (a literal backslash
is written ``\\x5c``); strings that Exim expands (``message``, ``add_header``) have ``\\``,
``$``, ``{`` and ``}`` written as ``\\xHH`` escapes; control characters are refused by
``Exporter.safe``; regexes run without ``(*UTF)`` (PCRE2 then fails silently on a
Latin-1 name) and spell every non-ASCII character as its UTF-8 bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailpolicy.policy import ast
from mailpolicy.policy.checked import CheckedPolicy, CheckedRule
from mailpolicy.policy.export import when
from mailpolicy.policy.export.base import (
    ENVELOPE,
    NAME_MATCHING,
    NAME_TESTS,
    Capabilities,
    Exporter,
    ExportResult,
    Limit,
    Unexpressible,
    supports,
)
from mailpolicy.policy.export.dialect import EXIM, byte_address, byte_glob, byte_name_test, envelope
from mailpolicy.policy.export.shared_limits import SHARED
from mailpolicy.policy.globs import Lit

if TYPE_CHECKING:
    from mailpolicy.policy.export.exim_runner import EximRunner

#: Where the files go (``-o /etc/exim4/mailpolicy``): the paths in ``macros.conf``.
DEPLOY_DIR = "/etc/exim4/mailpolicy"
#: How to install, enable and undo, in the header of ``macros.conf``.
INSTALL = f"""\
Install (Debian, Ubuntu: exim4-daemon-heavy; the light daemon has no MIME ACL):
  mailpolicy export POLICY --target exim -o {DEPLOY_DIR}
  non-split configuration: cat {DEPLOY_DIR}/macros.conf >> /etc/exim4/exim4.conf.localmacros
  split configuration:     cp {DEPLOY_DIR}/macros.conf /etc/exim4/conf.d/main/00_mailpolicy
  then: update-exim4.conf && exim4 -bV >/dev/null && systemctl reload exim4
It keeps the site's DATA ACL: the policy's statements are included at its end through
Debian's CHECK_DATA_LOCAL_ACL_FILE hook (a site that sets that macro already: include
{DEPLOY_DIR}/data.acl from its own file instead), and sets acl_smtp_mime, which
Debian leaves unset (a site with its own MIME ACL: call 'acl = {DEPLOY_DIR}/mime.acl'
from it). Non-Debian: put these lines in the main section and end acl_smtp_data with
'.include {DEPLOY_DIR}/data.acl'.
Undo: remove these lines (or 00_mailpolicy), update-exim4.conf, systemctl reload exim4.
"""

_NAME_RE = re.compile(r"^[!-9;-~]+$")  # an RFC 5322 header field name


def size_near(threshold: int) -> str:
    """The predicate key of messages whose stored size and Exim's ``$message_size`` (each
    line end one byte) may fall on two sides of ``threshold``: a message has at most one
    CRLF per two bytes, so its sizes differ by at most half."""
    key = f"exim-size-near-{threshold}"
    if key not in when.PREDICATES:
        when.register(key, lambda msg, att: abs(msg.size - threshold) <= msg.size // 2 + 1)
    return key


#: ``$mime_filename`` with its quoted-pairs undone (``evil.ex\e`` -> ``evil.exe``, ``a\\b`` ->
#: ``a\b``): Exim keeps the backslashes of a quoted-string, the engine (and MIME-tools,
#: Dovecot) read ``\x`` as ``x``. A part matches a test when either reading does.
UNQUOTED_FILENAME = r"${sg{$mime_filename}{\N\x5c(.)\N}{\$1}}"
#: ``size OP N`` over ``$message_size`` (the DATA ACL: the message as received, each line
#: end one byte).
SIZE_TESTS = {
    ">": ">{{$message_size}}{{{size}}}",
    "<": "<{{$message_size}}{{{size}}}",
    ">=": ">={{$message_size}}{{{size}}}",
    "<=": "<={{$message_size}}{{{size}}}",
    "==": "=={{$message_size}}{{{size}}}",
    "!=": "!=={{$message_size}}{{{size}}}",
}


# ---- string quoting ---------------------------------------------------------------------------
def expand_text(value: str) -> str:
    """A literal string inside an Exim option that is expanded (``message``, ``add_header``):
    ``\\``, ``$``, ``{``, ``}`` and outer spaces written as hex escapes."""
    out = []
    for i, c in enumerate(value):
        if c in "\\${}" or (c == " " and (i == 0 or i == len(value) - 1)):
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(c)
    return "".join(out)


def smtp_text(value: str) -> str:
    """Text for an SMTP response line: printable ASCII only (non-ASCII becomes ``?``)."""
    return "".join(c if " " <= c <= "~" else "?" for c in value)


def _logic(node: ast.Cond, leaf: Callable[[ast.Cond], str]) -> str:
    """An Exim condition: ``and``/``or``/``!`` over the conditions ``leaf`` writes."""
    if isinstance(node, (ast.And, ast.Or)):
        word = "and" if isinstance(node, ast.And) else "or"
        return word + "{" + "".join("{" + _logic(i, leaf) + "}" for i in node.items) + "}"
    if isinstance(node, ast.Not):
        return "!" + _logic(node.item, leaf)
    return leaf(node)


# ---- the exporter ----------------------------------------------------------------------------
@dataclass
class _Statement:
    crule: CheckedRule | None
    action: str
    cond: str


class EximExporter(Exporter):
    """``mailpolicy export --target exim``: ``main.conf`` (lists, ACL names) + ``acl.conf``."""

    target = "exim"
    description = "Exim 4.96+ exim4-daemon-heavy: acl_smtp_mime records, acl_smtp_data decides"
    filenames = ("macros.conf", "mime.acl", "data.acl")
    caps = Capabilities(
        conditions=supports(
            ENVELOPE,
            NAME_MATCHING,
            ("subject contains", "subject matches", "declared type matches", "message size"),
        ),
        actions=frozenset({"allow", "block", "tag", "discard", "quarantine"}),
        name_encodings=frozenset({"rfc2231", "rfc2231-continuations"}),
        all_filenames=False,
        archive_members=False,
        true_types=False,
        action_limits=(
            Limit(
                "quarantine",
                "Exim has no quarantine in an ACL",
                "the message is frozen on the spool (control = freeze/no_tell, header "
                "X-Mailpolicy-Quarantine); release with exim -Mt, delete with exim -Mrm; "
                "frozen mail is deleted after timeout_frozen_after (7d on Debian)",
                sound=True,
            ),
        ),
        limits=(
            *SHARED,
            Limit(
                "one-filename",
                "Exim sees one filename per part ($mime_filename: the last filename or "
                "filename* parameter; the Content-Type name only when there is no "
                "Content-Disposition filename)",
                "each name test is matched against that one name: a part that carries a "
                "second, different name is judged by the one Exim chose",
                strict=False,
            ),
            Limit(
                "rfc2047-charset",
                "Exim decodes RFC 2047 names without converting their charset and does no "
                "Unicode NFC normalisation",
                "non-ASCII characters of a pattern match UTF-8 (RFC 2231) names only; "
                "ASCII extensions match in every charset",
                strict=False,
            ),
            Limit(
                "quoted-pair",
                "Exim keeps the backslashes of a quoted-string's quoted-pairs "
                '($mime_filename of "evil.ex\\e" is evil.ex\\e) and reads \\" as the end of '
                "the string",
                "each name test is matched against the name as Exim gives it and with its "
                'quoted-pairs undone (evil.exe); a name holding \\" or a literal backslash '
                "may still be read differently",
                strict=False,
                when=("quoted-pair",),
            ),
            Limit(
                "mime-parts-only",
                "Exim's MIME ACL sees MIME parts only: uuencoded or BinHex files inside a "
                "text body and the members of a TNEF winmail.dat are not attachments to it",
                "those attachments are not tested",
                strict=False,
            ),
        ),
    )

    def __init__(self, policy: CheckedPolicy, *, approximate: bool = False) -> None:
        super().__init__(policy, approximate=approximate)
        self._lists: dict[str, list[str]] = {}
        self._parts: dict[str, tuple[str, bool]] = {}  # MIME ACL condition -> (variable, guard)
        self._statements: list[_Statement] = []
        self._headers: dict[int, str] = {}
        self._messages: dict[int, str] = {}

    # -- rules ------------------------------------------------------------------------------
    def emit_rule(
        self, crule: CheckedRule, action: str, cond: ast.Cond, unless: ast.Cond | None
    ) -> None:
        text = self._cond(crule, cond)
        if unless is not None:
            text = f"and{{{{{text}}}{{!{self._cond(crule, unless)}}}}}"
        if action == "tag":
            hdr = crule.rule.header.value if crule.rule.header is not None else ""
            name, sep, value = hdr.partition(":")
            if not sep or not _NAME_RE.match(name.strip()):
                raise Unexpressible(f"tag header {hdr!r} is not 'Name: value'", sound=True)
            self._headers[len(self._statements)] = f"{name.strip()}: {value.strip()}"
        self._statements.append(_Statement(crule, action, text))

    def _cond(self, crule: CheckedRule, node: ast.Cond) -> str:
        """An Exim ``${if}`` condition (without ``${if``) for a message-level node."""
        return _logic(node, lambda leaf: self._message_test(crule, leaf))

    def _message_test(self, crule: CheckedRule, node: ast.Cond) -> str:
        match node:
            case ast.AnyAttachment(pred=pred):
                part = _logic(pred, lambda n: self._part_test(n, "$mime_filename"))
                unquoted = _logic(pred, lambda n: self._part_test(n, UNQUOTED_FILENAME))
                if unquoted != part:  # a name test: the name as Exim gives it, or unquoted
                    part = f"or{{{{{part}}}{{{unquoted}}}}}"
                # a name test implies a named part; a negation or a declared type needs the
                # policy's notion of an attachment (not the body text, not a container)
                guard = any(isinstance(n, (ast.Not, ast.DeclaredType)) for n in ast.walk(pred))
                var, _ = self._parts.setdefault(part, (f"acl_m_mp{len(self._parts) + 1}", guard))
                return f"def:{var}"
            case ast.SenderIn() | ast.SenderMatches() | ast.RecipientIn() | ast.RecipientMatches():
                role, domain_rule = envelope(node)
                lst = self._list(crule, node.operand, domain_rule=domain_rule)
                if role == "sender":
                    return f"match_address{{$sender_address}}{{+{lst}}}"
                return f"forany{{<, $recipients}}{{match_address{{$item}}{{+{lst}}}}}"
            case ast.MessageSize(op=op, operand=ast.Number(value=size)):
                self.unsupported(
                    crule,
                    node,
                    "Exim's $message_size counts each line end as one byte (the message as "
                    "received over SMTP); the engine counts the bytes of the stored message, "
                    "two per CRLF line end",
                    how="size compared with $message_size",
                    sound=False,
                    key="message-size",
                    when=(size_near(size),),
                )
                return SIZE_TESTS[op].format(size=size)
            case ast.TextContains(operand=ast.Str(value=text)):  # the subject (caps)
                rx = rf"(?i){EXIM.render(Lit(text))}"
            case ast.TextMatches(operand=ast.Str(value=glob)):
                rx = byte_glob(glob)
            case _:  # relax() removed everything else
                raise TypeError(f"unexpected node {node!r}")
        return rf"match{{$h_subject:}}{{\N{rx}\N}}"

    def _part_test(self, node: ast.Cond, filename: str) -> str:
        """A MIME-ACL condition about one part, for an attachment test; ``filename``: the
        expansion that gives the name tested (``UNQUOTED_FILENAME`` or the raw one)."""
        if isinstance(node, ast.DeclaredType):
            assert isinstance(node.operand, ast.Str)
            rx = byte_glob(node.operand.value)
            return rf"match{{$mime_content_type}}{{\N{rx}\N}}"
        assert isinstance(node, NAME_TESTS), node
        name_rx = byte_name_test(self.policy, node)
        if name_rx is None:
            return "eq{1}{0}"  # no entry can ever be an extension
        return rf"and{{{{def:mime_filename}}{{match{{{filename}}}{{\N{name_rx}\N}}}}}}"

    def _list(self, crule: CheckedRule, operand: ast.Operand, *, domain_rule: bool) -> str:
        base = operand.name if isinstance(operand, ast.ListRef) else f"r{crule.index + 1}"
        name = re.sub(r"[^A-Za-z0-9_]", "_", f"mp_{base}{'' if domain_rule else '_glob'}")
        if name not in self._lists:
            items = []
            for entry in self.policy.entries(operand):
                self.safe(crule, entry, "an address list entry")
                # an item is a regex only when it starts with "^" (else a literal
                # address or a domain glob): the regex carries its own anchors
                items.append(rf"\N^{byte_address(entry, domain_rule=domain_rule)}\N")
            self._lists[name] = items
        return name

    # -- output -----------------------------------------------------------------------------
    _GUARD = (
        r"or{{def:mime_filename}{eq{$mime_content_disposition}{attachment}}"
        r"{and{{eq{$mime_is_multipart}{0}}{def:mime_content_type}"
        r"{!match{$mime_content_type}{\N\A(?:text|message|multipart)/\N}}}}}"
    )

    def render(self) -> dict[str, str]:
        extra = [f"limit:   {lim.what}" for lim in self.caps.limits]
        macros = [
            self.header("#", extra).rstrip("\n"),
            self.loss_comments("#").rstrip("\n"),
            *(f"# {ln}" if ln else "#" for ln in INSTALL.splitlines()),
            "",
            f"CHECK_DATA_LOCAL_ACL_FILE = {DEPLOY_DIR}/data.acl",
            f"acl_smtp_mime = {DEPLOY_DIR}/mime.acl",
        ]
        for name, items in self._lists.items():
            macros.append(f"addresslist {name} = <; " + " ; ".join(items))
        mime = [
            self.header("#").rstrip("\n"),
            "# The MIME ACL (acl_smtp_mime, set in macros.conf): once per MIME part, record",
            "# the first part each attachment test of the policy holds for.",
        ]
        for cond, (var, needs_guard) in self._parts.items():
            guard = f"{{{self._GUARD}}}" if needs_guard else ""
            setter = "${if def:mime_filename{$mime_filename}{[part $mime_part_count]}}"
            mime += [
                f"warn    condition = ${{if and{{{{!def:{var}}}{guard}{{{cond}}}}}}}",
                f"        set {var} = {setter}",
            ]
        mime.append("accept")
        data = [
            self.header("#").rstrip("\n"),
            "# Included at the end of the site's own DATA ACL (Debian's acl_check_data, through",
            "# CHECK_DATA_LOCAL_ACL_FILE), after its checks: the first rule that holds decides.",
        ]
        for i, st in enumerate(self._statements):
            data += self._statement(i, st)
        data += self._statement(-1, _Statement(None, self.policy.default, ""))
        return {
            "macros.conf": "\n".join(x for x in macros if x) + "\n",
            "mime.acl": "\n".join(mime) + "\n",
            "data.acl": "\n".join(data) + "\n",
        }

    def _statement(self, i: int, st: _Statement) -> list[str]:
        rid = st.crule.id if st.crule else "-"
        out = [self.rule_comment(st.crule, "  #") if st.crule else "  # the policy default"]
        verb = {"block": "deny", "discard": "discard"}.get(st.action, "accept")
        head = f"  {verb:<7} "
        if st.cond:
            out.append(f"{head}condition = ${{if {st.cond}}}")
            head = " " * 10
        if st.action == "block":
            reason = (
                st.crule.rule.reason.value
                if st.crule and st.crule.rule.reason
                else f"attachment blocked by policy rule {rid}"
            )
            out.append(f"{head}message = 5.7.1 {expand_text(smtp_text(reason))}")
            head = " " * 10
        elif st.action == "quarantine":
            out.append(f"{head}control = freeze/no_tell")
            out.append(f"{' ' * 10}add_header = X-Mailpolicy-Quarantine: {expand_text(rid)}")
            head = " " * 10
        elif st.action == "tag" and i in self._headers:
            out.append(f"{head}add_header = {expand_text(self._headers[i])}")
            head = " " * 10
        out.append(f"{head}logwrite = mailpolicy: rule={expand_text(rid)} action={st.action}")
        return out

    def runner(self, result: ExportResult, workdir: str) -> EximRunner:
        from mailpolicy.policy.export.exim_runner import EximRunner

        return EximRunner(result, workdir)
