"""Compiler: a checked policy -> a matcher whose cost grows with the message, not the rules.

Three ideas, each measured against the reference evaluator (``evaluate.py``), which
stays the definition of meaning; property tests hold the two equal on action and rule:

1. **Globs by strategy** (``GlobSet``): literal names go into a dict, ``*SUFFIX`` globs
   (``*.pif``, ``*.tar.gz``) into suffix tables keyed by length, ``PREFIX*`` into prefix
   tables, ``PREFIX*SUFFIX`` (``worm5-*.exe``) into prefix tables with a suffix test, and
   only the rest into regular expressions: one alternation to answer "does any match" plus
   one per glob to tell which. Tables hold ASCII globs and compare names folded the way
   ``re.IGNORECASE`` folds them (``fold``), so they agree with the reference's regexes.
2. **Lists as sets**: extension lists become frozensets; address lists become an exact
   address set, a domain set walked label by label, and the few real globs.
3. **Rule index**: for every rule the compiler derives a necessary trigger: a set of
   extensions or globs one of which some attachment name must hit for the rule to fire
   (``extension in executable`` -> those extensions). Per message it computes the
   extensions and glob hits of all names once, and only evaluates rules whose trigger was
   hit plus the rules it could not index (message-level ones such as ``body contains``),
   in policy order; the first that matches decides.

The verdict's explanation (reason, witness attachment) comes from running the reference
evaluator on the one deciding rule, so ``simulate`` reports read the same either way.
Everything here is plain classes over sets, dicts and compiled patterns: it pickles, so a
worker process receives the compiled policy once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from mailpolicy.corpus import names as _names
from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy import ast, globs
from mailpolicy.policy.checked import CheckedPolicy, CheckedRule
from mailpolicy.policy.evaluate import (
    COMPARE,
    Evaluator,
    Verdict,
    address_in,
    decided,
    is_double_extension,
    norm_extension,
    uninspectable,
)

_WILD = re.compile(r"[*?\[\]{}\\]")
#: The only non-ASCII characters that ``re.IGNORECASE`` matches to an ASCII letter (checked
#: over every code point by a test). Folding a name with them lets the ASCII tables answer
#: exactly what the reference's regular expressions answer, for every name.
_FOLD = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}


def fold(text: str) -> str:
    """``text`` as the ASCII tables compare it: ASCII lower-cased, the four characters of
    ``_FOLD`` mapped, every other non-ASCII character kept (it equals no ASCII key)."""
    if text.isascii():
        return text.lower()
    return "".join(_FOLD.get(c, c.lower() if c.isascii() else c) for c in text)


class GlobSet:
    """A set of globs answering "does any match" and "which match" in near-constant time."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(dict.fromkeys(patterns))
        self.literal: dict[str, list[int]] = {}
        self.suffix: dict[int, dict[str, list[int]]] = {}
        self.prefix: dict[int, dict[str, list[int]]] = {}
        # "PREFIX*SUFFIX" (worm signatures: "worm5-*.exe"): by prefix, then a suffix test
        self.sandwich: dict[int, dict[str, list[tuple[str, int]]]] = {}
        rest: list[int] = []
        for i, g in enumerate(self.patterns):
            body = g[1:] if g.startswith("*") else g[:-1] if g.endswith("*") else g
            simple = g.isascii() and not _WILD.search(body)
            head, star, tail = g.partition("*")
            if (
                star
                and head
                and tail
                and g.isascii()
                and not _WILD.search(head)
                and not _WILD.search(tail)
            ):
                self.sandwich.setdefault(len(head), {}).setdefault(head.lower(), []).append(
                    (tail.lower(), i)
                )
            elif simple and not _WILD.search(g):
                self.literal.setdefault(g.lower(), []).append(i)
            elif simple and g.startswith("*") and len(g) > 1:
                self.suffix.setdefault(len(body), {}).setdefault(body.lower(), []).append(i)
            elif simple and g.endswith("*") and len(g) > 1:
                self.prefix.setdefault(len(body), {}).setdefault(body.lower(), []).append(i)
            else:
                rest.append(i)
        self.rest = tuple((i, globs.compile_glob(self.patterns[i])) for i in rest)
        self.any_rest = (
            re.compile(
                "|".join(f"(?:{globs.translate(self.patterns[i])})\\Z" for i in rest),
                re.IGNORECASE | re.DOTALL,
            )
            if rest
            else None
        )

    def matching(self, text: str) -> list[int]:
        """Indices of every pattern that matches ``text``."""
        low = fold(text)
        out = list(self.literal.get(low, ()))
        n = len(low)
        for length, table in self.suffix.items():
            if length <= n:
                out.extend(table.get(low[n - length :], ()))
        for length, table in self.prefix.items():
            if length <= n:
                out.extend(table.get(low[:length], ()))
        for length, stable in self.sandwich.items():
            if length <= n:
                out.extend(
                    i
                    for tail, i in stable.get(low[:length], ())
                    if n >= length + len(tail) and low.endswith(tail)
                )
        if self.any_rest is not None and self.any_rest.match(text):
            out.extend(i for i, rx in self.rest if rx.match(text))
        return out

    def any(self, text: str) -> bool:
        low = fold(text)
        if low in self.literal:
            return True
        n = len(low)
        for length, table in self.suffix.items():
            if length <= n and low[n - length :] in table:
                return True
        for length, table in self.prefix.items():
            if length <= n and low[:length] in table:
                return True
        for length, stable in self.sandwich.items():
            if length <= n and any(
                n >= length + len(tail) and low.endswith(tail)
                for tail, _ in stable.get(low[:length], ())
            ):
                return True
        return self.any_rest is not None and self.any_rest.match(text) is not None


class AddressSet:
    """``sender in L`` / ``recipient in L`` over a compiled list (see ``address_in``)."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.exact: set[str] = set()
        self.domains: set[str] = set()  # entry "example.com": the domain and its subdomains
        self.at_domains: set[str] = set()  # entry "*@example.com": that domain only
        self.other: list[str] = []
        self.entries = tuple(entries)
        for e in self.entries:
            if not e.isascii():
                self.other.append(e)
            elif "@" in e:
                local, _, dom = e.rpartition("@")
                if local == "*" and dom and not _WILD.search(dom):
                    self.at_domains.add(dom.lower())
                elif not _WILD.search(e):
                    self.exact.add(e.lower())
                else:
                    self.other.append(e)
            else:
                d = e.lower().lstrip("@")
                if d and not _WILD.search(d):
                    self.domains.add(d)
                else:
                    self.other.append(e)

    def contains(self, address: str) -> bool:
        if not address.isascii():
            return any(address_in(e, address) for e in self.entries)
        low = address.lower()
        if low in self.exact:
            return True
        domain = low.rsplit("@", 1)[-1]
        if "@" in low and domain in self.at_domains:
            return True
        labels = domain.split(".")
        for i in range(len(labels)):
            if ".".join(labels[i:]) in self.domains:
                return True
        return any(address_in(e, address) for e in self.other)


# ---- compiled predicates (message level take a Message, attachment level an Attachment) ----------
class _All:
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __call__(self, x: Any) -> bool:
        return all(p(x) for p in self.items)


class _Any:
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __call__(self, x: Any) -> bool:
        return any(p(x) for p in self.items)


class _Not:
    def __init__(self, item: Any) -> None:
        self.item = item

    def __call__(self, x: Any) -> bool:
        return not self.item(x)


class _SomeAttachment:
    def __init__(self, pred: Any) -> None:
        self.pred = pred

    def __call__(self, msg: Message) -> bool:
        return any(self.pred(a) for a in msg.attachments)


class _SomeMember:
    def __init__(self, pred: Any) -> None:
        self.pred = pred

    def __call__(self, a: Attachment) -> bool:
        return any(self.pred(m) for m in a.walk()[1:])


class _Addresses:
    def __init__(self, field: str, op: str, found: AddressSet | GlobSet) -> None:
        self.field, self.op = field, op
        self.set = found if isinstance(found, AddressSet) else None
        self.globs = found if isinstance(found, GlobSet) else None

    def __call__(self, msg: Message) -> bool:
        values = ([msg.sender] if msg.sender else []) if self.field == "sender" else msg.recipients
        if self.set is not None:
            return any(self.set.contains(v) for v in values)
        assert self.globs is not None
        return any(self.globs.any(v) for v in values)


class _Text:
    def __init__(self, field: str, header: str | None, op: str, value: str) -> None:
        self.field, self.header, self.op = field, header, op
        self.needle = value.casefold()
        self.rx = globs.compile_glob(value) if op == "matches" else None

    def __call__(self, msg: Message) -> bool:
        if self.field == "header":
            values: Iterable[str] = msg.header(self.header or "")
        elif self.field == "from":
            values = (msg.from_,)
        elif self.field == "subject":
            values = (msg.subject,)
        else:
            values = (msg.body,)
        if self.rx is not None:
            return any(self.rx.match(v) for v in values)
        return any(self.needle in v.casefold() for v in values)


class _Compare:
    def __init__(self, field: str, op: str, value: int) -> None:
        self.field, self.op, self.value = field, op, value

    def __call__(self, x: Any) -> bool:
        if self.field == "attachments":
            actual = len(x.attachments)
        else:
            actual = x.size
        return COMPARE[self.op](actual, self.value)


class _Names:
    def __init__(self, found: GlobSet) -> None:
        self.set = found

    def __call__(self, a: Attachment) -> bool:
        return any(self.set.any(n) for n in a.normalized_names)


class _Extension:
    def __init__(self, wanted: frozenset[str], double: bool) -> None:
        self.wanted, self.double = wanted, double

    def __call__(self, a: Attachment) -> bool:
        for n in a.normalized_names:
            exts = _names.extensions(n)
            if exts and exts[-1] in self.wanted and (not self.double or is_double_extension(exts)):
                return True
        return False


class _Fact:
    """Type, declared type, archive flags, evasive names: one attribute read each."""

    def __init__(self, kind: str, value: str | None = None) -> None:
        self.kind = kind
        self.rx = (
            globs.compile_glob(value)
            if value is not None and kind in ("mime", "declared")
            else None
        )
        self.value = value

    def __call__(self, a: Attachment) -> bool:
        k = self.kind
        if k == "class":
            return a.type_class == self.value
        if k == "mime":
            assert self.rx is not None
            return self.rx.match(a.detected_type) is not None
        if k == "declared":
            assert self.rx is not None
            return self.rx.match(a.declared_type) is not None
        if k == "mismatch":
            return a.type_mismatch
        if k == "encrypted":
            return a.encrypted
        if k == "exceeds_limits":
            return uninspectable(a)
        return bool(a.tricks)


# ---- the compiler -------------------------------------------------------------------------------
Trigger = frozenset[tuple[str, str]] | None  # ("ext", e) / ("glob", g); None: cannot index


class CompiledPolicy:
    """The matcher for one checked policy. ``match`` gives the deciding rule (or None);
    ``evaluate`` gives the full Verdict, equal to the reference's on action and rule."""

    def __init__(self, policy: CheckedPolicy) -> None:
        self.policy = policy
        self.default = policy.default  # a walk over the statements: once, not per message
        self._default_verdict = Verdict(
            action=self.default, rule=None, reason=f"no rule matched; default {self.default}"
        )
        self._sets: dict[tuple[type[Any], tuple[str, ...]], Any] = {}
        self.preds: list[tuple[Any, Any]] = []
        triggers: list[Trigger] = []
        for crule in policy.rules:
            r = crule.rule
            cond = self._cond(r.condition)
            unless = self._cond(r.unless) if r.unless is not None else None
            self.preds.append((cond, unless))
            triggers.append(self._trigger(r.condition))
        # The index: extension -> rule positions, glob -> rule positions, and the rest.
        self.always = tuple(i for i, t in enumerate(triggers) if t is None)
        self.by_ext: dict[str, list[int]] = {}
        by_glob: dict[str, list[int]] = {}
        for i, t in enumerate(triggers):
            for kind, value in t or ():
                (self.by_ext if kind == "ext" else by_glob).setdefault(value, []).append(i)
        self.glob_rules = GlobSet(by_glob)
        self.glob_targets = tuple(by_glob[g] for g in self.glob_rules.patterns)

    # -- compile conditions ---------------------------------------------------------------
    def _set(self, kind: type[Any], entries: tuple[str, ...]) -> Any:
        """One compiled set per distinct list: a list named by 500 rules is built once."""
        key = (kind, entries)
        found = self._sets.get(key)
        if found is None:
            found = self._sets[key] = kind(entries)
        return found

    def _cond(self, node: ast.Cond) -> Any:
        p = self.policy
        if isinstance(node, ast.And):
            return _All([self._cond(i) for i in node.items])
        if isinstance(node, ast.Or):
            return _Any([self._cond(i) for i in node.items])
        if isinstance(node, ast.Not):
            return _Not(self._cond(node.item))
        if isinstance(node, ast.AnyAttachment):
            return _SomeAttachment(self._cond(node.pred))
        if isinstance(node, ast.ArchiveContains):
            return _SomeMember(self._cond(node.pred))
        if isinstance(node, ast.Test):
            if node.field in ("sender", "recipient"):
                entries = p.entries(node.operand)
                found = (
                    self._set(AddressSet, entries)
                    if node.op == "in"
                    else self._set(GlobSet, entries)
                )
                return _Addresses(node.field, node.op, found)
            if node.field in ("size", "attachments"):
                assert isinstance(node.operand, ast.Number)
                return _Compare(node.field, node.op, node.operand.value)
            assert isinstance(node.operand, ast.Str)
            return _Text(node.field, node.header, node.op, node.operand.value)
        assert isinstance(node, ast.AttTest)
        f, op = node.field, node.op
        if f == "name":
            assert node.operand is not None
            return _Names(self._set(GlobSet, p.entries(node.operand)))
        if f in ("extension", "double_extension"):
            assert node.operand is not None
            wanted = frozenset(norm_extension(e) for e in p.entries(node.operand))
            return _Extension(wanted, f == "double_extension")
        if f == "size":
            assert isinstance(node.operand, ast.Number)
            return _Compare("size", op, node.operand.value)
        if f == "type":
            value = node.operand.value if isinstance(node.operand, ast.Str) else None
            return _Fact(op, value)
        if f == "declared_type":
            assert isinstance(node.operand, ast.Str)
            return _Fact("declared", node.operand.value)
        if f == "archive":
            return _Fact(op)
        return _Fact("evasive")

    def _trigger(self, node: ast.Cond) -> Trigger:
        """A necessary condition on attachment names for ``node`` to hold, or None."""
        if isinstance(node, ast.AnyAttachment):
            return self._att_trigger(node.pred)
        if isinstance(node, ast.And):
            found = [t for t in (self._trigger(i) for i in node.items) if t is not None]
            return min(found, key=len) if found else None
        if isinstance(node, ast.Or):
            parts = [self._trigger(i) for i in node.items]
            if any(t is None for t in parts):
                return None
            return frozenset().union(*parts)  # type: ignore[arg-type]
        return None

    def _att_trigger(self, node: ast.Cond) -> Trigger:
        if isinstance(node, ast.AttTest) and node.operand is not None:
            if node.field in ("extension", "double_extension"):
                return frozenset(
                    ("ext", norm_extension(e)) for e in self.policy.entries(node.operand)
                )
            if node.field == "name":
                return frozenset(("glob", g) for g in self.policy.entries(node.operand))
            return None
        if isinstance(node, ast.And):
            found = [t for t in (self._att_trigger(i) for i in node.items) if t is not None]
            return min(found, key=len) if found else None
        if isinstance(node, ast.Or):
            parts = [self._att_trigger(i) for i in node.items]
            if any(t is None for t in parts):
                return None
            return frozenset().union(*parts)  # type: ignore[arg-type]
        return None

    # -- matching -------------------------------------------------------------------------
    def candidates(self, msg: Message) -> list[int]:
        """Positions of the rules that can fire on ``msg``, in policy order."""
        hit: set[int] = set(self.always)
        by_ext, targets = self.by_ext, self.glob_targets
        for a in msg.attachments:
            for n in a.normalized_names:
                if by_ext:
                    exts = _names.extensions(n)
                    if exts and exts[-1] in by_ext:
                        hit.update(by_ext[exts[-1]])
                if targets:
                    for g in self.glob_rules.matching(n):
                        hit.update(targets[g])
        return sorted(hit)

    def match(self, msg: Message) -> CheckedRule | None:
        """The first rule that decides ``msg``, or None for the default."""
        rules = self.policy.rules
        for i in self.candidates(msg):
            cond, unless = self.preds[i]
            if cond(msg) and (unless is None or not unless(msg)):
                return rules[i]
        return None

    def evaluate(self, msg: Message) -> Verdict:
        """The Verdict (no trace); explained by the reference evaluator on the deciding rule."""
        crule = self.match(msg)
        if crule is None:
            return self._default_verdict
        ev = Evaluator(self.policy)
        return decided(ev, crule, msg, ev.rule(crule, msg))


def compile_policy(policy: CheckedPolicy) -> CompiledPolicy:
    return CompiledPolicy(policy)
