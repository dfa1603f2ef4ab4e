"""Hypothesis strategies for policy ASTs, shared by the policy tests.

``policies()`` draws an ``ast.Policy`` shaped exactly as ``parse`` builds it (so
``parse(printer/fmt(tree)) == tree`` can be asserted): ``and``/``or`` flattened with two or
more items, inline list items as ``Str``, numbers with the value ``parse_size`` gives, no
spans. With ``valid=True`` (the default) the policy also passes the checker: every list a
rule names is defined, globs are well formed, extensions have no dot, ``tag`` rules carry a
``Name: value`` header, ``strip`` rules name an attachment, explicit ids are unique.

Strings draw from an alphabet with quotes, backslashes, ``#`` (not a comment inside a
string), tabs and non-ASCII letters; only a line break and NUL are left out (no policy text
can hold them). ``checked_policies()`` wraps a valid policy as a ``CheckedPolicy`` with list
resolved as the checker would, without reading any file.

Import with ``from strategies import ...`` (pytest puts ``tests/policy`` on ``sys.path``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st

from mailpolicy.policy import ast, vocabulary
from mailpolicy.policy.checked import CheckedPolicy, assign_ids
from mailpolicy.policy.parse import parse_size

_KEYWORDS = {
    "policy",
    "default",
    "list",
    "file",
    "allow",
    "block",
    "quarantine",
    "strip",
    "tag",
    "discard",
    "when",
    "unless",
    "as",
    "reason",
    "and",
    "or",
    "not",
    "in",
    "matches",
    "contains",
    "attachment",
    "attachments",
    "sender",
    "recipient",
    "from",
    "subject",
    "body",
    "header",
    "size",
    "name",
    "extension",
    "double",
    "type",
    "mismatch",
    "declared",
    "archive",
    "encrypted",
    "exceeds",
    "limits",
    "evasive",
}
TYPE_CLASSES = ("executable", "script", "archive", "document", "image", "text")
DEFAULT_ACTIONS = ("allow", "block", "quarantine", "discard")
COMPARE = (">", "<", ">=", "<=", "==", "!=")

#: Characters a string may hold: the hard ones on purpose.
_HARD = '"\\#\t *?,;:()=@-_~é中ファイル名ü\u202e '  # \u202e: right-to-left override
_any_char = st.one_of(
    st.sampled_from(_HARD),
    st.characters(exclude_categories=("Cs",), exclude_characters="\n\x00"),
)
#: Free text (``subject contains "..."``, reasons): anything but a line break or NUL.
text = st.text(_any_char, max_size=20)

#: A list entry usable both as a glob and as an extension: no dot, slash or bracket.
_entry_char = st.one_of(
    st.sampled_from("\\#-_é中ü~!"),
    st.characters(categories=("L", "N"), exclude_characters="."),
)
entries = st.text(_entry_char, min_size=1, max_size=8)

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True).filter(
    lambda s: s not in _KEYWORDS
)


@st.composite
def globs(draw: Any) -> str:
    """A well-formed glob: literals, ``*``, ``?``, ``\\`` escapes, ``[...]`` and ``{a,b}``."""
    literal = st.text(
        st.one_of(st.sampled_from('"#-_. é中'), st.characters(categories=("L", "N"))),
        min_size=1,
        max_size=5,
    )
    piece = st.one_of(
        literal,
        st.sampled_from(["*", "?", "*.", ".*"]),
        st.builds(lambda c: "\\" + c, st.sampled_from('*?[{}"\\')),
        # a class: letters, or a range that runs forwards (a backwards one is E107)
        st.builds(
            lambda s: "[" + s + "]",
            st.one_of(st.text("abcxyz0", min_size=1, max_size=3), st.sampled_from(["a-c", "0-9"])),
        ),
        st.builds(lambda a, b: "{" + a + "," + b + "}", literal, literal),
    )
    return "".join(draw(st.lists(piece, min_size=1, max_size=5)))


@st.composite
def numbers(draw: Any, unit: bool = True) -> ast.Number:
    whole = str(draw(st.integers(0, 10**6)))
    if unit:
        frac = draw(st.sampled_from(["", ".5", ".25"]))
        suffix = draw(st.sampled_from(["", "B", "KB", "kb", "MB", "GB", "KiB", "MiB", "K", "M"]))
        whole = whole + frac + suffix
    value, u = parse_size(whole)
    return ast.Number(text=whole, value=value, unit=u)


def _list_operand(list_names: tuple[str, ...]) -> st.SearchStrategy[ast.Operand]:
    inline = st.builds(
        lambda xs: ast.ListLit(items=tuple(ast.Str(value=x) for x in xs)),
        st.lists(entries, max_size=4),
    )
    if not list_names:
        return inline
    return st.one_of(st.builds(lambda n: ast.ListRef(name=n), st.sampled_from(list_names)), inline)


def _s(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[ast.Str]:
    return st.builds(lambda v: ast.Str(value=v), strategy)


def _mime() -> st.SearchStrategy[str]:
    return st.sampled_from(
        ["application/x-dosexec", "audio/*", "image/*", "text/plain", "application/vnd.ms-*"]
    )


def _msg(field: str, op: str, operand: ast.Operand, header: str | None = None) -> ast.Leaf:
    return vocabulary.from_keyword("message", field, op, operand, header)


def message_tests(list_names: tuple[str, ...]) -> st.SearchStrategy[ast.Cond]:
    lists = _list_operand(list_names)
    who = st.sampled_from(["sender", "recipient"])
    texts = st.sampled_from(["from", "subject", "body"])
    header_names = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,10}", fullmatch=True)
    return st.one_of(
        st.builds(lambda f, o: _msg(f, "in", o), who, lists),
        st.builds(lambda f, g: _msg(f, "matches", ast.Str(value=g)), who, globs()),
        st.builds(lambda f, t: _msg(f, "contains", ast.Str(value=t)), texts, text),
        st.builds(lambda f, g: _msg(f, "matches", ast.Str(value=g)), texts, globs()),
        st.builds(lambda h, t: _msg("header", "contains", ast.Str(value=t), h), header_names, text),
        st.builds(
            lambda h, g: _msg("header", "matches", ast.Str(value=g), h), header_names, globs()
        ),
        st.builds(
            lambda op, n: _msg("size", op, n),
            st.sampled_from(COMPARE),
            numbers(),
        ),
        st.builds(
            lambda op, n: _msg("attachments", op, n),
            st.sampled_from(COMPARE),
            numbers(unit=False),
        ),
        st.just(ast.MessageUnscannable()),
        st.just(ast.EvasiveMime()),
    )


def attachment_tests(list_names: tuple[str, ...]) -> st.SearchStrategy[ast.Cond]:
    lists = _list_operand(list_names)

    def att(field: str, op: str, operand: Any = None) -> ast.Leaf:
        return vocabulary.from_keyword("attachment", field, op, operand)

    return st.one_of(
        st.builds(lambda g: att("name", "matches", g), _s(globs())),
        st.builds(lambda o: att("name", "in", o), lists),
        st.builds(lambda o: att("extension", "in", o), lists),
        st.builds(lambda e: att("extension", "is", e), _s(entries)),
        st.builds(lambda o: att("double_extension", "in", o), lists),
        st.builds(lambda c: att("type", "class", c), _s(st.sampled_from(TYPE_CLASSES))),
        st.builds(lambda m: att("type", "mime", m), _s(_mime())),
        st.just(att("type", "mismatch")),
        st.builds(lambda m: att("declared_type", "matches", m), _s(_mime())),
        st.builds(lambda op, n: att("size", op, n), st.sampled_from(COMPARE), numbers()),
        st.just(att("archive", "encrypted")),
        st.just(att("archive", "exceeds_limits")),
        st.just(att("evasive_name", "is")),
        st.just(att("unscannable", "is")),
        st.builds(
            lambda o: att("type", "in", o),
            _inline(st.one_of(st.sampled_from(TYPE_CLASSES), _mime())),
        ),
        st.builds(lambda o: att("declared_type", "in", o), _inline(_mime())),
        *(st.just(att("content", op)) for op in vocabulary.CONTENT_OPS),
    )


def _inline(items: st.SearchStrategy[str]) -> st.SearchStrategy[ast.ListLit]:
    """An inline list of valid entries (a named list holds extensions and addresses)."""
    return st.builds(
        lambda xs: ast.ListLit(items=tuple(ast.Str(value=x) for x in xs)),
        st.lists(items, min_size=1, max_size=3, unique=True),
    )


def _combine(children: st.SearchStrategy[ast.Cond], archive: bool) -> st.SearchStrategy[ast.Cond]:
    def flat(kind: type, items: list[ast.Cond]) -> ast.Cond:
        out: list[ast.Cond] = []
        for item in items:
            out.extend(item.items if isinstance(item, kind) else (item,))  # type: ignore[attr-defined]
        return kind(items=tuple(out))

    options = [
        st.builds(lambda xs: flat(ast.And, xs), st.lists(children, min_size=2, max_size=3)),
        st.builds(lambda xs: flat(ast.Or, xs), st.lists(children, min_size=2, max_size=3)),
        st.builds(lambda x: ast.Not(item=x), children),
    ]
    if archive:
        options.append(st.builds(lambda x: ast.ArchiveContains(pred=x), children))
    return st.one_of(*options)


def attachment_conds(list_names: tuple[str, ...]) -> st.SearchStrategy[ast.Cond]:
    return st.recursive(attachment_tests(list_names), lambda c: _combine(c, True), max_leaves=5)


def conds(list_names: tuple[str, ...]) -> st.SearchStrategy[ast.Cond]:
    """A message-level condition over the lists ``list_names``."""
    leaf = st.one_of(
        message_tests(list_names),
        st.builds(lambda p: ast.AnyAttachment(pred=p), attachment_conds(list_names)),
    )
    return st.recursive(leaf, lambda c: _combine(c, False), max_leaves=6)


#: A rule's mode: about one rule in four is staged (``mode audit``): it never decides, and
#: every stage (text, JSON form, both deciders, lint, export) must handle it.
modes = st.sampled_from([None, None, None, ast.Str(value="audit")])


@st.composite
def rules(draw: Any, list_names: tuple[str, ...] = ()) -> ast.Rule:
    action = draw(st.sampled_from(ast.ACTIONS))
    condition = draw(conds(list_names))
    if action == "strip" and not any(isinstance(n, ast.AnyAttachment) for n in ast.walk(condition)):
        condition = ast.And(
            items=(
                ast.AnyAttachment(pred=draw(attachment_tests(list_names))),
                *(condition.items if isinstance(condition, ast.And) else (condition,)),
            )
        )
    header = None
    if action == "tag":
        name = draw(st.from_regex(r"X-[A-Za-z0-9-]{1,12}", fullmatch=True))
        value = draw(
            st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=15).filter(
                str.strip
            )
        )
        header = ast.Str(value=f"{name}: {value}")
    unless = draw(st.none() | conds(list_names))
    reason = draw(st.none() | _s(text))
    rid = draw(
        st.none()
        | _s(
            st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(
                str.strip
            )
        )
    )
    return ast.Rule(
        action=action,
        header=header,
        condition=condition,
        unless=unless,
        id=rid,
        reason=reason,
        mode=draw(modes),
    )


@st.composite
def list_defs(draw: Any, name: str) -> ast.ListDef:
    if draw(st.booleans()):
        values = draw(st.lists(entries, max_size=6))
        return ast.ListDef(name=name, items=tuple(ast.Str(value=v) for v in values))
    return ast.ListDef(name=name, file=ast.Str(value=draw(text.filter(str.strip))))


@st.composite
def policies(draw: Any, canonical: bool = True) -> ast.Policy:
    """A valid policy. ``canonical``: statements in the order ``policy``, ``default``, lists,
    rules (the order ``ir.from_ir`` rebuilds), ``default`` always present; otherwise any
    order, and ``policy``/``default`` may be missing."""
    list_names = tuple(draw(st.lists(names, max_size=3, unique=True)))
    lists = [draw(list_defs(n)) for n in list_names]
    rule_list = draw(st.lists(rules(list_names), min_size=1, max_size=4))
    seen: set[str] = set()
    for k, r in enumerate(rule_list):  # explicit ids are unique
        if r.id is not None:
            if r.id.value in seen:
                rule_list[k] = dataclasses.replace(r, id=None)
            seen.add(r.id.value)
    head: list[ast.Statement] = []
    if draw(st.booleans()):
        head.append(ast.PolicyName(name=draw(text)))
    if canonical or draw(st.booleans()):
        head.append(ast.Default(action=draw(st.sampled_from(DEFAULT_ACTIONS))))
    statements: list[ast.Statement] = [*head, *lists, *rule_list]
    if not canonical:
        statements = draw(st.permutations(statements))
    return ast.Policy(statements=tuple(statements))


@st.composite
def checked_policies(draw: Any) -> CheckedPolicy:
    """A canonical valid policy as the checker would return it (a file list gets made-up
    entries instead of being read)."""
    tree = draw(policies(canonical=True))
    lists: dict[str, tuple[str, ...]] = {}
    for stmt in tree.statements:
        if isinstance(stmt, ast.ListDef):
            if stmt.items is not None:
                lists[stmt.name] = tuple(i.value for i in stmt.items)
            else:
                lists[stmt.name] = tuple(draw(st.lists(entries, max_size=4)))
    sha = draw(st.sampled_from(["", "0" * 64]))
    return CheckedPolicy(ast=tree, rules=assign_ids(tree.rules), lists=lists, source_sha256=sha)


# ---- authenticated trust and dated entries ---------------------------------------------------
# Added after the rest so that the strategies above reach them by name: ``message_tests``
# writes ``sender authenticated`` too (``sender in L authenticated`` is an ``and`` with it),
# lists may hold entries with an expiry, and policies may name authserv-ids.
import datetime  # noqa: E402

from mailpolicy.policy import expiry  # noqa: E402

_KEYWORDS.update({"authenticated", "until", "authserv-id"})
#: Far-future dates: the entry applies, so every round trip (text, JSON) must keep it.
dates = st.dates(datetime.date(2090, 1, 1), datetime.date(2099, 12, 31))
#: The day checked policies are judged on (every generated date is later).
AS_OF = datetime.date(2030, 1, 1)
authserv_ids = st.from_regex(r"mx[0-9]\.[a-z]{1,8}\.example", fullmatch=True)


def _dated(lit: ast.ListLit, until: list[datetime.date | None]) -> ast.ListLit:
    items = tuple(dataclasses.replace(i, until=d) for i, d in zip(lit.items, until, strict=False))
    return ast.ListLit(items=items + lit.items[len(items) :])


_message_tests_untrusted = message_tests
_list_operand_undated = _list_operand
_list_defs_undated = list_defs
_policies_without_servers = policies
_checked_policies_without_servers = checked_policies


def message_tests(list_names: tuple[str, ...]) -> st.SearchStrategy[ast.Cond]:  # noqa: F811
    return st.one_of(_message_tests_untrusted(list_names), st.just(ast.SenderAuthenticated()))


def _list_operand(list_names: tuple[str, ...]) -> st.SearchStrategy[ast.Operand]:  # noqa: F811
    def date(op: ast.Operand, until: list[datetime.date | None]) -> ast.Operand:
        return _dated(op, until) if isinstance(op, ast.ListLit) else op

    return st.builds(date, _list_operand_undated(list_names), st.lists(st.none() | dates))


@st.composite
def list_defs(draw: Any, name: str) -> ast.ListDef:  # noqa: F811
    found = draw(_list_defs_undated(name))
    if found.items is None:
        return found
    lit = _dated(ast.ListLit(items=found.items), draw(st.lists(st.none() | dates)))
    return dataclasses.replace(found, items=lit.items)


@st.composite
def policies(draw: Any, canonical: bool = True) -> ast.Policy:  # noqa: F811
    tree = draw(_policies_without_servers(canonical))
    servers = [
        ast.AuthservId(name=n) for n in draw(st.lists(authserv_ids, max_size=2, unique=True))
    ]
    stmts = list(tree.statements)
    at = next((k + 1 for k, s in enumerate(stmts) if isinstance(s, ast.Default)), 0)
    if not canonical:
        at = draw(st.integers(0, len(stmts)))
    return ast.Policy(statements=tuple(stmts[:at] + servers + stmts[at:]))


@st.composite
def checked_policies(draw: Any) -> CheckedPolicy:  # noqa: F811
    """As above, and as the checker hands rules on: ``sender authenticated`` carries the
    policy's authserv-ids (no generated entry has expired on ``AS_OF``)."""
    p = draw(_checked_policies_without_servers())
    servers = p.ast.authserv_ids
    rules = tuple(
        dataclasses.replace(r, rule=expiry.live_rule(r.rule, AS_OF, servers)) for r in p.rules
    )
    return dataclasses.replace(p, rules=rules)
