"""``--engine local|dask`` and ``--scheduler ADDRESS``: where ``simulate`` and ``diff`` replay.

- ``add_engine_options(parser)`` adds both options.
- ``check(args)``: the engine the arguments ask for (``local`` or ``dask``), or
  ``InputError`` (exit 2) for a contradiction; call it with the other input checks.
- ``replay(args, judge, paths, labels, workers=..., progress=...)``: the rows iterator the
  verbs consume: ``simulator.replay.replay`` for ``local``; for ``dask``, a connection to
  the scheduler (or a local cluster of ``workers`` processes) made before it returns, so a
  scheduler that cannot be reached, a worker that cannot read the corpus or a missing
  ``dask`` package is a one-line error (exit 2) before any output is opened. The rows are
  the same in either engine, in corpus order; closing the iterator (Ctrl-C) stops the
  cluster's work.
"""

from __future__ import annotations

import argparse
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, TypeVar

from mailpolicy.policy.diagnostics import InputError
from mailpolicy.simulator import replay as _replay

if TYPE_CHECKING:
    from mailpolicy.corpus.labels import Labels

R = TypeVar("R")

ENGINES = ("local", "dask")
#: What to install for ``--engine dask``.
INSTALL = "pip install 'mailpolicy[dask]'"


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """``--engine`` and ``--scheduler``."""
    g = p.add_argument_group("engine")
    g.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="local: worker processes on this machine (default); dask: a Dask cluster, "
        "the one at --scheduler or a local one of --workers processes",
    )
    g.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running Dask scheduler (tcp://host:8786); implies --engine dask. Its "
        "workers need mailpolicy installed and the corpus at the same absolute path",
    )


def check(args: argparse.Namespace) -> str:
    """``local`` or ``dask``; InputError when ``--scheduler`` comes with ``--engine local``."""
    engine: str | None = args.engine
    scheduler: str | None = args.scheduler
    if scheduler is not None and engine == "local":
        raise InputError("--scheduler needs --engine dask (the local engine has no scheduler)")
    if scheduler is not None and not scheduler.strip():
        raise InputError("--scheduler needs an address, such as tcp://host:8786")
    return "dask" if scheduler is not None else (engine or "local")


def replay(
    args: argparse.Namespace,
    judge: _replay.Judge[R],
    paths: Sequence[str],
    labels: Labels | None,
    *,
    workers: int,
    progress: _replay.Progress,
) -> Generator[R, None, None]:
    """The rows of ``judge`` over the corpus on the engine ``args`` names (module docstring)."""
    if check(args) == "local":
        return _replay.replay(judge, paths, labels, workers=workers, progress=progress)
    try:
        from mailpolicy.simulator import dask_engine
    except ImportError as exc:
        raise InputError(
            f"--engine dask needs Dask's distributed scheduler ({exc.name or exc} is not "
            f"installed): {INSTALL}"
        ) from None
    try:
        cluster = dask_engine.connect(args.scheduler, workers)
    except dask_engine.EngineError as exc:
        raise InputError(str(exc)) from None
    try:
        dask_engine.check_paths(cluster, paths)
    except dask_engine.EngineError as exc:
        cluster.close()
        raise InputError(str(exc)) from None
    return dask_engine.replay(judge, paths, labels, cluster=cluster, progress=progress, owned=True)
