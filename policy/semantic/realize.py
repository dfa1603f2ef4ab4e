"""From an assignment of the analysis's variables to a real ``Message``, or to the reason
there is none.

``Realiser.message(cube)`` answers one of:

- ``Built(msg)``: a message whose facts the engine (``explain.explain_att`` /
  ``explain_cond``, the reference evaluator's walk) reads exactly as the cube says;
- ``Core(literals)``: no message satisfies these literals of the cube (names, addresses,
  types and the exact facts are decided exactly), so the caller rules them out;
- ``Opaque(reasons)``: the cube needs a fact this module cannot build (a content
  predicate, ``archive contains``, or a guessed value that no candidate gave).

Attachments are built from names, a type class and knobs, with the facts the readers would
compute set directly (``_detected``, ``type_mismatch``, a member loader giving the archive
listing), so no reader runs and no libmagic is called.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mailpolicy.corpus.message import ArchiveListing, Attachment, Message
from mailpolicy.corpus.types import CLASS_MIME
from mailpolicy.policy import ast, globs
from mailpolicy.policy.check import TYPE_CLASSES
from mailpolicy.policy.explain import explain_att, explain_cond
from mailpolicy.policy.semantic.automata import TRICKY, Alphabet, GlobLeaf, Leaf, Query, sample
from mailpolicy.policy.semantic.bdd import FALSE
from mailpolicy.policy.semantic.model import AddrTest, Atom, Space, Term, att_bdd, att_vars

CLASSES = ("other", *TYPE_CLASSES)
NEUTRAL = "someone@example.org"
#: Assignments tried for one attachment before giving up on it.
MAX_CUBES = 2000


@dataclass(frozen=True, slots=True)
class Core:
    """Literals no message satisfies together: variable numbers (message level) or
    attachment terms (inside one attachment)."""

    literals: Mapping[Any, bool]


@dataclass(frozen=True, slots=True)
class Opaque:
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Built:
    value: Any


Outcome = Built | Core | Opaque


def _operand_strings(node: ast.Cond, atom: Atom) -> list[str]:
    op = getattr(node, "operand", None)
    if isinstance(op, ast.Str | ast.ListRef | ast.ListLit):
        return list(atom.policy.entries(op))
    return []


class Realiser:
    def __init__(self, space: Space, names: Alphabet, addresses: Alphabet) -> None:
        self.space, self.names, self.addresses = space, names, addresses
        self._queries: dict[tuple[frozenset[Leaf], frozenset[Leaf], bool], str | None] = {}
        self._atts: dict[tuple[Term, frozenset[Term]], Outcome] = {}

    def find(self, pos: Iterable[Leaf], neg: Iterable[Leaf], name: bool = True) -> str | None:
        key = (frozenset(pos), frozenset(neg), name)
        if key not in self._queries:
            alphabet = self.names if name else self.addresses
            self._queries[key] = Query(key[0], key[1], alphabet, name).find()
        return self._queries[key]

    # -- addresses ------------------------------------------------------------------------
    def address(self, pos: Sequence[AddrTest], neg: Sequence[AddrTest]) -> str | None:
        """An address matching every test of ``pos`` and none of ``neg``."""
        negs = [GlobLeaf(p) for t in neg for p in t.alternatives]
        for combo in itertools.islice(itertools.product(*(t.alternatives for t in pos)), 2000):
            shaped = self.find([GlobLeaf(p) for p in combo] + [_SHAPE], negs, name=False)
            found = shaped or self.find([GlobLeaf(p) for p in combo], negs, name=False)
            if found is not None:
                return found
        return None

    # -- one attachment ---------------------------------------------------------------------
    def attachment(self, term: Term, avoid: frozenset[Term]) -> Outcome:
        """An attachment satisfying ``term`` and none of ``avoid`` (attachment formulas)."""
        key = (term, avoid)
        if key not in self._atts:
            self._atts[key] = self._attachment(term, avoid)
        return self._atts[key]

    def _attachment(self, term: Term, avoid: frozenset[Term]) -> Outcome:
        b = self.space.bdd
        f = b.conj(att_bdd(self.space, term), b.all([b.neg(att_bdd(self.space, t)) for t in avoid]))
        opaque: list[str] = []
        for _ in range(MAX_CUBES):
            cube = b.cube(f)
            if cube is None:
                break
            lits: dict[Term, bool] = {self.space.vars[v][1]: val for v, val in cube.items()}  # type: ignore[misc]
            out = self._build(lits)
            if isinstance(out, Built):
                return out
            if isinstance(out, Core):
                core = {self.space.index[("att", t)]: val for t, val in out.literals.items()}
            else:
                opaque.extend(r for r in out.reasons if r not in opaque)
                core = cube
            f = b.conj(f, b.neg(b.cube_of(core)))
        if f != FALSE:
            return Opaque(("too many cases for one attachment",))
        return Opaque(tuple(opaque)) if opaque else Core({})

    def _build(self, lits: dict[Term, bool]) -> Outcome:
        names_pos = [t[1] for t, v in lits.items() if t[0] == "name" and v]
        names_neg = [t[1] for t, v in lits.items() if t[0] == "name" and not v]
        evasive = lits.get(("evasive",))
        named = self._names(names_pos, names_neg, evasive)  # type: ignore[arg-type]
        if named is None:
            core = {t: v for t, v in lits.items() if t[0] in ("name", "evasive")}
            return Core(core)
        types_pos = [t[1] for t, v in lits.items() if t[0] == "type" and v]
        types_neg = [t[1] for t, v in lits.items() if t[0] == "type" and not v]
        cls = next(
            (
                c
                for c in CLASSES
                if all(c in s for s in types_pos) and not any(c in s for s in types_neg)  # type: ignore[operator]
            ),
            None,
        )
        if cls is None:
            return Core({t: v for t, v in lits.items() if t[0] == "type"})
        facts = {self.space.atoms[t[1]]: v for t, v in lits.items() if t[0] == "fact"}  # type: ignore[index]
        return self._facts(facts, lambda knobs: make_attachment(named, cls, knobs), "attachment")

    def _names(
        self, pos: list[Leaf], neg: list[Leaf], evasive: bool | None
    ) -> tuple[str, ...] | None:
        if evasive is False:
            n = self.find(pos, [*neg, TRICKY])
            if n is None:
                return None
            return (n,) if pos or n else ()
        one = self.find(pos, neg)
        if one is not None:
            chosen = [one]
        else:
            chosen = []
            for leaf in pos:
                n = self.find([leaf], neg)
                if n is None:
                    return None
                if n not in chosen:
                    chosen.append(n)
        if evasive and len(chosen) < 2:
            tricky = self.find([*pos, TRICKY], neg)
            if tricky is not None:
                return (tricky,)
            other = self.find([TRICKY], neg) or self.find([GlobLeaf(globs.parse("b*"))], neg)
            if other is None or other in chosen:
                return None
            chosen.append(other)
        return tuple(chosen)

    # -- facts the analysis does not interpret ---------------------------------------------------
    def _facts(
        self, want: dict[Atom, bool], build: Callable[[dict[str, Any]], Any], level: str
    ) -> Outcome:
        """Knob values for which the engine reads every fact of ``want`` as wanted."""
        knobs: dict[str, Any] = {}
        groups: dict[str, dict[Atom, bool]] = {}
        for atom, v in want.items():
            groups.setdefault(_group(atom.node), {})[atom] = v
        opaque: list[str] = []
        for group, atoms in sorted(groups.items()):
            for value in _candidates(group, atoms):
                x = build({**knobs, group: value})
                if all(_holds(a, x) == v for a, v in atoms.items()):
                    knobs[group] = value
                    break
            else:
                kinds = {a.kind for a in atoms}
                if kinds == {"exact"}:
                    return Core({("fact", a.key): v for a, v in atoms.items()})
                opaque += [
                    f"{a.text} is {'true' if v else 'false'}"
                    for a, v in atoms.items()
                    if a.kind == "guess" or (a.kind == "opaque" and v)
                ]
        if opaque:
            return Opaque(tuple(opaque))
        return Built(build(knobs))


_SHAPE = GlobLeaf(globs.parse("?*@?*.?*"))


def _group(node: ast.Cond) -> str:
    if isinstance(node, ast.AttachmentSize | ast.MessageSize):
        return "size"
    if isinstance(node, ast.ArchiveEncrypted | ast.ArchiveExceedsLimits | ast.Unscannable):
        return "archive"
    if isinstance(node, ast.TypeMismatch):
        return "mismatch"
    if isinstance(node, ast.DeclaredType | ast.DeclaredTypeIn):
        return "declared"
    if isinstance(node, ast.TypeMime):
        return "mime"
    if isinstance(node, ast.MessageUnscannable):
        return "unscannable"
    if isinstance(node, ast.EvasiveMime):
        return "tricks"
    if isinstance(node, ast.TextContains | ast.TextMatches):
        return f"text:{node.field}"
    if isinstance(node, ast.HeaderContains | ast.HeaderMatches):
        return f"header:{node.header.lower()}"
    return "opaque"


def _candidates(group: str, atoms: dict[Atom, bool]) -> list[Any]:
    if group == "size":
        ops = [getattr(a.node, "operand", None) for a in atoms]
        numbers = [op.value for op in ops if isinstance(op, ast.Number)]
        return sorted({1024, *(max(0, x + d) for x in numbers for d in (-1, 0, 1))})
    if group == "archive":
        return sorted(itertools.product((False, True), repeat=3), key=sum)
    if group in ("mismatch", "unscannable", "tricks"):
        return [False, True]
    if group == "opaque":
        return [None]
    texts = [""]
    for a in atoms:
        for s in _operand_strings(a.node, a):
            texts.append(
                sample(globs.parse(s))
                if "matches" in a.text or group in ("declared", "mime")
                else s
            )
    texts.append(" ".join(t for t in texts if t))
    if group in ("declared", "mime"):
        texts = [t for t in texts if t] + ["application/octet-stream"]
    return list(dict.fromkeys(texts))


def _holds(atom: Atom, x: Any) -> bool:
    if isinstance(x, Attachment):
        return explain_att(atom.node, x, atom.policy).ok
    return explain_cond(atom.node, x, atom.policy).ok


def make_attachment(names: tuple[str, ...], cls: str, knobs: dict[str, Any]) -> Attachment:
    encrypted, exceeds, unreadable = knobs.get("archive", (False, False, False))
    listing = ArchiveListing(
        encrypted=encrypted,
        exceeds_limits=exceeds,
        problems=("more members than the limit",) if exceeds else (),
        is_archive=encrypted or exceeds,
    )
    a = Attachment(
        names=names,
        declared_type=knobs.get("declared") or "application/octet-stream",
        data=b"",
        size=knobs.get("size", 1024),
        part="1",
        member_loader=lambda _a: listing,
        unscannable=("corrupt structure",) if unreadable else (),
    )
    a.__dict__["_detected"] = (knobs.get("mime") or CLASS_MIME[cls], cls)
    a.__dict__["type_mismatch"] = bool(knobs.get("mismatch", False))
    return a


def make_message(
    sender: str | None,
    recipients: tuple[str, ...],
    attachments: tuple[Attachment, ...],
    knobs: dict[str, Any],
) -> Message:
    headers: list[tuple[str, str]] = [("From", knobs.get("text:from", sender or ""))]
    headers.append(("Subject", knobs.get("text:subject", "")))
    for k, v in knobs.items():
        if k.startswith("header:") and v:
            headers.append((k.split(":", 1)[1], v))
    return Message(
        path="<semantic>",
        sender=sender,
        recipients=recipients,
        headers=tuple(headers),
        body=knobs.get("text:body", ""),
        size=knobs.get("size", 4096),
        attachments=attachments,
        unscannable=("MIME nesting deeper than the limit",) if knobs.get("unscannable") else (),
        tricks=("ambiguous-mime",) if knobs.get("tricks") else (),
    )


def attachment_terms(space: Space, lits: dict[int, bool]) -> tuple[list[Term], list[Term]]:
    """The attachment formulas a message cube wants present and absent."""
    pos = [space.vars[v][1] for v, val in lits.items() if space.vars[v][0] == "some" and val]
    neg = [space.vars[v][1] for v, val in lits.items() if space.vars[v][0] == "some" and not val]
    return pos, neg  # type: ignore[return-value]


__all__ = ["Built", "Core", "Opaque", "Realiser", "att_vars", "make_message"]
