"""Multi-pattern matchers of the rule index: many needles, globs, addresses or thresholds
answered for one value at a cost that grows with the value (and the hits), not with the
number of patterns.

- ``Needles``: which of N casefolded needles occur in a text (``contains``). One
  Aho-Corasick automaton (ahocorasick-rs, chosen by measurement: BENCHMARKS.md table 6);
  without the library, one ``in`` test per needle (correct, linear in the needles).
- ``GlobIndex``: which of N globs match a whole text (``matches``, ``name in``). The globs
  a ``GlobSet`` can put in tables (literal, ``*suffix``, ``prefix*``, ``prefix*suffix``)
  go there; every other glob (``*invoice*.exe``) is filed under its longest required
  ASCII literal, found by one ``Needles`` search over the folded text, and only the globs
  whose literal occurs are verified with their own expression. A glob with no such
  literal (``*?*``, ``[0-9]*``) is verified on every text.
- ``AddressIndex``: which entries of every ``sender|recipient in``/``matches`` list an
  address belongs to (``sets.address_in``): address globs through a ``GlobIndex`` over the
  address, domain entries through a ``GlobIndex`` over the domain plus a table of literal
  domains walked label by label (a subdomain belongs to its parent).
- ``Thresholds``: which ``OP N`` comparisons a number satisfies (``size``,
  ``attachments``), by bisection in sorted thresholds.

Each answers exactly what the condition's own test answers (property tests hold it), so
the index only ever removes rules that cannot fire. Everything here pickles.
"""

from __future__ import annotations

import bisect
import importlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from mailpolicy.policy import globs
from mailpolicy.policy.sets import GlobSet, fold

_ac: Any
try:  # an optional accelerator: without it Needles tests each needle in turn
    _ac = importlib.import_module("ahocorasick_rs")
except ImportError:  # pragma: no cover - depends on the installation
    _ac = None

#: Below this many needles, one ``in`` per needle beats building the automaton's answer.
FEW_NEEDLES = 4


class Needles:
    """Which of ``patterns`` occur in a text (the caller casefolds or folds both)."""

    def __init__(self, patterns: Iterable[str], *, automaton: bool | None = None) -> None:
        self.patterns = tuple(patterns)
        use = len(self.patterns) > FEW_NEEDLES if automaton is None else automaton
        self._auto: Any = None
        if use and _ac is not None and self.patterns:
            self._auto = self._build()

    def _build(self) -> Any:
        assert _ac is not None
        return _ac.AhoCorasick(self.patterns, matchkind=_ac.MatchKind.Standard)

    def __getstate__(self) -> dict[str, Any]:
        return {"patterns": self.patterns, "auto": self._auto is not None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.patterns = state["patterns"]
        self._auto = self._build() if state["auto"] and _ac is not None else None

    def found(self, text: str) -> set[int]:
        """Indices of the patterns that occur in ``text``."""
        if self._auto is not None:
            return {i for i, _, _ in self._auto.find_matches_as_indexes(text, True)}
        return {i for i, p in enumerate(self.patterns) if p in text}


_ASCII_RUN = re.compile(r"[\x00-\x7f]+")


def required_literal(glob: str) -> str:
    """The longest ASCII run of a literal that every text matching ``glob`` contains,
    lower-cased (``"*inv7*.exe"`` -> ``"inv7"``... or ``".exe"``, the longer), or ``""``.

    Only literals at the top level of the glob count (not inside ``{a,b}``), and only
    their ASCII runs: ``re.IGNORECASE`` matches an ASCII character only with itself, its
    other case, and the four characters ``sets.fold`` maps, so the run occurs in the
    folded text of every match."""
    tree = globs.parse(glob)
    items = tree.items if isinstance(tree, globs.Seq) else (tree,)
    runs = [
        r.lower() for p in items if isinstance(p, globs.Lit) for r in _ASCII_RUN.findall(p.text)
    ]
    return max(runs, key=len, default="")


class GlobIndex:
    """Which of ``patterns`` match a whole text (``globs.match``), see the module doc."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(dict.fromkeys(patterns))
        probe = GlobSet(self.patterns)
        rest = {i for i, _ in probe.rest}
        tabled = [i for i in range(len(self.patterns)) if i not in rest]
        self.tables = GlobSet(self.patterns[i] for i in tabled)
        self.tabled = tuple(tabled)  # position in ``tables`` -> position in ``patterns``
        by_literal: dict[str, list[int]] = {}
        self.unfiltered: list[tuple[int, re.Pattern[str]]] = []
        for i in sorted(rest):
            lit = required_literal(self.patterns[i])
            if lit:
                by_literal.setdefault(lit, []).append(i)
            else:
                self.unfiltered.append((i, globs.compile_glob(self.patterns[i])))
        self.literals = Needles(by_literal)
        self.filed = tuple(
            tuple((i, globs.compile_glob(self.patterns[i])) for i in ids)
            for ids in by_literal.values()
        )

    def matching(self, text: str) -> list[int]:
        """Indices (into ``patterns``) of every glob that matches ``text``."""
        tabled = self.tabled
        out = [tabled[i] for i in self.tables.matching(text)]
        if self.filed:
            for k in self.literals.found(fold(text)):
                out.extend(i for i, rx in self.filed[k] if rx.match(text))
        out.extend(i for i, rx in self.unfiltered if rx.match(text))
        return out


class AddressIndex:
    """Which address entries an address belongs to: ``globs`` are matched against the
    whole address (``sender matches``, and ``in`` entries with ``@``), ``domains`` (``in``
    entries without ``@``) against its domain and, when literal, its parent domains."""

    def __init__(self, address_globs: Sequence[str], domains: Sequence[str]) -> None:
        self.globs = GlobIndex(address_globs)
        self.address_ids = tuple(self._positions(address_globs, self.globs.patterns))
        wanted = [d.lower().lstrip("@") for d in domains]
        self.domain_globs = GlobIndex(wanted)
        self.domain_ids = tuple(self._positions(wanted, self.domain_globs.patterns))
        self.parents: dict[str, list[int]] = {}
        for k, d in enumerate(wanted):
            if globs.is_literal(d):
                self.parents.setdefault(d, []).append(k)

    @staticmethod
    def _positions(items: Sequence[str], unique: tuple[str, ...]) -> list[list[int]]:
        where: dict[str, list[int]] = {}
        for k, item in enumerate(items):
            where.setdefault(item, []).append(k)
        return [where[u] for u in unique]

    def matching(self, address: str) -> tuple[list[int], list[int]]:
        """(positions in ``address_globs``, positions in ``domains``) that ``address``
        belongs to."""
        ids = self.address_ids
        found = [k for i in self.globs.matching(address) for k in ids[i]]
        domain = address.rsplit("@", 1)[-1].lower()
        dids = self.domain_ids
        in_domains = [k for i in self.domain_globs.matching(domain) for k in dids[i]]
        if self.parents:
            at = domain.find(".")
            while at >= 0:
                in_domains.extend(self.parents.get(domain[at + 1 :], ()))
                at = domain.find(".", at + 1)
        return found, in_domains


class Thresholds:
    """Which of ``items`` (``(op, value)`` pairs, ``op`` one of ``> >= < <= ==``) a number
    satisfies; ``hits(n)`` gives their positions."""

    def __init__(self, items: Sequence[tuple[str, int]]) -> None:
        def table(op: str) -> tuple[list[int], list[int]]:
            pairs = sorted((v, k) for k, (o, v) in enumerate(items) if o == op)
            return [v for v, _ in pairs], [k for _, k in pairs]

        self.gt, self.ge, self.lt, self.le = (table(op) for op in (">", ">=", "<", "<="))
        self.eq: dict[int, list[int]] = {}
        for k, (o, v) in enumerate(items):
            if o == "==":
                self.eq.setdefault(v, []).append(k)

    def hits(self, n: int) -> list[int]:
        out = list(self.eq.get(n, ()))
        values, ids = self.gt  # value < n
        out.extend(ids[: bisect.bisect_left(values, n)])
        values, ids = self.ge  # value <= n
        out.extend(ids[: bisect.bisect_right(values, n)])
        values, ids = self.lt  # value > n
        out.extend(ids[bisect.bisect_right(values, n) :])
        values, ids = self.le  # value >= n
        out.extend(ids[bisect.bisect_left(values, n) :])
        return out
