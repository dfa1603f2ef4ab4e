"""The evasion matrix through every target's real software (``evasion.py`` writes the
cells, ``evasion_table.py`` runs and classifies them).

Every cell runs through the engine and through the target's runner exactly as
``export --verify`` runs a message; each difference must be predicted by a loss of the
export whose predicate holds on that message, or be a known gap with its reason
(``evasion_table.KNOWN_GAPS``). The normal run holds the bounded set (names x encodings
in full, all pairs of the four dimensions); the whole product is behind ``fuzz``.

The injected regression: a target whose rendering of one rule is broken on purpose is
caught by ``export --verify`` as UNEXPLAINED, exit 1.
"""

from __future__ import annotations

import io
from pathlib import Path

import evasion
import evasion_table
import pytest
from toolsupport import tool_missing

from mailpolicy.corpus.mime import parse_message
from mailpolicy.policy import ast
from mailpolicy.policy.checked import CheckedRule
from mailpolicy.policy.export.sieve import SieveExporter
from mailpolicy.simulator.cli import main

CELLS = evasion.cells()


def _check(target: str, cells: list[evasion.Cell]) -> None:
    run = evasion_table.run_target(target, cells)
    if run.problem:
        tool_missing(f"{target}: {run.problem}")
    assert len(run.outcomes) == len(cells)
    bad = run.unexplained()
    assert bad == [], evasion_table.report([run])
    stale = run.stale_gaps()
    assert stale == [], f"known gaps that no longer show (remove them): {[g.id for g in stale]}"


@pytest.mark.parametrize("target", evasion_table.MATRIX_TARGETS)
def test_every_difference_is_predicted(target: str) -> None:
    _check(target, CELLS)


@pytest.mark.fuzz
@pytest.mark.parametrize("target", evasion_table.MATRIX_TARGETS)
def test_every_difference_is_predicted_full_product(target: str) -> None:
    _check(target, evasion.cells(full=True))


def test_the_cells_are_bounded_and_cover_every_pair() -> None:
    full = evasion.cells(full=True)
    assert 100 <= len(CELLS) <= 250 < len(full)
    assert len({c.id for c in CELLS}) == len(CELLS)
    wanted = set().union(*(evasion._pairs(c) for c in full))
    covered = set().union(*(evasion._pairs(c) for c in CELLS))
    assert covered == wanted
    for dim in ("name", "encoding", "placement", "sender"):
        assert {getattr(c, dim) for c in CELLS} == {getattr(c, dim) for c in full}


@pytest.mark.parametrize("cell", CELLS[:: max(1, len(CELLS) // 40)], ids=lambda c: c.id)
def test_each_cell_carries_its_name_where_it_says(cell: evasion.Cell) -> None:
    data = cell.message()
    assert data is not None
    msg = parse_message(data)
    wanted = evasion.NAMES[cell.name]
    seen = [n for a in msg.attachments for n in a.names]
    assert wanted in seen, (cell.id, seen)
    att = next(a for a in msg.attachments if wanted in a.names)
    part = att.part or ""
    assert ("/" in part) == (cell.placement == "rfc822")
    assert (".uu" in part) == (cell.placement == "uuencode")
    assert (".tnef" in part) == (cell.placement == "tnef")
    assert (
        msg.sender
        == evasion.SENDERS[cell.sender].split("@")[0]
        + "@"
        + evasion.SENDERS[cell.sender].split("@")[1].lower()
    )


# ---- the injected regression ---------------------------------------------------------------
def test_a_mis_rendered_rule_is_unexplained_and_fails_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sieve's rendering of rule ``exec`` tests ``.exf`` instead of the policy's list: the
    messages it now misses differ with no loss to predict them."""
    real = SieveExporter.emit_rule

    def broken(
        self: SieveExporter,
        crule: CheckedRule,
        action: str,
        cond: ast.Cond,
        unless: ast.Cond | None,
    ) -> None:
        if crule.id == "exec":
            wrong = ast.AnyAttachment(
                pred=ast.ExtensionIn(operand=ast.ListLit(items=(ast.Str(value="exf"),)))
            )
            cond = wrong
        real(self, crule, action, cond, unless)

    policy = tmp_path / "matrix.policy"
    policy.write_text(evasion.POLICY, encoding="utf-8")
    corpus = tmp_path / "cells"
    corpus.mkdir()
    for cell in CELLS:
        if cell.name == "plain" and cell.sender == "unlisted":
            data = cell.message()
            assert data is not None
            (corpus / f"{cell.id.replace('/', '_')}.eml").write_bytes(data)

    def verify() -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(
            [
                "export",
                str(policy),
                "--target",
                "sieve",
                "--approximate",
                "-o",
                str(tmp_path / "out.sieve"),
                "--verify",
                str(corpus),
            ],
            out=out,
            err=err,
        )
        if "is not installed" in err.getvalue():
            tool_missing(err.getvalue().strip())
        return code, out.getvalue()

    code, out = verify()
    assert code == 0 and "UNEXPLAINED" not in out, out
    monkeypatch.setattr(SieveExporter, "emit_rule", broken)
    code, out = verify()
    assert code == 1, out
    assert "UNEXPLAINED" in out and "disagreements are not explained" in out
    assert "block (exec)" in out and "allow (default)" in out
