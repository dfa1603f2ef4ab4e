"""``--cache DIR`` and ``--no-cache``: the fact store of ``simulate`` and ``diff``.

- ``add_cache_options(parser)`` adds both options (they exclude each other).
- ``fact_store(args, err)`` is the store they name (``simulator.factstore.FactStore``), or
  None with ``--no-cache``. A store that cannot be opened (an unwritable directory, a file
  that is not a database) is one warning line on ``err``, and the run reads every message:
  the store only ever saves time, it never decides anything.
- ``after_run(store, err)`` says, in one line, if the store was turned off or found corrupt
  while the run went on (its verdicts are right all the same: the mail was read).

The default directory is ``$XDG_CACHE_HOME/mailpolicy`` (``~/.cache/mailpolicy`` when that
is unset or not an absolute path); the store is one SQLite file in it.
"""

from __future__ import annotations

import argparse
import os
from typing import TextIO

from mailpolicy.simulator.factstore import FactStore, StoreError


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/mailpolicy``, or ``~/.cache/mailpolicy``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative path is to be ignored
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mailpolicy")


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    """``--cache DIR`` / ``--no-cache`` on ``parser``."""
    g = parser.add_argument_group(
        "fact store (the facts of every message read, so that the next run reads none again)"
    )
    x = g.add_mutually_exclusive_group()
    x.add_argument(
        "--cache",
        metavar="DIR",
        help=f"keep the facts in DIR (default: {default_cache_dir()})",
    )
    x.add_argument(
        "--no-cache", action="store_true", help="read every message; keep and use no facts"
    )


def fact_store(args: argparse.Namespace, err: TextIO) -> FactStore | None:
    """The store ``args`` name, or None (``--no-cache``, or it cannot be used: one warning)."""
    if getattr(args, "no_cache", False):
        return None
    directory = getattr(args, "cache", None) or default_cache_dir()
    try:
        store = FactStore.open(directory)
    except StoreError as exc:
        print(f"mailpolicy: warning: {exc}; reading every message", file=err)
        return None
    if store.notice:
        print(f"mailpolicy: warning: {store.notice}", file=err)
    return store


def after_run(store: FactStore | None, err: TextIO) -> None:
    """One warning line if the store stopped working during the run; closes it."""
    if store is None:
        return
    store.close()
    why = store.failed or store.corrupt()
    if why:
        print(
            f"mailpolicy: warning: the fact store {store.path} was turned off during the run"
            f" ({why}); the messages were read instead",
            file=err,
        )
