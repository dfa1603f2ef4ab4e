"""Policies as boolean functions over the facts of a message.

A message-level condition becomes a BDD (``bdd.py``) over *message variables*:

- ``("some", P)``: some attachment satisfies the attachment formula ``P``;
- ``("sender", A)`` / ``("recipient", A)``: the sender (some recipient) matches the
  address test ``A`` (``AddrTest``: alternatives, each a glob tree over the address);
- ``("fact", K)``: a message fact the analysis treats as a free boolean (``Atom``).

An attachment formula ``P`` is a hashable term over *attachment variables*: ``("name",
leaf)`` (an ``automata`` leaf, true when one of the attachment's names satisfies it),
``("type", classes)``, ``("evasive",)`` and ``("fact", K)``. Lists are resolved and sorted
into the terms, so ``extension in L`` and ``extension in [same entries, other order]``,
or a shorthand and its long form, become the same variable; the two policies share one
``Space``, so a condition written the same way in both is the same variable in both.

``Atom`` says how a free fact is checked and set on a built message: ``exact`` facts
(sizes, archive flags, unscannable, mismatch, message flags) have knobs that realise any
combination the engine allows; ``guess`` facts (declared and detected MIME types, texts,
headers, the attachment count) are tried with candidate values; ``opaque`` facts (content
predicates, ``archive contains``) cannot be built here and only stay false.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mailpolicy.policy import ast, globs, printer
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.entry import norm_extension
from mailpolicy.policy.semantic.automata import TRICKY, GlobLeaf
from mailpolicy.policy.semantic.bdd import BDD
from mailpolicy.policy.semantic.extensions import ExtLeaf

Term = tuple[object, ...]
Kind = Literal["exact", "guess", "opaque"]

_EXACT_ATT = (
    ast.AttachmentSize,
    ast.ArchiveEncrypted,
    ast.ArchiveExceedsLimits,
    ast.Unscannable,
    ast.TypeMismatch,
)
_EXACT_MSG = (ast.MessageSize, ast.MessageUnscannable, ast.EvasiveMime)
_GUESS = (
    ast.DeclaredType,
    ast.DeclaredTypeIn,
    ast.TypeMime,
    ast.TypeIn,
    ast.TextContains,
    ast.TextMatches,
    ast.HeaderContains,
    ast.HeaderMatches,
    ast.AttachmentCount,
)


@dataclass(eq=False)
class Atom:
    """A fact the analysis does not interpret: its node (to check and set it with the
    engine), the policy that resolves its lists, its text, and where it is used."""

    key: Term
    node: ast.Cond
    policy: CheckedPolicy
    text: str
    level: Literal["message", "attachment"]
    kind: Kind
    rules: dict[str, list[str]] = field(default_factory=lambda: {"old": [], "new": []})


@dataclass(frozen=True, slots=True)
class AddrTest:
    """``sender|recipient in L`` or ``matches G``: true when any alternative matches."""

    alternatives: tuple[globs.Pat, ...]
    node: ast.Leaf


def _not_at(p: globs.Pat) -> globs.Pat:
    """``p`` with every wildcard kept from matching ``@`` (a domain has none)."""
    if isinstance(p, globs.AnyChar):
        return globs.CharClass(("@",), True)
    if isinstance(p, globs.CharClass):
        if p.negated:
            return globs.CharClass((*p.items, "@"), True)
        return p
    if isinstance(p, globs.Star):
        atom = _not_at(p.atom)
        assert not isinstance(atom, globs.Lit | globs.Alt | globs.Seq | globs.Star)
        return globs.Star(atom)
    if isinstance(p, globs.Alt):
        return globs.Alt(tuple(_not_at(o) for o in p.options))
    if isinstance(p, globs.Seq):
        return globs.Seq(tuple(_not_at(i) for i in p.items))
    return p


_LOCAL = globs.Alt((globs.Seq((globs.Star(globs.AnyChar()), globs.Lit("@"))), globs.Lit("")))


def address_alternatives(entry: str, is_in: bool) -> tuple[globs.Pat, ...]:
    """Glob trees over the whole address that ``entry`` accepts (``sets.address_in``)."""
    if not is_in or "@" in entry:
        return (globs.parse(entry),)
    d = entry.lower().lstrip("@")
    out = [globs.seq([_LOCAL, _not_at(globs.parse(d))])]
    if globs.is_literal(d):
        sub = globs.Star(globs.CharClass(("@",), True))
        out.append(globs.seq([_LOCAL, sub, globs.Lit("." + d)]))
    return tuple(out)


class Space:
    """The variables of one comparison and the BDD they live in."""

    def __init__(self) -> None:
        self.bdd = BDD()
        self.vars: list[Term] = []
        self.index: dict[Term, int] = {}
        self.atoms: dict[Term, Atom] = {}
        self.side = "old"
        self.rule = ""

    def var(self, key: Term) -> int:
        v = self.index.get(key)
        if v is None:
            v = self.index[key] = len(self.vars)
            self.vars.append(key)
        return self.bdd.var(v)

    # -- message level ------------------------------------------------------------------
    def message(self, node: ast.Cond, policy: CheckedPolicy) -> int:
        b = self.bdd
        if isinstance(node, ast.And):
            return b.all([self.message(i, policy) for i in node.items])
        if isinstance(node, ast.Or):
            return b.any([self.message(i, policy) for i in node.items])
        if isinstance(node, ast.Not):
            return b.neg(self.message(node.item, policy))
        if isinstance(node, ast.AnyAttachment):
            return self.var(("some", self.attachment(node.pred, policy)))
        if isinstance(
            node, ast.SenderIn | ast.SenderMatches | ast.RecipientIn | ast.RecipientMatches
        ):
            is_in = isinstance(node, ast.SenderIn | ast.RecipientIn)
            entries = sorted(set(policy.entries(node.operand)))
            alts = tuple(p for e in entries for p in address_alternatives(e, is_in))
            role = "sender" if isinstance(node, ast.SenderIn | ast.SenderMatches) else "recipient"
            return self.var((role, AddrTest(alts, node)))
        assert isinstance(node, ast.Test), node
        return self.var(("fact", self._atom(node, policy, "message")))

    # -- attachment level -----------------------------------------------------------------
    def attachment(self, node: ast.Cond, policy: CheckedPolicy) -> Term:
        if isinstance(node, ast.And | ast.Or):
            items = sorted({self.attachment(i, policy) for i in node.items}, key=repr)
            op = "and" if isinstance(node, ast.And) else "or"
            return items[0] if len(items) == 1 else (op, *items)
        if isinstance(node, ast.Not):
            return ("not", self.attachment(node.item, policy))
        if isinstance(node, ast.NameMatches | ast.NameIn):
            entries = sorted(set(policy.entries(node.operand)))
            leaves = [("name", GlobLeaf(globs.parse(g))) for g in entries]
            return leaves[0] if len(leaves) == 1 else ("or", *leaves)
        if isinstance(node, ast.ExtensionIn | ast.ExtensionIs | ast.DoubleExtensionIn):
            exts = frozenset(norm_extension(e) for e in policy.entries(node.operand))
            return ("name", ExtLeaf(exts, isinstance(node, ast.DoubleExtensionIn)))
        if isinstance(node, ast.EvasiveName):
            return ("evasive",)
        if isinstance(node, ast.TypeClass):
            return ("type", frozenset({node.operand.value}))
        if isinstance(node, ast.TypeIn):
            listed = policy.entries(node.operand)
            classes = frozenset(e for e in listed if "/" not in e)
            parts: list[Term] = [("type", classes)] if classes else []
            for e in sorted({e for e in listed if "/" in e}):
                mime = ast.TypeMime(operand=ast.Str(value=e))
                parts.append(("fact", self._atom(mime, policy, "attachment")))
            return parts[0] if len(parts) == 1 else ("or", *parts)
        if isinstance(node, ast.ArchiveContains):
            inner = self.attachment(node.pred, policy)
            return ("fact", self._atom(node, policy, "attachment", ("contains", inner)))
        assert isinstance(node, ast.AttTest), node
        return ("fact", self._atom(node, policy, "attachment"))

    def _atom(
        self,
        node: ast.Cond,
        policy: CheckedPolicy,
        level: Literal["message", "attachment"],
        key: Term | None = None,
    ) -> Term:
        if key is None:
            key = _key(node, policy)
        found = self.atoms.get(key)
        if found is None:
            if isinstance(node, _EXACT_ATT + _EXACT_MSG):
                kind: Kind = "exact"
            elif isinstance(node, _GUESS):
                kind = "guess"
            else:
                kind = "opaque"
            text = printer.cond(node)
            found = self.atoms[key] = Atom(key, node, policy, text, level, kind)
        if self.rule not in found.rules[self.side]:
            found.rules[self.side].append(self.rule)
        return key

    def rule_condition(self, cond: ast.Cond, unless: ast.Cond | None, policy: CheckedPolicy) -> int:
        c = self.message(cond, policy)
        if unless is not None:
            c = self.bdd.conj(c, self.bdd.neg(self.message(unless, policy)))
        return c


def _key(node: ast.Cond, policy: CheckedPolicy) -> Term:
    """A fact's identity: its kind and its operand with lists resolved (sorted)."""
    operand = getattr(node, "operand", None)
    value: object = None
    if isinstance(operand, ast.Number):
        value = operand.value
    elif isinstance(operand, ast.Str | ast.ListRef | ast.ListLit):
        entries = policy.entries(operand)
        value = tuple(sorted(set(entries))) if not isinstance(operand, ast.Str) else entries
    extra = tuple(
        getattr(node, f)
        for f in ("field", "op", "header")
        if isinstance(getattr(node, f, None), str)
    )
    if isinstance(node, ast.HeaderContains | ast.HeaderMatches):
        extra = (node.header.lower(), node.op)
    return (type(node).__name__, *extra, value)


def att_vars(term: Term) -> list[Term]:
    """The attachment variables of a formula, in order of appearance."""
    head = term[0]
    if head in ("and", "or"):
        return [v for t in term[1:] for v in att_vars(t)]  # type: ignore[arg-type]
    if head == "not":
        return att_vars(term[1])  # type: ignore[arg-type]
    return [term]


def att_bdd(space: Space, term: Term) -> int:
    """An attachment formula as a BDD over its attachment variables (``("att", leaf)``)."""
    b = space.bdd
    head = term[0]
    if head == "and":
        return b.all([att_bdd(space, t) for t in term[1:]])  # type: ignore[arg-type]
    if head == "or":
        return b.any([att_bdd(space, t) for t in term[1:]])  # type: ignore[arg-type]
    if head == "not":
        return b.neg(att_bdd(space, term[1]))  # type: ignore[arg-type]
    return space.var(("att", term))


# An unused import guard for the tricky leaf: the realiser imports it from here.
__all__ = ["TRICKY", "AddrTest", "Atom", "Space", "address_alternatives", "att_bdd", "att_vars"]
