"""The extension automaton: reads a name *reversed* and says which extension lists hold
its last extension, whether the extension before it looks real (``double extension``),
and whether it uses a trick the alphabet can spell (padding, a homoglyph extension), as
``corpus.names.extensions`` / ``tricks`` read the name forwards.

Read backwards, the last part of the name comes first: a trie of reversed extensions
decides it, and the parts that follow (earlier in the name) only confirm that it was not
the stem. A completed part keeps only which lists hold it, not the word itself.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from mailpolicy.corpus import names as _names

#: Blanks that count towards ``padding`` (``names._SPACE``).
SPACE = frozenset(" \t\u00a0\u1680\u202f\u205f\u3000\u2800\u3164\u115f\u1160\uffa0") | {
    chr(c) for c in range(0x2000, 0x200B)
}


@dataclass(frozen=True, slots=True)
class ExtLeaf:
    exts: frozenset[str]
    double: bool = False


@functools.lru_cache(maxsize=1 << 16)
def sk(c: str) -> str:
    """The skeleton of one character, as ``names.skeleton`` maps it inside a part."""
    return _names.skeleton(c)


@dataclass(frozen=True, slots=True)
class _Seg:
    """What the part being read (reversed) has shown so far."""

    nonempty: bool = False
    nonblank: bool = False
    pend: bool = False  # blanks read after a non-blank: internal if another comes
    pend_nonascii: bool = False
    node: int = 0  # trie node; -1 dead
    length: int = 0  # of the skeleton, capped at 5
    digits: bool = True
    nonascii: bool = False
    alnum: bool = True  # skeleton all ASCII letters and digits


_FRESH = _Seg()


@dataclass(frozen=True, slots=True)
class ExtState:
    seg: _Seg = _FRESH
    pending: _Seg | None = None  # the last part completed: the stem unless more follows
    last: int | None = None  # node of the confirmed last extension (-1: not a listed one)
    dbl: bool | None = None  # the extension before it looks real
    hom: bool = False
    index: int = 0  # parts read, capped at 2 (padding lives in the second)
    run: int = 0
    pad: bool = False


class ExtAutomaton:
    """Reads a reversed name; ``result`` gives (which ext leaves hold, double, tricky).

    A completed part keeps only which leaves' lists hold it (an index into ``vectors``),
    not the extension itself, so a list of 200 extensions costs its trie and no more."""

    def __init__(self, leaves: list[ExtLeaf], tricky: bool) -> None:
        self.leaves = leaves
        self.double = any(x.double for x in leaves)
        self.trie: list[dict[str, int]] = [{}]
        word: dict[int, str] = {}
        for e in sorted({e for x in leaves for e in x.exts}):
            node = 0
            for ch in reversed(e):
                nxt = self.trie[node].get(ch)
                if nxt is None:
                    nxt = len(self.trie)
                    self.trie.append({})
                    self.trie[node][ch] = nxt
                node = nxt
            word[node] = e
        none = tuple(False for _ in leaves)
        self.vectors: list[tuple[bool, ...]] = [none]
        index = {none: 0}
        self.vec_of: list[int] = []
        for node in range(len(self.trie)):
            w = word.get(node)
            v = tuple(w in x.exts for x in leaves) if w is not None else none
            self.vec_of.append(index.setdefault(v, len(index)))
            if len(self.vectors) < len(index):
                self.vectors.append(v)
        self.tricky = tricky
        self.start = ExtState()

    def _feed(self, node: int, text: str) -> int:
        for ch in reversed(text):
            if node < 0:
                return -1
            node = self.trie[node].get(ch, -1)
        return node

    def _char(self, seg: _Seg, c: str, want_trie: bool, want_len: bool) -> _Seg:
        if c.isspace():
            if not seg.nonblank:
                return _Seg(nonempty=True) if not seg.nonempty else seg
            odd = self.tricky and (seg.pend_nonascii or not c.isascii())
            return dataclasses.replace(seg, pend=True, pend_nonascii=odd)
        s = sk(c)
        node, length, digits, alnum, nonascii = (
            seg.node,
            seg.length,
            seg.digits,
            seg.alnum,
            seg.nonascii,
        )
        if seg.pend:  # blanks between two non-blanks stay in the part
            node, digits, alnum = -1, False, False
            length = min(5, length + 1) if want_len else 0
            nonascii = nonascii or seg.pend_nonascii
        if want_trie:
            node = self._feed(node, s)
        else:
            node = -1
        if want_len:
            length = min(5, length + len(s))
            digits = digits and s.isdigit()
        if not self.tricky:
            return _Seg(nonempty=True, nonblank=True, node=node, length=length, digits=digits)
        return _Seg(
            nonempty=True,
            nonblank=True,
            node=node,
            length=length,
            digits=digits,
            nonascii=nonascii or not c.isascii(),
            alnum=alnum and s.isascii() and s.isalnum(),
        )

    def step(self, st: ExtState, c: str) -> ExtState:
        if c == ".":
            pending = st.pending
            if st.seg.nonempty:
                seg = st.seg
                vec = self.vec_of[seg.node] if seg.node >= 0 else 0
                pending = dataclasses.replace(seg, node=vec)
            pad_index = min(2, st.index + 1) if self.tricky else 0
            return ExtState(_FRESH, pending, st.last, st.dbl, st.hom, pad_index, 0, st.pad)
        last, dbl, hom, pending = st.last, st.dbl, st.hom, st.pending
        if pending is not None:  # a part follows: the pending one was not the stem
            last, dbl, hom = self._confirm(st, pending)
            pending = None
        want_trie = last is None
        want_len = last is not None and dbl is None
        if not self.tricky and last is not None and dbl is not None:
            seg = _Seg(nonempty=True)
        else:
            seg = self._char(st.seg, c, want_trie, want_len)
        run, pad = st.run, st.pad
        if self.tricky and st.index == 1 and not pad:
            run = run + 1 if c in SPACE else 0
            pad = run >= _names.PADDING_RUN
        elif not self.tricky or st.index != 1:
            run = 0
        return ExtState(seg, pending, last, dbl, hom, st.index, run, pad)

    def result(self, st: ExtState) -> tuple[tuple[bool, ...], bool, bool]:
        """At the start of the name: (which ext leaves hold the last extension, whether
        the one before it looks real, tricky)."""
        last, dbl, hom = st.last, st.dbl, st.hom
        if st.seg.nonempty and st.pending is not None:  # the current part is the stem
            last, dbl, hom = self._confirm(st, st.pending)
        return self.vectors[last or 0], bool(dbl), hom or st.pad

    def _confirm(self, st: ExtState, part: _Seg) -> tuple[int | None, bool | None, bool]:
        """A completed part turned out not to be the stem: it is the last extension, or
        the one before it (``is_double_extension``), and may be a homoglyph."""
        last, dbl, hom = st.last, st.dbl, st.hom
        if part.nonblank:
            if last is None:
                last = part.node
                dbl = None if self.double else False
            elif dbl is None:
                dbl = 1 <= part.length <= 4 and not part.digits
            hom = hom or (self.tricky and part.nonascii and part.alnum)
        return last, dbl, hom
