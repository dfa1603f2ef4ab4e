"""Benchmark 4: the per-message budget holds on the regression corpus and the fuzz shapes.

In a child process (so the limits bind it alone), the address space is capped at the
process's own plus 200 MB (``RLIMIT_AS``), and every message of the bundled samples, the
third-party corpus and the fuzz suite's hostile shapes is decided with the shipped
baseline policy under the default budget. Per message: CPU seconds (``process_time``)
and the growth of resident memory over the process's own (``VmHWM`` reset through
``/proc/self/clear_refs`` before each message). Asserted: every message decided within
2 s of CPU and 200 MB; none of the regression samples runs out of its budget.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))
from fuzzsupport import SAMPLES, THIRDPARTY, hostile_shapes  # noqa: E402

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parents[2]
CPU_SECONDS = 2.0
MEMORY_MB = 200

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from mailpolicy.corpus.readers import RawMessage, iter_raw
from mailpolicy.policy.loader import load_policy
from mailpolicy.simulator import replay

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)

policy, shapes, *paths = sys.argv[1:]
matcher = replay.make_matcher(load_policy(policy), "compiled")
items = [i for i in iter_raw(paths) if isinstance(i, RawMessage)]
items += [RawMessage(f"shape-{n}", None, Path(p).read_bytes(), None)
          for n, p in enumerate(json.loads(shapes))]
replay.decide_raw([matcher], items[0])  # warm: imports and caches are the process's own
own = status("VmSize")
resource.setrlimit(resource.RLIMIT_AS, (own + (200 << 20), resource.RLIM_INFINITY))
rows = []
for raw in items:
    open("/proc/self/clear_refs", "w").write("5")
    rss = status("VmRSS")
    started = time.process_time()
    (d,) = replay.decide_raw([matcher], raw)
    cpu = time.process_time() - started
    rows.append([f"{raw.path}:{raw.key}", cpu, (status("VmHWM") - rss) / 2**20, d.exhausted, d.action])
print(json.dumps(rows))
"""


def _shapes(folder: Path) -> list[str]:
    out = []
    for name, data in hostile_shapes().items():
        (folder / name).write_bytes(data)
        out.append(str(folder / name))
    return out


def test_every_message_within_the_budget(benchmark: object, tmp_path: Path) -> None:
    paths = [str(SAMPLES / "maildir"), str(SAMPLES / "mbox")]
    if THIRDPARTY.is_dir():
        paths.append(str(THIRDPARTY))
    argv = [
        sys.executable,
        "-c",
        _CHILD,
        str(ROOT / "policy" / "policies" / "baseline.policy"),
        json.dumps(_shapes(tmp_path)),
        *paths,
    ]
    rows: list[list[object]] = []

    def run() -> None:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-3000:]
        rows[:] = json.loads(proc.stdout)

    benchmark.pedantic(run, rounds=1, iterations=1)  # type: ignore[attr-defined]
    slowest = max(rows, key=lambda r: r[1])
    biggest = max(rows, key=lambda r: r[2])
    benchmark.extra_info.update(  # type: ignore[attr-defined]
        messages=len(rows),
        max_cpu_s=slowest[1],
        slowest=slowest[0],
        max_memory_mb=biggest[2],
        biggest=biggest[0],
        exhausted=[r[0] for r in rows if r[3]],
    )
    print(benchmark.extra_info)  # type: ignore[attr-defined]
    assert slowest[1] < CPU_SECONDS, slowest
    assert biggest[2] < MEMORY_MB, biggest
    assert not [r for r in rows if r[3] and not str(r[0]).startswith("shape-")]
