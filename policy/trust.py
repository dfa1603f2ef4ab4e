"""``sender authenticated``: what it means, and its entry in the conditions table.

The envelope sender is authenticated when one of these holds:

- ``Message.smtp_auth`` is set: the MTA reported an SMTP AUTH identity (the milter's
  ``{auth_authen}`` macro);
- an Authentication-Results field from a server the policy names (``authserv-id``) says:
  ``auth=pass`` (SMTP AUTH at that server); or ``dmarc=pass`` with ``header.from`` equal to
  the sender's domain; or ``dkim=pass`` with ``header.d`` (else the domain of
  ``header.i``) aligned to the sender's domain, that is equal to it or a parent of it, and
  not a public suffix (the Public Suffix List of the ``publicsuffixlist`` package, offline:
  a signature by ``co.uk`` aligns nothing); or ``spf=pass`` with ``smtp.mailfrom`` (an
  address or a domain) in exactly the sender's domain.

Fields from other servers are ignored (RFC 8601 section 5); a field that cannot be read
counts as nothing; with no ``authserv-id`` named, only SMTP AUTH counts. Headers are read
lazily, when the condition is evaluated, so the message model needs nothing new.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import partial

from publicsuffixlist import PublicSuffixList

from mailpolicy.corpus.authresults import Field, Result, fields_from
from mailpolicy.corpus.message import Message
from mailpolicy.policy import ast
from mailpolicy.policy.entry import Lists, Match, MessageEntry, Need, Sets

HEADER = "Authentication-Results"


@functools.cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()  # the list the package ships: no network


def _fold(domain: str | None) -> str:
    return (domain or "").strip().rstrip(".").lower()


def sender_domain(msg: Message) -> str:
    local, at, domain = (msg.sender or "").rpartition("@")
    return _fold(domain) if at and local else ""


def public_suffix(domain: str) -> bool:
    """A domain under which anyone may register names (``com``, ``co.uk``, ``github.io``)."""
    return bool(_psl().is_public(domain))


def _mail_domain(value: str | None) -> str:
    return _fold((value or "").rpartition("@")[2])


def aligned(result: Result, domain: str) -> bool:
    """Does this one passing result authenticate ``domain``? (see the module docstring)"""
    if result.result != "pass":
        return False
    if result.method == "auth":
        return True
    if not domain:
        return False
    if result.method == "dmarc":
        return _fold(result.prop("header.from")) == domain
    if result.method == "dkim":
        d = _fold(result.prop("header.d")) or _mail_domain(result.prop("header.i"))
        return bool(d) and (domain == d or domain.endswith("." + d)) and not public_suffix(d)
    if result.method == "spf":
        return _mail_domain(result.prop("smtp.mailfrom")) == domain
    return False


def _evidence(msg: Message, servers: tuple[str, ...]) -> tuple[str | None, tuple[Field, ...], int]:
    """What authenticates the sender of ``msg`` (None: nothing), with the fields read from
    the named servers and how many of theirs could not be read."""
    if msg.smtp_auth:
        return f"SMTP AUTH as {msg.smtp_auth} (the MTA)", (), 0
    fields, unreadable = fields_from(msg.header(HEADER), servers)
    domain = sender_domain(msg)
    for field in fields:
        for result in field.results:
            if aligned(result, domain):
                return f"{result.text()} ({field.authserv_id})", fields, unreadable
    return None, fields, unreadable


def decide(msg: Message, servers: tuple[str, ...]) -> Match:
    """Whether the sender of ``msg`` is authenticated, and the sentence that says why."""
    who = f"sender {msg.sender or '<>'}"
    why, fields, unreadable = _evidence(msg, servers)
    if why is not None:
        return Match(True, f"{who} authenticated: {why}")
    return Match(False, f"{who} not authenticated: {_why_not(fields, unreadable, servers)}")


def _why_not(fields: tuple[Field, ...], unreadable: int, servers: tuple[str, ...]) -> str:
    if not servers:
        return "no SMTP AUTH, and the policy names no authserv-id"
    names = ", ".join(servers)
    bad = f" ({unreadable} unreadable)" if unreadable else ""
    if not fields:
        return f"no Authentication-Results from {names}{bad}"
    said = "; ".join(r.text() for f in fields for r in f.results) or "none"
    return f"nothing aligned with the sender's domain in {said} ({names}){bad}"


def _authenticated(servers: tuple[str, ...], msg: Message) -> bool:
    return _evidence(msg, servers)[0] is not None  # the deciders need no sentence


def authserv_problem(name: str) -> str | None:
    """Why ``name`` cannot be an authserv-id (a value the header can carry), or None."""
    if not name or any(c.isspace() or c in ';()"\\' or not c.isprintable() for c in name):
        return f'{name!r} is not an authserv-id: one word such as "mx1.example.ac.jp"'
    return None


class TrustKind(MessageEntry[ast.SenderAuthenticated]):
    """``sender authenticated`` (and the ``authenticated`` of ``sender in L
    authenticated``); the servers it trusts are on the node (``servers``)."""

    def read(self, node: ast.SenderAuthenticated, x: Message) -> tuple[str, ...]:
        found, _ = fields_from(x.header(HEADER), node.servers)
        auth = (f"smtp-auth={x.smtp_auth}",) if x.smtp_auth else ()
        return auth + tuple(r.text() for f in found for r in f.results)

    def compile(self, node: ast.SenderAuthenticated, sets: Sets) -> Callable[[Message], bool]:
        return partial(_authenticated, node.servers)

    def explain(self, node: ast.SenderAuthenticated, x: Message, lists: Lists) -> Match:
        return decide(x, node.servers)

    def index(self, node: ast.SenderAuthenticated, lists: Lists) -> Need:
        return None  # read from headers and the MTA: no key narrows it


SENDER_AUTHENTICATED = TrustKind("sender", "authenticated")
