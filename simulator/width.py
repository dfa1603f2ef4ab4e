"""How wide human tables may be, and how a table fits: wrapped, never cut.

- ``columns(out, wide)``: the width to fit, or None for no limit. ``--wide``: None.
  ``COLUMNS`` in the environment (a positive number): that. ``out`` a terminal: its
  width. Anything else (a pipe, a file): None, so nothing a script reads is shortened.
- ``table(rows, headers, width, flexible)``: ``tabulate`` with the ``flexible`` columns
  wrapped so the table fits ``width``. A cell is wrapped onto more lines, never cut, so
  the part of a trace that decided (``…, but unless holds: sender …``) is always shown.

Limits: a table whose fixed columns alone are wider than ``width`` still wraps its
flexible columns to ``MIN`` characters and runs past the edge.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from typing import Any, TextIO

from tabulate import tabulate

__all__ = ["MIN", "columns", "table"]

#: The narrowest a wrapped column gets.
MIN = 16
#: Between two columns of a ``simple`` table, and around a header (tabulate's padding).
_GAP = 2


def columns(out: TextIO, wide: bool = False) -> int | None:
    """The width human output should fit, or None for no limit (module docstring)."""
    if wide:
        return None
    env = os.environ.get("COLUMNS", "")
    if env.strip().isdigit() and int(env) > 0:
        return int(env)
    isatty = getattr(out, "isatty", None)
    if isatty is not None and isatty():
        return shutil.get_terminal_size().columns
    return None


def _fit(cells: list[list[str]], width: int, flexible: Sequence[int]) -> list[int | None]:
    natural = [
        max(len(col[0]) + _GAP, *(len(line) for c in col[1:] for line in c.split("\n")))
        for col in cells
    ]
    fixed = sum(n for i, n in enumerate(natural) if i not in flexible)
    room = width - fixed - _GAP * (len(natural) - 1)
    wanted = sum(natural[i] for i in flexible)
    limits: list[int | None] = [None] * len(natural)
    if wanted <= room:
        return limits
    for i in flexible:
        limits[i] = max(MIN, min(natural[i], room * natural[i] // max(wanted, 1)))
    return limits


def table(
    rows: Sequence[Sequence[Any]],
    headers: Sequence[str],
    width: int | None,
    flexible: Sequence[int],
    **options: Any,
) -> str:
    """``tabulate(rows, headers)`` with the ``flexible`` columns wrapped to fit ``width``."""
    if width is None or not rows:
        return tabulate(rows, headers=list(headers), **options)
    cells = [[str(h)] + [str(r[i]) for r in rows] for i, h in enumerate(headers)]
    limits = _fit(cells, width, flexible)
    if all(limit is None for limit in limits):
        return tabulate(rows, headers=list(headers), **options)
    return tabulate(rows, headers=list(headers), maxcolwidths=limits, **options)
