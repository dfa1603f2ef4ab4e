"""Run the evasion matrix (``evasion.py``) through the engine and every target's real
software, classify each cell, and write the README table.

Each cell is judged as ``export --verify`` judges a message (``verify.Judge``: the
reference evaluator, the target's ``Runner``, and the losses of the approximate export
whose predicate holds on the message). A cell's outcome for a target is:

- ``same``: the target's action is the engine's;
- the loss keys that predict the difference (``exim:one-filename``);
- ``gap:ID``: a known difference listed in ``KNOWN_GAPS`` with its reason (a target bug
  reported in the findings, waiting for its fix);
- ``UNEXPLAINED``: anything else, which fails the test.

``python3 tests/export/evasion_table.py [--full] [TARGET...]`` prints the table (the text
of the README section), the figures and every unexplained cell.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import evasion  # noqa: E402

from mailpolicy.corpus.readers import RawMessage  # noqa: E402
from mailpolicy.policy import loader  # noqa: E402
from mailpolicy.policy.checked import CheckedPolicy  # noqa: E402
from mailpolicy.policy.export import TARGETS  # noqa: E402
from mailpolicy.policy.export.runner import VerifyError  # noqa: E402
from mailpolicy.simulator.replay import ReferenceMatcher  # noqa: E402
from mailpolicy.simulator.verify import Judge, Row  # noqa: E402

#: The targets with a runner, in table order.
MATRIX_TARGETS = ("sieve", "postfix", "exim", "rspamd", "amavis")


@dataclass(frozen=True, slots=True)
class KnownGap:
    """A difference no loss predicts yet, reported with its reason (never silent): a
    target bug found by the matrix, to be fixed (then removed here) or stated as a loss
    of the target."""

    id: str
    target: str
    applies: Callable[[evasion.Cell], bool]
    reason: str


#: Known differences waiting for their fix (none today); a gap that no longer shows fails the
#: test (remove it).
KNOWN_GAPS: tuple[KnownGap, ...] = ()


@dataclass
class Outcome:
    cell: evasion.Cell
    row: Row
    gap: KnownGap | None = None

    @property
    def text(self) -> str:
        if self.row.agrees:
            return "same"
        if self.row.keys:
            return ", ".join(self.row.keys)
        return f"gap:{self.gap.id}" if self.gap else "UNEXPLAINED"


@dataclass
class TargetRun:
    target: str
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    problem: str | None = None  # the tool is missing or rejects the export

    def unexplained(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.text == "UNEXPLAINED"]

    def stale_gaps(self) -> list[KnownGap]:
        """Known gaps of this target that matched no differing cell."""
        used = {o.gap.id for o in self.outcomes if o.gap is not None}
        ran = {o.cell for o in self.outcomes}
        return [
            g
            for g in KNOWN_GAPS
            if g.target == self.target and g.id not in used and any(g.applies(c) for c in ran)
        ]


def matrix_policy() -> CheckedPolicy:
    return loader.load_text(evasion.POLICY, "evasion-matrix.policy")


def run_target(
    target: str, cells: Sequence[evasion.Cell], policy: CheckedPolicy | None = None
) -> TargetRun:
    """Every cell through the engine and ``target``'s runner (approximate export)."""
    policy = policy or matrix_policy()
    run = TargetRun(target)
    start = time.monotonic()
    exporter = TARGETS[target](policy, approximate=True)
    result = exporter.export()
    if not result.ok:
        run.problem = "; ".join(d.message for d in result.diagnostics)
        return run
    with tempfile.TemporaryDirectory(prefix="mailpolicy-matrix-") as workdir:
        os.chmod(workdir, 0o755)  # the tools may run as another user
        try:
            runner = exporter.runner(result, workdir)
        except VerifyError as exc:
            run.problem = str(exc)
            return run
        try:
            problem = runner.check()
            if problem:
                run.problem = f"{target} rejects the exported files: {problem}"
                return run
            judge = Judge(ReferenceMatcher(policy), runner, result)
            for cell in cells:
                data = cell.message()
                assert data is not None
                row = judge.decide(RawMessage(cell.id, None, data, None))
                assert row is not None
                outcome = Outcome(cell, row)
                if not row.agrees and not row.keys:
                    outcome.gap = next(
                        (g for g in KNOWN_GAPS if g.target == target and g.applies(cell)), None
                    )
                run.outcomes.append(outcome)
        except VerifyError as exc:
            run.problem = str(exc)
        finally:
            runner.close()
    run.seconds = time.monotonic() - start
    return run


def _short(text: str) -> str:
    """``sieve:embedded, sieve:homoglyph`` -> ``embedded, homoglyph``."""
    if text in ("same", "UNEXPLAINED") or text.startswith("gap:"):
        return text
    return ", ".join(sorted({k.split(":", 1)[1] for k in text.split(", ")}))


def _merge(texts: Sequence[str]) -> str:
    """``same``, or how many cells differ and the union of what predicts them."""
    differ = [t for t in texts if t != "same"]
    if not differ:
        return "same"
    words = sorted({w for t in differ for w in t.split(", ")}, key=lambda w: (w[0].isupper(), w))
    return f"{len(differ)}/{len(texts)}: " + ", ".join(words)


def table(runs: Sequence[TargetRun], by: Callable[[evasion.Cell], str], title: str) -> str:
    """A markdown table: one row per ``by(cell)``, one column per target."""
    groups: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for o in run.outcomes:
            groups[by(o.cell)][run.target].append(_short(o.text))
    head = f"| {title} | " + " | ".join(r.target for r in runs) + " |"
    lines = [head, "|" + " --- |" * (len(runs) + 1)]
    for key in sorted(groups):
        cols = [_merge(groups[key].get(r.target, ["n/a"])) for r in runs]
        lines.append(f"| {key} | " + " | ".join(cols) + " |")
    return "\n".join(lines)


def figures(runs: Sequence[TargetRun]) -> str:
    lines = []
    for run in runs:
        if run.problem:
            lines.append(f"- {run.target}: not run ({run.problem})")
            continue
        c = Counter(
            "same" if o.row.agrees else ("explained" if o.row.keys else o.text.split(":")[0])
            for o in run.outcomes
        )
        lines.append(
            f"- {run.target}: {len(run.outcomes)} cells in {run.seconds:.0f} s; "
            f"{len(run.outcomes) - c['same']} differ: {c['explained']} predicted by a loss, "
            f"{c['gap']} known gaps, {c['UNEXPLAINED']} unexplained"
        )
    return "\n".join(lines)


def report(runs: Sequence[TargetRun]) -> str:
    parts = [
        figures(runs),
        "",
        table(runs, lambda c: f"{c.name} / {c.encoding}", "name / encoding"),
        "",
        table(runs, lambda c: c.placement, "placement"),
        "",
        table(runs, lambda c: c.sender, "sender"),
    ]
    bad = [(r.target, o) for r in runs for o in r.unexplained()]
    if bad:
        parts += ["", "Unexplained cells:"]
        parts += [
            f"- {t}: {o.cell.id}: engine {o.row.engine} ({o.row.engine_rule or 'default'}), "
            f"{t} {o.row.target} ({o.row.target_rule or 'default'}) {o.row.detail[:80]!r}"
            for t, o in bad
        ]
    return "\n".join(parts) + "\n"


def main(argv: Sequence[str]) -> int:
    full = "--full" in argv
    targets = [a for a in argv if not a.startswith("--")] or list(MATRIX_TARGETS)
    cells = evasion.cells(full=full)
    runs = [run_target(t, cells) for t in targets]
    sys.stdout.write(f"{len(cells)} cells\n" + report(runs))
    return 1 if any(r.unexplained() for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
