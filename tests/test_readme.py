"""The README's two one-line commands (quick start, tests) are what CI runs, exactly."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _first_sh_block(section: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {section}\n")
    block = re.search(r"```sh\n(.*?)```", text[start:], re.S)
    assert block is not None, f"no sh block under {section}"
    return block.group(1).strip()


def test_each_readme_line_is_one_line_ci_runs_as_written() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    for section in ("Quick start", "Tests"):
        line = _first_sh_block(section)
        assert "\n" not in line, f"{section}: one line to paste"
        assert line.startswith("sudo apt-get install -y python3-venv libmagic1 && python3 -m venv")
        assert any(c == line or c.startswith(line + " ||") for c in ci), section


def test_ci_uses_the_distributions_python() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    path_line = ci.index('export PATH="/usr/bin:')
    assert path_line < ci.index("python3 -m venv .venv")
