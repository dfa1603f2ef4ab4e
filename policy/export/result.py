"""What an export returns: the files, the losses, the diagnostics, data for the runner.

``ExportResult.write`` writes atomically (a temporary file renamed over the target);
``stdout_text`` is one file as is, or several with ``==> NAME <==`` separators.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TypedDict

from mailpolicy.policy.diagnostics import Diagnostic
from mailpolicy.policy.export.losses import Loss


class ExportMeta(TypedDict, total=False):
    """Target-specific data a runner needs about the files an export wrote."""

    #: sieve: line of the script -> the id of the rule it belongs to
    rule_lines: dict[int, str]
    #: rspamd: force_actions symbol -> (rule id or None for the default, action)
    forces: dict[str, tuple[str | None, str]]
    #: rspamd: map file -> how many regexes it holds
    maps: dict[str, int]


@dataclass
class ExportResult:
    target: str
    files: dict[str, str] = field(default_factory=dict)
    losses: list[Loss] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    meta: ExportMeta = field(default_factory=lambda: ExportMeta())

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    def stdout_text(self) -> str:
        """One file as is; several concatenated with ``==> NAME <==`` separators."""
        if len(self.files) == 1:
            return next(iter(self.files.values()))
        return "\n".join(f"==> {name} <==\n{text}" for name, text in self.files.items())

    def write(self, path: str, *, multi: bool) -> list[str]:
        """Write to ``path`` (a file, or a directory for multi-file targets)."""
        written = []
        if multi:
            os.makedirs(path, exist_ok=True)
            for name, text in self.files.items():
                dest = os.path.join(path, name)
                _atomic_write(dest, text)
                written.append(dest)
        else:
            _atomic_write(path, self.stdout_text())
            written.append(path)
        return written


def _atomic_write(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    os.replace(tmp, path)
