"""What a target can express (``Capabilities``) and what an export does differently (``Loss``).

Each ``Limit`` (how a target sees every name rule, or an action it approximates) and each
``Loss`` (one thing an export does not do exactly as the policy says) carries:

- ``key``: a stable name an administrator can give to ``--accept-loss``: ``TARGET:KEY``
  for a target-wide loss (``sieve:embedded``), ``RULE-ID:KEY`` for one rule's
  (``exe-content:type-class``);
- ``when``: keys of ``when.PREDICATES``, the facts of a message under which the target
  may judge it differently (``embedded-part``, ``several-filenames``...). ``--verify``
  explains a disagreement only by a loss of the deciding rules (either side) or a
  target-wide one whose predicate holds on that message (``explaining``);
- ``sound``: the target stops at least what the policy stops. A sound loss never
  explains mail the policy stops and the target lets through. An unsound one fails
  ``--strict`` unless acknowledged (``acknowledged``: named with ``--accept-loss``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy import ast, conditions
from mailpolicy.policy.export import when as _when

STOPPING = frozenset(ast.STOPPING_ACTIONS)
#: The conditions that test an attachment's name (and so meet ``Capabilities.limits``).
NAME_TESTS = (ast.NameMatches, ast.NameIn, ast.ExtensionIn, ast.ExtensionIs, ast.DoubleExtensionIn)
#: Name encodings a target may decode before matching (``Capabilities.name_encodings``).
ENCODINGS = ("rfc2047", "rfc2231", "rfc2231-continuations", "raw-8bit")
#: Name tests every exporter of names supports.
NAME_MATCHING = ("name matches", "name in", "extension in", "extension is", "double extension in")
#: The envelope sender and recipient lists.
ENVELOPE = ("sender in", "sender matches", "recipient in", "recipient matches")


def _keys(value: str | Sequence[str]) -> tuple[str, ...]:
    return _when.check((value,) if isinstance(value, str) else value)


@dataclass(frozen=True, slots=True)
class Limit:
    """A limit of how a target sees names, whatever the pattern (Postfix: no decoding), or
    of an action (``Capabilities.action_limits``, keyed by the action).

    ``strict``: an error for every name rule in ``--strict`` mode (the limit changes
    verdicts on ordinary mail); else it is stated once as a target-wide loss. ``how``:
    what the approximate export does about it; ``sound``: whether that covers it.
    ``when``: the predicate key(s) of the messages it concerns (``when.PREDICATES``);
    empty: ``when.LIMIT_DEFAULTS[key]`` (a ``KeyError`` if there is none).
    """

    key: str
    what: str
    how: str
    strict: bool = True
    sound: bool = False
    when: str | tuple[str, ...] = ()

    def __post_init__(self) -> None:
        chosen = self.when or _when.LIMIT_DEFAULTS.get(self.key)
        if not chosen:
            raise KeyError(f"limit {self.key!r} names no predicate: pass when=")
        object.__setattr__(self, "when", _keys(chosen))

    @property
    def predicates(self) -> tuple[str, ...]:
        return self.when if isinstance(self.when, tuple) else (self.when,)

    def loss(self, target: str = "") -> Loss:
        """The target-wide ``Loss`` stating this limit (key ``TARGET:KEY``)."""
        return Loss(
            "*",
            0,
            self.what,
            self.how,
            self.sound,
            key=f"{target or '*'}:{self.key}",
            when=self.predicates,
        )


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a target can express, as data. ``gap()`` reads it; tests tabulate it.

    ``conditions``: the capability names (``conditions.capability``: ``"sender in"``,
    ``"subject contains"``, ``"extension is"``, ``"attachment size"``...) of the kinds of
    condition the target can express; ``supports(...)`` builds it from the table's
    names. ``all_filenames``: every name value of a part is
    tested (CD ``filename``, ``filename*``, duplicates and the CT ``name``), not one
    chosen value. ``archive_members``: ``archive contains``. ``true_types``: the type
    detected from content. ``combinators``: ``and``/``or``/``not`` usable inside rules.
    """

    conditions: frozenset[str]
    actions: frozenset[str]
    name_encodings: frozenset[str]
    all_filenames: bool
    archive_members: bool
    true_types: bool
    combinators: frozenset[str] = frozenset({"and", "or", "not"})
    #: limits of how the target sees names, stated for every rule that tests a name
    limits: tuple[Limit, ...] = ()
    #: actions the target only approximates, keyed by the action: stated for every rule
    action_limits: tuple[Limit, ...] = ()
    #: the target tells executables by its own content types (``type executable`` only)
    executable_types: Limit | None = None
    #: free-text facts about the target for the header comment and the support table
    notes: tuple[str, ...] = ()

    def limit_text(self, key: str) -> str:
        """The loss text of the limit ``key``."""
        return next(x for x in self.limits if x.key == key).loss().text()


def supports(*groups: Iterable[str]) -> frozenset[str]:
    """The capability names of ``groups`` (``conditions.CAPABILITIES``), checked: a name
    the table does not know is a ``ValueError``, not a condition silently unsupported."""
    names = frozenset(n for group in groups for n in group)
    unknown = sorted(names - conditions.CAPABILITIES)
    if unknown:
        raise ValueError(f"unknown condition capabilities: {', '.join(unknown)}")
    return names


@dataclass(frozen=True, slots=True)
class Loss:
    """One thing an export does not do exactly as the policy says (see the module
    docstring for ``key``, ``when``, ``sound`` and ``acknowledged``)."""

    rule: str  # rule id, or "*" for a target-wide limit
    line: int
    what: str  # what the target cannot express
    how: str  # what was emitted instead
    sound: bool = True  # True: the target stops at least what the policy stops
    key: str = ""
    when: tuple[str, ...] = ("always",)
    acknowledged: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "when", _keys(self.when))
        if not self.key:
            object.__setattr__(self, "key", f"{self.rule}:loss")

    def text(self) -> str:
        where = f"rule {self.rule} (line {self.line})" if self.rule != "*" else "all rules"
        tag = "" if self.sound else "UNSOUND: "
        ack = " (accepted: --accept-loss)" if self.acknowledged else ""
        return f"[{self.key}] {tag}{where}: {self.what}; {self.how}{ack}"

    def acknowledge(self) -> Loss:
        return dataclasses.replace(self, acknowledged=True)


class Unexpressible(Exception):
    """Raised by an emitter (or a ``dialect``) for a rule it cannot write at all.

    ``Exporter.export`` catches it and routes it to ``unsupported`` with the rule's span:
    the rule is left out (``how``), which is sound only for rules that do not stop mail
    unless ``sound`` says otherwise. ``key``: the last part of the loss key (default
    ``unexpressible``)."""

    def __init__(
        self,
        what: str,
        *,
        how: str = "rule left out",
        sound: bool | None = None,
        key: str = "unexpressible",
    ):
        super().__init__(what)
        self.what = what
        self.how = how
        self.sound = sound
        self.key = key


@dataclass(frozen=True, slots=True)
class Gap:
    """What ``Exporter.gap`` says about a node the target cannot express exactly. ``keep``:
    still emitted (exact on most input) and ``how`` covers the rest; else ``relax``ed.
    ``key``/``when``: the loss's key part and predicates (default: from the node)."""

    what: str
    keep: bool = False
    how: str = ""
    sound: bool = True
    key: str = ""
    when: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Explanation:
    """The losses that explain one disagreement (empty: unexplained)."""

    losses: tuple[Loss, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.losses)

    def text(self) -> str:
        return "; ".join(x.text() for x in self.losses)


def explaining(
    losses: Sequence[Loss],
    msg: Message,
    engine_rule: str | None,
    engine_action: str,
    engine_attachment: Attachment | None,
    target_rule: str | None,
    target_action: str,
) -> Explanation:
    """The losses that predict the disagreement between the engine and the target on
    ``msg``: those of the deciding rule of either side or target-wide (``*``), whose
    predicate holds on ``msg``. A sound loss cannot explain mail the engine stops and the
    target lets through. The engine's deciding attachment is the one asked about when
    the target decided by the same rule or by none; else every attachment is. When the
    target stopped the message by no rule, every rule's losses are candidates."""
    rules = {"*", *(r for r in (engine_rule, target_rule) if r is not None)}
    target_looser = engine_action in STOPPING and target_action not in STOPPING
    # the target stopped by no rule of the policy (a catch-all line of the export, such
    # as Postfix's hold of encoded names): any rule's loss may predict it
    anywhere = target_rule is None and target_action in STOPPING
    same = target_rule is None or target_rule == engine_rule
    decided = engine_attachment if same else None
    found = tuple(
        x
        for x in losses
        if (anywhere or x.rule in rules)
        and not (x.sound and target_looser)
        and _when.holds(x.when, msg, decided)
    )
    return Explanation(found)
