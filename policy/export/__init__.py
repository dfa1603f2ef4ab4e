"""Export: one module per target, one explicit table of targets.

``TARGETS`` maps each ``--target`` name to its ``Exporter`` subclass (see ``base.py`` for
the framework and how to add a target); ``export(policy, target)`` returns the
``ExportResult`` without writing anything. The ``export`` verb (report, write, verify)
is part of the command line.
"""

from __future__ import annotations

from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.export.amavis import AmavisExporter
from mailpolicy.policy.export.base import Exporter, ExportResult
from mailpolicy.policy.export.exim import EximExporter
from mailpolicy.policy.export.ir_target import JsonExporter
from mailpolicy.policy.export.postfix import PostfixExporter
from mailpolicy.policy.export.rspamd import RspamdExporter
from mailpolicy.policy.export.sieve import SieveExporter

#: Every target, by its ``--target`` name. Add new targets here (no registry magic).
TARGETS: dict[str, type[Exporter]] = {
    "sieve": SieveExporter,
    "postfix": PostfixExporter,
    "exim": EximExporter,
    "rspamd": RspamdExporter,
    "amavis": AmavisExporter,
    "json": JsonExporter,
}

__all__ = ["TARGETS", "export"]


def export(
    policy: CheckedPolicy,
    target: str,
    *,
    approximate: bool = False,
    accept: frozenset[str] = frozenset(),
) -> ExportResult:
    """Export ``policy`` to ``target`` without writing anything (KeyError: unknown target).
    ``accept``: the loss keys the administrator accepts (``--accept-loss``)."""
    exporter = TARGETS[target](policy, approximate=approximate)
    exporter.accept = accept
    return exporter.export()
