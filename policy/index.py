"""The rule index: which attachment names can make a rule fire.

``trigger(cond, lists)`` derives, from the table's ``index`` of each leaf, a necessary
condition on attachment names: a set of index keys (``("ext", "exe")``, ``("glob",
"*.pif")``) one of which some attachment name must hit for ``cond`` to hold, or None when
no such set is known. The compiled matcher indexes rules by it, and lint uses it to
compare each rule with only the earlier rules that could shadow it.
"""

from __future__ import annotations

from collections.abc import Callable

from mailpolicy.policy import ast
from mailpolicy.policy.conditions import ENTRIES, IndexKey, Lists, Trigger


def trigger(node: ast.Cond, lists: Lists) -> Trigger:
    """A necessary condition on attachment names for ``node`` to hold, or None.

    ``attachment extension in [exe, pif]`` -> ``{("ext", "exe"), ("ext", "pif")}``;
    ``a and b``: the smaller known trigger; ``a or b``: the union, unknown if either is;
    ``not``, ``archive contains`` and message-level tests: unknown.
    """
    if isinstance(node, ast.AnyAttachment):
        return _att_trigger(node.pred, lists)
    return _combine(node, lambda n: trigger(n, lists))


def _att_trigger(node: ast.Cond, lists: Lists) -> Trigger:
    if isinstance(node, ast.AttTest):
        return ENTRIES[type(node)].index(node, lists)
    return _combine(node, lambda n: _att_trigger(n, lists))


def _combine(node: ast.Cond, inner: Callable[[ast.Cond], Trigger]) -> Trigger:
    if isinstance(node, ast.And):
        found = [t for t in (inner(i) for i in node.items) if t is not None]
        return min(found, key=len) if found else None
    if isinstance(node, ast.Or):
        parts: list[frozenset[IndexKey]] = []
        for i in node.items:
            t = inner(i)
            if t is None:
                return None
            parts.append(t)
        return frozenset().union(*parts)
    return None
