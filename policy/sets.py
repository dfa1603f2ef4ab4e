"""Compiled sets: many globs or addresses answered in near-constant time.

``GlobSet`` compiles globs by strategy (ripgrep's globset): literal names go into a dict,
``*SUFFIX`` globs (``*.pif``, ``*.tar.gz``) into suffix tables keyed by length,
``PREFIX*`` into prefix tables, ``PREFIX*SUFFIX`` (``worm5-*.exe``) into prefix tables
with a suffix test, and only the rest into regular expressions: one alternation to answer
"does any match" plus one per glob to tell which. Tables hold ASCII globs and compare
names folded the way ``re.IGNORECASE`` folds them (``fold``), so they agree with
``globs.match`` on every name.

``AddressSet`` answers ``sender in L`` (see ``conditions.address_in``): an exact address
set, a domain set walked label by label, and the few real globs.

Both are plain classes over sets, dicts and compiled patterns: they pickle, so a worker
process receives a compiled policy once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mailpolicy.policy import globs

_WILD = re.compile(r"[*?\[\]{}\\]")
#: The only non-ASCII characters that ``re.IGNORECASE`` matches to an ASCII letter (checked
#: over every code point by a test). Folding a name with them lets the ASCII tables answer
#: exactly what the reference's regular expressions answer, for every name.
FOLD = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}


def fold(text: str) -> str:
    """``text`` as the ASCII tables compare it: ASCII lower-cased, the four characters of
    ``FOLD`` mapped, every other non-ASCII character kept (it equals no ASCII key)."""
    if text.isascii():
        return text.lower()
    return "".join(FOLD.get(c, c.lower() if c.isascii() else c) for c in text)


def address_in(entry: str, address: str) -> bool:
    """Does ``address`` belong to list entry ``entry`` (an address glob or a domain)?

    An entry with ``@`` is a glob over the whole address; an entry without is a domain and
    matches it and its subdomains."""
    if "@" in entry:
        return globs.match(entry, address)
    domain = address.rsplit("@", 1)[-1].lower()
    entry = entry.lower().lstrip("@")
    return globs.match(entry, domain) or (globs.is_literal(entry) and domain.endswith("." + entry))


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
