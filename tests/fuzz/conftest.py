"""Shared pieces of the fuzzing suite: running a verb in-process, and the budgets.

The normal test run gives each fuzz test a small fixed number of examples (``FAST``);
``pytest -m fuzz`` runs the longer tests marked ``fuzz`` (``LONG`` examples each). Every
verb run here must end with exit 0, 1 or 2, a message of its own (never a traceback), and
within ``SECONDS``.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest

# the policy strategies live beside the policy tests (see tests/policy/strategies.py)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "policy"))

from mailpolicy.simulator.cli import main  # noqa: E402

#: Examples per fuzz test in the normal run, and behind ``-m fuzz``.
FAST = 12
LONG = 400
#: Wall-clock seconds one verb may take on one fuzzed input.
SECONDS = 5.0


def run_verb(argv: list[str]) -> tuple[int, str, str]:
    """``mailpolicy ARGV`` in this process: (exit code, stdout, stderr); asserts the
    house rules every verb keeps on any input."""
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    code = main(argv, out, err)
    elapsed = time.monotonic() - started
    text = out.getvalue() + err.getvalue()
    assert code in (0, 1, 2), (argv, code, text[-2000:])
    assert "Traceback" not in text, (argv, text[-2000:])
    assert elapsed < SECONDS, (argv, elapsed)
    if code == 2:
        assert err.getvalue().strip(), argv  # an input error says what it was
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")
