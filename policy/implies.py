"""A conservative implication check between conditions: ``a => b``, used by lint's W201.

It says "implies" only when sure: leaves about the same value compared as intervals of
numbers, sets of extensions or sets of globs (``*.pif`` covers ``extension "pif"``), an
encrypted archive is one that exceeds the limits, and ``and``/``or``/``not`` by their
structure. Anything that needs real reasoning about globs or text is "not implied". Each
question has a step budget (``IMPLIES_BUDGET``) and the whole run another
(``TOTAL_BUDGET``), so a policy of thousands of rules stays fast.
"""

from __future__ import annotations

import functools
import re

from mailpolicy.policy import ast, conditions, globs

#: How many implication steps one pair of rules may cost before we give up (not shadowed).
IMPLIES_BUDGET = 5000
#: Implication steps for the whole of W201: a policy of thousands of rules is checked as
#: far as this goes (pairs are quadratic; about 4 s here), and the rest is not reported.
TOTAL_BUDGET = 1_000_000


def leaf_fields(cond: ast.Cond) -> frozenset[str]:
    return frozenset(_field(n) for n in ast.walk(cond) if isinstance(n, (ast.Test, ast.AttTest)))


class Implies:
    """Conservative ``a => b`` over conditions, with resolved list entries."""

    def __init__(self, lists: dict[str, tuple[str, ...]]) -> None:
        self.lists = lists
        self.total = TOTAL_BUDGET
        self.budget = IMPLIES_BUDGET
        self._facts: dict[int, tuple[str | None, str, frozenset[str]]] = {}
        self._keep: list[ast.Cond] = []

    @property
    def exhausted(self) -> bool:
        return self.total <= 0

    def run(self, a: ast.Cond, b: ast.Cond) -> bool:
        """``a => b``, within a fresh per-question budget."""
        self.budget = IMPLIES_BUDGET
        return self._run(a, b)

    def _run(self, a: ast.Cond, b: ast.Cond) -> bool:
        self.budget -= 1
        self.total -= 1
        if self.budget < 0 or self.total < 0:
            return False
        ta, tb = type(a), type(b)
        if isinstance(a, _LEAVES) and isinstance(b, _LEAVES):
            return self.leaf(a, b)
        if a == b:
            return True
        if tb is ast.Or and any(self._run(a, x) for x in b.items):  # type: ignore[union-attr]
            return True
        if ta is ast.Or and all(self._run(x, b) for x in a.items):  # type: ignore[union-attr]
            return True
        if tb is ast.And and all(self._run(a, x) for x in b.items):  # type: ignore[union-attr]
            return True
        if ta is ast.And and any(self._run(x, b) for x in a.items):  # type: ignore[union-attr]
            return True
        if ta is tb and ta is ast.Not:
            return self._run(b.item, a.item)  # type: ignore[union-attr]
        if ta is tb and ta in (ast.AnyAttachment, ast.ArchiveContains):
            return self._run(a.pred, b.pred)  # type: ignore[union-attr]
        return False

    def entries(self, operand: ast.Operand | None) -> tuple[str, ...]:
        if isinstance(operand, ast.ListRef):
            return self.lists.get(operand.name, ())
        if isinstance(operand, ast.ListLit):
            return tuple(i.value for i in operand.items)
        if isinstance(operand, ast.Str):
            return (operand.value,)
        return ()

    def fact(self, node: ast.Test | ast.AttTest) -> tuple[str | None, str, frozenset[str]]:
        """(kind, field, entries) of a leaf, computed once per node."""
        key = id(node)
        found = self._facts.get(key)
        if found is None:
            found = (_kind(node), _field(node), frozenset(self.entries(node.operand)))
            self._facts[key] = found
            self._keep.append(node)  # ids stay unique while the node is alive
        return found

    def leaf(self, a: ast.Test | ast.AttTest, b: ast.Test | ast.AttTest) -> bool:
        ka, field_a, sa = self.fact(a)
        kb, field_b, sb = self.fact(b)
        if isinstance(a, ast.ArchiveEncrypted) and isinstance(b, ast.ArchiveExceedsLimits):
            return True  # an encrypted archive is one that cannot be inspected
        if ka is None or kb is None or field_a != field_b:
            return a == b
        if ka == "interval" or kb == "interval":
            return ka == kb and _interval_implies(a, b)
        if not sa or not sb:
            return False
        if ka == "globs" and kb == "globs":
            return all(any(_glob_covers(g2, g1) for g2 in sb) for g1 in sa)
        if ka in ("ext", "dext") and kb in ("ext", "dext"):
            return (kb == "ext" or ka == "dext") and {e.lower() for e in sa} <= {
                e.lower() for e in sb
            }
        if ka in ("ext", "dext") and kb == "globs":
            return all(any(_glob_covers_ext(g, e) for g in sb) for e in sa)
        if ka == "globs" and kb == "ext":
            wanted = {e.lower() for e in sb}
            return all(
                _glob_exts(g) is not None and _glob_exts(g) <= wanted  # type: ignore[operator]
                for g in sa
            )
        return False


_LEAVES = (ast.Test, ast.AttTest)


def _kind(node: ast.Leaf) -> str | None:
    """How the implication check compares a leaf: as an interval of numbers, a set of
    extensions (``ext``, ``dext``), a set of globs, or only by equality (None)."""
    match node:
        case ast.MessageSize() | ast.AttachmentCount() | ast.AttachmentSize():
            return "interval" if isinstance(node.operand, ast.Number) else None
        case ast.ExtensionIn() | ast.ExtensionIs():
            return "ext"
        case ast.DoubleExtensionIn():
            return "dext"
        case ast.NameMatches() | ast.NameIn() | ast.SenderIn() | ast.SenderMatches():
            return "globs"
        case ast.RecipientIn() | ast.RecipientMatches() | ast.DeclaredType() | ast.TypeMime():
            return "globs"
        case _:
            return None


def _field(node: ast.Leaf) -> str:
    """Which value a leaf looks at (``name`` and ``extension`` look at the same name)."""
    level = "att" if isinstance(node, ast.AttTest) else "msg"
    field = conditions.keyword(node)[0]
    name = "name" if field in ("name", "extension", "double_extension") else field
    return f"{level}:{name}"


def _interval(node: ast.Test | ast.AttTest) -> tuple[float, float] | None:
    assert isinstance(node.operand, ast.Number)
    n = node.operand.value
    return {
        ">": (n + 1, float("inf")),
        ">=": (n, float("inf")),
        "<": (float("-inf"), n - 1),
        "<=": (float("-inf"), n),
        "==": (n, n),
    }.get(node.op)


def _interval_implies(a: ast.Test | ast.AttTest, b: ast.Test | ast.AttTest) -> bool:
    if type(a) is not type(b):
        return False
    ia, ib = _interval(a), _interval(b)
    if ia is None or ib is None or ia[0] > ia[1]:
        return False
    return ib[0] <= ia[0] and ia[1] <= ib[1]


STARS = re.compile(r"\*+")
_SUFFIX = re.compile(r"\*\.(?:([A-Za-z0-9_~$-]+)|\{([A-Za-z0-9_~$-]+(?:,[A-Za-z0-9_~$-]+)*)\})")


@functools.lru_cache(maxsize=65536)
def _glob_covers(outer: str, inner: str) -> bool:
    """True when every string ``inner`` matches, ``outer`` matches too (conservatively)."""
    if outer.lower() == inner.lower() or STARS.fullmatch(outer):
        return True
    return globs.is_literal(inner) and globs.match(outer, inner)


def _glob_exts(glob: str) -> frozenset[str] | None:
    """``{"pif"}`` for ``*.pif``, ``{"doc", "xls"}`` for ``*.{doc,xls}``, else None."""
    m = _SUFFIX.fullmatch(glob)
    if not m:
        if globs.is_literal(glob) and "." in glob.strip(".") and not glob.startswith("."):
            return frozenset({glob.rsplit(".", 1)[1].lower()})
        return None
    return frozenset(x.lower() for x in (m.group(1) or m.group(2)).split(","))


def _glob_covers_ext(glob: str, ext: str) -> bool:
    """True when ``glob`` matches every name whose last extension is ``ext``."""
    if STARS.fullmatch(glob):
        return True
    m = _SUFFIX.fullmatch(glob)
    return bool(m) and ext.lower() in (_glob_exts(glob) or ())
