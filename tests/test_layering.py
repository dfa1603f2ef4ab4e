"""Dependencies point one way: corpus knows nothing of policies, the language knows nothing
of the simulator, and nothing imports the command line (it imports everything)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: package folder -> namespaces its modules must not import
FORBIDDEN = {
    "corpus": ("mailpolicy.policy", "mailpolicy.simulator"),
    "grammar": ("mailpolicy.",),
    "policy": ("mailpolicy.simulator",),
    "simulator": ("mailpolicy.policy.cli",),
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
            out += [f"{node.module}.{a.name}" for a in node.names]
    return out


MODULES = [
    p
    for folder in FORBIDDEN
    for p in sorted((ROOT / folder).rglob("*.py"))
    if "samples" not in p.parts
]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_one_way(path: Path) -> None:
    folder = path.relative_to(ROOT).parts[0]
    if path == ROOT / "policy" / "cli.py":
        return  # the command line sits on top of everything
    bad = [m for m in _imports(path) if m.startswith(FORBIDDEN[folder])]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_nothing_imports_the_cli() -> None:
    users = [
        p
        for p in MODULES
        if p.name != "cli.py" or p.parent.name != "policy"
        if "mailpolicy.policy.cli" in _imports(p)
        or any(m.startswith("mailpolicy.policy.cli.") for m in _imports(p))
    ]
    assert users == []
