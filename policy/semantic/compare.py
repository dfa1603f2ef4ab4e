"""Compare two policies without a corpus: do they stop the same messages?

Each policy becomes one BDD, "the message is stopped" (block, quarantine, strip or
discard), built from its rules in order: the first rule whose condition holds and whose
``unless`` does not decides, else the default. ``newly stopped`` is "OLD delivers and NEW
stops", ``newly delivered`` the reverse. For each, the loop takes one assignment of the
variables (``bdd.cube``, fewest facts true), asks the realiser for a message with exactly
those facts, and:

- when none exists (``Core``), rules those literals out everywhere and goes on: this is
  how two differently written but equal conditions end up equal;
- when one is built, replays it through both *compiled* matchers (``policy/compile.py``);
  a message they separate as predicted is a counterexample, and that pair of deciding
  rules is ruled out so the next example shows another difference; one they do not
  separate is kept as ``unconfirmed`` (a bug in this module, to report);
- when the assignment needs a fact that cannot be built (``Opaque``), it is kept as a
  difference that rests on conditions not compared.

Staged rules (``mode audit``) decide nothing, so they are left out of both BDDs: what is
compared is the enforced behaviour. A rule switched from ``mode audit`` to enforced is a
change like any other (its examples name it), and ``mode_changes`` lists the rules (by id)
whose mode differs between the two policies.

The policies are ``equivalent`` when both directions run out of assignments with nothing
found: for every message the analysis can describe (see ``automata`` for the alphabet of
names), they stop the same ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy import ast
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.compile import CompiledPolicy
from mailpolicy.policy.semantic.automata import Alphabet, Undecided, matches
from mailpolicy.policy.semantic.bdd import FALSE, TRUE
from mailpolicy.policy.semantic.model import AddrTest, Atom, Space, Term
from mailpolicy.policy.semantic.realize import (
    NEUTRAL,
    Built,
    Core,
    Opaque,
    Realiser,
    attachment_terms,
    make_message,
)

STOPPING = frozenset(ast.STOPPING_ACTIONS)
#: Assignments tried per direction before the comparison gives up.
MAX_ROUNDS = 5000


@dataclass
class Result:
    equivalent: bool
    newly_stopped: list[dict[str, Any]] = field(default_factory=list)
    newly_delivered: list[dict[str, Any]] = field(default_factory=list)
    not_compared: list[dict[str, Any]] = field(default_factory=list)
    opaque: list[dict[str, Any]] = field(default_factory=list)
    unconfirmed: list[dict[str, Any]] = field(default_factory=list)
    undecided: str | None = None
    elapsed: float = 0.0
    #: rules in both policies (by id) staged in one and enforced in the other
    mode_changes: list[dict[str, Any]] = field(default_factory=list)
    #: the built message of each counterexample, by direction (not in the JSON form)
    messages: list[tuple[str, Message]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "equivalent": self.equivalent,
            "newly_stopped": self.newly_stopped,
            "newly_delivered": self.newly_delivered,
            "not_compared": self.not_compared,
            "differences_not_built": self.opaque,
            "unconfirmed": self.unconfirmed,
            "undecided": self.undecided,
            "mode_changes": self.mode_changes,
            "elapsed_s": round(self.elapsed, 3),
        }


class Chain:
    """One policy as BDDs: ``stop`` (the message is stopped) and, on demand, ``decides(i)``
    (rule ``i`` decides: it holds and no rule before it does; ``None``: the default)."""

    def __init__(self, space: Space, policy: CheckedPolicy, side: str) -> None:
        b = self.bdd = space.bdd
        self.policy = policy
        space.side = side
        self.conds = []
        for r in policy.rules:
            space.rule = r.id
            if r.rule.audit:  # staged: it never decides, so it holds nowhere here
                self.conds.append(FALSE)
                continue
            self.conds.append(space.rule_condition(r.rule.condition, r.rule.unless, policy))
        stop = TRUE if policy.default in STOPPING else FALSE
        for r, c in zip(reversed(policy.rules), reversed(self.conds), strict=True):
            stop = b.ite(c, TRUE if r.action in STOPPING else FALSE, stop)
        self.stop = stop
        self._before = [FALSE]  # the prefix disjunctions, built as far as asked

    def decides(self, rule: str | None) -> int:
        i = len(self.conds) if rule is None else self.policy.rule(rule).index
        while len(self._before) <= i:
            n = len(self._before) - 1
            self._before.append(self.bdd.disj(self._before[-1], self.conds[n]))
        if i == len(self.conds):
            return self.bdd.neg(self._before[i])
        return self.bdd.conj(self.conds[i], self.bdd.neg(self._before[i]))


def mode_changes(old: CheckedPolicy, new: CheckedPolicy) -> list[dict[str, Any]]:
    """The rules of both policies (by id) staged (``mode audit``) in one, enforced in the other."""
    staged = {r.id: r.rule.audit for r in old.rules}
    return [
        {"rule": r.id, "old": _mode(staged[r.id]), "new": _mode(r.rule.audit), "line": r.line}
        for r in new.rules
        if r.id in staged and staged[r.id] != r.rule.audit
    ]


def _mode(audit: bool) -> str:
    return "audit" if audit else "enforce"


def _alphabet_chars(space: Space) -> tuple[set[str], set[str]]:
    name_chars: set[str] = set()
    addr_chars: set[str] = set()
    for key in space.vars:
        text = repr(key)
        (addr_chars if key[0] in ("sender", "recipient") else name_chars).update(text)
    return name_chars, addr_chars


def _attachment_json(a: Attachment, facts: dict[str, bool]) -> dict[str, Any]:
    return {
        "names": list(a.names),
        "type": a.type_class,
        "mime": a.detected_type,
        "declared_type": a.declared_type,
        "size": a.size,
        **({"facts": facts} if facts else {}),
    }


def _verdict(policy: CheckedPolicy, m: CompiledPolicy, msg: Message) -> dict[str, Any]:
    crule = m.match(msg)
    return {
        "action": crule.action if crule else policy.default,
        "rule": crule.id if crule else None,
        "stopped": (crule.action if crule else policy.default) in STOPPING,
    }


class Comparison:
    def __init__(self, old: CheckedPolicy, new: CheckedPolicy, examples: int) -> None:
        self.old, self.new, self.examples = old, new, examples
        self.space = Space()
        self.chains = (Chain(self.space, old, "old"), Chain(self.space, new, "new"))
        self.stop_old, self.stop_new = self.chains[0].stop, self.chains[1].stop
        names, addrs = _alphabet_chars(self.space)
        self.realiser = Realiser(self.space, Alphabet(names, True), Alphabet(addrs, False))
        self.matchers = (CompiledPolicy(old), CompiledPolicy(new))
        self.learned = 1

    def run(self) -> Result:
        started = time.monotonic()
        b = self.space.bdd
        result = Result(equivalent=False)
        try:
            for direction, f in (
                ("newly_stopped", b.conj(b.neg(self.stop_old), self.stop_new)),
                ("newly_delivered", b.conj(self.stop_old, b.neg(self.stop_new))),
            ):
                self._direction(direction, f, result)
        except Undecided as exc:
            result.undecided = str(exc)
        except RecursionError:
            result.undecided = "the policies are too large for the comparison"
        result.not_compared = self._not_compared()
        result.mode_changes = mode_changes(self.old, self.new)
        result.equivalent = not (
            result.newly_stopped
            or result.newly_delivered
            or result.opaque
            or result.unconfirmed
            or result.undecided
        )
        result.elapsed = time.monotonic() - started
        return result

    def _direction(self, direction: str, f: int, result: Result) -> None:
        b = self.space.bdd
        found: list[dict[str, Any]] = getattr(result, direction)
        for _ in range(MAX_ROUNDS):
            f = b.conj(f, self.learned)
            cube = b.cube(f)
            if cube is None or len(found) >= self.examples:
                return
            out = self.message(cube)
            if isinstance(out, Core):
                self.learned = b.conj(self.learned, b.neg(b.cube_of(out.literals)))
                continue
            if isinstance(out, Opaque):
                if len(result.opaque) < self.examples:
                    result.opaque.append({"direction": direction, "needs": list(out.reasons)})
                f = b.conj(f, b.neg(b.cube_of(cube)))
                continue
            msg, facts = out.value
            old = _verdict(self.old, self.matchers[0], msg)
            new = _verdict(self.new, self.matchers[1], msg)
            example = {"message": facts, "old": old, "new": new}
            want_new_stop = direction == "newly_stopped"
            if new["stopped"] == want_new_stop and old["stopped"] != want_new_stop:
                found.append(example)
                result.messages.append((direction, msg))
                f = b.conj(f, b.neg(self._cause(direction, old["rule"], new["rule"], cube)))
            else:
                result.unconfirmed.append({"direction": direction, **example})
                f = b.conj(f, b.neg(b.cube_of(cube)))
        raise Undecided(f"more than {MAX_ROUNDS} cases for {direction.replace('_', ' ')}")

    def _cause(
        self, direction: str, old: str | None, new: str | None, cube: dict[int, bool]
    ) -> int:
        """What to rule out after an example, so the next one shows another stopping rule:
        that rule's condition (cheap, unlike "it decides"), or the assignment itself when
        the default stopped the message."""
        side, rule = (0, old) if direction == "newly_delivered" else (1, new)
        if rule is None:
            return self.space.bdd.cube_of(cube)
        chain = self.chains[side]
        return chain.conds[chain.policy.rule(rule).index]

    # -- one message ------------------------------------------------------------------------
    def message(self, cube: dict[int, bool]) -> Built | Core | Opaque:
        space, real = self.space, self.realiser
        kinds = {v: space.vars[v] for v in cube}
        sender_pos = [k[1] for v, k in kinds.items() if k[0] == "sender" and cube[v]]
        sender_neg = [k[1] for v, k in kinds.items() if k[0] == "sender" and not cube[v]]
        sender: str | None = None
        if sender_pos:
            sender = real.address(sender_pos, sender_neg)  # type: ignore[arg-type]
            if sender is None:
                return Core({v: cube[v] for v, k in kinds.items() if k[0] == "sender"})
        elif not any(address_in_test(t, NEUTRAL) for t in sender_neg):  # type: ignore[arg-type]
            sender = NEUTRAL
        rec_pos = [(v, k[1]) for v, k in kinds.items() if k[0] == "recipient" and cube[v]]
        rec_neg = [k[1] for v, k in kinds.items() if k[0] == "recipient" and not cube[v]]
        recipients: list[str] = []
        for v, test in rec_pos:
            r = real.address([test], rec_neg)  # type: ignore[list-item, arg-type]
            if r is None:
                gone = {w: False for w, k in kinds.items() if k[0] == "recipient" and not cube[w]}
                return Core({v: True, **gone})
            if r not in recipients:
                recipients.append(r)
        if not rec_pos and not any(address_in_test(t, NEUTRAL) for t in rec_neg):  # type: ignore[arg-type]
            recipients.append(NEUTRAL)
        pos, neg = attachment_terms(space, cube)
        attachments: list[Attachment] = []
        att_facts: list[dict[str, bool]] = []
        for term in pos:
            out = real.attachment(term, frozenset(neg))
            if isinstance(out, Core):
                lits = {space.index[("some", term)]: True}
                lits.update({space.index[("some", t)]: False for t in self._core(term, neg)})
                return Core(lits)
            if isinstance(out, Opaque):
                return out
            attachments.append(out.value)
            att_facts.append(self._att_facts(out.value))
        want = {space.atoms[k[1]]: cube[v] for v, k in kinds.items() if k[0] == "fact"}  # type: ignore[index]
        atts = tuple(attachments)
        rcpts = tuple(recipients)
        out = real._facts(want, lambda knobs: make_message(sender, rcpts, atts, knobs), "message")
        if isinstance(out, Core):
            return Core({space.index[("fact", k[1])]: v for k, v in out.literals.items()})
        if isinstance(out, Opaque):
            return out
        msg: Message = out.value
        facts: dict[str, Any] = {
            "sender": msg.sender,
            "recipients": list(msg.recipients),
            "attachments": [_attachment_json(a, f) for a, f in zip(atts, att_facts, strict=True)],
        }
        message_facts = {a.text: v for a, v in want.items() if v}
        if message_facts:
            facts["facts"] = message_facts
        return Built((msg, facts))

    def _core(self, term: Term, avoid: list[Term]) -> list[Term]:
        """A small part of ``avoid`` that ``term`` cannot avoid either (found by bisection),
        so the clause learned rules out many assignments, not one."""
        real = self.realiser

        def unsat(part: list[Term]) -> bool:
            return isinstance(real.attachment(term, frozenset(part)), Core)

        core: list[Term] = []
        rest = list(avoid)
        while rest and not unsat(core):
            lo, hi = 1, len(rest)
            while lo < hi:
                mid = (lo + hi) // 2
                if unsat(core + rest[:mid]):
                    hi = mid
                else:
                    lo = mid + 1
            core.append(rest[lo - 1])
            rest = rest[: lo - 1]
        return core

    def _att_facts(self, a: Attachment) -> dict[str, bool]:
        from mailpolicy.policy.explain import explain_att

        return {
            atom.text: True
            for atom in self.space.atoms.values()
            if atom.level == "attachment" and explain_att(atom.node, a, atom.policy).ok
        }

    def _not_compared(self) -> list[dict[str, Any]]:
        out = []
        for atom in self.space.atoms.values():
            if atom.kind == "exact":
                continue
            out.append(_not_compared_json(atom))
        return out


def address_in_test(test: AddrTest, address: str) -> bool:
    """Does ``address`` pass ``test`` (as the analysis reads it)?"""
    return any(matches(p, address) for p in test.alternatives)


def _not_compared_json(atom: Atom) -> dict[str, Any]:
    return {
        "condition": atom.text,
        "old_rules": atom.rules["old"],
        "new_rules": atom.rules["new"],
        "as_atom": bool(atom.rules["old"] and atom.rules["new"]),
    }


def compare(old: CheckedPolicy, new: CheckedPolicy, examples: int = 5) -> Result:
    """Compare ``old`` and ``new`` (see the module docstring)."""
    return Comparison(old, new, examples).run()
