"""The rule index: which facts of a message can make a rule fire.

``needs(cond, lists)`` derives, from the table's ``index`` of each leaf, a necessary
condition on the facts of a message: a set of keys (``entry.Key``: ``("ext", "exe")``,
``("address", "sender", "*@spam.example")``, ``("contains", "subject", "invoice")``,
``("count", "size", ">", 10485760)``, ``("fact", "type", "class", "executable")``) one of
which the message must hit for ``cond`` to hold, or None when no such set is known:

- a leaf: its entry's keys (``message size != N``, ``contains ""``: None);
- ``a and b``: the cheapest known need of the items (``cost``: a need read from names,
  addresses and texts before a count, a count before a fact that decodes the attachment,
  then the fewest keys); ``a or b``: the union, unknown if either is;
- ``contains P``: ``P``'s name keys read from the members' names (``("member", "ext",
  e)``, ``("member", "glob", g)``), or, when ``P`` has no need read from names alone,
  ``("member", "any")``: some attachment has members (``member_needs``);
- ``not``: unknown.

The compiled matcher indexes every rule by its need (``index_rules.RuleIndex``) and tries
only the rules whose keys a message hits, plus those whose need is unknown.

``trigger(cond, lists)`` is the narrower need on attachment names alone (``ext`` and
``glob`` keys), which lint uses to compare each rule with only the earlier rules that
could shadow it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from mailpolicy.policy import ast
from mailpolicy.policy.attachment_kinds import FactKind
from mailpolicy.policy.conditions import ENTRIES, IndexKey, Key, Lists, Need, Trigger

K = TypeVar("K")


def trigger(node: ast.Cond, lists: Lists) -> Trigger:
    """A necessary condition on attachment names for ``node`` to hold, or None.

    ``attachment extension in [exe, pif]`` -> ``{("ext", "exe"), ("ext", "pif")}``;
    ``a and b``: the smaller known trigger; ``a or b``: the union, unknown if either is;
    ``not``, ``archive contains`` and message-level tests: unknown.
    """
    if isinstance(node, ast.AnyAttachment):
        return _att_trigger(node.pred, lists)
    return _combine(node, lambda n: trigger(n, lists), len)


def _att_trigger(node: ast.Cond, lists: Lists) -> Trigger:
    if isinstance(node, ast.AttTest):
        return _names_only(ENTRIES[type(node)].index(node, lists))
    return _combine(node, lambda n: _att_trigger(n, lists), len)


def _names_only(need: Need) -> Trigger:
    if need is None:
        return None
    out: set[IndexKey] = set()
    for key in need:
        if len(key) != 2 or not isinstance(key[1], str):
            return None
        if key[0] == "ext":
            out.add(("ext", key[1]))
        elif key[0] == "glob":
            out.add(("glob", key[1]))
        else:
            return None
    return frozenset(out)


def needs(node: ast.Cond, lists: Lists) -> Need:
    """A necessary condition on the facts of a message for ``node`` to hold, or None (see
    the module docstring). ``sender matches "*@x.example" and attachment extension "exe"``
    -> ``{("address", "sender", "*@x.example")}`` (one key rather than a count or a fact)."""
    if isinstance(node, ast.AnyAttachment):
        return _att_needs(node.pred, lists)
    if isinstance(node, ast.Test):
        return ENTRIES[type(node)].index(node, lists)
    return _combine(node, lambda n: needs(n, lists), cost)


def _att_needs(node: ast.Cond, lists: Lists) -> Need:
    if isinstance(node, ast.AttTest):
        return ENTRIES[type(node)].index(node, lists)
    if isinstance(node, ast.ArchiveContains):
        return member_needs(_att_needs(node.pred, lists))
    return _combine(node, lambda n: _att_needs(n, lists), cost)


#: ``contains P`` holds only on an attachment that has members: the need of a ``contains``
#: whose ``P`` has no need read from names.
HAS_MEMBERS: Key = ("member", "any")


def member_needs(inner: Need) -> Need:
    """The need of ``contains P`` from the need of ``P`` on one member: ``P``'s name keys
    read from the members' names (``("member", "ext", e)``, ``("member", "glob", g)``) when
    every key of ``P``'s need is one (a member's own member is a member too, so the member
    keys of a nested ``contains`` stay); otherwise that some attachment has members."""
    if inner is None or not inner:
        return frozenset({HAS_MEMBERS})
    out: set[Key] = set()
    for key in inner:
        if key[0] in ("ext", "glob") and len(key) == 2:
            out.add(("member", *key))
        elif key[0] == "member":
            out.add(key)
        else:
            return frozenset({HAS_MEMBERS})
    return frozenset(out)


def _combine(
    node: ast.Cond,
    inner: Callable[[ast.Cond], frozenset[K] | None],
    rank: Callable[[frozenset[K]], Any],
) -> frozenset[K] | None:
    if isinstance(node, ast.And):
        found = [t for t in (inner(i) for i in node.items) if t is not None]
        return min(found, key=rank) if found else None
    if isinstance(node, ast.Or):
        parts: list[frozenset[K]] = []
        for i in node.items:
            t = inner(i)
            if t is None:
                return None
            parts.append(t)
        return frozenset[K]().union(*parts)
    return None


@cache
def fact_entry(field: str, op: str) -> FactKind:
    """The attachment fact kind whose keyword is ``(field, op)`` (a ``("fact", ...)`` key)."""
    return next(e for e in ENTRIES.values() if isinstance(e, FactKind) and e.keyword == (field, op))


def tier(key: Key) -> int:
    """How dear a key is to read, and how often it is hit: 0 for names, addresses, texts
    and message flags; 1 for a message count; 2 for an attachment fact that may decode or
    parse the attachment (its type, archive, content, its members' names); 3 for an
    attachment size."""
    if key[0] == "count":
        return 1
    if key[0] == "member":
        return 2
    if key[0] == "fact":
        entry = fact_entry(str(key[1]), str(key[2]))
        if not entry.lazy:
            return 0
        return 3 if entry.indexed == "compare" else 2
    return 0


def cost(need: frozenset[Key]) -> tuple[int, int]:
    """The rank of a need among the items of an ``and``: its dearest key, then its size."""
    return max((tier(k) for k in need), default=0), len(need)
