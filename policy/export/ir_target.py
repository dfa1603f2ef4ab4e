"""The ``json`` target: the policy's canonical IR (``mailpolicy.policy.ir.dumps``).

Every construct is expressible, so nothing ever reaches ``unsupported``. The output is
``ir.dumps`` byte for byte, without a header comment (JSON has none): the provenance is
the IR's own ``source`` object (path and sha256) and ``policy`` name.
"""

from __future__ import annotations

from mailpolicy.policy import ast, conditions
from mailpolicy.policy.export.base import Capabilities, Exporter, ExportResult


class JsonExporter(Exporter):
    target = "json"
    description = "mailpolicy IR, version 1"
    filenames = ("policy.json",)
    caps = Capabilities(
        conditions=conditions.CAPABILITIES,
        actions=frozenset(ast.ACTIONS),
        name_encodings=frozenset({"rfc2047", "rfc2231", "rfc2231-continuations", "raw-8bit"}),
        all_filenames=True,
        archive_members=True,
        true_types=True,
    )

    def export(self) -> ExportResult:
        from mailpolicy.policy import ir

        self.result.files = {"policy.json": ir.dumps(self.policy)}
        return self.result
