"""The message-level kinds of condition: addresses, texts, counts, message facts.

Each class here is the ``Entry`` of one or more ``ast`` classes (see
``conditions.ENTRIES``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from mailpolicy.corpus.message import Message
from mailpolicy.policy import ast, globs, printer
from mailpolicy.policy.entry import (
    COMPARE,
    Key,
    Lists,
    Match,
    MessageEntry,
    Need,
    Sets,
    list_label,
    number_of,
    quoted,
    string_of,
)
from mailpolicy.policy.sets import AddressSet, GlobSet, address_in

AddressNode = ast.SenderIn | ast.SenderMatches | ast.RecipientIn | ast.RecipientMatches


def _envelope(role: str, msg: Message) -> tuple[str, ...]:
    if role == "sender":
        return (msg.sender,) if msg.sender else ()
    return tuple(msg.recipients)


def _address_in_set(role: str, found: AddressSet, msg: Message) -> bool:
    return any(found.contains(v) for v in _envelope(role, msg))


def _address_matches(role: str, found: GlobSet, msg: Message) -> bool:
    return any(found.any(v) for v in _envelope(role, msg))


class AddressKind(MessageEntry[AddressNode]):
    """``sender|recipient in L`` (address globs and domains) and ``matches GLOBS``."""

    def __init__(self, field: str, op: str) -> None:
        super().__init__(field, op)
        self.role, self.is_in = field, op == "in"

    def read(self, node: AddressNode, x: Message) -> tuple[str, ...]:
        return _envelope(self.role, x)

    def compile(self, node: AddressNode, sets: Sets) -> Callable[[Message], bool]:
        entries = sets.entries(node.operand)
        if self.is_in:
            return partial(_address_in_set, self.role, sets.address_set(entries))
        return partial(_address_matches, self.role, sets.glob_set(entries))

    def explain(self, node: AddressNode, x: Message, lists: Lists) -> Match:
        f, values = self.role, self.read(node, x)
        if not values:
            return Match(False, f"the message has no envelope {f}")
        entries = lists.entries(node.operand)
        for v in values:
            if self.is_in:
                hit = next((e for e in entries if address_in(e, v)), None)
                if hit is not None:
                    return Match(True, f"{f} {v} is in {list_label(node.operand)} (entry {hit!r})")
            elif any(globs.match(e, v) for e in entries):
                return Match(True, f"{f} {v} matches {printer.operand(node.operand)}")
        verb = "is not in" if self.is_in else "does not match"
        return Match(False, f"{f} {', '.join(values)} {verb} {list_label(node.operand)}")

    def index(self, node: AddressNode, lists: Lists) -> Need:
        # an ``in`` entry with ``@`` and every ``matches`` glob: a glob over the address;
        # an ``in`` entry without ``@``: a domain and its subdomains (``address_in``)
        return frozenset(
            ("domain" if self.is_in and "@" not in e else "address", self.role, e)
            for e in lists.entries(node.operand)
        )


TextNode = ast.TextContains | ast.TextMatches | ast.HeaderContains | ast.HeaderMatches


def _text_values(node: TextNode, msg: Message) -> tuple[str, ...]:
    if isinstance(node, (ast.HeaderContains, ast.HeaderMatches)):
        return tuple(msg.header(node.header))
    if node.field == "from":
        return (msg.from_,)
    return (msg.subject,) if node.field == "subject" else (msg.body,)


def _contains(node: TextNode, needle: str, msg: Message) -> bool:
    return any(needle in v.casefold() for v in _text_values(node, msg))


def _glob_match(node: TextNode, rx: Any, msg: Message) -> bool:
    return any(rx.match(v) for v in _text_values(node, msg))


class TextKind(MessageEntry[TextNode]):
    """``from|subject|body|header "H"`` ``contains "text"`` (case-insensitive substring)
    or ``matches GLOB`` (over the whole value)."""

    def __init__(self, field: str, op: str) -> None:
        super().__init__(field, op)
        self.contains = op == "contains"

    def read(self, node: TextNode, x: Message) -> tuple[str, ...]:
        return _text_values(node, x)

    def compile(self, node: TextNode, sets: Sets) -> Callable[[Message], bool]:
        want = string_of(node.operand)
        if self.contains:
            return partial(_contains, node, want.casefold())
        return partial(_glob_match, node, globs.compile_glob(want))

    def explain(self, node: TextNode, x: Message, lists: Lists) -> Match:
        if isinstance(node, (ast.HeaderContains, ast.HeaderMatches)):
            label = f"header {node.header}"
        else:
            label = node.field
        want = string_of(node.operand)
        for v in self.read(node, x):
            if (want.casefold() in v.casefold()) if self.contains else globs.match(want, v):
                return Match(True, f"{label} {node.op} {quoted(want)}")
        verb = "contain" if self.contains else "match"
        return Match(False, f"{label} does not {verb} {quoted(want)}")

    def index(self, node: TextNode, lists: Lists) -> Need:
        if isinstance(node, (ast.HeaderContains, ast.HeaderMatches)):
            field = "header:" + node.header.lower()  # Message.header is case-insensitive
        else:
            field = node.field
        if not isinstance(node.operand, ast.Str):
            return None  # lint asks before the checker has refused a bad operand
        want = node.operand.value
        if not self.contains:
            return frozenset({("matches", field, want)})
        # an empty needle is in every value: true whenever the field has one
        return frozenset({("contains", field, want.casefold())}) if want else None


FlagNode = ast.MessageUnscannable | ast.EvasiveMime


def _message_fact(node: FlagNode, msg: Message) -> tuple[str, ...]:
    return msg.unscannable if isinstance(node, ast.MessageUnscannable) else msg.tricks


def _has_message_fact(node: FlagNode, msg: Message) -> bool:
    return bool(_message_fact(node, msg))


class MessageFlagKind(MessageEntry[FlagNode]):
    """``message unscannable`` and ``evasive mime``: the reasons or tricks the reader
    recorded for the message as a whole; true when there is any."""

    def read(self, node: FlagNode, x: Message) -> tuple[str, ...]:
        return _message_fact(node, x)

    def compile(self, node: FlagNode, sets: Sets) -> Callable[[Message], bool]:
        return partial(_has_message_fact, node)

    def explain(self, node: FlagNode, x: Message, lists: Lists) -> Match:
        found = self.read(node, x)
        if isinstance(node, ast.MessageUnscannable):
            if found:
                return Match(True, f"the message cannot be read completely: {'; '.join(found)}")
            return Match(False, "the message was read completely")
        if found:
            return Match(True, f"the MIME structure uses {', '.join(found)}")
        return Match(False, "the MIME structure uses no trick")

    def index(self, node: FlagNode, lists: Lists) -> Need:
        key: Key = (
            "message",
            "unscannable" if isinstance(node, ast.MessageUnscannable) else "tricks",
        )
        return frozenset({key})


CountNode = ast.MessageSize | ast.AttachmentCount


def _count(node: CountNode, msg: Message) -> int:
    return msg.size if isinstance(node, ast.MessageSize) else len(msg.attachments)


def _compare_count(node: CountNode, value: int, msg: Message) -> bool:
    return COMPARE[node.op](_count(node, msg), value)


class CountKind(MessageEntry[CountNode]):
    """``size OP N`` (bytes of the message) and ``attachments OP N``."""

    def read(self, node: CountNode, x: Message) -> tuple[int]:
        return (_count(node, x),)

    def compile(self, node: CountNode, sets: Sets) -> Callable[[Message], bool]:
        return partial(_compare_count, node, number_of(node.operand).value)

    def explain(self, node: CountNode, x: Message, lists: Lists) -> Match:
        number, actual = number_of(node.operand), _count(node, x)
        ok = COMPARE[node.op](actual, number.value)
        shown = node.op if ok else "is not " + node.op
        return Match(ok, f"message {node.field} {actual} {shown} {number.text}")

    def index(self, node: CountNode, lists: Lists) -> Need:
        # ``!=`` is true for nearly every message: not worth a key; a bad operand (lint
        # asks before the checker refuses it): none either
        if node.op == "!=" or not isinstance(node.operand, ast.Number):
            return None
        return frozenset({("count", node.field, node.op, node.operand.value)})


# -- attachment level --
