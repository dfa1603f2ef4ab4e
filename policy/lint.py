"""Lint: warnings about policies that are valid but probably not what their author meant.

A lint rule is a plain function taking a ``CheckedPolicy`` and yielding warnings; ``LINTS``
pairs each with the one code it may emit (the issue) and fixes their order, in the manner
of pySigma's validators. ``lint(policy)`` runs them all. Rules must tolerate a policy that
also has errors: a list that did not resolve is simply absent from ``policy.lists``.

Codes (never change meaning):

- ``W201 shadowed-rule``: the rule can never fire; an earlier rule always decides first.
- ``W202 unused-list``: a list no rule refers to.
- ``W203 discard-loses-mail``: ``discard`` drops mail silently.
- ``W204 broad-glob``: a stopping rule's glob or ``double extension`` list fires on common
  benign multi-dot names (``test.tar.gz``), the 2001 double-extension mistake.
- ``W205 empty-list``: a list without entries matches nothing.
- ``W206 duplicate-entry``: the same entry twice in a list (case-insensitive).
- ``W207 broad-content-rule``: a stopping rule without exception on a fact that common
  benign mail carries (``has macros``, ``has javascript``).
- ``W208 size-without-unit``: ``size > 10`` compares with ten bytes; a size under 1 KB
  written without a unit is almost always a missing ``KB`` or ``MB``.
- ``W209 unauthenticated-trust``, ``W212 no-authserv-id``: ``lint_trust.py``.
- ``W210 entry-expires-soon``, ``W211 entry-expired``: ``expiry.py`` (the checker runs
  them: they need the day the policy is judged on).

Limits: the shadowing test is a conservative implication check: it says "shadowed" only
when sure, and misses cases that need real reasoning about globs or text. One
approximation: ``*.pif`` and ``extension "pif"`` are taken as equivalent, which ignores
names such as ``.pif`` (no extension) and ``x. pif`` (a padded extension); ``evasive name``
is the predicate for those.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Iterator

from mailpolicy.policy import ast, expiry, globs, index, lint_trust, printer
from mailpolicy.policy.checked import CheckedPolicy, CheckedRule
from mailpolicy.policy.diagnostics import CODES, Diagnostic, warning
from mailpolicy.policy.implies import STARS, Implies, leaf_fields

LintRule = Callable[[CheckedPolicy], Iterator[Diagnostic]]

#: Names that legitimate mail carries and a careless multi-dot rule catches.
BENIGN_NAMES = (
    "test.tar.gz",
    "archive.sit.bin",
    "test.2001.01.01",
    "backup.tar.bz2",
    "setup.v2.1.zip",
    "report.final.pdf",
    "linux-2.4.7.tar.xz",
    "data.csv.gz",
    "photo.2001-07-17.jpg",
    "minutes.draft.doc",
)


# ---- W201 shadowed-rule -------------------------------------------------------------------
def shadowed_rule(policy: CheckedPolicy) -> Iterator[Diagnostic]:
    """A rule that can never fire because an earlier rule always decides first.

    Example::

        block attachment extension in ["exe", "pif", "scr"]
        quarantine attachment "*.pif"      # W201: the block rule on line 1 decides first

    Earlier rule ``E`` shadows later rule ``L`` when ``L``'s condition implies ``E``'s and
    ``E`` has no ``unless`` (or ``E``'s ``unless`` implies ``L``'s), and ``E`` is enforced
    (a ``mode audit`` rule reports what it would do and never decides).
    """
    rules = policy.rules
    implies = Implies(policy.lists)
    fields = [leaf_fields(r.rule.condition) for r in rules]
    needs = [_needed_exts(r.rule.condition, implies) for r in rules]
    name_globs = [_pure_name_globs(r.rule.condition, implies) for r in rules]
    by_ext: dict[str, set[int]] = {}  # extension -> earlier rules that need it
    unindexed: list[int] = []  # earlier rules without a known extension need
    for j, later in enumerate(rules):
        if j and not rules[j - 1].rule.audit:  # a staged rule is tried, never decides
            prev = j - 1
            if needs[prev] is None:
                unindexed.append(prev)
            else:
                for e in needs[prev]:  # type: ignore[union-attr]
                    by_ext.setdefault(e, set()).add(prev)
        if any(
            isinstance(n.operand, (ast.ListRef, ast.ListLit)) and not implies.entries(n.operand)
            for n in _leaves(later.rule)
        ):
            continue  # a test over an empty list: W205 says so, "shadowed" would mislead
        for i in _candidates(j, needs[j], by_ext, unindexed):
            earlier = rules[i]
            if earlier.rule.audit:
                continue
            if implies.exhausted:
                return  # a huge policy: stop rather than take minutes
            # implication only ever links leaves about the same field: skip unrelated rules
            if fields[i].isdisjoint(fields[j]):
                continue
            if _globs_cannot_cover(name_globs[i], name_globs[j]):
                continue
            if _shadows(implies, earlier.rule, later.rule):
                yield _warn(
                    "W201",
                    f"this rule can never fire: the rule at line {earlier.line} "
                    f"('{earlier.id}') decides first whenever this one would match",
                    _head(later.rule.span, len(later.action)),
                )
                break


def _candidates(
    j: int, need: frozenset[str] | None, by_ext: dict[str, set[int]], unindexed: list[int]
) -> list[int]:
    """Earlier rules that may shadow rule ``j``, in policy order.

    A rule that needs an attachment with one of the extensions ``need`` can only be
    shadowed by an earlier rule whose own need covers all of them (or whose need is
    unknown): so a policy of thousands of extension rules compares each rule with a few,
    not with all. This may miss a shadowing that only a combination of conditions proves;
    a lint rule may stay silent, it must not warn wrongly.
    """
    if need is None:
        return list(range(j))
    found: set[int] | None = None
    for e in need:
        hits = by_ext.get(e, set())
        found = set(hits) if found is None else found & hits
        if not found:
            break
    return sorted((found or set()).union(unindexed))


def _pure_name_globs(cond: ast.Cond, implies: Implies) -> frozenset[str] | None:
    """The globs of a rule that is exactly ``attachment name matches/in GLOBS``, else None."""
    if isinstance(cond, ast.AnyAttachment) and isinstance(cond.pred, ast.AttTest):
        if isinstance(cond.pred, (ast.NameMatches, ast.NameIn)):
            return frozenset(g.lower() for g in implies.entries(cond.pred.operand))
    return None


def _globs_cannot_cover(outer: frozenset[str] | None, inner: frozenset[str] | None) -> bool:
    """A shortcut for the commonest pair in a big policy, two name-glob rules: a glob with
    wildcards is only covered by the same glob or by ``*`` (see ``implies._glob_covers``)."""
    if outer is None or not inner or any(globs.is_literal(g) for g in inner):
        return False
    return not (outer & inner) and not any(STARS.fullmatch(g) for g in outer)


_TERMINAL = re.compile(r"\.([A-Za-z0-9_~$-]+)\Z")
_TERMINAL_SET = re.compile(r"\.\{([A-Za-z0-9_~$-]+(?:,[A-Za-z0-9_~$-]+)*)\}\Z")


def _glob_terminals(glob: str) -> frozenset[str] | None:
    """The last extensions every name matching ``glob`` ends with, or None if unknown."""
    for rx in (_TERMINAL_SET, _TERMINAL):
        m = rx.search(glob)
        if m:
            return frozenset(x.lower() for x in m.group(1).split(","))
    return None


def _needed_exts(cond: ast.Cond, implies: Implies) -> frozenset[str] | None:
    """Extensions one of which some attachment must have for ``cond`` to hold, or None:
    the compiler's index keys (``conditions.trigger``), a glob read as the last extensions
    every name it matches ends with."""
    keys = index.trigger(cond, implies)
    if keys is None:
        return None
    out: set[str] = set()
    for kind, value in keys:
        exts = frozenset((value,)) if kind == "ext" else _glob_terminals(value)
        if exts is None:
            return None
        out |= exts
    return frozenset(out)


def _shadows(implies: Implies, earlier: ast.Rule, later: ast.Rule) -> bool:
    if earlier.unless is not None and later.unless is None:
        return False
    if not implies.run(later.condition, earlier.condition):
        return False
    return earlier.unless is None or implies.run(earlier.unless, later.unless)  # type: ignore[arg-type]


# ---- W202 unused-list ---------------------------------------------------------------------
def unused_list(policy: CheckedPolicy) -> Iterator[Diagnostic]:
    """A list that no rule refers to (a typo in a rule, or left over).

    Example::

        list executable = ["exe", "pif"]   # W202: no rule says `executable`
        block attachment "*.exe"
    """
    defined = policy.ast.lists
    used = {
        n.operand.name
        for r in policy.ast.rules
        for n in _leaves(r)
        if isinstance(n.operand, ast.ListRef)
    }
    # a misspelt reference is an error that already suggests the list: not unused as well
    used |= {
        close
        for name in used - defined.keys()
        for close in difflib.get_close_matches(name, sorted(defined), n=1, cutoff=0.6)
    }
    for name, stmt in defined.items():
        if name not in used:
            yield _warn(
                "W202", f"list '{name}' is never used", _head(stmt.span, len("list ") + len(name))
            )


# ---- W203 discard-loses-mail --------------------------------------------------------------
def discard_loses_mail(policy: CheckedPolicy) -> Iterator[Diagnostic]:
    """``discard`` drops mail without a trace; ``quarantine`` keeps a copy.

    Example::

        discard attachment "*.scr"         # W203: use quarantine; no mail is ever lost
    """
    for stmt in policy.ast.statements:
        if isinstance(stmt, ast.Default) and stmt.action == "discard":
            yield _warn(
                "W203",
                "'default discard' silently drops every message no rule "
                "decides (use quarantine to keep a copy)",
                stmt.span,
            )
        elif isinstance(stmt, ast.Rule) and stmt.action == "discard":
            yield _warn(
                "W203",
                "'discard' silently drops the message: nobody is told and "
                "nothing is kept (use quarantine to keep a copy)",
                _head(stmt.span, len("discard")),
            )


# ---- W207 broad-content-rule --------------------------------------------------------------
#: Active-content facts that ordinary mail carries every day, and what it is.
_COMMON_CONTENT: dict[type[ast.Leaf], tuple[str, str]] = {
    ast.HasMacros: (
        "macro workbooks and templates that partners and finance exchange daily",
        "'has auto-run macros'",
    ),
    ast.HasJavaScript: (
        "PDF forms that compute totals, and HTML mail with scripts",
        "'has launch action' or 'smuggles a file'",
    ),
}


def broad_content_rule(policy: CheckedPolicy) -> Iterator[Diagnostic]:
    """A stopping rule on a fact that common benign mail carries, with no exception.

    Example::

        block attachment has macros        # W207: also every partner's macro workbook
        block attachment has auto-run macros                   # fine: nothing benign needs it
        quarantine attachment has macros unless sender in trusted   # fine: an exception
    """
    for crule in policy.rules:
        r = crule.rule
        if crule.action not in ast.STOPPING_ACTIONS or r.unless is not None:
            continue
        for node in _positive_leaves(r.condition):
            found = _COMMON_CONTENT.get(type(node))
            if found is not None:
                what, narrower = found
                yield _warn(
                    "W207",
                    f"'{printer.leaf(node)}' also stops {what}; add an exception "
                    f"('unless sender in trusted') or say what is dangerous ({narrower})",
                    node.span,
                )
                break


def _positive_leaves(cond: ast.Cond) -> Iterator[ast.Leaf]:
    """The leaves of ``cond`` under an even number of ``not``s."""
    stack: list[tuple[ast.Cond, bool]] = [(cond, True)]
    while stack:
        node, positive = stack.pop()
        if isinstance(node, ast.Not):
            stack.append((node.item, not positive))
            continue
        stack.extend((c, positive) for c in reversed(ast.children(node)))
        if positive and isinstance(node, ast.Leaf):
            yield node


# ---- W204 broad-glob ----------------------------------------------------------------------
def broad_glob(policy: CheckedPolicy) -> Iterator[Diagnostic]:
    """A stopping rule whose multi-dot glob, or ``double extension`` list, catches benign names.

    Example::

        block attachment "*.*.*"                       # W204: matches test.tar.gz
        block attachment double extension in ["gz"]    # W204: test.tar.gz fires

    Single-extension globs (``*.gz``) are left alone: they clearly mean the last extension.
    """
    for crule in policy.rules:
        if crule.action not in ast.STOPPING_ACTIONS:
            continue
        for node, span in _positive_name_tests(crule.rule.condition, policy.lists):
            if isinstance(node, str):
                hits = _broad_glob_hits(node)
                if hits:
                    yield _warn(
                        "W204",
                        f"glob {node!r} also matches common benign names such "
                        f"as {', '.join(hits)}; name the extensions you mean "
                        '("*.{doc,xls}.{exe,pif}")',
                        span,
                    )
            else:
                exts = {e.lower() for e in node}
                hits = [n for n in BENIGN_NAMES if len(_exts(n)) >= 2 and _exts(n)[-1] in exts]
                if hits:
                    yield _warn(
                        "W204",
                        f"'double extension in' this list fires on common "
                        f"benign names such as {', '.join(hits[:3])}; keep "
                        "compression and numbering extensions out of it",
                        span,
                    )


def _positive_name_tests(
    cond: ast.Cond, lists: dict[str, tuple[str, ...]]
) -> Iterator[tuple[str | tuple[str, ...], ast.Span]]:
    """Name globs (as str) and double-extension lists (as tuples) that make ``cond`` fire.

    Globs under an odd number of ``not`` only make the rule fire less and are skipped.
    """
    for node in _positive_leaves(cond):
        if not isinstance(node, (ast.NameMatches, ast.NameIn, ast.DoubleExtensionIn)):
            continue
        op = node.operand
        values = (
            lists.get(op.name, ())
            if isinstance(op, ast.ListRef)
            else tuple(i.value for i in op.items)
            if isinstance(op, ast.ListLit)
            else (op.value,)
            if isinstance(op, ast.Str)
            else ()
        )
        span = op.span if op is not None else node.span
        if isinstance(node, (ast.NameMatches, ast.NameIn)):
            yield from ((v, span) for v in values)
        elif isinstance(node, ast.DoubleExtensionIn):
            yield values, span


def _dots(glob: str) -> int:
    return re.sub(r"\[[^\]]*\]", "", glob).count(".")


def _exts(name: str) -> list[str]:
    return [p.lower() for p in name.split(".")[1:]]


def _broad_glob_hits(glob: str) -> list[str]:
    """Benign names ``glob`` matches because of a wildcard where an extension stands."""
    if _dots(glob) < 2 or globs.validate(glob) is not None:
        return []
    hits = []
    for name in BENIGN_NAMES:
        if not globs.match(glob, name):
            continue
        stem, *exts = name.split(".")
        for k in range(len(exts)):
            mutated = ".".join([stem, *exts[:k], "zqx", *exts[k + 1 :]])
            if globs.match(glob, mutated):
                hits.append(name)
                break
    return hits[:3]


# ---- W205 empty-list / W206 duplicate-entry ------------------------------------------------
def empty_list(policy: CheckedPolicy) -> Iterator[Diagnostic]:
    """A list with no entries matches nothing, so the test using it is always false.

    Example::

        list blocked = []                  # W205 (also a list file with only comments)
    """
    for name, stmt in policy.ast.lists.items():
        if name in policy.lists and not policy.lists[name]:
            where = f"list file '{stmt.file.value}'" if stmt.file else f"list '{name}'"
            yield _warn(
                "W205",
                f"{where} has no entries, so it matches nothing",
                stmt.file.span if stmt.file else _head(stmt.span, 5 + len(name)),
            )
    for _, lit in _inline_lists(policy):
        if not lit.items:
            yield _warn("W205", "an empty list matches nothing", lit.span)


def duplicate_entry(policy: CheckedPolicy) -> Iterator[Diagnostic]:
    """The same entry twice in one list (entries compare case-insensitively).

    Example::

        list executable = ["exe", "pif", "EXE"]   # W206 on "EXE"
    """
    for name, stmt in policy.ast.lists.items():
        if stmt.items is not None:
            yield from _duplicates([(i.value, i.span) for i in stmt.items], f"list '{name}'")
        elif stmt.file is not None and name in policy.lists:
            yield from _duplicates(
                [(e, stmt.file.span) for e in policy.lists[name]], f"list file '{stmt.file.value}'"
            )
    for _, lit in _inline_lists(policy):
        yield from _duplicates([(i.value, i.span) for i in lit.items], "this list")


def _duplicates(items: list[tuple[str, ast.Span]], where: str) -> Iterator[Diagnostic]:
    seen: set[str] = set()
    for value, span in items:
        key = value.lower()
        if key in seen:
            yield _warn("W206", f"{value!r} appears more than once in {where}", span)
        seen.add(key)


# ---- the pass -------------------------------------------------------------------------------
#: (issue code, rule) in the order they run.
# ---- W208 size-without-unit ---------------------------------------------------------------
def size_without_unit(policy: CheckedPolicy) -> Iterator[Diagnostic]:
    """A size under 1 KB written without a unit: bytes, where a unit was surely meant.

    Example::

        block attachment size > 10          # W208: ten bytes; write 10MB (or 10B)

    0 and 1 are left alone: ``size == 0``, ``size < 1`` and ``size > 0`` mean "empty" and
    "not empty", written on purpose.
    """
    for crule in policy.rules:
        for node in _leaves(crule.rule):
            if isinstance(node, (ast.MessageSize, ast.AttachmentSize)):
                n = node.operand
                if isinstance(n, ast.Number) and n.unit is None and 1 < n.value < 1000:
                    yield _warn(
                        "W208",
                        f"'size {node.op} {n.text}' compares with {n.text} bytes; give the "
                        f"unit: {n.text}KB or {n.text}MB (MB is 10^6 bytes, MiB 2^20), or "
                        f"{n.text}B if bytes are meant",
                        n.span,
                    )


LINTS: tuple[tuple[str, LintRule], ...] = (
    ("W201", shadowed_rule),
    ("W202", unused_list),
    ("W203", discard_loses_mail),
    ("W204", broad_glob),
    ("W205", empty_list),
    ("W206", duplicate_entry),
    ("W207", broad_content_rule),
    ("W208", size_without_unit),
    ("W209", lint_trust.unauthenticated_trust),
    ("W210", expiry.entry_expires_soon),
    ("W211", expiry.entry_expired),
    ("W212", lint_trust.no_authserv_id),
)


def lint(policy: CheckedPolicy) -> list[Diagnostic]:
    """Every warning of every lint rule, sorted by position."""
    out: list[Diagnostic] = []
    for code, rule in LINTS:
        for diag in rule(policy):
            assert diag.code == code, (rule.__name__, diag.code)
            out.append(diag)
    return sorted(out, key=Diagnostic.sort_key)


def _warn(code: str, message: str, span: ast.Span) -> Diagnostic:
    assert code in CODES, code
    return warning(code, message, span)


def _head(span: ast.Span, width: int) -> ast.Span:
    return dataclasses.replace(
        span, end_line=span.line, end_column=span.column + width, end=span.start + width
    )


def _leaves(rule: ast.Rule) -> Iterator[ast.Test | ast.AttTest]:
    for cond in (rule.condition, rule.unless):
        if cond is not None:
            for node in ast.walk(cond):
                if isinstance(node, (ast.Test, ast.AttTest)):
                    yield node


def _inline_lists(policy: CheckedPolicy) -> Iterator[tuple[CheckedRule, ast.ListLit]]:
    for crule in policy.rules:
        for node in _leaves(crule.rule):
            if isinstance(node.operand, ast.ListLit):
                yield crule, node.operand
