"""The checker: a parsed policy in, a ``CheckedPolicy`` or every error out.

Contract:

- ``check(tree)`` never raises for a tree the parser can produce. Names, types, globs,
  list files, duplicates: each problem becomes a ``Diagnostic`` and the run goes on, so
  one run reports all of them. Lint (``lint.LINTS``) runs too, on whatever resolved, so
  warnings are reported next to errors.
- ``CheckResult.policy`` is ``None`` when there is any error; otherwise the returned
  policy's ``CheckedPolicy.lists`` maps every list name to its entries: the one place
  list contents live (the AST keeps what was written: the items, or the file name).
- Reading a policy file, text or JSON, is ``loader.py``'s job: one way to load a policy.

List files (``list x = file "lists/partners.txt"``) are read relative to ``base_dir``
(default: the policy file's directory, or the working directory for ``<string>``), only
from under ``list_root`` (default: that directory), as ``listfile.py`` says. Every entry
of a list, inline or in a file, is checked for each use of the list (``_Checker.entry``:
an address or domain, a glob, an extension, a type); an entry of a file is reported at
its own ``FILE:LINE:COLUMN``.

Limits: types are checked per operand position, not inferred; entries are checked for
their form (``user@@example.com``), not for meaning (whether the domain exists).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import assert_never

from mailpolicy.corpus.types import CLASSES
from mailpolicy.policy import ast, expiry, globs, printer
from mailpolicy.policy.check_words import head, kind, span_of, text, where
from mailpolicy.policy.checked import CheckedPolicy, assign_ids
from mailpolicy.policy.diagnostics import (
    Diagnostic,
    did_you_mean,
    error,
)
from mailpolicy.policy.listfile import address_problem, extension_problem, load_entries
from mailpolicy.policy.trust import authserv_problem

#: Largest list file read, in bytes.
#: Type classes a policy may name (``other`` is what is left, not something to ask for).
TYPE_CLASSES = tuple(c for c in CLASSES if c != "other")
#: Actions ``default`` may name: ``tag`` needs a header and ``strip`` needs attachments.
DEFAULT_ACTIONS = ("allow", "block", "quarantine", "discard")

_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 field name: printable ASCII but ':'
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_LIST_DEF = re.compile(r"\s*list\s+([A-Za-z_][A-Za-z0-9_-]*)")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What ``check`` found: the checked policy (None on any error) and every diagnostic."""

    policy: CheckedPolicy | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")


# ---- entry points -----------------------------------------------------------------------
def check(
    policy: ast.Policy,
    *,
    base_dir: str | Path | None = None,
    source: bytes | None = None,
    source_sha256: str | None = None,
    file_lists: Mapping[str, Sequence[str | ast.Str]] | None = None,
    lint: bool = True,
    list_root: str | Path | None = None,
    skipped: tuple[str, ...] = (),
    as_of: datetime.date | None = None,
) -> CheckResult:
    """Resolve and check ``policy``; never raises for a parsed tree.

    ``source`` (the policy's bytes) gives ``CheckedPolicy.source_sha256`` (or give the
    digest itself); without either it is left empty. ``file_lists``: the entries of
    ``list x = file "..."`` lists already known (the JSON form carries them), so those
    files are not read. ``lint=False`` skips the lint warnings: they are for people
    reviewing a policy (``check``), not for the verbs that only run it.

    ``list_root``: the directory list files must be under (None: the policy's directory,
    ``base_dir``). ``skipped``: the text of statements that did not parse
    (``parse.parse_partial``); ``policy`` holds the others, and what only their absence
    causes (an empty policy, a list defined or used there) is not reported.

    ``as_of``: the day list entries' expiry dates are judged on (None: today in UTC). The
    checked policy's ``lists`` and rules hold only the entries that still apply; its AST
    is ``policy``, except that a list file with dated entries has them as its items
    (``expiry.resolved``: the JSON form and the exporters read the dates there).
    """
    root = None if list_root is None else os.fspath(list_root)
    checker = _Checker(policy, _base_dir(policy.path, base_dir), file_lists or {}, root, skipped)
    checker.run()
    if source_sha256 is None:
        source_sha256 = hashlib.sha256(source).hexdigest() if source is not None else ""
    day = as_of or expiry.as_of()
    servers = policy.authserv_ids
    provisional = CheckedPolicy(
        ast=expiry.resolved(policy, checker.filled),
        rules=tuple(
            dataclasses.replace(r, rule=expiry.live_rule(r.rule, day, servers))
            for r in assign_ids(policy.rules)  # ids from the rules as written
        ),
        lists=expiry.live_lists(checker.lists, checker.dates, day),
        source_sha256=source_sha256,
    )
    from mailpolicy.policy import lint as _lint  # reads CheckedPolicy; imported late on purpose

    warnings: tuple[Diagnostic, ...] = ()
    if lint:
        with expiry.judged_on(day):
            warnings = tuple(_lint.lint(provisional))
    if skipped:  # a list may be used by a statement that did not parse
        words = {w for text in skipped for w in _WORD.findall(text)}
        warnings = tuple(w for w in warnings if w.code != "W202" or _named(policy, w) not in words)
    diags = tuple(sorted([*checker.diags, *warnings], key=Diagnostic.sort_key))
    if any(d.severity == "error" for d in diags):
        return CheckResult(policy=None, diagnostics=diags)
    ordered = tuple(sorted(warnings, key=Diagnostic.sort_key))
    return CheckResult(policy=dataclasses.replace(provisional, warnings=ordered), diagnostics=diags)


def _base_dir(path: str, base_dir: str | Path | None) -> str:
    if base_dir is not None:
        return os.fspath(base_dir)
    if path.startswith("<") and path.endswith(">"):
        return ""
    return os.path.dirname(path)


# ---- the checker ------------------------------------------------------------------------
_TextNode = ast.TextContains | ast.TextMatches | ast.HeaderContains | ast.HeaderMatches


class _Checker:
    """One run over a policy: collects diagnostics and resolved lists."""

    def __init__(
        self,
        policy: ast.Policy,
        base_dir: str,
        file_lists: Mapping[str, Sequence[str | ast.Str]],
        list_root: str | None = None,
        skipped: tuple[str, ...] = (),
    ) -> None:
        self.policy = policy
        self.base_dir = base_dir
        self.list_root = list_root
        # lists defined by statements that did not parse: using them is no second error
        self.undefined_ok = {m[1] for t in skipped if (m := _LIST_DEF.match(t))}
        self.recovered = bool(skipped)
        self.file_lists = file_lists
        self.diags: list[Diagnostic] = []
        self.defs: dict[str, ast.ListDef] = {}  # first definition of each name
        self.lists: dict[str, tuple[str, ...]] = {}  # names whose entries are known
        self.spans: dict[str, tuple[ast.Span, ...]] = {}  # where each entry is written
        self.dates: dict[str, tuple[datetime.date | None, ...]] = {}  # each entry's expiry
        self.filled: dict[str, tuple[ast.Str, ...]] = {}  # a file list's entries, as read
        self._validated: set[tuple[str, str]] = set()  # (list, use) whose entries were checked
        self._said: set[Diagnostic] = set()

    def err(self, code: str, message: str, span: ast.Span) -> None:
        diag = error(code, message, span)
        if diag not in self._said:  # an entry checked for two uses (a glob, an address)
            self._said.add(diag)
            self.diags.append(diag)

    # -- driver --------------------------------------------------------------------------
    def run(self) -> None:
        if not self.policy.statements:
            if self.recovered:  # every statement had a syntax error: nothing more to say
                return
            self.err(
                "E110",
                "the policy is empty: write at least one rule",
                ast.Span(self.policy.path, 1, 1, 1, 1),
            )
            return
        self.statements()
        ids: dict[str, ast.Str] = {}
        for rule in self.policy.rules:
            self.rule(rule)
            if rule.id is not None:
                first = ids.setdefault(rule.id.value, rule.id)
                if first is not rule.id:
                    self.err(
                        "E104",
                        f"rule id {rule.id.value!r} is already used by the rule at "
                        f"{where(first.span)}",
                        rule.id.span,
                    )

    def statements(self) -> None:
        seen: dict[type, ast.Statement] = {}
        servers: dict[str, ast.AuthservId] = {}
        for stmt in self.policy.statements:
            if isinstance(stmt, (ast.PolicyName, ast.Default)):
                word = "policy" if isinstance(stmt, ast.PolicyName) else "default"
                first = seen.setdefault(type(stmt), stmt)
                if first is not stmt:
                    self.err(
                        "E108",
                        f"a second '{word}' statement (the first is at {where(first.span)})",
                        head(stmt.span, len(word)),
                    )
                if isinstance(stmt, ast.Default) and stmt.action not in DEFAULT_ACTIONS:
                    self.err(
                        "E102",
                        f"'default {stmt.action}' makes no sense: the default is "
                        f"one of {', '.join(DEFAULT_ACTIONS)}",
                        stmt.span,
                    )
            elif isinstance(stmt, ast.ListDef):
                self.list_def(stmt)
            elif isinstance(stmt, ast.AuthservId):
                first = servers.setdefault(stmt.name.lower(), stmt)
                if first is not stmt:
                    self.err(
                        "E108",
                        f"authserv-id {stmt.name!r} is already named at {where(first.span)}",
                        stmt.span,
                    )
                elif why := authserv_problem(stmt.name):
                    self.err("E109", why, stmt.span)

    def list_def(self, stmt: ast.ListDef) -> None:
        first = self.defs.setdefault(stmt.name, stmt)
        if first is not stmt:
            self.err(
                "E105",
                f"list '{stmt.name}' is already defined at {where(first.span)}",
                head(stmt.span, len("list ") + len(stmt.name)),
            )
            return
        if stmt.file is None:
            self.entries(stmt.name, stmt.items or ())
            return
        if stmt.name in self.file_lists:
            given = self.file_lists[stmt.name]
            span = stmt.file.span
            self.entries(stmt.name, tuple(_item(e, span) for e in given), filled=True)
            return
        try:
            found = load_entries(stmt.file.value, self.base_dir, self.list_root, self.policy.path)
        except ValueError as exc:
            self.err("E103", str(exc), stmt.file.span)
            return
        for message, span in found[1]:
            self.err("E109", message, span)
        self.entries(stmt.name, found[0], filled=True)

    def entries(self, name: str, items: tuple[ast.Str, ...], filled: bool = False) -> None:
        self.lists[name] = tuple(i.value for i in items)
        self.spans[name] = tuple(i.span for i in items)
        self.dates[name] = tuple(i.until for i in items)
        if filled and any(i.until is not None for i in items):
            self.filled[name] = items  # dated: the checked AST carries them (expiry.resolved)

    # -- rules ---------------------------------------------------------------------------
    def rule(self, rule: ast.Rule) -> None:
        if rule.action == "tag":
            if rule.header is None:
                self.err(
                    "E102",
                    "'tag' needs the header to add: tag \"X-Name: value\" when ...",
                    head(rule.span, 3),
                )
            else:
                self.header_text(rule.header)
        elif rule.header is not None:
            self.err(
                "E102",
                f"only 'tag' takes a header text; '{rule.action}' does not "
                f"(remove the string, or write: tag {printer.quote(rule.header.value)} "
                "when ...)",
                rule.header.span,
            )
        if rule.action == "strip" and not any(
            isinstance(n, ast.AnyAttachment) for n in ast.walk(rule.condition)
        ):
            self.err(
                "E102",
                "'strip' removes the matching attachments, but this condition "
                "names no attachment (use block or quarantine, or add attachment ...)",
                head(rule.span, len("strip")),
            )
        if rule.id is not None and (not rule.id.value.strip() or _CONTROL.search(rule.id.value)):
            self.err(
                "E109", "a rule id must be non-empty text without control characters", rule.id.span
            )
        for cond in (rule.condition, rule.unless):
            if cond is not None:
                for node in ast.walk(cond):
                    if isinstance(node, ast.Test):
                        self.test(node)
                    elif isinstance(node, ast.AttTest):
                        self.att_test(node)

    def header_text(self, header: ast.Str) -> None:
        name, colon, value = header.value.partition(":")
        if not colon or not _HEADER_NAME.fullmatch(name) or not value.strip():
            self.err(
                "E102",
                f"the header to add must look like 'Name: value', not {header.value!r}",
                header.span,
            )
        elif _CONTROL.search(header.value):
            self.err(
                "E102", "the header to add must be one line without control characters", header.span
            )

    # -- message-level tests ---------------------------------------------------------------
    def test(self, node: ast.Test) -> None:
        arg = node.operand
        match node:
            case ast.SenderIn() | ast.RecipientIn():
                f = node.field
                hint = f'{f} matches "{text(arg)}"'
                self.need_list(node, arg, f"{f} in", use="address", hint=hint)
            case ast.SenderMatches() | ast.RecipientMatches():
                self.need_glob(node, arg, f"{node.field} matches", in_form=f"{node.field} in")
            case ast.TextContains() | ast.TextMatches():
                self.text_test(node)
            case ast.HeaderContains() | ast.HeaderMatches():
                self.text_test(node)
            case ast.MessageSize():
                self.need_size(node, arg, "the message size")
            case ast.AttachmentCount():
                self.need_count(node, node.operand)
            case ast.MessageUnscannable() | ast.EvasiveMime() | ast.SenderAuthenticated():
                pass  # no operand
            case _:
                assert_never(node)

    def text_test(self, node: _TextNode) -> None:
        arg = node.operand
        what = node.field
        if isinstance(node, (ast.HeaderContains, ast.HeaderMatches)):
            if not _HEADER_NAME.fullmatch(node.header):
                self.err(
                    "E109",
                    f"{node.header!r} is not a header name (printable ASCII, no spaces or ':')",
                    node.span,
                )
            what = f'header "{node.header}"'
        if isinstance(node, (ast.TextMatches, ast.HeaderMatches)):
            self.need_glob(node, arg, f"{what} matches", in_form=None)
        elif not isinstance(arg, ast.Str):
            self.err(
                "E102",
                f"'{what} contains' needs a quoted string, not {kind(arg)}",
                span_of(arg, node),
            )

    # -- attachment-level tests ------------------------------------------------------------
    def att_test(self, node: ast.AttTest) -> None:
        match node:
            case ast.NameMatches():
                self.need_glob(node, node.operand, "name matches", in_form="name in")
            case ast.NameIn():
                arg = node.operand
                self.need_list(node, arg, "name in", use="glob", hint=f'name matches "{text(arg)}"')
            case ast.ExtensionIs():
                self.extension_value(node.operand.value, node.operand.span)
            case ast.ExtensionIn() | ast.DoubleExtensionIn():
                arg, plain = node.operand, isinstance(node, ast.ExtensionIn)
                word = "extension" if plain else "double extension"
                hint = f'extension "{text(arg)}"' if plain else ""
                self.need_list(node, arg, f"{word} in", use="extension", hint=hint)
            case ast.TypeClass():
                value = node.operand.value
                if value not in TYPE_CLASSES:
                    self.err(
                        "E106",
                        f"unknown type class '{value}'"
                        f"{did_you_mean(value, TYPE_CLASSES)}; the classes are "
                        f"{', '.join(TYPE_CLASSES)}, or a quoted MIME type",
                        node.operand.span,
                    )
            case ast.TypeMime():
                self.mime(node.operand, "type")
            case ast.DeclaredType():
                if isinstance(node.operand, ast.Str):
                    self.mime(node.operand, "declared type")
                else:
                    self.err(
                        "E102",
                        f"'declared type' needs a quoted MIME type or glob such as "
                        f'"audio/*", not {kind(node.operand)}',
                        span_of(node.operand, node),
                    )
            case ast.AttachmentSize():
                self.need_size(node, node.operand, "an attachment size")
            case ast.TypeMismatch() | ast.ArchiveEncrypted() | ast.ArchiveExceedsLimits():
                pass  # no operand
            case ast.EvasiveName() | ast.Unscannable():
                pass
            case ast.TypeIn() | ast.DeclaredTypeIn():
                self.type_list(node)
            case ast.HasMacros() | ast.HasAutoRunMacros() | ast.HasJavaScript():
                pass  # no operand
            case ast.HasLaunchAction() | ast.HasEmbeddedFile() | ast.HasExternalLink():
                pass
            case ast.SmugglesFile():
                pass
            case _:
                assert_never(node)

    def type_list(self, node: ast.TypeIn | ast.DeclaredTypeIn) -> None:
        """``type in L``: each entry a class or a MIME glob; ``declared type in L``: each
        a MIME glob."""
        declared = isinstance(node, ast.DeclaredTypeIn)
        what = "declared type in" if declared else "type in"
        hint = f'declared type "{text(node.operand)}"' if declared else ""
        self.need_list(node, node.operand, what, use="declared" if declared else "type", hint=hint)

    def type_entry(self, value: str, span: ast.Span) -> None:
        if "/" in value:
            self.mime(ast.Str(value=value, span=span), "type")
        elif value not in TYPE_CLASSES:
            self.err(
                "E106",
                f"unknown type class '{value}'{did_you_mean(value, TYPE_CLASSES)}; the "
                f"classes are {', '.join(TYPE_CLASSES)}, or a MIME type such as "
                '"application/x-dosexec"',
                span,
            )

    # -- operand kinds --------------------------------------------------------------------
    def need_list(
        self,
        node: ast.Test | ast.AttTest,
        arg: ast.Operand | None,
        what: str,
        *,
        use: str,
        hint: str,
    ) -> None:
        """A list name or inline list, each entry checked for ``use`` (``_ENTRY``)."""
        if isinstance(arg, ast.ListRef):
            if self.known(arg) and (arg.name, use) not in self._validated:
                self._validated.add((arg.name, use))  # once per list and use
                entries = self.lists.get(arg.name, ())
                for value, span in zip(entries, self.spans.get(arg.name, ()), strict=True):
                    self.entry(use, value, span, arg.name)
            return
        if isinstance(arg, ast.ListLit):
            for item in arg.items:
                self.entry(use, item.value, item.span, None)
            return
        tip = f" (did you mean {hint}?)" if hint and isinstance(arg, ast.Str) else ""
        self.err(
            "E102",
            f"'{what}' needs a list (a list name or [...]), not {kind(arg)}{tip}",
            span_of(arg, node),
        )

    def need_glob(
        self,
        node: ast.Test | ast.AttTest,
        arg: ast.Operand | None,
        what: str,
        *,
        in_form: str | None,
    ) -> None:
        if isinstance(arg, ast.Str):
            self.glob(arg.value, arg.span)
            return
        tip = ""
        if in_form and isinstance(arg, ast.ListRef):
            if arg.name in self.defs:
                tip = f" (did you mean {in_form} {arg.name}?)"
            else:
                tip = f' (a glob is quoted: {what} "{arg.name}")'
        elif in_form and isinstance(arg, ast.ListLit):
            tip = f" (did you mean {in_form} [...]?)"
        self.err("E102", f"'{what}' needs a quoted glob, not {kind(arg)}{tip}", span_of(arg, node))

    def need_size(self, node: ast.Test | ast.AttTest, arg: ast.Operand | None, what: str) -> None:
        if not isinstance(arg, ast.Number):
            self.err(
                "E102",
                f"{what} is compared with a number of bytes such as 10MB, not {kind(arg)}",
                span_of(arg, node),
            )

    def need_count(self, node: ast.AttachmentCount, arg: ast.Operand) -> None:
        if not isinstance(arg, ast.Number):
            self.err(
                "E102",
                f"'attachments' counts attachments and is compared with a whole "
                f"number, not {kind(arg)}",
                span_of(arg, node),
            )
        elif arg.unit is not None:
            self.err(
                "E102",
                f"'attachments' counts attachments; {arg.text} is a size (did you "
                f"mean 'size {node.op} {arg.text}'?)",
                arg.span,
            )
        elif "." in arg.text:
            self.err("E109", f"a count is a whole number, not {arg.text}", arg.span)

    def known(self, ref: ast.ListRef) -> bool:
        if ref.name in self.defs:
            return True
        if ref.name in self.undefined_ok:
            return False
        self.err("E101", f"unknown list '{ref.name}'{did_you_mean(ref.name, self.defs)}", ref.span)
        return False

    # -- values ---------------------------------------------------------------------------
    def glob(self, value: str, span: ast.Span) -> bool:
        why = globs.validate(value)
        if why is not None:
            self.err("E107", f"malformed glob {value!r}: {why}", span)
        return why is None

    def entry(self, use: str, value: str, span: ast.Span, name: str | None) -> None:
        """One list entry, checked for what its list is used with."""
        if use == "address":
            if self.glob(value, span):
                why = address_problem(value)
                if why is not None:
                    where = f" in list '{name}'" if name else ""
                    self.err(
                        "E109",
                        f"{value!r}{where} is not an address, address glob or domain: {why}",
                        span,
                    )
        elif use == "glob":
            self.glob(value, span)
        elif use == "extension":
            self.extension_value(value, span)
        elif use == "type":
            self.type_entry(value, span)
        else:
            self.mime(ast.Str(value=value, span=span), "declared type")

    def extension_value(self, value: str, span: ast.Span) -> None:
        why = extension_problem(value)
        if why is not None:
            self.err("E109", why, span)

    def mime(self, arg: ast.Str, what: str) -> None:
        if not self.glob(arg.value, arg.span):
            return
        if "/" not in arg.value:
            tip = (
                f" (did you mean type {arg.value}?)"
                if (what == "type" and arg.value in TYPE_CLASSES)
                else ""
            )
            self.err(
                "E109",
                f"'{what}' takes a MIME type such as \"application/x-dosexec\" "
                f'or "audio/*", not {arg.value!r}{tip}',
                arg.span,
            )


# ---- helpers ----------------------------------------------------------------------------
def _named(policy: ast.Policy, diag: Diagnostic) -> str | None:
    """The list a W202 warning is about (it points at the ``list`` statement)."""
    at = diag.span.start
    return next((s.name for s in policy.lists.values() if s.span.start == at), None)


def _item(entry: str | ast.Str, span: ast.Span) -> ast.Str:
    """An entry of a list file given by the caller (the JSON form), at the file's span."""
    if isinstance(entry, str):
        return ast.Str(value=entry, span=span)
    return ast.Str(value=entry.value, until=entry.until, span=span)
