"""The one protocol every target's real-software runner follows, and its one verdict type.

A runner drives the real mail software (``sieve-test``, ``postmap``, ``exim -bh``,
rspamd, a private Postfix) over the files an export wrote, one message at a time.
``export --verify`` is replay with two deciders, the engine and a runner, plus a diff of
their verdicts (``mailpolicy.simulator.verify``); nothing else needs to know which target
it is talking to.

Contract:

- ``check()``: validate the exported files with the tool (``sievec``, ``postmap``,
  ``exim -bV``, ``rspamadm configtest``); the tool's complaint as one line, or None.
- ``run(data, sender, recipients)``: the target's verdict on one message, given its raw
  bytes and envelope. ``action`` is one of the policy actions or ``error`` when the tool
  failed on the message; ``rule`` the id of the exported rule that decided (None for the
  default); ``detail`` what the tool said, for the report.
- No ``explain``: what explains a disagreement is the export's losses whose predicate
  holds on the message (``losses.explaining``, ``when.PREDICATES``), never the runner.
  ``embedded``, ``embedded_loss`` and ``part_limit`` remain for targets that still
  define an ``explain`` method; ``--verify`` no longer calls it (remove it).
- ``close()``: stop whatever ``check``/``run`` started (a daemon, a private Postfix).

A runner that cannot start (the tool is missing) raises ``VerifyError`` with a message
that names what to install.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mailpolicy.corpus.message import Attachment, Message
    from mailpolicy.policy.export.losses import Capabilities
    from mailpolicy.policy.export.result import ExportResult
    from mailpolicy.policy.verdict import Verdict

#: Seconds one tool run may take.
TIMEOUT = 60
#: Part ids of names found in text bodies (uuencode, BinHex) or TNEF: ``1.uu1``, ``2.tnef1``.
_EMBEDDED_PART = re.compile(r"\.(uu|hqx|tnef)\d+")


class VerifyError(Exception):
    """The tool is missing or rejected the exported files; the message says which."""


@dataclass(frozen=True, slots=True)
class TargetVerdict:
    """What the real software did with one message."""

    action: str
    rule: str | None
    detail: str = ""


class Runner(Protocol):
    """See the module docstring."""

    def check(self) -> str | None: ...

    def run(
        self, data: bytes, sender: str | None, recipients: tuple[str, ...]
    ) -> TargetVerdict: ...

    def close(self) -> None: ...


def need(tool: str) -> str:
    """The path of ``tool`` (also looked up in /usr/sbin), or VerifyError."""
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin")
    if path is None:
        raise VerifyError(f"{tool} is not installed (run .ci/install-mta.sh)")
    return path


def embedded(att: Attachment | None) -> bool:
    """True when ``att`` was found inside a text body or a TNEF ``winmail.dat``, where no
    target's MIME-level view of the message sees it."""
    return att is not None and _EMBEDDED_PART.search(att.part or "") is not None


def embedded_loss(result: ExportResult, engine: Verdict) -> str | None:
    """The export's target-wide loss for names in bodies and TNEF, when the engine's
    verdict came from such an attachment."""
    if not embedded(engine.attachment):
        return None
    return next((x.text() for x in result.losses if x.rule == "*" and "uuencoded" in x.what), None)


def part_limit(msg: Message, engine: Verdict, caps: Capabilities) -> str | None:
    """The target-wide limit of ``caps`` (by its key) behind a disagreement on ``msg``:
    ``mime-parts-only`` for a name found in a body or TNEF, ``one-filename`` for a part
    with several names, ``rfc2047-charset`` for a non-ASCII name, ``homoglyph`` for an
    extension in look-alike letters; else ``ambiguous-mime`` for a message whose MIME
    structure readers read differently."""
    keys = {x.key for x in caps.limits}
    atts = [engine.attachment] if engine.attachment is not None else list(msg.attachments)
    for a in atts:
        for key, applies in (
            ("mime-parts-only", embedded(a)),
            ("one-filename", len(set(a.names)) > 1),
            ("rfc2047-charset", any(not n.isascii() for n in a.names)),
            ("homoglyph", any("homoglyph" in m.tricks for m in a.walk())),
        ):
            if applies and key in keys:
                return caps.limit_text(key)
    if "ambiguous-mime" in msg.tricks and "ambiguous-mime" in keys:
        return caps.limit_text("ambiguous-mime")
    return None
