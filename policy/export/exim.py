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

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailpolicy.policy import ast
from mailpolicy.policy.checked import CheckedPolicy, CheckedRule
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
from mailpolicy.policy.export.runner import TIMEOUT, TargetVerdict, VerifyError, part_limit
from mailpolicy.policy.export.shared_limits import SHARED
from mailpolicy.policy.globs import Lit

if TYPE_CHECKING:
    from mailpolicy.corpus.message import Message
    from mailpolicy.policy.verdict import Verdict

#: Where ``.ci/install-exim.sh`` unpacks exim4-daemon-heavy; ``MAILPOLICY_EXIM`` overrides.
EXIM_CANDIDATES = ("/opt/mailpolicy-exim/usr/sbin/exim4", "/usr/sbin/exim4", "/usr/sbin/exim")

_NAME_RE = re.compile(r"^[!-9;-~]+$")  # an RFC 5322 header field name


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
    filenames = ("main.conf", "acl.conf")
    caps = Capabilities(
        conditions=supports(
            ENVELOPE,
            NAME_MATCHING,
            ("subject contains", "subject matches", "declared type matches"),
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
                part = _logic(pred, self._part_test)
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
            case ast.TextContains(operand=ast.Str(value=text)):  # the subject (caps)
                rx = rf"(?i){EXIM.render(Lit(text))}"
            case ast.TextMatches(operand=ast.Str(value=glob)):
                rx = byte_glob(glob)
            case _:  # relax() removed everything else
                raise TypeError(f"unexpected node {node!r}")
        return rf"match{{$h_subject:}}{{\N{rx}\N}}"

    def _part_test(self, node: ast.Cond) -> str:
        """A MIME-ACL condition about one part, for an attachment test."""
        if isinstance(node, ast.DeclaredType):
            assert isinstance(node.operand, ast.Str)
            rx = byte_glob(node.operand.value)
            return rf"match{{$mime_content_type}}{{\N{rx}\N}}"
        assert isinstance(node, NAME_TESTS), node
        name_rx = byte_name_test(self.policy, node)
        if name_rx is None:
            return "eq{1}{0}"  # no entry can ever be an extension
        return rf"and{{{{def:mime_filename}}{{match{{$mime_filename}}{{\N{name_rx}\N}}}}}}"

    def _list(self, crule: CheckedRule, operand: ast.Operand, *, domain_rule: bool) -> str:
        base = operand.name if isinstance(operand, ast.ListRef) else f"r{crule.index + 1}"
        name = re.sub(r"[^A-Za-z0-9_]", "_", f"mp_{base}{'' if domain_rule else '_glob'}")
        if name not in self._lists:
            items = []
            for entry in self.policy.entries(operand):
                self.safe(crule, entry, "an address list entry")
                items.append(rf"\N{byte_address(entry, domain_rule=domain_rule)}\N")
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
        main = [
            self.header("#", extra).rstrip("\n"),
            self.loss_comments("#").rstrip("\n"),
            "# Main section (Debian split config: conf.d/main/; else before 'begin acl').",
            "# The DATA ACL replaces the site's own: merge by hand if you have one.",
            "# Debian: MAIN_ACL_CHECK_DATA = acl_mailpolicy_data",
            "",
        ]
        for name, items in self._lists.items():
            main.append(f"addresslist {name} = <; " + " ; ".join(items))
        main += ["acl_smtp_mime = acl_mailpolicy_mime", "acl_smtp_data = acl_mailpolicy_data", ""]
        acl = [
            self.header("#").rstrip("\n"),
            "# ACL section: .include this file after 'begin acl'.",
            "",
            "# Once per MIME part: record the first part each attachment test holds for.",
            "acl_mailpolicy_mime:",
        ]
        for cond, (var, needs_guard) in self._parts.items():
            guard = f"{{{self._GUARD}}}" if needs_guard else ""
            setter = "${if def:mime_filename{$mime_filename}{[part $mime_part_count]}}"
            acl += [
                f"  warn    condition = ${{if and{{{{!def:{var}}}{guard}{{{cond}}}}}}}",
                f"          set {var} = {setter}",
            ]
        acl += [
            "  accept",
            "",
            "# Once per message, after the MIME ACL: the first rule that holds decides.",
            "acl_mailpolicy_data:",
        ]
        for i, st in enumerate(self._statements):
            acl += self._statement(i, st)
        acl += self._statement(-1, _Statement(None, self.policy.default, ""))
        return {
            "main.conf": "\n".join(x for x in main if x is not None) + "\n",
            "acl.conf": "\n".join(acl) + "\n",
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
        return EximRunner(result, workdir)


# ---- running the real Exim -----------------------------------------------------------------
def find_exim() -> str | None:
    """The exim4-daemon-heavy binary (``MAILPOLICY_EXIM``, the CI unpack dir, or PATH)."""
    env = os.environ.get("MAILPOLICY_EXIM")
    for path in (env,) if env else EXIM_CANDIDATES:
        if path and os.access(path, os.X_OK):
            return path
    return shutil.which("exim4") if not env else None


_TEST_MAIN = """\
primary_hostname = mx.mailpolicy.invalid
keep_environment =
message_body_visible = 65536
spool_directory = {spool}
log_file_path = {spool}/%slog
headers_charset = UTF-8
acl_smtp_rcpt = acl_mailpolicy_rcpt
"""
_TEST_TAIL = """
acl_mailpolicy_rcpt:
  accept

begin routers
mailpolicy_sink:
  driver = accept
  transport = mailpolicy_null

begin transports
mailpolicy_null:
  driver = appendfile
  file = /dev/null
"""
_LOG_RULE = re.compile(r"mailpolicy: rule=(\S+) action=(\w+)")


class EximRunner:
    """Runs exported rules through ``exim -C CONF -bh 127.0.0.1`` (no daemon, nothing queued;
    a ``runner.Runner``).

    ``check()`` runs ``-bV`` (syntax) and returns an error text or None; ``run(data,
    sender, recipients)`` feeds one SMTP dialogue and reads the verdict: the reply after
    the data plus the ``mailpolicy: rule=`` log line. A ``451`` or a missing log line is an
    ``error`` verdict (a broken expansion is only found at run time).
    """

    def __init__(self, result: ExportResult, workdir: str, exim: str | None = None) -> None:
        self.exim = exim or find_exim()
        # Exim drops to its own user (Debian-exim) before it touches the spool, so the spool
        # must be reachable from / for that user: a fresh directory in the system temp dir,
        # not under ``workdir`` (which may be private); ``close()`` removes it.
        self.dir = tempfile.mkdtemp(prefix="mailpolicy-exim-")
        spool = os.path.join(self.dir, "spool")
        os.makedirs(spool)
        os.chmod(self.dir, 0o755)
        os.chmod(spool, 0o1777)  # exim drops to Debian-exim before it writes the spool
        self.conf = os.path.join(self.dir, "exim.conf")
        with open(self.conf, "w", encoding="utf-8") as fh:
            fh.write(
                _TEST_MAIN.format(spool=spool)
                + result.files["main.conf"]
                + "\nbegin acl\n"
                + result.files["acl.conf"]
                + _TEST_TAIL
            )

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def available(self) -> str | None:
        """None when Exim with Content_Scanning can run here, else the reason it cannot."""
        if self.exim is None:
            return "exim4-daemon-heavy not found (run .ci/install-exim.sh or set MAILPOLICY_EXIM)"
        return None

    def check(self) -> str | None:
        """``exim -bV`` on the generated config: None, or why it was refused.

        Raises ``VerifyError`` when no suitable Exim is installed."""
        problem = self.available()
        if problem is not None:
            raise VerifyError(problem)
        assert self.exim is not None
        p = subprocess.run(
            [self.exim, "-C", self.conf, "-bV"],
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT,
        )
        if p.returncode != 0:
            return (p.stdout + p.stderr).strip()
        if "Content_Scanning" not in p.stdout:
            return "this Exim has no Content_Scanning (install exim4-daemon-heavy)"
        return None

    def explain(self, msg: Message, engine: Verdict, target: TargetVerdict) -> str | None:
        """The target-wide limit behind a disagreement on this message, if one applies."""
        return part_limit(msg, engine, EximExporter.caps)

    def run(self, data: bytes, sender: str | None, recipients: tuple[str, ...]) -> TargetVerdict:
        assert self.exim is not None
        body = data.replace(b"\r\n", b"\n").split(b"\n")
        if body and body[-1] == b"":
            body.pop()
        lines = [b"EHLO client.mailpolicy.invalid", f"MAIL FROM:<{sender or ''}>".encode()]
        lines += [f"RCPT TO:<{r}>".encode() for r in (recipients or ("postmaster@example.com",))]
        lines += [
            b"DATA",
            *((b"." + ln) if ln.startswith(b".") else ln for ln in body),
            b".",
            b"QUIT",
        ]
        p = subprocess.run(
            [self.exim, "-C", self.conf, "-bh", "127.0.0.1"],
            input=b"\r\n".join(lines) + b"\r\n",
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        out = p.stdout.decode("utf-8", "replace").splitlines()
        err = p.stderr.decode("utf-8", "replace")
        code, reply = "", ""
        for k, ln in enumerate(out):
            if ln.startswith("354"):
                reply = out[k + 1] if k + 1 < len(out) else ""
                code = reply[:3]
                break
        logged = _LOG_RULE.findall(err)
        if code == "451" or not code:
            return TargetVerdict("error", None, reply or err[-400:])
        if not logged:
            return TargetVerdict("error", None, f"no mailpolicy log line; reply {reply!r}")
        rule, action = logged[-1]
        if action == "block" and code != "550":
            return TargetVerdict("error", rule, f"block without 550: {reply!r}")
        return TargetVerdict(action, None if rule == "-" else rule, reply)
