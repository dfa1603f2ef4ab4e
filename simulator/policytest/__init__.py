"""Policy unit tests: cases of a message (or its facts) and the verdict it must get.

The stages, one module each:

- ``inline``: the facts of a case or an ``eval`` query built as a ``Message`` the policy
  sees (no MIME written or read); shared by ``mailpolicy test`` and ``mailpolicy eval``.
- ``cases``: a ``NAME.tests.toml`` file read into ``Case`` objects, every problem a
  ``TestFileError`` with its line and column.
- ``run``: each case through the reference evaluator with the trace on; coverage of the
  rules (a rule is exercised when it decided a case).
- ``report``: the text form (``opa test``'s), JSON and JUnit XML.

``tests_for(policy_path)`` is the default tests file of a policy: ``NAME.tests.toml``
beside ``NAME.policy``.
"""

from __future__ import annotations

import os

from mailpolicy.simulator.policytest.cases import Case, TestFileError, load
from mailpolicy.simulator.policytest.inline import SpecError, build_message
from mailpolicy.simulator.policytest.run import Coverage, Outcome, coverage, run_case, run_cases

__all__ = [
    "Case",
    "Coverage",
    "Outcome",
    "SpecError",
    "TestFileError",
    "build_message",
    "coverage",
    "load",
    "run_case",
    "run_cases",
    "tests_for",
]


def tests_for(policy_path: str) -> str:
    """``NAME.tests.toml`` beside ``NAME.policy`` (or beside any other policy file name)."""
    stem, ext = os.path.splitext(policy_path)
    return f"{stem if ext else policy_path}.tests.toml"
