"""The rule index of the compiled matcher: from a message's facts to the rules that can fire.

``RuleIndex(needs)`` takes one need per rule (``index.needs``: a set of keys one of which
the message must hit, or None) and files every key with the probe that reads its fact:

====================  =====================================================  ===========
probe                 keys (``entry.Key``)                                   structure
====================  =====================================================  ===========
``_Names``            ``("ext", e)``, ``("glob", g)``: attachment names      dict, GlobIndex
``_Addresses``        ``("address"|"domain", role, entry)``                  AddressIndex
``_Texts``            ``("contains"|"matches", field, text)``                Needles, GlobIndex
``_Counts``           ``("count", field, op, n)``: message size, attachments  Thresholds
``_MessageFacts``     ``("message", "unscannable"|"tricks")``                set
``_Facts``            ``("fact", field, op, ...)``: one attachment fact       by ``indexed``
``_Members``          ``("member", "ext"|"glob", x)``, ``("member", "any")``  dict, GlobIndex
====================  =====================================================  ===========

``candidates(msg)`` yields, in policy order, the rules whose keys the message hits plus
the rules whose need is unknown. Every probe reads cheap facts (names, envelope, headers,
body, sizes the reader gave) at once, except a ``_Facts`` probe of a lazy fact (true type,
archive listing, active content, an attachment's decoded size) and the ``_Members`` probe
(whether an attachment has members, their names: it lists the archives): those are read
only when the walk reaches the first rule that needs them, so a message decided earlier
never decodes or parses for it, as with the reference evaluator. Per message the cost grows with the
kinds of keys and the hits, not with the number of rules.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from typing import Any

from mailpolicy.corpus import names as _names
from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy.attachment_kinds import FactKind
from mailpolicy.policy.conditions import Key, Need
from mailpolicy.policy.index import fact_entry
from mailpolicy.policy.index_text import AddressIndex, GlobIndex, Needles, Thresholds


class _Probe:
    """The keys of one kind of fact; ``hits(msg)`` gives the positions of the keys hit."""

    def __init__(self, keys: Sequence[Key]) -> None:
        self.keys = tuple(keys)

    def hits(self, msg: Message) -> Iterator[int]:
        raise NotImplementedError


class _Names(_Probe):
    def __init__(self, keys: Sequence[Key]) -> None:
        super().__init__(keys)
        self.ext: dict[str, list[int]] = {}
        globs: list[str] = []
        for k, key in enumerate(keys):
            if key[0] == "ext":
                self.ext.setdefault(str(key[1]), []).append(k)
            else:
                globs.append(str(key[1]))
        self.globs = GlobIndex(globs)
        where = {str(key[1]): k for k, key in enumerate(keys) if key[0] == "glob"}
        self.glob_keys = tuple(where[g] for g in self.globs.patterns)

    def hits(self, msg: Message) -> Iterator[int]:
        for a in msg.attachments:
            yield from self.hits_of(a)

    def hits_of(self, a: Attachment) -> Iterator[int]:
        """The keys the names of one attachment (or member) hit."""
        ext, glob_keys = self.ext, self.glob_keys
        for n in a.normalized_names:
            if ext:
                exts = _names.extensions(n)
                if exts:
                    yield from ext.get(exts[-1], ())
            if glob_keys:
                yield from (glob_keys[i] for i in self.globs.matching(n))


class _Members(_Probe):
    """The keys of ``contains P`` (``index.member_needs``): some attachment has members, and
    the members' names, read as ``_Names`` reads an attachment's. Listing archives costs
    work, so this probe is lazy."""

    def __init__(self, keys: Sequence[Key]) -> None:
        super().__init__(keys)
        self.any = tuple(k for k, key in enumerate(keys) if key[1] == "any")
        self.names = _Names([key[1:] for key in keys if key[1] != "any"])
        named = [k for k, key in enumerate(keys) if key[1] != "any"]
        self.named = tuple(named)

    def hits(self, msg: Message) -> Iterator[int]:
        names, named = self.names, self.named
        for a in msg.attachments:
            members = a.walk()[1:]
            if members:
                yield from self.any
            if named:
                for m in members:
                    yield from (named[k] for k in names.hits_of(m))


class _Addresses(_Probe):
    def __init__(self, role: str, keys: Sequence[Key]) -> None:
        super().__init__(keys)
        self.role = role
        self.glob_keys = [k for k, key in enumerate(keys) if key[0] == "address"]
        self.domain_keys = [k for k, key in enumerate(keys) if key[0] == "domain"]
        self.index = AddressIndex(
            [str(keys[k][2]) for k in self.glob_keys], [str(keys[k][2]) for k in self.domain_keys]
        )

    def hits(self, msg: Message) -> Iterator[int]:
        if self.role == "sender":
            values: Sequence[str] = (msg.sender,) if msg.sender else ()
        else:
            values = msg.recipients
        for v in values:
            in_globs, in_domains = self.index.matching(v)
            yield from (self.glob_keys[i] for i in in_globs)
            yield from (self.domain_keys[i] for i in in_domains)


def _field_values(field: str, msg: Message) -> Sequence[str]:
    """The values a ``contains``/``matches`` of ``field`` reads (``message_kinds``)."""
    if field.startswith("header:"):
        return msg.header(field.removeprefix("header:"))
    if field == "from":
        return (msg.from_,)
    return (msg.subject,) if field == "subject" else (msg.body,)


class _Texts(_Probe):
    """``contains`` and ``matches`` keys of one field (``subject``, ``header:x-mailer``)."""

    def __init__(self, field: str, keys: Sequence[Key]) -> None:
        super().__init__(keys)
        self.field = field
        self.contains = [k for k, key in enumerate(keys) if key[0] == "contains"]
        self.matches = [k for k, key in enumerate(keys) if key[0] == "matches"]
        self.needles = Needles(str(keys[k][2]) for k in self.contains)
        self.globs = GlobIndex(str(keys[k][2]) for k in self.matches)
        where = {str(keys[k][2]): k for k in self.matches}
        self.glob_keys = tuple(where[g] for g in self.globs.patterns)

    def hits(self, msg: Message) -> Iterator[int]:
        for v in _field_values(self.field, msg):
            if self.contains:
                yield from (self.contains[i] for i in self.needles.found(v.casefold()))
            if self.glob_keys:
                yield from (self.glob_keys[i] for i in self.globs.matching(v))


class _Counts(_Probe):
    def __init__(self, field: str, keys: Sequence[Key]) -> None:
        super().__init__(keys)
        self.size = field == "size"
        self.thresholds = Thresholds([(str(key[2]), int(key[3])) for key in keys])

    def hits(self, msg: Message) -> Iterator[int]:
        yield from self.thresholds.hits(msg.size if self.size else len(msg.attachments))


class _MessageFacts(_Probe):
    def hits(self, msg: Message) -> Iterator[int]:
        for k, key in enumerate(self.keys):
            if msg.unscannable if key[1] == "unscannable" else msg.tricks:
                yield k


class _Facts(_Probe):
    """The keys of one attachment fact kind (``("fact", field, op, ...)``), read with the
    kind's own ``fact`` and compared the way its ``holds`` does (``FactKind.indexed``)."""

    def __init__(self, entry: FactKind, keys: Sequence[Key]) -> None:
        super().__init__(keys)
        self.entry = entry
        self.values: dict[Any, list[int]] = {}
        if entry.indexed == "value":
            for k, key in enumerate(keys):
                self.values.setdefault(key[3], []).append(k)
        self.globs = GlobIndex(str(key[3]) for key in keys) if entry.indexed == "glob" else None
        if self.globs is not None:
            where = {str(key[3]): k for k, key in enumerate(keys)}
            self.glob_keys = tuple(where[g] for g in self.globs.patterns)
        self.thresholds = (
            Thresholds([(str(key[3]), int(key[4])) for key in keys])
            if entry.indexed == "compare"
            else None
        )

    def hits(self, msg: Message) -> Iterator[int]:
        how = self.entry.indexed
        for a in msg.attachments:
            fact = self.entry.fact(a)
            if how == "flag":
                if fact:
                    yield from range(len(self.keys))
            elif how == "value":
                yield from self.values.get(fact, ())
            elif self.globs is not None:
                yield from (self.glob_keys[i] for i in self.globs.matching(fact))
            elif self.thresholds is not None:
                yield from self.thresholds.hits(fact)


def _probe(group: tuple[str, ...], keys: Sequence[Key]) -> _Probe:
    kind = group[0]
    if kind == "names":
        return _Names(keys)
    if kind == "address":
        return _Addresses(group[1], keys)
    if kind == "text":
        return _Texts(group[1], keys)
    if kind == "count":
        return _Counts(group[1], keys)
    if kind == "message":
        return _MessageFacts(keys)
    if kind == "member":
        return _Members(keys)
    return _Facts(fact_entry(group[1], group[2]), keys)


def _group(key: Key) -> tuple[str, ...]:
    kind = key[0]
    if kind in ("ext", "glob"):
        return ("names",)
    if kind in ("address", "domain"):
        return ("address", str(key[1]))
    if kind in ("contains", "matches"):
        return ("text", str(key[1]))
    if kind in ("count", "message"):
        return (str(kind), str(key[1]))
    if kind == "member":
        return ("member",)
    return ("fact", str(key[1]), str(key[2]))


class RuleIndex:
    """Rules filed under their needs (see the module docstring)."""

    def __init__(self, needs: Sequence[Need]) -> None:
        self.always = tuple(i for i, n in enumerate(needs) if n is None)
        rules_of: dict[Key, list[int]] = {}
        for i, need in enumerate(needs):
            for key in need or ():
                rules_of.setdefault(key, []).append(i)
        groups: dict[tuple[str, ...], list[Key]] = {}
        for key in rules_of:
            groups.setdefault(_group(key), []).append(key)
        #: the probes read on every message, and the lazy ones with the position of the
        #: first rule that needs them, in policy order
        self.eager: list[tuple[_Probe, tuple[tuple[int, ...], ...]]] = []
        self.deferred: list[tuple[int, _Probe, tuple[tuple[int, ...], ...]]] = []
        for group, keys in groups.items():
            probe = _probe(group, keys)
            targets = tuple(tuple(rules_of[k]) for k in keys)
            if isinstance(probe, _Members) or isinstance(probe, _Facts) and probe.entry.lazy:
                self.deferred.append((min(min(t) for t in targets), probe, targets))
            else:
                self.eager.append((probe, targets))
        self.deferred.sort(key=lambda d: d[0])

    def candidates(self, msg: Message) -> Iterator[int]:
        """Positions of the rules that can fire on ``msg``, in policy order, each once."""
        hit: set[int] = set(self.always)
        for probe, targets in self.eager:
            for k in probe.hits(msg):
                hit.update(targets[k])
        if not self.deferred:
            yield from sorted(hit)
            return
        heap = list(hit)
        heapq.heapify(heap)
        pending = iter(self.deferred)
        upcoming = next(pending, None)
        while heap or upcoming is not None:
            if upcoming is not None and (not heap or upcoming[0] <= heap[0]):
                _, probe, targets = upcoming
                for k in probe.hits(msg):
                    for i in targets[k]:
                        if i not in hit:
                            hit.add(i)
                            heapq.heappush(heap, i)
                upcoming = next(pending, None)
                continue
            yield heapq.heappop(heap)
