"""Parser front: policy text -> AST, or every syntax error found.

The grammar (``grammar/policy.lark``) is loaded once. Exactly one Transformer builds the
AST, embedded in the LALR parser; lark types never leave this module. Shorthands are
desugared here (``block *.pif`` -> ``block attachment name matches "*.pif"``,
``sender trusted`` -> ``sender in trusted``, ``sender in L authenticated`` -> ``sender in L
and sender authenticated``) so every later stage sees one form.

Recovery (``parse_partial``): after a syntax error the statements before the one holding
it are kept, that one is left out, and the text after it is parsed again (blanked text
keeps every position true). So one run reports the syntax errors of every statement
(``syntax.py`` words them) and returns the others for the checker. Numbers are read by
``syntax.parse_size`` (``25 MB`` is kept as ``25MB``). Limits checked before lark runs:
size (``MAX_BYTES``), nesting depth (``syntax.MAX_DEPTH``), UTF-8 text without NUL bytes.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast

from lark import Lark, Token, Transformer

from mailpolicy.policy import ast
from mailpolicy.policy.diagnostics import Diagnostic, PolicyError, did_you_mean, error
from mailpolicy.policy.expiry import parse_date
from mailpolicy.policy.syntax import MAX_BYTES as MAX_BYTES  # re-exported: callers import it here
from mailpolicy.policy.syntax import MAX_NUMBER as MAX_NUMBER
from mailpolicy.policy.syntax import SPACED, Recovery, depth_check
from mailpolicy.policy.syntax import decode_source as decode_source
from mailpolicy.policy.syntax import parse_size as parse_size

MAX_ERRORS = 50


@functools.cache
def parser() -> Lark:
    """The LALR parser; its ``parse`` returns the AST, built by ``_builder()`` as it goes."""
    text = resources.files("mailpolicy.grammar").joinpath("policy.lark").read_text("utf-8")
    return Lark(
        text,
        parser="lalr",
        maybe_placeholders=True,
        keep_all_tokens=True,
        transformer=_builder(),
    )


@functools.cache
def _builder() -> _Builder:
    return _Builder()


_ESCAPE = re.compile(r"\\([\\\"])")


def unescape(token: str) -> str:
    r"""The value of a STRING token: ``\"`` and ``\\`` are escapes; any other backslash
    stays, so glob escapes such as ``\*`` reach the glob compiler intact."""
    body = token[1:-1]
    if "\\" not in body:  # the common case, without the cost of re.sub
        return body
    return _ESCAPE.sub(r"\1", body)


class _Paren:
    """A condition in parentheses: the node keeps its own span, while the rule around it
    starts or ends at the bracket (lark's "container" positions)."""

    __slots__ = ("node", "span")

    def __init__(self, node: Any, span: ast.Span) -> None:
        self.node = node
        self.span = span


class _Mod:
    """A modifier of a rule (``unless``, ``as``, ``reason``) on its way to the ``Rule``."""

    __slots__ = ("kind", "value", "span")

    def __init__(self, kind: str, value: Any, span: ast.Span) -> None:
        self.kind = kind
        self.value = value
        self.span = span


def _node(item: Any) -> Any:
    return item.node if isinstance(item, _Paren) else item


def _authenticated(
    build: Callable[[Any, list[Any]], ast.Test],
) -> Callable[[Any, list[Any]], ast.And]:
    """A builder of ``sender ... authenticated``: the test and ``sender authenticated``."""

    def method(self: _Builder, items: list[Any]) -> ast.And:
        auth = ast.SenderAuthenticated(span=self._tok(items[-1]))
        return ast.And(items=(build(self, items[:-1]), auth), span=self._all(items))

    return method


class _Builder(Transformer[Token, Any]):
    """Builds AST nodes while lark parses (the parser's embedded transformer): one method
    per grammar rule, called at each reduction with every token of the rule, keywords and
    brackets included (``keep_all_tokens``). A node's span runs from the start of its first
    token or child to the end of its last, the same span lark's ``propagate_positions``
    computes, without its cost. Token-level values (``STRING``, ``NUMBER``) are built by
    the rule that holds them: a method named after a terminal would run inside the lexer.

    One builder serves every parse: the file name and the build errors (a modifier given
    twice, a bad unit) live in thread-local state set by ``begin``. A build error is
    recorded, not raised, so that the parse goes on and every error is reported."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def begin(self, path: str) -> None:
        self._local.path = path
        self._local.errors = []

    @property
    def errors(self) -> list[Diagnostic]:
        found: list[Diagnostic] = self._local.errors
        return found

    def _fail(self, diag: Diagnostic) -> None:
        self._local.errors.append(diag)

    # -- spans ---------------------------------------------------------------------------
    def _all(self, items: list[Any]) -> ast.Span:
        """The span of a whole grammar rule: its first item to its last."""
        return self._cover(items[0], items[-1])

    def _cover(self, first: Any, last: Any) -> ast.Span:
        """From the start of ``first`` to the end of ``last``: each a token, or a node (or
        ``_Paren``, ``_Mod``) with a span."""
        if isinstance(first, Token):
            line, column, start = _int(first.line), _int(first.column), _int(first.start_pos)
        else:
            head = first.span
            line, column, start = head.line, head.column, head.start
        if isinstance(last, Token):
            return ast.Span(
                self._local.path,
                line,
                column,
                _int(last.end_line),
                _int(last.end_column),
                start,
                _int(last.end_pos),
            )
        tail = last.span
        return ast.Span(
            self._local.path, line, column, tail.end_line, tail.end_column, start, tail.end
        )

    def _tok(self, tok: Token) -> ast.Span:
        return ast.Span(
            self._local.path,
            tok.line or 1,
            tok.column or 1,
            tok.end_line or 1,
            tok.end_column or 1,
            tok.start_pos or 0,
            tok.end_pos or 0,
        )

    # -- tokens --------------------------------------------------------------------------
    def _str(self, tok: Token) -> ast.Str:
        return ast.Str(value=unescape(str(tok)), span=self._tok(tok))

    def _number(self, tok: Token) -> ast.Number:
        span = self._tok(tok)
        text = SPACED.sub("", str(tok))  # the canonical form: `25 MB` is kept as `25MB`
        try:
            value, unit = parse_size(text)
        except ValueError as exc:
            self._fail(error("E109", str(exc), span))
            value, unit = 0, None
        return ast.Number(text=text, value=value, unit=unit, span=span)

    def _operand(self, item: Any) -> Any:
        """``?operand``: a STRING or NUMBER token, or an already built list node."""
        if isinstance(item, Token):
            return self._str(item) if item.type == "STRING" else self._number(item)
        return item

    # -- statements ----------------------------------------------------------------------
    def start(self, items: list[Any]) -> ast.Policy:
        if not items:  # an empty policy has no position: point at the file
            span = ast.Span(self._local.path, 1, 1, 1, 1)
        else:
            span = self._cover(items[0], items[-1])
        return ast.Policy(statements=tuple(items), path=self._local.path, span=span)

    def policy_stmt(self, items: list[Any]) -> ast.PolicyName:
        _, name = items
        return ast.PolicyName(name=self._str(name).value, span=self._cover(items[0], name))

    def default_stmt(self, items: list[Any]) -> ast.Default:
        _, action = items
        return ast.Default(action=str(action), span=self._cover(items[0], action))

    def authserv_stmt(self, items: list[Any]) -> ast.AuthservId:
        return ast.AuthservId(name=self._str(items[1]).value, span=self._all(items))

    def list_stmt(self, items: list[Any]) -> ast.ListDef:
        name, value = items[1], items[-1]
        span = self._cover(items[0], value)
        if isinstance(value, ast.ListLit):
            return ast.ListDef(name=str(name), items=value.items, span=span)
        return ast.ListDef(name=str(name), file=self._str(value), span=span)

    def action_word(self, items: list[Token]) -> Token:
        return items[0]

    def rule(self, items: list[Any]) -> ast.Rule:
        action, header, _when, condition, *mods = items
        fields: dict[str, Any] = {}
        for mod in mods:
            if mod.kind in fields:
                word = _MOD_WORD[mod.kind]
                self._fail(error("E108", f"'{word}' given twice", mod.value.span))
                continue
            fields[mod.kind] = mod.value
        if "mode" in fields and fields["mode"].value != "audit":
            del fields["mode"]  # `mode enforce` is the default: the AST holds only `audit`
        return ast.Rule(
            action=str(action),
            header=None if header is None else self._str(header),
            condition=_node(condition),
            span=self._cover(action, items[-1]),
            **fields,
        )

    def unless(self, items: list[Any]) -> _Mod:
        return _Mod("unless", _node(items[1]), self._cover(items[0], items[1]))

    def rule_id(self, items: list[Any]) -> _Mod:
        return _Mod("id", self._str(items[1]), self._cover(items[0], items[1]))

    def reason(self, items: list[Any]) -> _Mod:
        return _Mod("reason", self._str(items[1]), self._cover(items[0], items[1]))

    def mode(self, items: list[Any]) -> _Mod:
        word = ast.Str(value=str(items[1]), span=self._tok(items[1]))
        if word.value not in MODES:
            hint = did_you_mean(word.value, MODES)
            self._fail(
                error("E109", f"unknown mode '{word.value}': audit or enforce{hint}", word.span)
            )
        return _Mod("mode", word, self._cover(items[0], items[1]))

    # -- boolean structure (flattened: `a and (b and c)` is And(a, b, c)) ----------------
    def or_cond(self, items: list[Any]) -> ast.Or:
        return ast.Or(items=_flatten(ast.Or, items[::2]), span=self._cover(items[0], items[-1]))

    def and_cond(self, items: list[Any]) -> ast.And:
        return ast.And(items=_flatten(ast.And, items[::2]), span=self._cover(items[0], items[-1]))

    def not_(self, items: list[Any]) -> ast.Not:
        return ast.Not(item=_node(items[1]), span=self._cover(items[0], items[1]))

    def atom(self, items: list[Any]) -> _Paren:
        return _Paren(_node(items[1]), self._cover(items[0], items[2]))

    att_or = or_cond
    att_and = and_cond
    att_not_ = not_
    att_atom = atom

    # -- message level -------------------------------------------------------------------
    def attachment(self, items: list[Any]) -> ast.AnyAttachment:
        return ast.AnyAttachment(pred=_node(items[1]), span=self._cover(items[0], items[1]))

    def bare_glob(self, items: list[Token]) -> ast.AnyAttachment:
        span = self._tok(items[0])
        glob = ast.Str(value=str(items[0]), span=span)
        return ast.AnyAttachment(pred=ast.NameMatches(operand=glob, span=span), span=span)

    def sender_in(self, items: list[Any]) -> ast.Test:
        return ast.SenderIn(operand=self._operand(items[2]), span=self._all(items))

    def sender_matches(self, items: list[Any]) -> ast.Test:
        return ast.SenderMatches(operand=self._operand(items[2]), span=self._all(items))

    def sender_short(self, items: list[Any]) -> ast.Test:
        ref = ast.ListRef(name=str(items[1]), span=self._tok(items[1]))
        return ast.SenderIn(operand=ref, span=self._all(items))

    sender_in_authenticated = _authenticated(sender_in)
    sender_matches_authenticated = _authenticated(sender_matches)
    sender_short_authenticated = _authenticated(sender_short)

    def sender_authenticated(self, items: list[Any]) -> ast.Test:
        return ast.SenderAuthenticated(span=self._all(items))

    def recipient_in(self, items: list[Any]) -> ast.Test:
        return ast.RecipientIn(operand=self._operand(items[2]), span=self._all(items))

    def recipient_matches(self, items: list[Any]) -> ast.Test:
        return ast.RecipientMatches(operand=self._operand(items[2]), span=self._all(items))

    def text_test(self, items: list[Any]) -> ast.Test:
        field = cast(ast.TextField, str(items[0]))
        kind = ast.TextContains if str(items[1]) == "contains" else ast.TextMatches
        return kind(field=field, operand=self._operand(items[2]), span=self._all(items))

    def header_test(self, items: list[Any]) -> ast.Test:
        _, name, op, operand = items
        header = self._str(name).value
        kind = ast.HeaderContains if str(op) == "contains" else ast.HeaderMatches
        return kind(header=header, operand=self._operand(operand), span=self._all(items))

    def message_size(self, items: list[Any]) -> ast.Test:
        op = cast(ast.Comparison, str(items[1]))
        return ast.MessageSize(op=op, operand=self._operand(items[2]), span=self._all(items))

    def attachment_count(self, items: list[Any]) -> ast.Test:
        op = cast(ast.Comparison, str(items[1]))
        return ast.AttachmentCount(op=op, operand=self._operand(items[2]), span=self._all(items))

    def message_unscannable(self, items: list[Any]) -> ast.Test:
        return ast.MessageUnscannable(span=self._all(items))

    def evasive_mime(self, items: list[Any]) -> ast.Test:
        return ast.EvasiveMime(span=self._all(items))

    def text_op(self, items: list[Token]) -> Token:
        return items[0]

    # -- attachment level ----------------------------------------------------------------
    def name_glob(self, items: list[Any]) -> ast.AttTest:
        return ast.NameMatches(operand=self._str(items[0]), span=self._all(items))

    def name_matches(self, items: list[Any]) -> ast.AttTest:
        return ast.NameMatches(operand=self._operand(items[2]), span=self._all(items))

    def name_in(self, items: list[Any]) -> ast.AttTest:
        return ast.NameIn(operand=self._operand(items[2]), span=self._all(items))

    def extension_in(self, items: list[Any]) -> ast.AttTest:
        return ast.ExtensionIn(operand=self._operand(items[2]), span=self._all(items))

    def extension_is(self, items: list[Any]) -> ast.AttTest:
        return ast.ExtensionIs(operand=self._str(items[1]), span=self._all(items))

    def double_extension_in(self, items: list[Any]) -> ast.AttTest:
        return ast.DoubleExtensionIn(operand=self._operand(items[3]), span=self._all(items))

    def type_mismatch(self, items: list[Any]) -> ast.AttTest:
        return ast.TypeMismatch(span=self._all(items))

    def type_is(self, items: list[Any]) -> ast.AttTest:
        value = items[1]
        if value.type == "STRING":
            return ast.TypeMime(operand=self._str(value), span=self._all(items))
        name = ast.Str(value=str(value), span=self._tok(value))
        return ast.TypeClass(operand=name, span=self._all(items))

    def declared_type(self, items: list[Any]) -> ast.AttTest:
        return ast.DeclaredType(operand=self._operand(items[2]), span=self._all(items))

    def attachment_size(self, items: list[Any]) -> ast.AttTest:
        op = cast(ast.Comparison, str(items[1]))
        return ast.AttachmentSize(op=op, operand=self._operand(items[2]), span=self._all(items))

    def archive_contains(self, items: list[Any]) -> ast.ArchiveContains:
        pred = _node(items[2])
        return ast.ArchiveContains(pred=pred, span=self._cover(items[0], items[2]))

    def archive_encrypted(self, items: list[Any]) -> ast.AttTest:
        return ast.ArchiveEncrypted(span=self._all(items))

    def archive_exceeds_limits(self, items: list[Any]) -> ast.AttTest:
        return ast.ArchiveExceedsLimits(span=self._all(items))

    def evasive_name(self, items: list[Any]) -> ast.AttTest:
        return ast.EvasiveName(span=self._all(items))

    def unscannable(self, items: list[Any]) -> ast.AttTest:
        return ast.Unscannable(span=self._all(items))

    # -- type lists, ``contains``, active content (corpus/content) -----------------------------
    def type_in(self, items: list[Any]) -> ast.AttTest:
        return ast.TypeIn(operand=self._operand(items[-1]), span=self._all(items))

    def declared_type_in(self, items: list[Any]) -> ast.AttTest:
        return ast.DeclaredTypeIn(operand=self._operand(items[-1]), span=self._all(items))

    def contains(self, items: list[Any]) -> ast.ArchiveContains:
        return ast.ArchiveContains(pred=_node(items[1]), span=self._cover(items[0], items[1]))

    def has_macros(self, items: list[Any]) -> ast.AttTest:
        return ast.HasMacros(span=self._all(items))

    def has_auto_run_macros(self, items: list[Any]) -> ast.AttTest:
        return ast.HasAutoRunMacros(span=self._all(items))

    def has_javascript(self, items: list[Any]) -> ast.AttTest:
        return ast.HasJavaScript(span=self._all(items))

    def has_launch_action(self, items: list[Any]) -> ast.AttTest:
        return ast.HasLaunchAction(span=self._all(items))

    def has_embedded_file(self, items: list[Any]) -> ast.AttTest:
        return ast.HasEmbeddedFile(span=self._all(items))

    def has_external_link(self, items: list[Any]) -> ast.AttTest:
        return ast.HasExternalLink(span=self._all(items))

    def smuggles_file(self, items: list[Any]) -> ast.AttTest:
        return ast.SmugglesFile(span=self._all(items))

    # -- operands ------------------------------------------------------------------------
    def list_ref(self, items: list[Token]) -> ast.ListRef:
        return ast.ListRef(name=str(items[0]), span=self._tok(items[0]))

    def date(self, items: list[Token]) -> tuple[str, ast.Span]:
        """``YYYY-MM-DD`` as written (three numbers, no spaces between) and its span."""
        span = self._all(items)
        text = "".join(str(t) for t in items)
        return (text if span.end - span.start == len(text) else " ".join(items)), span

    def dated_item(self, items: list[Any]) -> ast.Str:
        entry, (text, span) = self._str(items[0]), items[2]
        try:
            until = parse_date(text)
        except ValueError as exc:
            self._fail(error("E109", str(exc), span))
            until = None
        return ast.Str(
            value=entry.value, until=until, span=self._cover(items[0], _Paren(None, span))
        )

    def list_lit(self, items: list[Any]) -> ast.ListLit:
        out = []
        for item in items[1:-1]:  # between the brackets: items, commas, placeholders
            if isinstance(item, ast.Str):  # an entry with its expiry (``dated_item``)
                out.append(item)
                continue
            if item is None or item.type == "COMMA":
                continue
            if item.type == "STRING":
                out.append(self._str(item))
            elif item.type == "NUMBER":  # the number as written
                number = self._number(item)
                out.append(ast.Str(value=number.text, span=number.span))
            else:  # a bare word: `[exe, pif]` means the strings
                out.append(ast.Str(value=str(item), span=self._tok(item)))
        return ast.ListLit(items=tuple(out), span=self._cover(items[0], items[-1]))


def _int(position: int | None) -> int:
    """A token position: the lexer sets every one (lark types them optional)."""
    assert position is not None
    return position


_MOD_WORD = {"unless": "unless", "id": "as", "reason": "reason", "mode": "mode"}
MODES = ("audit", "enforce")


def _flatten(kind: type[ast.And | ast.Or], items: list[Any]) -> tuple[Any, ...]:
    out: list[Any] = []
    for item in items:
        item = _node(item)
        out.extend(item.items if isinstance(item, kind) else (item,))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Partial:
    """What a parse that recovers from syntax errors found (``parse_partial``).

    ``policy``: the statements that parsed, in order, with their true positions;
    ``errors``: every syntax error (E100) and build error (E108, E109), sorted;
    ``skipped``: the text of each statement left out because it holds a syntax error."""

    policy: ast.Policy
    errors: tuple[Diagnostic, ...]
    skipped: tuple[str, ...]


def parse(text: str, path: str = "<string>") -> ast.Policy:
    """Parse policy text into an AST, or raise PolicyError with every error found."""
    partial = parse_partial(text, path)
    if partial.errors:
        raise PolicyError(partial.errors)
    return partial.policy


def parse_partial(text: str, path: str = "<string>") -> Partial:
    """Parse ``text``, recovering after each syntax error at statement boundaries.

    After an error the statements before the one holding it are parsed on their own (they
    parsed once already, up to the error) and kept; the statement holding it is left out
    and the text after it parsed again. So each statement is parsed at most twice, and the
    checker can report the semantic errors of every statement that did parse. At most
    ``MAX_ERRORS`` syntax errors; the limits checked before lark runs (size, nesting) raise
    ``PolicyError`` at once."""
    if len(text) > MAX_BYTES:
        raise PolicyError(
            [
                error(
                    "E111",
                    f"policy is too large ({len(text) / 1e6:.1f} MB; the "
                    f"limit is {MAX_BYTES // (1024 * 1024)} MB)",
                    ast.Span(path, 1, 1, 1, 1),
                )
            ]
        )
    depth_check(text, path)
    found = Recovery(path, _whole, MAX_ERRORS)
    found.run(text)
    statements, errors, skipped = found.statements, found.errors, found.skipped
    span = (
        ast.Span(path, 1, 1, 1, 1)
        if not statements
        else ast.Span(
            path,
            statements[0].span.line,
            statements[0].span.column,
            statements[-1].span.end_line,
            statements[-1].span.end_column,
            statements[0].span.start,
            statements[-1].span.end,
        )
    )
    policy = ast.Policy(statements=tuple(statements), path=path, span=span)
    return Partial(policy, tuple(sorted(errors, key=Diagnostic.sort_key)), tuple(skipped))


def _whole(text: str, path: str, errors: list[Diagnostic]) -> tuple[ast.Statement, ...]:
    return _parse_whole(text, path, errors)  # looked up at each call (tests count calls)


def _parse_whole(text: str, path: str, errors: list[Diagnostic]) -> tuple[ast.Statement, ...]:
    """The statements of ``text``, which must parse (else lark's error); its build errors
    are added to ``errors``."""
    _builder().begin(path)
    tree = parser().parse(text)
    errors.extend(_builder().errors)
    assert isinstance(tree, ast.Policy)
    return tree.statements
