"""Reference evaluator: walk a checked policy over one message.

This is the definition of what a policy means; it favours obviousness over speed. The
compiled matcher must return the same action and rule on every input, and property tests
hold the two equal.

Semantics:
- Rules are tried top to bottom; the first whose condition holds and whose ``unless``
  does not decides. When none does, the policy's ``default`` decides.
- ``attachment P`` holds when some attachment of the message (attachments of attached
  messages and uuencoded files included; archive members not) satisfies ``P``.
  ``archive contains P`` holds when some member, at any depth, satisfies ``P``.
- Names are matched in their normalised form (decoded, NFC, trailing dots and spaces
  dropped) under every name the attachment carries; globs are case-insensitive.
- ``extension in L``: the last extension, compared case-insensitively with the entries of
  ``L`` (a leading ``.`` or ``*.`` on an entry is ignored).
- ``double extension in L``: the last extension is in ``L`` and the one before it looks
  like a real extension: 1 to 4 characters, not all digits. That is what separates
  ``name.doc.bat`` from ``John.Smith.bat``, ``prog.2001.01.exe`` and ``test.tar.gz``.
- ``sender in L`` / ``recipient in L``: an entry with ``@`` is a glob over the whole
  address; an entry without ``@`` is a domain and matches it and its subdomains. A
  message without envelope sender (bounces) is in no list.
- ``from``/``subject``/``body``/``header`` ``contains`` is a case-insensitive substring
  test, ``matches`` a glob over the whole value.
- ``archive exceeds limits`` holds for an archive that could not be fully inspected:
  too deep, too many members, too many bytes, too high a ratio, or encrypted.
- ``strip`` removes every attachment that satisfies an attachment predicate of the
  deciding rule and delivers the rest.

Lazy facts (decoded bytes, detected type, archive members) are only touched when a
predicate needs them, in the order the rule is written; ``and`` stops at the first false.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mailpolicy.corpus import names as _names
from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy import ast, globs, printer
from mailpolicy.policy.checked import CheckedPolicy, CheckedRule

COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True, slots=True)
class Step:
    """One rule tried: did it match, and why (or why not)."""

    rule: str
    line: int
    action: str
    matched: bool
    why: str


@dataclass(frozen=True, slots=True)
class Verdict:
    action: str
    rule: str | None
    reason: str
    line: int | None = None
    attachment: Attachment | None = None
    name: str | None = None
    header: str | None = None
    stripped: tuple[Attachment, ...] = ()
    trace: tuple[Step, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        att = self.attachment
        return {
            "action": self.action,
            "rule": self.rule,
            "line": self.line,
            "attachment": _att_json(att) if att is not None else None,
            "name": self.name,
            "reason": self.reason,
            "header": self.header,
            "stripped": [_att_json(a) for a in self.stripped],
            "trace": [
                {
                    "rule": s.rule,
                    "line": s.line,
                    "action": s.action,
                    "matched": s.matched,
                    "why": s.why,
                }
                for s in self.trace
            ],
        }


def _att_json(att: Attachment) -> dict[str, Any]:
    return {"part": att.part, "name": att.name, "names": list(att.names)}


@dataclass(frozen=True, slots=True)
class Match:
    """The outcome of one condition: its truth, a human reason, and the witness."""

    ok: bool
    why: str
    attachment: Attachment | None = None
    name: str | None = None


# ---- small semantic helpers (shared with the compiler) ----------------------------------------
def norm_extension(entry: str) -> str:
    """A list entry as an extension: ``"*.EXE"``, ``".exe"`` and ``"exe"`` are ``exe``."""
    return entry.strip().lower().removeprefix("*").removeprefix(".")


def is_double_extension(exts: tuple[str, ...]) -> bool:
    """Two or more extensions, the next-to-last 1 to 4 characters and not all digits."""
    if len(exts) < 2:
        return False
    prev = exts[-2]
    return 1 <= len(prev) <= 4 and not prev.isdigit()


def address_in(entry: str, address: str) -> bool:
    """Does ``address`` belong to list entry ``entry`` (an address glob or a domain)?"""
    if "@" in entry:
        return globs.match(entry, address)
    domain = address.rsplit("@", 1)[-1].lower()
    entry = entry.lower().lstrip("@")
    return globs.match(entry, domain) or (globs.is_literal(entry) and domain.endswith("." + entry))


def uninspectable(a: Attachment) -> bool:
    """``archive exceeds limits``: the archive could not be fully looked into, because it
    broke a limit (depth, members, bytes, ratio) or because it is encrypted."""
    return a.exceeds_limits or a.encrypted


def _quote(text: str | None) -> str:
    return printer.quote(text or "")


def _list_label(op: ast.Operand) -> str:
    return f"list {op.name}" if isinstance(op, ast.ListRef) else printer.operand(op)


class Evaluator:
    """Evaluates the conditions of one checked policy; stateless between messages."""

    def __init__(self, policy: CheckedPolicy) -> None:
        self.policy = policy

    # -- message level ---------------------------------------------------------------------
    def cond(self, node: ast.Cond, msg: Message) -> Match:
        if isinstance(node, ast.And):
            last = Match(True, "")
            whys = []
            for item in node.items:
                m = self.cond(item, msg)
                if not m.ok:
                    return Match(False, m.why)
                whys.append(m.why)
                if m.attachment is not None and last.attachment is None:
                    last = m
            return Match(True, " and ".join(whys), last.attachment, last.name)
        if isinstance(node, ast.Or):
            whys = []
            for item in node.items:
                m = self.cond(item, msg)
                if m.ok:
                    return m
                whys.append(m.why)
            return Match(False, "; ".join(whys))
        if isinstance(node, ast.Not):
            m = self.cond(node.item, msg)
            return Match(not m.ok, f"not ({m.why})")
        if isinstance(node, ast.AnyAttachment):
            for att in msg.attachments:
                m = self.att(node.pred, att)
                if m.ok:
                    return Match(True, m.why, att, m.name)
            return Match(False, f"no attachment has {printer.cond(node.pred)}")
        if isinstance(node, ast.Test):
            return self.test(node, msg)
        raise TypeError(f"attachment predicate outside 'attachment': {node!r}")

    def test(self, node: ast.Test, msg: Message) -> Match:
        f, op = node.field, node.op
        if f in ("sender", "recipient"):
            if f == "sender":
                values = [msg.sender] if msg.sender else []
            else:
                values = list(msg.recipients)
            if not values:
                return Match(False, f"the message has no envelope {f}")
            entries = self.policy.entries(node.operand)
            for v in values:
                if op == "in":
                    hit = next((e for e in entries if address_in(e, v)), None)
                    if hit is not None:
                        return Match(
                            True, f"{f} {v} is in {_list_label(node.operand)} (entry {hit!r})"
                        )
                elif any(globs.match(e, v) for e in entries):
                    return Match(True, f"{f} {v} matches {printer.operand(node.operand)}")
            return Match(
                False,
                f"{f} {', '.join(values)} {'is not in' if op == 'in' else 'does not match'} "
                f"{_list_label(node.operand)}",
            )
        if f in ("size", "attachments"):
            assert isinstance(node.operand, ast.Number)
            actual = msg.size if f == "size" else len(msg.attachments)
            ok = COMPARE[op](actual, node.operand.value)
            return Match(
                ok, f"message {f} {actual} {op if ok else 'is not ' + op} {node.operand.text}"
            )
        values = list(msg.header(node.header or "")) if f == "header" else [_text_field(msg, f)]
        label = f"header {node.header}" if f == "header" else f
        assert isinstance(node.operand, ast.Str)
        want = node.operand.value
        for v in values:
            if (want.casefold() in v.casefold()) if op == "contains" else globs.match(want, v):
                return Match(True, f"{label} {op} {_quote(want)}")
        return Match(
            False, f"{label} does not {'contain' if op == 'contains' else 'match'} {_quote(want)}"
        )

    # -- attachment level ------------------------------------------------------------------
    def att(self, node: ast.Cond, a: Attachment) -> Match:
        if isinstance(node, ast.And):
            whys, witness = [], None
            for item in node.items:
                m = self.att(item, a)
                if not m.ok:
                    return Match(False, m.why)
                whys.append(m.why)
                witness = witness or m.name
            return Match(True, " and ".join(whys), a, witness)
        if isinstance(node, ast.Or):
            whys = []
            for item in node.items:
                m = self.att(item, a)
                if m.ok:
                    return m
                whys.append(m.why)
            return Match(False, "; ".join(whys))
        if isinstance(node, ast.Not):
            m = self.att(node.item, a)
            return Match(not m.ok, f"not ({m.why})", a, a.name)
        if isinstance(node, ast.ArchiveContains):
            for member in a.walk()[1:]:
                m = self.att(node.pred, member)
                if m.ok:
                    return Match(
                        True,
                        f"archive {_quote(a.name)} holds {_quote(member.part)}: {m.why}",
                        a,
                        a.name,
                    )
            return Match(False, f"no archive member has {printer.cond(node.pred)}")
        if isinstance(node, ast.AttTest):
            return self.att_test(node, a)
        raise TypeError(f"message predicate inside 'attachment': {node!r}")

    def att_test(self, node: ast.AttTest, a: Attachment) -> Match:
        f, op = node.field, node.op
        if f == "name":
            pats = (
                (node.operand.value,)
                if isinstance(node.operand, ast.Str)
                else self.policy.entries(node.operand)
            )  # type: ignore[union-attr]
            for n in a.normalized_names:
                hit = next((g for g in pats if globs.match(g, n)), None)
                if hit is not None:
                    return Match(True, f"name {_quote(n)} matches {_quote(hit)}", a, n)
            where = "glob" if op == "matches" else _list_label(node.operand)  # type: ignore[arg-type]
            return Match(False, f"name {_quote(a.normalized_name)} matches no {where}")
        if f in ("extension", "double_extension"):
            assert node.operand is not None
            wanted = {norm_extension(e) for e in self.policy.entries(node.operand)}
            for n in a.normalized_names:
                exts = _names.extensions(n)
                if not exts or exts[-1] not in wanted:
                    continue
                if f == "double_extension" and not is_double_extension(exts):
                    continue
                kind = "double extension" if f == "double_extension" else "extension"
                return Match(
                    True,
                    f"{kind} of {_quote(n)} is {exts[-1]!r}, in {_list_label(node.operand)}",
                    a,
                    n,
                )
            return Match(
                False,
                f"{'double extension' if f == 'double_extension' else 'extension'} of "
                f"{_quote(a.normalized_name)} is not in {_list_label(node.operand)}",
            )
        if f == "type":
            if op == "mismatch":
                ok = a.type_mismatch
                return Match(
                    ok,
                    f"content of {_quote(a.name)} is {a.detected_type}"
                    f"{', not what its extension says' if ok else ', as its name says'}",
                    a,
                    a.name,
                )
            assert isinstance(node.operand, ast.Str)
            if op == "class":
                ok = a.type_class == node.operand.value
                return Match(
                    ok,
                    f"content of {_quote(a.name)} is {a.type_class} ({a.detected_type})",
                    a,
                    a.name,
                )
            ok = globs.match(node.operand.value, a.detected_type)
            return Match(ok, f"content of {_quote(a.name)} is {a.detected_type}", a, a.name)
        if f == "declared_type":
            assert isinstance(node.operand, ast.Str)
            ok = globs.match(node.operand.value, a.declared_type)
            return Match(ok, f"declared type of {_quote(a.name)} is {a.declared_type}", a, a.name)
        if f == "size":
            assert isinstance(node.operand, ast.Number)
            ok = COMPARE[op](a.size, node.operand.value)
            return Match(ok, f"size of {_quote(a.name)} is {a.size} bytes", a, a.name)
        if f == "archive":
            ok = a.encrypted if op == "encrypted" else uninspectable(a)
            detail = "; ".join(a.archive_problems) if ok and op == "exceeds_limits" else ""
            what = "is encrypted" if op == "encrypted" else "exceeds the archive limits"
            return Match(
                ok,
                f"{_quote(a.name)} {what if ok else 'does not: ' + what}"
                + (f" ({detail})" if detail else ""),
                a,
                a.name,
            )
        if f == "evasive_name":
            ok = bool(a.tricks)
            return Match(
                ok, f"name {_quote(a.name)} uses {', '.join(a.tricks) or 'no trick'}", a, a.name
            )
        raise ValueError(f"unknown attachment field {f!r}")

    # -- rules -----------------------------------------------------------------------------
    def rule(self, crule: CheckedRule, msg: Message) -> Match:
        m = self.cond(crule.rule.condition, msg)
        if not m.ok or crule.rule.unless is None:
            return m
        u = self.cond(crule.rule.unless, msg)
        if u.ok:
            return Match(False, f"{m.why}, but unless holds: {u.why}")
        return m

    def stripped(self, crule: CheckedRule, msg: Message) -> tuple[Attachment, ...]:
        preds = [n.pred for n in ast.walk(crule.rule.condition) if isinstance(n, ast.AnyAttachment)]
        return tuple(a for a in msg.attachments if any(self.att(p, a).ok for p in preds))


def _text_field(msg: Message, f: str) -> str:
    if f == "from":
        return msg.from_
    if f == "subject":
        return msg.subject
    return msg.body


def _reason(crule: CheckedRule, m: Match) -> str:
    if crule.rule.reason is not None:
        return crule.rule.reason.value
    return re.sub(r"\s+", " ", m.why)


def decided(
    ev: Evaluator, crule: CheckedRule, msg: Message, m: Match, trace: tuple[Step, ...] = ()
) -> Verdict:
    """The Verdict of ``crule``, which matched ``msg`` with outcome ``m``."""
    header = crule.rule.header.value if crule.rule.header is not None else None
    stripped = ev.stripped(crule, msg) if crule.action == "strip" else ()
    return Verdict(
        action=crule.action,
        rule=crule.id,
        reason=_reason(crule, m),
        line=crule.line,
        attachment=m.attachment,
        name=m.name,
        header=header,
        stripped=stripped,
        trace=trace,
    )


def evaluate(policy: CheckedPolicy, msg: Message, *, trace: bool = True) -> Verdict:
    """The verdict of ``policy`` on ``msg`` (first matching rule, else the default)."""
    ev = Evaluator(policy)
    steps: list[Step] = []
    for crule in policy.rules:
        m = ev.rule(crule, msg)
        if trace:
            steps.append(Step(crule.id, crule.line, crule.action, m.ok, m.why))
        if m.ok:
            return decided(ev, crule, msg, m, tuple(steps))
    return Verdict(
        action=policy.default,
        rule=None,
        reason=f"no rule matched; default {policy.default}",
        trace=tuple(steps),
    )
