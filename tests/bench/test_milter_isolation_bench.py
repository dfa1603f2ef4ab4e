"""What isolating each analysis in a worker process costs, against threads.

The bundled samples (89 messages, the shipped baseline policy) go through the milter as
an MTA sends them (the pure-Python client of ``tests/simulator/test_milter.py``, one
connection per message, ``--max-concurrent 4``: four connections at once), once with
``isolation="thread"`` and once with ``isolation="process"``. pytest-benchmark times a
whole pass; the ratio of the means is printed and asserted below ``MAX_RATIO``: the
figure that chose the default (``--isolation process``). Run with
``python3 -m pytest tests/bench/test_milter_isolation_bench.py -m bench --benchmark-enable
-p no:cacheprovider -s``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulator"))
from test_milter import client  # noqa: E402

from mailpolicy.simulator import milter, milter_judge  # noqa: E402

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parents[2]
BASELINE = str(ROOT / "policy" / "policies" / "baseline.policy")
SAMPLES = ROOT / "corpus" / "samples" / "maildir"
#: Process isolation may cost at most this much more per message than threads.
MAX_RATIO = 1.5
CONCURRENT = 4
_means: dict[str, float] = {}


def _messages() -> list[bytes]:
    found = (p for p in SAMPLES.glob("*/*/*") if p.is_file() and p.parent.name != "tmp")
    return [p.read_bytes() for p in sorted(found)]


class Server:
    """A milter on loopback in its own event loop thread, for the whole benchmark."""

    def __init__(self, isolation: str) -> None:
        import threading

        cfg = milter.Config(
            *milter_judge.load_source(BASELINE),
            isolation=isolation,
            max_concurrent=CONCURRENT,
        )
        self.loop = asyncio.new_event_loop()
        self.m = milter.Milter(cfg)
        ready = threading.Event()

        async def start() -> None:
            self.server = await asyncio.start_server(self.m.handle, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()

        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(start(), self.loop)
        assert ready.wait(30)

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.m.close()


def _pass(port: int, messages: list[bytes]) -> int:
    async def go() -> int:
        sem = asyncio.Semaphore(CONCURRENT)

        async def one(data: bytes) -> int:
            async with sem:
                return len(await client(port, data))

        return sum(await asyncio.gather(*(one(d) for d in messages)))

    return asyncio.run(go())


@pytest.fixture(scope="module", params=["thread", "process"])
def server(request: Any) -> Iterator[tuple[str, Server]]:
    s = Server(request.param)
    yield request.param, s
    s.close()


def test_isolation_cost_per_message(server: tuple[str, Server], benchmark: Any) -> None:
    isolation, s = server
    messages = _messages()
    _pass(s.port, messages[:8])  # warm: imports, worker caches
    replies = benchmark.pedantic(_pass, args=(s.port, messages), rounds=5, iterations=1)
    assert replies >= len(messages)
    mean = benchmark.stats.stats.mean
    _means[isolation] = mean
    print(f"\n{isolation}: {mean / len(messages) * 1000:.2f} ms per message ({len(messages)})")
    if len(_means) == 2:
        ratio = _means["process"] / _means["thread"]
        print(f"process / thread: {ratio:.2f}")
        assert ratio < MAX_RATIO
