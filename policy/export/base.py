"""The export framework: one ``Exporter`` subclass per target, capabilities as data.

How to add a target (say ``exim``):

1. Create ``policy/export/exim.py`` with ``class EximExporter(Exporter)``; set ``target``
   (the ``--target`` name), ``caps`` (a ``Capabilities``: what the target can express,
   as data) and ``filenames`` (the files it writes; one file is printed to stdout as
   is, several are printed with ``==> name <==`` separators or written into the ``-o``
   directory).
2. Implement ``emit_rule(self, rule, cond, unless)``. It receives each rule already
   reduced to what ``caps`` (and ``gap()``) allow: unsupported nodes were either
   reported (``--strict``) or replaced soundly (``--approximate``, see ``relax``).
   Translate the remaining nodes. What the target can express only approximately is
   said in ``gap()`` (a ``Gap``: relaxed before ``emit_rule`` sees it) or, while emitting,
   with ``self.unsupported(rule, node, what, how=...)`` before emitting the sound
   approximation; a rule the emitter cannot write at all raises ``Unexpressible(what)``
   (``export`` leaves the rule out and reports it through ``unsupported``). Never emit
   something weaker silently.
3. Implement ``render(self) -> dict[str, str]``: the file texts, each starting with
   ``self.header(comment="#")`` and carrying ``self.loss_comments("#")``.
4. Quote every value that came from the policy through the target's quoting helper,
   after ``self.safe(rule, value, what)`` (rejects newlines and control characters with
   an error naming the rule). Regexes come from ``dialect.py``: the glob tree of a name
   test (``dialect.name_pattern``), address entries (``dialect.address``), rendered by
   the target's ``Dialect`` (or a new one: a ``Dialect`` is data).
5. Optional ``--verify`` support: implement ``runner(self, result, workdir)`` returning
   a ``runner.Runner`` (``runner.py``: check, run, close; one ``TargetVerdict``). What
   explains a disagreement is a loss whose predicate holds (``Limit(when=...)``,
   ``when.register`` for a fact of your own; see ``losses.py``), never the runner.
6. Register the class in ``TARGETS`` in ``policy/export/__init__.py``, add golden files
   and a row to the support table in ``tests/export/``.

Contracts:
- ``Exporter(policy, approximate=False).export()`` returns an ``ExportResult`` (files,
  losses, diagnostics). With errors (``result.ok`` false) nothing may be written.
- Output is deterministic: the same policy file gives byte-identical output. The date in
  the header is ``SOURCE_DATE_EPOCH`` when set (reproducible builds), else the policy
  file's modification time, else 1970-01-01; never the clock.
- Soundness of ``--approximate``: a rewritten rule stops at least what the policy stops.
  Stopping rules (block, quarantine, strip, discard) may only match *more*: an
  unsupported node in positive position becomes true, in negative position (``not``,
  ``unless``) false. Non-stopping rules (allow, tag) may only match *less* (the reverse),
  so that the stopping rules after them still apply. A stopping rule whose whole
  condition vanished would stop every message: it is dropped instead, and its loss is
  marked unsound ("UNSOUND: ... gets through").
- A staged rule (``mode audit``) is not exported: it decides nothing in the enforced
  policy. Each says so in the loss report as a sound note (``RULE-ID:staged``).
- Strict means strict: ``--strict`` fails (E303, one error per loss, naming its key) on
  every unsound loss, target-wide ones included, unless the administrator names it in
  ``accept`` (``--accept-loss KEY``); an accepted loss stays in the loss report, marked
  accepted, and the header lists the accepted keys. An ``accept`` key that names no loss
  of the export is an error (E304): a typo never accepts silently. Each loss names the
  facts it concerns (``Loss.when``, ``when.py``): ``--verify`` explains by them.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Protocol

from mailpolicy.policy import __version__, ast, conditions, expiry, printer
from mailpolicy.policy.checked import CheckedPolicy, CheckedRule
from mailpolicy.policy.diagnostics import Diagnostic, PolicyError, did_you_mean
from mailpolicy.policy.export.losses import (
    ENCODINGS,
    ENVELOPE,
    NAME_MATCHING,
    NAME_TESTS,
    STOPPING,
    Capabilities,
    Gap,
    Limit,
    Loss,
    Unexpressible,
    supports,
)
from mailpolicy.policy.export.result import ExportMeta, ExportResult, _atomic_write
from mailpolicy.policy.export.runner import Runner, VerifyError
from mailpolicy.policy.export.when import node_when

__all__ = [
    "ENCODINGS",
    "ENVELOPE",
    "NAME_MATCHING",
    "NAME_TESTS",
    "STOPPING",
    "Capabilities",
    "ExportMeta",
    "ExportResult",
    "Exporter",
    "Gap",
    "Limit",
    "Loss",
    "Unexpressible",
    "_atomic_write",
    "supports",
]

#: Export diagnostics (the other stages use E1xx/W2xx).
E_UNSUPPORTED = "E301"  # unsupported-construct
E_UNSAFE = "E302"  # unsafe-value: a control character or newline in a value
E_UNSOUND = "E303"  # unsound-loss: strict export, a loss lets through what the policy stops
E_ACCEPT = "E304"  # unknown-loss: --accept-loss names no loss of this export
E_REJECTED = "E305"  # tool-rejected: the target's own tool refuses the exported files
EXPORT_CODES = {
    E_UNSUPPORTED: "unsupported-construct",
    E_UNSAFE: "unsafe-value",
    E_UNSOUND: "unsound-loss",
    E_ACCEPT: "unknown-loss",
    E_REJECTED: "tool-rejected",
}

#: What the loss report says of a staged rule (``mode audit``), which no export writes.
STAGED = ("staged (mode audit)", "not exported: it decides nothing in the enforced policy")

#: Facts stated as a whole phrase in a gap ("cannot tell 'has macros'").
_WHOLE = frozenset({"content", "unscannable"})


class Spanned(Protocol):
    """A node of the policy (rule, condition, the policy itself): it has a span."""

    @property
    def span(self) -> ast.Span: ...


# ---- constants used while relaxing a condition ------------------------------------------
@dataclass(frozen=True, slots=True)
class Const:
    """A truth value standing for an unsupported node that was relaxed away."""

    value: bool


TRUE, FALSE = Const(True), Const(False)
RCond = ast.Cond | Const


def _join(node: ast.And | ast.Or, items: list[RCond]) -> RCond:
    """``node`` over its relaxed ``items``: constants absorbed or dropped."""
    absorbing = FALSE if isinstance(node, ast.And) else TRUE
    if absorbing in items:
        return absorbing
    kept = [i for i in items if not isinstance(i, Const)]
    if not kept:
        return TRUE if isinstance(node, ast.And) else FALSE
    if len(kept) == 1:
        return kept[0]
    return dataclasses.replace(node, items=tuple(kept))


# ---- the exporter base class ------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


class Exporter:
    """Base class of every target; see the module docstring for how to add one."""

    target: ClassVar[str] = ""
    caps: ClassVar[Capabilities]
    #: file names in output order; one name: a single-file target.
    filenames: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""

    def __init__(self, policy: CheckedPolicy, *, approximate: bool = False) -> None:
        self.policy = policy
        self.approximate = approximate
        self.result = ExportResult(self.target)
        self._loss_keys: set[tuple[str, str]] = set()
        #: loss keys the administrator accepts (``--accept-loss``); set before ``export``
        self.accept: frozenset[str] = frozenset()
        self._key_whats: dict[str, str] = {}  # loss key -> what, to keep keys unique
        self._failed: set[str] = set()  # rules with a strict error

    # -- the driver ------------------------------------------------------------------------
    def export(self) -> ExportResult:
        """Check, relax and emit every rule; render the files unless there were errors."""
        self.safe(None, self.policy.name, "the policy name")
        for crule in self.policy.rules:
            if crule.rule.audit:  # staged: it enforces nothing, so nothing is lost (sound)
                self._record(Loss(crule.id, crule.line, *STAGED, key=f"{crule.id}:staged"))
                continue
            self._check_values(crule)
            self._name_limits(crule)
            cond = self.relax(crule, crule.rule.condition, widen=crule.action in STOPPING)
            unless: RCond | None = None
            if crule.rule.unless is not None:
                unless = self.relax(
                    crule, crule.rule.unless, widen=crule.action not in STOPPING, unless=True
                )
            action: str | None = crule.action
            if action not in self.caps.actions:
                action = self.unsupported_action(crule)
            if action is None or not self._keep_rule(crule, cond, unless):
                continue
            assert not isinstance(cond, Const)
            if what := expiry.export_loss(self.policy, crule.rule, cond, unless):
                how = expiry.EXPORT_HOW
                self.unsupported(crule, crule.rule, what, how=how, sound=False, key="expiry")
            try:
                self.emit_rule(crule, action, cond, None if isinstance(unless, Const) else unless)
            except Unexpressible as exc:  # the rule is left out, stated with its span
                sound = crule.action not in STOPPING if exc.sound is None else exc.sound
                self.unsupported(crule, crule.rule, exc.what, how=exc.how, sound=sound, key=exc.key)
                continue
            for limit in self.caps.action_limits:
                if limit.key == action:
                    self._limit(crule, limit)
        if self.result.ok:
            self.result.files = self.render()
        self.settle()
        return self.result

    @classmethod
    def unsound_limits(cls) -> frozenset[str]:
        """The keys of this target's unsound target-wide limits (``TARGET:KEY``): what a
        strict export of a name rule must accept by name (``accept``)."""
        return frozenset(
            f"{cls.target}:{x.key}" for x in cls.caps.limits if not x.strict and not x.sound
        )

    def settle(self) -> None:
        """The last check of ``export``: every ``accept`` key names a loss of this export,
        and in strict mode no unsound loss is left unacknowledged (one error per loss,
        naming its key). With an error nothing is rendered."""
        keys = {x.key for x in self.result.losses} | set(self._key_whats)
        whole = dataclasses.replace(ast.NOSPAN, file=self.policy.path or "<policy>")
        for k in sorted(self.accept - keys):
            self.result.diagnostics.append(
                Diagnostic(
                    E_ACCEPT,
                    "error",
                    f"--accept-loss {k}: no loss of this export to {self.target} has that "
                    f"key{did_you_mean(k, keys)}",
                    whole,
                )
            )
        if not self.approximate:
            for loss in self.result.losses:
                if loss.sound or loss.acknowledged:
                    continue
                self.result.diagnostics.append(
                    Diagnostic(
                        E_UNSOUND,
                        "error",
                        f"{loss.text()} (strict export lets nothing through that the "
                        f"policy stops: accept it with --accept-loss {loss.key}, or use "
                        "--approximate)",
                        whole,
                    )
                )
        if not self.result.ok:
            self.result.files = {}

    def _keep_rule(self, crule: CheckedRule, cond: RCond, unless: RCond | None) -> bool:
        stopping = crule.action in STOPPING
        if cond == FALSE or unless == TRUE or cond == TRUE:
            if crule.id not in self._failed:  # one loss for the rule, replacing the node ones
                mine = [x for x in self.result.losses if x.rule == crule.id]
                whats = [x.what for x in mine]
                self.result.losses = [x for x in self.result.losses if x.rule != crule.id]
                self._loss_keys = {k for k in self._loss_keys if k[0] != crule.id}
                how = (
                    "rule left out: what it stops gets through"
                    if stopping
                    else "rule left out (later rules decide instead)"
                )
                if cond == TRUE and not stopping:  # an allow/tag that would decide everything
                    how = "rule left out rather than exempting every message"
                self._record(
                    Loss(
                        crule.id,
                        crule.line,
                        "; ".join(whats) or "not expressible",
                        how,
                        sound=not stopping,
                        key=f"{crule.id}:left-out",
                        acknowledged=bool(mine) and all(x.acknowledged for x in mine),
                    )
                )
            return False
        return True

    def _name_limits(self, crule: CheckedRule) -> None:
        nodes = ast.walk(crule.rule.condition) + (
            ast.walk(crule.rule.unless) if crule.rule.unless else []
        )
        if not any(isinstance(n, NAME_TESTS) for n in nodes):
            return
        for limit in self.caps.limits:
            if limit.strict:
                self._limit(crule, limit)
            else:
                loss = limit.loss(self.target)
                self._record(loss.acknowledge() if loss.key in self.accept else loss)

    def _limit(self, crule: CheckedRule, limit: Limit) -> None:
        """``limit`` stated for one rule (strict error or loss ``RULE-ID:KEY``)."""
        self.unsupported(
            crule,
            crule.rule,
            limit.what,
            how=limit.how,
            sound=limit.sound,
            key=limit.key,
            when=limit.predicates,
        )

    def _check_values(self, crule: CheckedRule) -> None:
        r = crule.rule
        for s in (r.id, r.reason, r.header):
            if s is not None:
                self.safe(crule, s.value, "a rule id, reason or header")
        for node in ast.walk(r.condition) + (ast.walk(r.unless) if r.unless else []):
            if not isinstance(node, ast.Leaf):
                continue
            if isinstance(node.operand, (ast.Str, ast.ListRef, ast.ListLit)):
                for v in self.policy.entries(node.operand):
                    self.safe(crule, v, "a pattern or list entry")
            if isinstance(node, (ast.HeaderContains, ast.HeaderMatches)):
                self.safe(crule, node.header, "a header name")

    # -- relaxing unsupported nodes ---------------------------------------------------------
    def relax(
        self, crule: CheckedRule, node: ast.Cond, *, widen: bool, unless: bool = False
    ) -> RCond:
        """``node`` with every unsupported part reported and, in approximate mode,
        replaced by true (``widen``) or false; polarity flips under ``not``.
        ``unless``: ``node`` is the rule's whole ``unless`` condition."""
        return self._relax(crule, node, widen, False, unless)

    def _relax(
        self,
        crule: CheckedRule,
        node: ast.Cond,
        widen: bool,
        in_att: bool,
        unless_root: bool = False,
    ) -> RCond:
        gap = self.gap(node, in_attachment=in_att, unless_root=unless_root)
        if gap is not None:
            how = gap.how or (
                "condition treated as always true" if widen else "condition treated as never true"
            )
            self.unsupported(
                crule,
                node,
                gap.what,
                how=how,
                sound=gap.sound,
                key=gap.key,
                when=gap.when or node_when(node, in_attachment=in_att),
            )
            if gap.keep:
                return node
            return Const(widen)
        if isinstance(node, (ast.And, ast.Or)):
            return _join(node, [self._relax(crule, i, widen, in_att) for i in node.items])
        if isinstance(node, ast.Not):
            inner = self._relax(crule, node.item, not widen, in_att)
            if isinstance(inner, Const):
                return Const(not inner.value)
            return dataclasses.replace(node, item=inner)
        if isinstance(node, (ast.AnyAttachment, ast.ArchiveContains)):
            pred = self._relax(crule, node.pred, widen, True)
            # a constant pred: "any attachment" is that constant (only widened to true)
            return pred if isinstance(pred, Const) else dataclasses.replace(node, pred=pred)
        return node

    def gap(self, node: ast.Cond, *, in_attachment: bool, unless_root: bool = False) -> Gap | None:
        """Why this target cannot express ``node`` exactly, from ``caps``; or None.

        ``unless_root``: ``node`` is a rule's whole ``unless``. Override to add structural
        limits, falling back to ``super().gap``."""
        c = self.caps
        match node:
            case ast.And() | ast.Or() | ast.Not():
                word = type(node).__name__.lower()
                return None if word in c.combinators else Gap(f"'{word}' cannot be expressed")
            case ast.AnyAttachment():
                return None
            case ast.ArchiveContains():
                if c.archive_members:
                    return None
                return Gap(f"{self.target} cannot see archive members")
            case ast.TypeClass(operand=ast.Str(value="executable")) if c.executable_types:
                own = c.executable_types
                return Gap(
                    own.what,
                    keep=True,
                    how=own.how,
                    sound=own.sound,
                    key=own.key,
                    when=own.predicates,
                )
            case ast.TypeClass() | ast.TypeMime() | ast.TypeMismatch() if c.executable_types:
                op = conditions.keyword(node)[1]
                return Gap(f"{self.target} cannot test attachment type ({op})")
            case ast.TypeClass() | ast.TypeMime() | ast.TypeMismatch() if not c.true_types:
                return Gap(
                    f"{self.target} cannot detect an attachment's true type from its content"
                )
            case _:
                return self._leaf_gap(node)

    def _leaf_gap(self, node: ast.Leaf) -> Gap | None:
        """A leaf the target has no capability for (``caps.conditions``)."""
        if conditions.capability(node) in self.caps.conditions:
            return None
        field, op = conditions.keyword(node)
        if field in _WHOLE or isinstance(node, (ast.MessageUnscannable, ast.EvasiveMime)):
            return Gap(f"{self.target} cannot tell '{printer.leaf(node)}'")
        if isinstance(node, ast.Test):
            return Gap(f"{self.target} cannot test the message {field} ({op})")
        return Gap(f"{self.target} cannot test attachment {field.replace('_', ' ')} ({op})")

    def unsupported_action(self, crule: CheckedRule) -> str | None:
        """The action to emit instead of one the target lacks, or None to leave the rule out.

        Default: ``strip`` becomes ``quarantine`` of the whole message (sound); any other
        missing action leaves the rule out (sound for allow/tag, unsound otherwise)."""
        action = crule.action
        if action == "strip" and "quarantine" in self.caps.actions:
            self.unsupported(
                crule,
                crule.rule,
                f"{self.target} cannot remove single attachments",
                how="the whole message is quarantined instead",
                key="action-strip",
                when=("has-attachment",),
            )
            return "quarantine"
        stopping = action in STOPPING
        self.unsupported(
            crule,
            crule.rule,
            f"{self.target} has no '{action}' action",
            how="rule left out" + ("" if not stopping else ": what it stops gets through"),
            sound=not stopping,
            key=f"action-{action}",
        )
        return None

    # -- the one funnel ---------------------------------------------------------------------
    def unsupported(
        self,
        crule: CheckedRule | None,
        node: Spanned,
        what: str,
        *,
        how: str = "",
        sound: bool = True,
        key: str = "",
        when: str | tuple[str, ...] = (),
    ) -> None:
        """Every construct the target cannot express comes here.

        ``--strict``: an error naming the rule, its line, ``what`` and the loss key
        (export fails), unless the key is in ``accept``: then the loss is recorded as
        acknowledged. ``--approximate``: a ``Loss`` recorded (``how`` says what was emitted
        instead). ``crule`` None: a target-wide limit. ``key``: the loss key's last part
        (default: from the node, see ``loss_key``); ``when``: its predicates (default:
        those of the facts ``node`` reads, ``when.node_when``)."""
        span = node.span
        if span is ast.NOSPAN and crule is not None:
            span = crule.rule.span
        full = self.loss_key(crule, node, what, key)
        preds = (when,) if isinstance(when, str) else when
        if not preds:
            preds = node_when(node if isinstance(node, ast.Cond) else None)
        rid, line = (crule.id, crule.line) if crule else ("*", 0)
        loss = Loss(rid, line, what, how or "approximated", sound, key=full, when=preds)
        if self.approximate or full in self.accept:
            self._record(loss.acknowledge() if full in self.accept else loss)
            return
        if crule is not None:
            self._failed.add(crule.id)
            msg = (
                f"rule {crule.id} (line {crule.line}) cannot be exported to {self.target}: "
                f"{what} (use --approximate to emit the nearest sound rule"
                f"{'' if sound else ' or leave it out'}; loss {full})"
            )
        else:
            msg = (
                f"cannot export to {self.target}: {what} (use --approximate to accept this; "
                f"loss {full})"
            )
        self.result.diagnostics.append(Diagnostic(E_UNSUPPORTED, "error", msg, span))

    def loss_key(self, crule: CheckedRule | None, node: Spanned, what: str, key: str = "") -> str:
        """The stable key of a loss: ``RULE-ID:KEY`` (``TARGET:KEY`` target-wide). ``KEY``
        is ``key``, else the node's field and op (``type-class``, ``archive-encrypted``),
        else ``rule``; a second, different loss under the same key gets ``-2``..."""
        if not key:
            if isinstance(node, ast.Leaf):
                key = "-".join(conditions.keyword(node))
            elif isinstance(node, (ast.And, ast.Or, ast.Not, ast.ArchiveContains)):
                key = type(node).__name__.lower()
            elif crule is None:
                key = "-".join(re.findall(r"[a-z0-9]+", what.lower())[1:5]) or "limit"
            else:
                key = "rule"
        key = re.sub(r"[^a-z0-9.-]+", "-", key.lower()).strip("-") or "loss"
        base = f"{crule.id if crule else self.target}:{key}"
        full, n = base, 1
        while self._key_whats.setdefault(full, what) != what:
            n += 1
            full = f"{base}-{n}"
        return full

    def _record(self, loss: Loss) -> None:
        key = (loss.rule, loss.what)
        if key not in self._loss_keys:
            self._loss_keys.add(key)
            self.result.losses.append(loss)

    def safe(self, crule: CheckedRule | None, value: str, what: str) -> str:
        """``value`` unchanged, or an error (naming the rule) when it holds a newline or
        another control character, which could break out of any target's syntax."""
        m = _CONTROL.search(value)
        if m is not None:
            where = f"rule {crule.id} (line {crule.line})" if crule else "the policy"
            span = crule.rule.span if crule else self.policy.ast.span
            self.result.diagnostics.append(
                Diagnostic(
                    E_UNSAFE,
                    "error",
                    f"{where}: {what} {value[:40]!r} contains the control character "
                    f"U+{ord(m.group()):04X}; {self.target} output cannot carry it safely",
                    span,
                )
            )
        return value

    # -- helpers for targets -----------------------------------------------------------------
    def header(self, comment: str = "#", extra: Iterable[str] = ()) -> str:
        """The header comment every file starts with (values already checked by ``safe``)."""
        p = self.policy
        lines = [
            f"Generated by mailpolicy {__version__} -- do not edit; edit the policy and re-export.",
            f"policy:  {p.name}",
            f"source:  sha256 {p.source_sha256 or '(unknown)'}",
            f"target:  {self.target}" + (f" ({self.description})" if self.description else ""),
            f"date:    {generation_date(p.path)}",
            f"mode:    {'approximate' if self.approximate else 'strict'}",
            *([f"accepted losses: {', '.join(sorted(self.accept))}"] if self.accept else []),
            *extra,
        ]
        return "".join(f"{comment} {ln}".rstrip() + "\n" for ln in lines)

    def loss_comments(self, comment: str = "#") -> str:
        if not self.result.losses:
            return ""
        out = [f"{comment} Loss report: what this export does not do exactly as the policy says"]
        out += [f"{comment}   - {loss.text()}" for loss in self.result.losses]
        return "\n".join(out) + "\n"

    def rule_comment(self, crule: CheckedRule, comment: str = "#") -> str:
        text = re.sub(r"\s+", " ", crule.text)
        return f"{comment} rule {crule.id} (line {crule.line}): {text}"

    # -- to implement ---------------------------------------------------------------------------
    def emit_rule(
        self, crule: CheckedRule, action: str, cond: ast.Cond, unless: ast.Cond | None
    ) -> None:
        raise NotImplementedError

    def render(self) -> dict[str, str]:
        raise NotImplementedError

    def runner(self, result: ExportResult, workdir: str) -> Runner:
        """The ``runner.Runner`` that drives the real software over ``result``'s files in
        ``workdir`` (``--verify``); ``VerifyError`` for a target without one."""
        raise VerifyError(f"target {self.target} has no verifier")


def generation_date(path: str) -> str:
    """``SOURCE_DATE_EPOCH`` if set, else the policy file's mtime, as a UTC ISO date."""
    epoch: float = 0
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env and env.strip().isdigit():
        epoch = int(env)
    else:
        try:
            epoch = os.stat(path).st_mtime
        except OSError:
            epoch = 0
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def raise_if_failed(result: ExportResult) -> None:
    """Raise the result's diagnostics as a ``PolicyError`` when export failed."""
    if not result.ok:
        raise PolicyError([d for d in result.diagnostics if d.severity == "error"])
