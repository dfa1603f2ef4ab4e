"""Authentication-Results header fields (RFC 8601), read with the ``authres`` library.

``parse_field(value)`` reads one field's value into an ``Field`` (its authserv-id and
each method's result with its properties), or None when ``authres`` cannot read it, it is
too long, or it is not one field at all: such a field counts as nothing (fail closed: a
trust that needs it does not hold). ``fields_from(headers, servers)`` keeps only the fields
whose authserv-id is one of ``servers`` (compared case-insensitively): RFC 8601 section 5
says a receiver ignores every other one, since anyone can write the header; the border MTA
removes forged fields that carry its own id. It also counts the fields from those servers
that could not be read.

Limits: the ``version`` after an authserv-id is accepted and ignored (only version 1
exists); comments are dropped; a property's value is kept as written (``header.d``
may differ in case from the domain it names: callers fold it).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import authres  # type: ignore[import-untyped]

#: The longest field value read; longer ones count as nothing.
MAX_FIELD = 16 * 1024
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Result:
    """One method's result: ``dkim=pass header.d=x.example`` is ``("dkim", "pass",
    (("header.d", "x.example"),))``; method, result and property names lower-cased."""

    method: str
    result: str
    props: tuple[tuple[str, str], ...] = ()

    def prop(self, name: str) -> str | None:
        return next((v for k, v in self.props if k == name), None)

    def text(self) -> str:
        return " ".join([f"{self.method}={self.result}", *(f"{k}={v}" for k, v in self.props)])


@dataclass(frozen=True, slots=True)
class Field:
    """One Authentication-Results field: who wrote it and what it says."""

    authserv_id: str
    results: tuple[Result, ...]


@functools.lru_cache(maxsize=4096)
def parse_field(value: str) -> Field | None:
    """One field's value, or None when it cannot be read completely. Cached: every rule
    that asks whether a message's sender is authenticated reads the same fields."""
    if len(value) > MAX_FIELD:
        return None
    text = _SPACE.sub(" ", value).strip()
    try:
        parsed = authres.AuthenticationResultsHeader.parse_value(text)
    except Exception:  # noqa: BLE001 - any failure of the reader: the field counts as nothing
        return None
    results = []
    for r in parsed.results:
        props = tuple(
            (f"{p.type}.{p.name}".lower(), str(p.value)) for p in getattr(r, "properties", ())
        )
        results.append(Result(str(r.method).lower(), str(r.result).lower(), props))
    return Field(str(parsed.authserv_id), tuple(results))


def fields_from(headers: Iterable[str], servers: Iterable[str]) -> tuple[tuple[Field, ...], int]:
    """The fields of ``headers`` written by one of ``servers``, and how many fields that
    seem to come from them could not be read (their first word is a named server)."""
    wanted = {s.lower() for s in servers}
    found: list[Field] = []
    unreadable = 0
    if not wanted:
        return (), 0
    for value in headers:
        field = parse_field(value)
        if field is None:
            head = _SPACE.split(value.strip(), 1)[0].rstrip(";").lower() if value.strip() else ""
            unreadable += head in wanted
        elif field.authserv_id.lower() in wanted:
            found.append(field)
    return tuple(found), unreadable
