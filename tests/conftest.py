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
from toolsupport import IN_CI, tool_missing  # noqa: E402,F401  (re-exported for fixtures)


@pytest.fixture
def thirdparty() -> Path:
    if not THIRDPARTY.is_dir():
        pytest.skip(f"third-party corpus not found at {THIRDPARTY}")
    return THIRDPARTY


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's fact store starts empty, in a directory of its own: never the user's
    ~/.cache, and never facts a previous test stored under other patches."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
