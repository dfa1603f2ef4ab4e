"""Automata over attachment names and addresses: "is there a name that matches these and
none of those?", answered with the shortest such name, or None when there is none.

A query (``Query.find``) names *leaves*, each a fact about one string:

- ``GlobLeaf(pat)``: the string as a whole matches a glob tree (``policy.globs.parse``),
  case-insensitively as ``globs.match`` does (each character is tested against each
  glob atom by Python's ``re`` with ``IGNORECASE``, so case folding is the engine's own);
- ``ExtLeaf(exts, double)`` (``extensions.py``): the last extension of the name, as
  ``corpus.names.extensions`` reads it (parts after the stem, stripped of blanks, each
  in its confusable skeleton), is one of ``exts``; with ``double``, the extension
  before it also looks real (``entry.is_double_extension``: 1 to 4 characters, not all
  digits);
- ``TRICKY``: the name uses a trick ``corpus.names.tricks`` reports that our alphabet can
  spell: padding (a run of 4 blanks before the last extension) or a homoglyph extension.

Names are read *reversed*, so the last extension, the one before it and every ``*.ext``
glob are decided by the first few characters read (the reversed suffix automaton of an
extension list is a trie of reversed extensions), and the search is a breadth-first walk
over the product of one extension automaton and one subset-constructed NFA per glob.
Characters are grouped into classes that every leaf of the query treats alike; each class
is tried once, through its most readable member.

Names searched are those the engine can see after ``names.normalize``: no ``/``, ``\\`` or
NUL, not ending in a dot or a space. The alphabet (``Alphabet``) is finite: ASCII
printable characters, every character the policies write and its case variants, the
non-ASCII characters ``re.IGNORECASE`` folds to ASCII (``sets.FOLD``), the look-alike
letters of ``names.CONFUSABLES``, full-width letters, a no-break space and two other
letters. A difference that only a character outside it shows is not found (see the
README's limits).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from mailpolicy.corpus import names as _names
from mailpolicy.policy import globs
from mailpolicy.policy.entry import is_double_extension
from mailpolicy.policy.semantic.extensions import SPACE, ExtAutomaton, ExtLeaf, ExtState, sk
from mailpolicy.policy.sets import FOLD

__all__ = [
    "TRICKY",
    "Alphabet",
    "ExtLeaf",
    "GlobLeaf",
    "Query",
    "TrickyLeaf",
    "Undecided",
    "matches",
    "sample",
]

#: Product states a single query may visit before it gives up (``Undecided``).
MAX_STATES = 200_000

_PREFERRED = "aex" + "bcdfghijklmnopqrstuvwyz0123456789"


class Undecided(Exception):
    """A query visited more than ``MAX_STATES`` states."""


@dataclass(frozen=True, slots=True)
class GlobLeaf:
    pat: globs.Pat


@dataclass(frozen=True, slots=True)
class TrickyLeaf:
    pass


TRICKY = TrickyLeaf()
Leaf = GlobLeaf | ExtLeaf | TrickyLeaf


# ---- the alphabet ---------------------------------------------------------------------------
def _variants(c: str) -> set[str]:
    out = {c}
    for v in (c.lower(), c.upper(), c.swapcase(), c.casefold()):
        if len(v) == 1:
            out.add(v)
    out.update(k for k, v in FOLD.items() if v == c.lower())
    return out


def _usable(c: str, name: bool) -> bool:
    if unicodedata.category(c) in ("Cc", "Cs", "Mn", "Me", "Cf") and c != "\t":
        return False
    if name and c in "/\\\t" or c == "\x00":
        return False
    return unicodedata.normalize("NFC", c) == c and c != "\u03a3"  # final sigma lowers by context


class Alphabet:
    """The characters a search may use, readable ones first."""

    def __init__(self, extra: Iterable[str], name: bool) -> None:
        chars: list[str] = list(_PREFERRED)
        chars += [chr(c) for c in range(0x20, 0x7F)]
        pool: set[str] = set()
        for c in extra:
            pool |= _variants(c)
        if name:
            pool |= set(FOLD) | set(_names.CONFUSABLES) | {"\u00a0", "é", "書"}
            pool |= {chr(c) for c in range(0xFF41, 0xFF5B)} | {"\uff11"}
        chars += sorted(pool)
        self.chars = tuple(c for c in dict.fromkeys(chars) if _usable(c, name))


# ---- glob NFAs, reversed ------------------------------------------------------------------------
Atom = str  # the regular expression of one character-level glob atom


def _class_rx(p: globs.CharClass) -> str:
    items = "".join(
        f"{re.escape(i[0])}-{re.escape(i[1])}" if isinstance(i, tuple) else re.escape(i)
        for i in p.items
    )
    return "[" + ("^" if p.negated else "") + items + "]"


def _atom_rx(p: globs.AnyChar | globs.Blank | globs.CharClass) -> Atom:
    if isinstance(p, globs.AnyChar):
        return "."
    if isinstance(p, globs.Blank):
        return "\\s"
    return _class_rx(p)


def render(p: globs.Pat) -> str:
    """The regular expression of a glob tree (as ``globs.translate`` renders it)."""
    if isinstance(p, globs.Lit):
        return re.escape(p.text)
    if isinstance(p, globs.AnyChar | globs.Blank | globs.CharClass):
        return _atom_rx(p)
    if isinstance(p, globs.Star):
        return _atom_rx(p.atom) + "*"
    if isinstance(p, globs.Alt):
        return "(?:" + "|".join(render(o) for o in p.options) + ")"
    return "".join(render(i) for i in p.items)


def matches(p: globs.Pat, text: str) -> bool:
    return re.fullmatch(render(p), text, re.IGNORECASE | re.DOTALL) is not None


@functools.lru_cache(maxsize=1 << 16)
def accepts(atom: Atom, c: str) -> bool:
    return re.fullmatch(atom, c, re.IGNORECASE | re.DOTALL) is not None


class NFA:
    """A Thompson NFA of a reversed glob; ``closure`` has the epsilon moves resolved."""

    def __init__(self, pat: globs.Pat) -> None:
        self.moves: list[list[tuple[Atom, int]]] = []
        self.eps: list[list[int]] = []
        self.start, self.accept = self._build(pat)
        self.closure = [self._close({s}) for s in range(len(self.moves))]
        self.initial = self.closure[self.start]

    def _state(self) -> int:
        self.moves.append([])
        self.eps.append([])
        return len(self.moves) - 1

    def _build(self, p: globs.Pat) -> tuple[int, int]:
        if isinstance(p, globs.Lit):
            start = cur = self._state()
            for ch in reversed(p.text):
                nxt = self._state()
                self.moves[cur].append((re.escape(ch), nxt))
                cur = nxt
            return start, cur
        if isinstance(p, globs.AnyChar | globs.Blank | globs.CharClass):
            a, b = self._state(), self._state()
            self.moves[a].append((_atom_rx(p), b))
            return a, b
        if isinstance(p, globs.Star):
            a = self._state()
            self.moves[a].append((_atom_rx(p.atom), a))
            return a, a
        if isinstance(p, globs.Alt):
            a, b = self._state(), self._state()
            for o in p.options:
                s, e = self._build(o)
                self.eps[a].append(s)
                self.eps[e].append(b)
            return a, b
        start = cur = self._state()
        for item in reversed(p.items):
            s, e = self._build(item)
            self.eps[cur].append(s)
            cur = e
        return start, cur

    def _close(self, states: set[int]) -> frozenset[int]:
        todo, seen = list(states), set(states)
        while todo:
            for t in self.eps[todo.pop()]:
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        return frozenset(seen)

    def step(self, states: frozenset[int], c: str) -> frozenset[int]:
        out: set[int] = set()
        for s in states:
            for atom, t in self.moves[s]:
                if accepts(atom, c):
                    out |= self.closure[t]
        return frozenset(out)

    def atoms(self) -> set[Atom]:
        return {a for ms in self.moves for a, _ in ms}


@functools.lru_cache(maxsize=4096)
def nfa(pat: globs.Pat) -> NFA:
    return NFA(pat)


# ---- queries ------------------------------------------------------------------------------------
class Query:
    """One search: some string over ``alphabet`` for which every ``pos`` leaf holds and no
    ``neg`` leaf does (``name``: a name as the engine normalises it)."""

    def __init__(
        self, pos: frozenset[Leaf], neg: frozenset[Leaf], alphabet: Alphabet, name: bool
    ) -> None:
        self.empty = False
        pos_ext = [x for x in pos if isinstance(x, ExtLeaf)]
        tails = [t for x in pos if isinstance(x, GlobLeaf) for t in [_tail(x.pat)] if t]
        if tails and name:
            # "worm-*.exe": a matching name's last extension is exe, or it has none, so every
            # list can forget its other words
            keep = frozenset.intersection(*tails)
            pos, neg = (
                frozenset(
                    ExtLeaf(x.exts & keep, x.double) if isinstance(x, ExtLeaf) else x for x in side
                )
                for side in (pos, neg)
            )
            pos_ext = [x for x in pos if isinstance(x, ExtLeaf)]
        if pos_ext and name:  # the last extension is one of these words: prune every list
            words = frozenset.intersection(*(x.exts for x in pos_ext))
            words -= {e for x in neg if isinstance(x, ExtLeaf) and not x.double for e in x.exts}
            self.empty = not words
            pos = frozenset(
                ExtLeaf(x.exts & words, x.double) if isinstance(x, ExtLeaf) else x for x in pos
            )
            neg = frozenset(
                ExtLeaf(x.exts & words, x.double) if isinstance(x, ExtLeaf) else x
                for x in neg
                if not isinstance(x, ExtLeaf) or x.exts & words
            )
        self.pos, self.neg, self.name, self.alphabet = pos, neg, name, alphabet
        leaves = pos | neg
        self.globs = sorted({x.pat for x in leaves if isinstance(x, GlobLeaf)}, key=repr)
        self.nfas: list[NFA] = []
        self.ext: ExtAutomaton | None = None
        self.classes: list[str] = []

    def _automata(self) -> None:
        """Build the automata and character classes (only when a search is needed)."""
        leaves = self.pos | self.neg
        self.nfas = [nfa(p) for p in self.globs]
        ext_leaves = sorted((x for x in leaves if isinstance(x, ExtLeaf)), key=repr)
        if ext_leaves or TRICKY in leaves:
            self.ext = ExtAutomaton(ext_leaves, TRICKY in leaves)
        self.classes = self._classes(self.alphabet.chars, {e for x in ext_leaves for e in x.exts})

    def _classes(self, chars: tuple[str, ...], words: set[str]) -> list[str]:
        atoms = sorted({a for n in self.nfas for a in n.atoms()})
        letters = {ch for w in words for ch in w}
        seen: dict[tuple[object, ...], str] = {}
        for c in chars:
            sig: list[object] = [c == ".", c == " ", c.isspace(), c in SPACE]
            sig += [accepts(a, c) for a in atoms]
            if self.ext is not None:
                s = sk(c)
                sig += [s if set(s) <= letters else "", s.isdigit(), c.isascii()]
                sig += [s.isascii() and s.isalnum(), len(s)]
            seen.setdefault(tuple(sig), c)
        return list(seen.values())

    def _holds(
        self, leaf: Leaf, ext: tuple[tuple[bool, ...], bool, bool], sets: tuple[frozenset[int], ...]
    ) -> bool:
        if isinstance(leaf, GlobLeaf):
            i = self.globs.index(leaf.pat)
            return self.nfas[i].accept in sets[i]
        if isinstance(leaf, ExtLeaf):
            assert self.ext is not None
            vec, dbl, _ = ext
            return vec[self.ext.leaves.index(leaf)] and (dbl or not leaf.double)
        return ext[2]

    def dead(self, state: tuple[ExtState | None, tuple[frozenset[int], ...]]) -> bool:
        """No longer string from this state can answer the query: a wanted glob has no
        live state, or the extensions read already decide a list the wrong way."""
        est, sets = state
        for x in self.pos:
            if isinstance(x, GlobLeaf) and not sets[self.globs.index(x.pat)]:
                return True
        if self.ext is None or est is None:
            return False
        if TRICKY in self.neg and (est.hom or est.pad):
            return True
        if est.last is None or est.dbl is None:
            return False
        vec = self.ext.vectors[est.last]
        for x in self.ext.leaves:
            holds = vec[self.ext.leaves.index(x)] and (est.dbl or not x.double)
            if holds == (x in self.neg):
                return True
        return False

    def accepted(self, state: tuple[ExtState | None, tuple[frozenset[int], ...]]) -> bool:
        est, sets = state
        ext = (
            self.ext.result(est) if self.ext is not None and est is not None else ((), False, False)
        )
        return all(self._holds(x, ext, sets) for x in self.pos) and not any(
            self._holds(x, ext, sets) for x in self.neg
        )

    def _lists_only(self) -> str | None:
        """Only extension leaves: the answer is set algebra over the lists."""
        pos = [x for x in self.pos if isinstance(x, ExtLeaf)]
        neg = [x for x in self.neg if isinstance(x, ExtLeaf)]
        if not pos:
            return "a"
        double = any(x.double for x in pos)
        for e in sorted(frozenset.intersection(*(x.exts for x in pos)), key=lambda e: (len(e), e)):
            name = ("a.a." if double else "a.") + e
            if _names.extensions(name)[-1:] != (e,):
                continue  # no name has this extension (a dot or blanks in it, look-alikes)
            if not any(e in x.exts and (double or not x.double) for x in neg):
                return name
        return None

    def _direct(self, name: str) -> bool:
        """Does the concrete string ``name`` answer the query (read as the engine reads it)?"""
        if self.name and (not name or _names.normalize(name) != name):
            return False
        exts = _names.extensions(name) if self.name else ()

        def holds(leaf: Leaf) -> bool:
            if isinstance(leaf, GlobLeaf):
                return matches(leaf.pat, name)
            if isinstance(leaf, ExtLeaf):
                ok = bool(exts) and exts[-1] in leaf.exts
                return ok and (not leaf.double or is_double_extension(exts))
            return bool(_names.tricks(name))

        return all(holds(x) for x in self.pos) and not any(holds(x) for x in self.neg)

    def _candidates(self) -> list[str]:
        out = ["a"]
        for x in self.pos:
            if isinstance(x, GlobLeaf):
                out.append(sample(x.pat))
                out.append(sample(x.pat, "a"))
            elif isinstance(x, ExtLeaf):
                out += [("a.a." if x.double else "a.") + e for e in sorted(x.exts)[:50]]
        return out

    def find(self) -> str | None:
        """The shortest such string (readable characters first), or None."""
        if self.empty:
            return None
        if self.name and not self.globs and TRICKY not in self.pos | self.neg:
            return self._lists_only()
        for cand in self._candidates():
            if self._direct(cand):
                return cand
        self._automata()
        start = (
            self.ext.start if self.ext is not None else None,
            tuple(n.initial for n in self.nfas),
        )
        seen = {start}
        queue: deque[tuple[tuple[ExtState | None, tuple[frozenset[int], ...]], str]] = deque(
            [(start, "")]
        )
        ext_memo: dict[tuple[ExtState, str], ExtState] = {}
        set_memo: list[dict[tuple[frozenset[int], str], frozenset[int]]] = [{} for _ in self.nfas]
        while queue:
            state, rev = queue.popleft()
            if rev and self.accepted(state):
                return rev[::-1]
            est, sets = state
            for c in self.classes:
                if self.name and not rev and c in ". ":
                    continue  # a normalised name never ends in a dot or a space
                nsets_l = []
                for n, memo, s in zip(self.nfas, set_memo, sets, strict=True):
                    got = memo.get((s, c))
                    if got is None:
                        got = memo[(s, c)] = n.step(s, c)
                    nsets_l.append(got)
                nest = None
                if self.ext is not None and est is not None:
                    nest = ext_memo.get((est, c))
                    if nest is None:
                        nest = ext_memo[(est, c)] = self.ext.step(est, c)
                nxt = (nest, tuple(nsets_l))
                if nxt not in seen:
                    seen.add(nxt)
                    if self.dead(nxt):
                        continue
                    if len(seen) > MAX_STATES:
                        raise Undecided(f"more than {MAX_STATES} automaton states")
                    queue.append((nxt, rev + c))
        return None


def _tail(p: globs.Pat) -> frozenset[str] | None:
    """The last extension of any name ``p`` matches (if it has one), when ``p`` ends with a
    literal ``.ext`` of ASCII letters and digits; else None."""
    last = p.items[-1] if isinstance(p, globs.Seq) else p
    if not isinstance(last, globs.Lit) or "." not in last.text:
        return None
    ext = last.text.rsplit(".", 1)[1]
    if not ext or not (ext.isascii() and ext.isalnum()):
        return None
    return frozenset({ext.lower()})


def sample(p: globs.Pat, fill: str = "") -> str:
    """A short string the glob tree matches; ``fill`` stands for each ``*``."""
    if isinstance(p, globs.Lit):
        return p.text
    if isinstance(p, globs.AnyChar):
        return "a"
    if isinstance(p, globs.Blank):
        return " "
    if isinstance(p, globs.CharClass):
        return next((c for c in _PREFERRED if accepts(_class_rx(p), c)), "a")
    if isinstance(p, globs.Star):
        return fill if accepts(_atom_rx(p.atom), fill or "a") else ""
    if isinstance(p, globs.Alt):
        return sample(p.options[0], fill)
    return "".join(sample(i, fill) for i in p.items)
