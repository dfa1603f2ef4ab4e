"""Benchmark: the second ``simulate`` of the same mbox with an edited policy, with the fact store.

The group compares, on the generated 3,000-message mbox (``gen_mbox.py``, about 100 MB),
with one worker and with all cores:

- ``no-store``: ``simulate`` reading every message (``--no-cache``), the baseline policy;
- ``first``: the same with an empty store (every message read, its facts extracted whole
  and kept: the price the first run pays once);
- ``second``: an edited policy over the same mbox with the store the first run filled
  (the mail is read only to be hashed; no message is parsed).

The target of issue 13: ``second`` at most 20% of ``no-store``. pytest-benchmark prints the
ratios (the figure in parentheses beside each mean). In the normal run (no ``bench``
marker) the same three runs go over 60 messages once, and check that the second run came
from the store alone and decided as the first.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from mailpolicy.simulator import replay
from mailpolicy.simulator.cli import main
from mailpolicy.simulator.factstore import FactStore

from .gen_mbox import write_mbox

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policy" / "policies"
GROUP = "second simulate with the fact store, 3,000 messages"


def _takes_cache() -> bool:
    out = io.StringIO()
    try:
        main(["simulate", "--help"], out=out, err=io.StringIO())
    except SystemExit:
        pass
    return "--no-cache" in out.getvalue()


def _work() -> Path:
    root = Path(os.environ.get("MAILPOLICY_BENCH_DIR", tempfile.gettempdir())) / "mailpolicy-bench"
    root.mkdir(exist_ok=True)
    return root


def edited_policy(directory: Path) -> Path:
    """The baseline policy with one rule more, beside a copy of its lists."""
    shutil.copytree(POLICIES / "lists", directory / "lists", dirs_exist_ok=True)
    text = (POLICIES / "baseline.policy").read_text(encoding="utf-8")
    first = text.index("\nblock ")
    text = text[:first] + '\nblock attachment name matches "*.hta"  # the edit' + text[first:]
    path = directory / "baseline-edited.policy"
    path.write_text(text, encoding="utf-8")
    return path


def simulate(policy: Path, mbox: Path, cache: Path | None, workers: int | None) -> Any:
    """``simulate --json`` (through the command line once it takes ``--cache``, else through
    the replay it runs), without the timing fields; or the decisions."""
    if _takes_cache():
        store = ["--cache", str(cache)] if cache is not None else ["--no-cache"]
        more = ["--workers", str(workers)] if workers else []
        out = io.StringIO()
        argv = ["simulate", str(policy), str(mbox), "--json", *store, *more]
        assert main(argv, out=out, err=io.StringIO()) == 0
        doc = json.loads(out.getvalue())
        for timing in ("elapsed_s", "messages_per_s", "mb_per_s"):
            doc.pop(timing)
        return doc
    from mailpolicy.policy.loader import load_policy

    facts = FactStore.open(str(cache)) if cache is not None else None
    matcher = replay.make_matcher(load_policy(str(policy)), "compiled")
    judge = replay.Decide((matcher,), facts=facts)
    rows = list(replay.replay(judge, [str(mbox)], workers=workers))
    if facts is not None:
        facts.close()
    return rows


def _three(benchmark: Any, mbox: Path, work: Path, workers: int | None, which: str) -> Any:
    baseline, edited = POLICIES / "baseline.policy", edited_policy(work)
    cache = work / f"facts-{workers}"
    benchmark.group = f"{GROUP}, workers {workers or 'all'}"
    benchmark.extra_info["mb"] = round(mbox.stat().st_size / 1e6, 1)
    if which == "no-store":
        return benchmark.pedantic(
            simulate, args=(baseline, mbox, None, workers), rounds=3, iterations=1
        )
    if which == "first":

        def empty() -> tuple[tuple[Any, ...], dict[str, Any]]:
            shutil.rmtree(cache, ignore_errors=True)
            return (baseline, mbox, cache, workers), {}

        return benchmark.pedantic(simulate, setup=empty, rounds=3, iterations=1)
    shutil.rmtree(cache, ignore_errors=True)
    simulate(baseline, mbox, cache, workers)  # the first run fills the store
    return benchmark.pedantic(simulate, args=(edited, mbox, cache, workers), rounds=3, iterations=1)


@pytest.fixture(scope="module")
def mbox3000() -> Path:
    path = _work() / "bench.mbox"
    if not path.exists():
        write_mbox(path, 3000)
    return path


@pytest.mark.bench
@pytest.mark.parametrize("workers", [1, None], ids=["workers-1", "workers-all"])
@pytest.mark.parametrize("which", ["no-store", "first", "second"])
def test_second_simulate(benchmark, mbox3000: Path, workers: int | None, which: str) -> None:  # type: ignore[no-untyped-def]
    work = _work()
    doc = _three(benchmark, mbox3000, work, workers, which)
    assert doc


def test_second_simulate_small(benchmark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The normal run's small budget: 60 messages, each run once; the second run is served
    by the store alone and decides as a run without it."""
    mbox = write_mbox(tmp_path / "small.mbox", 60)
    cache = tmp_path / "cache"
    edited = edited_policy(tmp_path)
    without = simulate(edited, mbox, None, 1)
    simulate(POLICIES / "baseline.policy", mbox, cache, 1)
    parsed: list[object] = []
    monkeypatch.setattr(replay, "parse", parsed.append)  # a message parsed would fail
    second = benchmark.pedantic(simulate, args=(edited, mbox, cache, 1), rounds=1)
    assert parsed == []
    assert second == without
