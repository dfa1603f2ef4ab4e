"""A small reduced ordered binary decision diagram (BDD), enough for the semantic diff.

Nodes are integers into one table (``0`` false, ``1`` true); ``mk`` keeps the table
reduced and shared, ``ite`` is the one memoised operation the others are written with.
Variables are integers; a smaller number sits nearer the root. ``cube`` walks one path to
true, taking the false branch first, so the assignment it returns sets as few variables
true as the diagram allows (fewer attachments, fewer facts). Nothing here knows what a
variable means.
"""

from __future__ import annotations

from collections.abc import Mapping

FALSE, TRUE = 0, 1
_LEAF = 1 << 60  # the "variable" of the two constant nodes: below every real variable


class BDD:
    """One manager: its node table, unique table and ``ite`` cache."""

    def __init__(self) -> None:
        self.nodes: list[tuple[int, int, int]] = [(_LEAF, 0, 0), (_LEAF, 1, 1)]
        self.unique: dict[tuple[int, int, int], int] = {}
        self.cache: dict[tuple[int, int, int], int] = {}

    def mk(self, var: int, lo: int, hi: int) -> int:
        if lo == hi:
            return lo
        key = (var, lo, hi)
        found = self.unique.get(key)
        if found is None:
            found = self.unique[key] = len(self.nodes)
            self.nodes.append(key)
        return found

    def var(self, v: int) -> int:
        return self.mk(v, FALSE, TRUE)

    def _top(self, f: int) -> int:
        return self.nodes[f][0]

    def _cof(self, f: int, v: int, value: int) -> int:
        var, lo, hi = self.nodes[f]
        if var != v:
            return f
        return hi if value else lo

    def ite(self, f: int, g: int, h: int) -> int:
        if f == TRUE:
            return g
        if f == FALSE:
            return h
        if g == h:
            return g
        if g == TRUE and h == FALSE:
            return f
        key = (f, g, h)
        found = self.cache.get(key)
        if found is not None:
            return found
        v = min(self._top(f), self._top(g), self._top(h))
        lo = self.ite(self._cof(f, v, 0), self._cof(g, v, 0), self._cof(h, v, 0))
        hi = self.ite(self._cof(f, v, 1), self._cof(g, v, 1), self._cof(h, v, 1))
        found = self.cache[key] = self.mk(v, lo, hi)
        return found

    def neg(self, f: int) -> int:
        return self.ite(f, FALSE, TRUE)

    def conj(self, f: int, g: int) -> int:
        return self.ite(f, g, FALSE)

    def disj(self, f: int, g: int) -> int:
        return self.ite(f, TRUE, g)

    def _reduce(self, fs: list[int], unit: int, op: str) -> int:
        """``op`` over ``fs`` pairwise (a balanced tree: n log n, not n squared)."""
        items = list(fs) or [unit]
        while len(items) > 1:
            pairs = [
                self.conj(x, y) if op == "and" else self.disj(x, y)
                for x, y in zip(items[::2], items[1::2], strict=False)
            ]
            items = pairs + ([items[-1]] if len(items) % 2 else [])
        return items[0]

    def all(self, fs: list[int]) -> int:
        return self._reduce(fs, TRUE, "and")

    def any(self, fs: list[int]) -> int:
        return self._reduce(fs, FALSE, "or")

    def cube_of(self, assignment: Mapping[int, bool]) -> int:
        """The conjunction of the literals of ``assignment``, built bottom-up in one pass."""
        out = TRUE
        for v in sorted(assignment, reverse=True):
            out = self.mk(v, FALSE, out) if assignment[v] else self.mk(v, out, FALSE)
        return out

    def cube(self, f: int) -> dict[int, bool] | None:
        """One path of ``f`` to true (false branches first), or None when ``f`` is false."""
        if f == FALSE:
            return None
        out: dict[int, bool] = {}
        while f != TRUE:
            var, lo, hi = self.nodes[f]
            if lo != FALSE:
                out[var], f = False, lo
            else:
                out[var], f = True, hi
        return out

    def restrict(self, f: int, assignment: dict[int, bool]) -> int:
        """``f`` with the variables of ``assignment`` fixed."""
        memo: dict[int, int] = {}

        def go(n: int) -> int:
            if n <= TRUE:
                return n
            hit = memo.get(n)
            if hit is not None:
                return hit
            var, lo, hi = self.nodes[n]
            if var in assignment:
                out = go(hi if assignment[var] else lo)
            else:
                out = self.mk(var, go(lo), go(hi))
            memo[n] = out
            return out

        return go(f)
