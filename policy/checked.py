"""A checked policy: the AST plus what the checker resolved.

``CheckedPolicy`` is what the evaluator, the compiler, the IR and every exporter take. It
only exists for a policy without errors: list files are read (``lists`` maps every name
to its entries), every rule has an id, and the warnings are kept for reports.

Rule ids: a rule's ``as "..."`` id, else one derived from its action and its canonical
text (``block-3fa94c1e``), so the id survives reordering and reformatting; a second rule
with the same text gets ``-2`` appended. The text hashed leaves out ``mode audit``: a
staged rule keeps its id when it is enforced, so its simulation figures, decision-log
lines and tests carry over.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field

from mailpolicy.policy import ast, printer
from mailpolicy.policy.ast import Operand
from mailpolicy.policy.diagnostics import Diagnostic


@dataclass(frozen=True, slots=True)
class CheckedRule:
    id: str
    index: int  # 0-based position among the rules
    rule: ast.Rule

    @property
    def action(self) -> str:
        return self.rule.action

    @property
    def line(self) -> int:
        return self.rule.span.line

    @property
    def text(self) -> str:
        return printer.rule(self.rule)


@dataclass(frozen=True, slots=True)
class CheckedPolicy:
    ast: ast.Policy
    rules: tuple[CheckedRule, ...]
    lists: dict[str, tuple[str, ...]]
    source_sha256: str = ""
    warnings: tuple[Diagnostic, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.ast.name or _stem(self.ast.path)

    @property
    def default(self) -> str:
        return self.ast.default

    @property
    def path(self) -> str:
        return self.ast.path

    def rule(self, rule_id: str) -> CheckedRule:
        return next(r for r in self.rules if r.id == rule_id)

    def entries(self, operand: Operand) -> tuple[str, ...]:
        """The strings of a list operand (a list name or an inline list)."""
        if isinstance(operand, ast.ListRef):
            return self.lists[operand.name]
        if isinstance(operand, ast.ListLit):
            return tuple(i.value for i in operand.items)
        if isinstance(operand, ast.Str):
            return (operand.value,)
        raise TypeError(f"not a list operand: {operand!r}")


def _stem(path: str) -> str:
    base = path.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def derive_id(rule: ast.Rule) -> str:
    """The id a rule without ``as`` gets: action plus a hash of its canonical text (its
    ``mode`` left out)."""
    text = printer.rule(dataclasses.replace(rule, mode=None) if rule.mode else rule)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{rule.action}-{digest}"


def assign_ids(rules: tuple[ast.Rule, ...]) -> tuple[CheckedRule, ...]:
    """Ids for every rule: explicit ones kept, derived ones made unique with ``-N``."""
    seen: dict[str, int] = {}
    explicit = {r.id.value for r in rules if r.id is not None}
    out = []
    for index, rule in enumerate(rules):
        if rule.id is not None:
            rid = rule.id.value
        else:
            base = derive_id(rule)
            n = seen.get(base, 0) + 1
            seen[base] = n
            rid = base if n == 1 else f"{base}-{n}"
            while rid in explicit:
                rid += "x"
        out.append(CheckedRule(id=rid, index=index, rule=rule))
    return tuple(out)
