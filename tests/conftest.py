"""Shared test fixtures: where the repository and the shared third-party corpus live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Real messages written by other projects (see its SOURCES.md); never copied into the repo.
_CANDIDATES = [
    ROOT.parent / "shared" / "corpora" / "thirdparty",
    Path("/work/shared/corpora/thirdparty"),
]
THIRDPARTY = Path(
    os.environ.get("MAILPOLICY_THIRDPARTY")
    or next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[0])
)
SAMPLES = ROOT / "corpus" / "samples"
#: CI installs every tool the tests drive: there a missing tool is a failure, not a skip.
IN_CI = bool(os.environ.get("CI"))


def tool_missing(reason: str) -> None:
    """Skip (on a developer's machine) or fail (in CI) a test whose tool is not installed."""
    if IN_CI:
        pytest.fail(f"{reason} (CI installs it: see .ci/)")
    pytest.skip(reason)


@pytest.fixture
def thirdparty() -> Path:
    if not THIRDPARTY.is_dir():
        pytest.skip(f"third-party corpus not found at {THIRDPARTY}")
    return THIRDPARTY
