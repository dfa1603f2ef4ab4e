"""Missing real tools: a skip on a developer's machine, a failure in CI.

A module of its own (not ``conftest``) so that test files import it by a name no other
folder's conftest shadows, whatever order pytest collects the folders in.
"""

from __future__ import annotations

import os

import pytest

#: CI installs every tool the tests drive: there a missing tool is a failure, not a skip.
IN_CI = bool(os.environ.get("CI"))


def tool_missing(reason: str) -> None:
    """Skip (on a developer's machine) or fail (in CI) a test whose tool is not installed."""
    if IN_CI:
        pytest.fail(f"{reason} (CI installs it: see .ci/)")
    pytest.skip(reason)
