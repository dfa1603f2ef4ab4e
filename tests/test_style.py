"""The house style is checked, not hoped for: ruff's lint and format on the whole tree,
mypy --strict on the packages, and modules short enough to read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ["policy", "corpus", "simulator", "grammar", "tests"]


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, *FOLDERS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_ruff_lint() -> None:
    done = _ruff("check", "--no-cache")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format() -> None:
    done = _ruff("format", "--check", "--no-cache")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict(tmp_path: Path) -> None:
    """``mypy`` with the project's settings (pyproject.toml: strict, the three packages
    under their installed names through ``.ci/typecheck``), exactly as a developer runs it
    in the checkout."""
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / ".mypy_cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "Success" in done.stdout, done.stdout + done.stderr


def test_no_source_module_over_600_lines() -> None:
    """Modules stay small enough to read; generated data tables aside (the sample
    generator's message table)."""
    allowed = {ROOT / "corpus" / "samples" / "make_samples.py"}
    long = {
        str(p.relative_to(ROOT)): n
        for folder in ("policy", "corpus", "simulator")
        for p in (ROOT / folder).rglob("*.py")
        if p not in allowed and (n := len(p.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert long == {}


def test_no_unused_or_blanket_type_ignores() -> None:
    """Every ``# type: ignore`` names its error code (mypy --strict reports unused ones)."""
    blanket = [
        f"{p.relative_to(ROOT)}:{i}"
        for folder in ("policy", "corpus", "simulator")
        for p in (ROOT / folder).rglob("*.py")
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if "# type: ignore" in line and "# type: ignore[" not in line
    ]
    assert blanket == []
