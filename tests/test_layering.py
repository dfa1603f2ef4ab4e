"""Dependencies point one way: ``corpus <- policy <- simulator``, and the command line on top.

corpus knows nothing of policies or the simulator, the language knows nothing of the
simulator, and nothing imports the command line (``mailpolicy.simulator.cli``, which
imports everything) but its own modules and the entry point. Every import counts,
including those inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = "mailpolicy.simulator.cli"
CLI_DIR = ROOT / "simulator" / "cli"
#: package folder -> namespaces its modules must not import
FORBIDDEN = {
    "corpus": ("mailpolicy.policy", "mailpolicy.simulator"),
    "grammar": ("mailpolicy.",),
    "policy": ("mailpolicy.simulator",),
    "simulator": (CLI,),
}


def imports(tree: ast.AST, module: str) -> list[str]:
    """Every module ``tree`` imports (``from x import y`` counts as ``x`` and ``x.y``);
    relative imports are resolved against ``module``, the dotted name of the file."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level]
                base = ".".join([*parent, base] if base else parent)
            out.append(base)
            out += [f"{base}.{a.name}" for a in node.names]
    return out


def dotted(path: Path) -> str:
    """The import name of a module file: ``policy/fmt.py`` is ``mailpolicy.policy.fmt``
    (a package's ``__init__`` keeps its name, so that ``from . import x`` resolves)."""
    return ".".join(["mailpolicy", *path.relative_to(ROOT).with_suffix("").parts])


def _imports_of(path: Path) -> list[str]:
    return imports(ast.parse(path.read_text(encoding="utf-8")), dotted(path))


def _is_cli(name: str) -> bool:
    return name == CLI or name.startswith(CLI + ".")


MODULES = [
    p
    for folder in FORBIDDEN
    for p in sorted((ROOT / folder).rglob("*.py"))
    if "samples" not in p.parts
]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_one_way(path: Path) -> None:
    folder = path.relative_to(ROOT).parts[0]
    if CLI_DIR in path.parents:
        return  # the command line sits on top of everything
    bad = [m for m in _imports_of(path) if m.startswith(FORBIDDEN[folder])]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_nothing_imports_the_cli() -> None:
    users = [
        p.relative_to(ROOT)
        for p in MODULES
        if CLI_DIR not in p.parents and any(_is_cli(m) for m in _imports_of(p))
    ]
    assert users == []


def test_the_entry_point_is_the_cli() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"] == {"mailpolicy": f"{CLI}:main"}


def test_the_old_command_line_modules_are_gone() -> None:
    assert not (ROOT / "policy" / "cli.py").exists()
    assert not (ROOT / "simulator" / "cli.py").exists()


@pytest.mark.parametrize(
    ("source", "module", "found"),
    [
        ("def f():\n    from mailpolicy.simulator import cli\n", "mailpolicy.policy.x", CLI),
        ("import mailpolicy.simulator.cli.check\n", "mailpolicy.policy.x", CLI + ".check"),
        ("from ..simulator import replay\n", "mailpolicy.policy.x", "mailpolicy.simulator"),
        ("from . import common\n", "mailpolicy.simulator.cli.x", CLI + ".common"),
        ("from . import check\n", "mailpolicy.simulator.cli.__init__", CLI + ".check"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mailpolicy.policy import ast\n",
            "mailpolicy.corpus.x",
            "mailpolicy.policy.ast",
        ),
    ],
)
def test_imports_are_found_anywhere(source: str, module: str, found: str) -> None:
    assert found in imports(ast.parse(source), module)


def test_every_package_in_the_tree_is_packaged() -> None:
    """A package missing from pyproject.toml works editable and breaks an installed CLI."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(project["tool"]["setuptools"]["packages"])
    found = {
        ".".join(["mailpolicy", *init.parent.relative_to(ROOT).parts])
        for folder in FORBIDDEN
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert found - listed == set()
