"""Benchmarks 2 and 3: replay throughput and peak memory on a generated ~100 MB mbox.

Compared in one run, on the same file:
- Python's ``email`` parser merely parsing it (``policy=default``, ``get_filename()`` on
  every part): the floor any Python tool built on the standard parser starts from;
- Pigeonhole's ``sieve-filter`` running an equivalent names-only Sieve script (on a copy:
  it writes its index next to the mailbox);
- ``mailpolicy simulate`` (default workers) with the same names-only rules, and with 10
  and 2,000 rules of the kind a large site accumulates.
Peak memory: ``simulate`` on the mbox and on one ten times larger, in a child process
(``ru_maxrss`` of the largest process of the run).
"""

from __future__ import annotations

import email
import email.policy
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mailpolicy.corpus.readers import iter_mbox
from mailpolicy.simulator.cli import main

from .gen_mbox import write_mbox
from .test_matcher_bench import make_policy
from .workload import mixed_policy

pytestmark = pytest.mark.bench

EXTS = ["pif", "bat", "lnk", "com", "exe", "scr", "vbs"]
NAMES_POLICY = (
    'policy "names-only"\nblock attachment name in [' + ", ".join(f'"*.{e}"' for e in EXTS) + "]\n"
)
SIEVE = """require ["mime", "foreverypart", "fileinto"];
foreverypart {
  if anyof (
      header :mime :param "filename" :comparator "i;ascii-casemap" :matches "Content-Disposition" [%s],
      header :mime :param "name" :comparator "i;ascii-casemap" :matches "Content-Type" [%s]) {
    fileinto "Quarantine";
    stop;
  }
}
keep;
""" % ((", ".join(f'"*.{e}"' for e in EXTS),) * 2)


@pytest.fixture(scope="session")
def work() -> Path:
    root = Path(os.environ.get("MAILPOLICY_BENCH_DIR", tempfile.gettempdir())) / "mailpolicy-bench"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="session")
def mbox(work: Path) -> Path:
    path = work / "bench.mbox"
    if not path.exists():
        write_mbox(path, 3000)
    return path


def _policy(work: Path, name: str, text: str) -> str:
    path = work / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _simulate(policy: str, *paths: str, workers: int | None = None) -> dict:  # type: ignore[type-arg]
    import json

    out = io.StringIO()
    more = ["--workers", str(workers)] if workers else []
    assert main(["simulate", policy, *paths, "--json", *more], out=out, err=io.StringIO()) == 0
    return json.loads(out.getvalue())


def test_email_parser_only(benchmark, mbox: Path) -> None:  # type: ignore[no-untyped-def]
    def parse() -> int:
        names = 0
        with open(mbox, "rb") as fh:
            for _, data in iter_mbox(fh):
                msg = email.message_from_bytes(data, policy=email.policy.default)
                names += sum(1 for part in msg.walk() if part.get_filename())
        return names

    benchmark.group = "replay 3,000 messages"
    benchmark.extra_info["mb"] = round(mbox.stat().st_size / 1e6, 1)
    assert benchmark.pedantic(parse, rounds=3, iterations=1) > 3000


def test_sieve_filter(benchmark, mbox: Path, work: Path) -> None:  # type: ignore[no-untyped-def]
    if not shutil.which("sieve-filter"):
        pytest.fail("sieve-filter (Debian dovecot-sieve) is not installed")
    script = work / "names.sieve"
    script.write_text(SIEVE)
    box = work / "sieve-mail"

    def setup() -> tuple[tuple[()], dict[str, object]]:
        shutil.rmtree(box, ignore_errors=True)
        box.mkdir()
        shutil.copy(mbox, box / "bench")
        os.chmod(work, 0o777)
        subprocess.run(["chmod", "-R", "a+rwX", str(box), str(script)], check=True)
        (work / "sieve.conf").write_text(f"mail_location = mbox:{box}:INBOX={box}/bench\n")
        return (), {}

    def run() -> int:
        cmd = ["sieve-filter", "-c", str(work / "sieve.conf"), str(script), "INBOX"]
        if os.geteuid() == 0:
            cmd = [
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                "env",
                f"HOME={work}",
                *cmd,
            ]
        done = subprocess.run(cmd, capture_output=True, check=True)
        return done.stdout.count(b"store message in folder: Quarantine")

    benchmark.group = "replay 3,000 messages"
    quarantined = benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    benchmark.extra_info["stopped"] = quarantined


BASELINE = Path(__file__).resolve().parents[2] / "policy" / "policies" / "baseline.policy"


@pytest.mark.parametrize("rules", ["names-only", 10, 2000, "baseline"])
def test_simulate(benchmark, mbox: Path, work: Path, rules) -> None:  # type: ignore[no-untyped-def]
    if rules == "baseline":  # true types of every attachment, archives: the full pipeline
        text = BASELINE.read_text(encoding="utf-8").replace(
            'file "lists/trusted-senders.txt"', '["*@partner.example.com"]'
        )
    else:
        text = NAMES_POLICY if rules == "names-only" else make_policy(rules)
    policy = _policy(work, f"bench-{rules}.policy", text)
    benchmark.group = "replay 3,000 messages"
    doc = benchmark.pedantic(lambda: _simulate(policy, str(mbox)), rounds=3, iterations=1)
    assert doc["messages"] == 3000 and doc["unreadable"] == 0
    benchmark.extra_info["stopped"] = sum(n for a, n in doc["actions"].items() if a != "allow")


@pytest.mark.parametrize("workers", [1, None], ids=["1-worker", "all-cores"])
@pytest.mark.parametrize("rules", [10, 2000])
def test_simulate_mixed(benchmark, mbox: Path, work: Path, rules: int, workers: int | None) -> None:  # type: ignore[no-untyped-def]
    """``simulate`` end to end with the mixed policy of ``workload.py``: with one worker
    the matcher's share shows; with all cores the pool's overhead hides part of it."""
    policy = _policy(work, f"bench-mixed-{rules}.policy", mixed_policy(rules))
    benchmark.group = "replay 3,000 messages, mixed rules"
    doc = benchmark.pedantic(
        lambda: _simulate(policy, str(mbox), workers=workers), rounds=3, iterations=1
    )
    assert doc["messages"] == 3000 and doc["unreadable"] == 0
    benchmark.extra_info["stopped"] = sum(n for a, n in doc["actions"].items() if a != "allow")


def _peak_rss_mb(policy: str, path: Path) -> float:
    """Peak RSS of the largest process of one ``simulate`` run (parent or worker), in MB."""
    code = (
        "import io, resource, sys\n"
        "from mailpolicy.simulator.cli import main\n"
        "assert main(['simulate', sys.argv[1], sys.argv[2], '--json'], out=io.StringIO()) == 0\n"
        "r = resource.getrusage\n"
        "print(max(r(resource.RUSAGE_SELF).ru_maxrss, r(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    )
    # ru_maxrss survives fork and exec: a child forked from this (large) pytest process would
    # start with our high-water mark. A shell in between forks Python from a small process.
    done = subprocess.run(
        ["sh", "-c", '"$0" -c "$1" "$2" "$3"; exit $?', sys.executable, code, policy, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout.strip()) / 1024


@pytest.mark.parametrize("scale", [1, 10])
def test_peak_memory(benchmark, mbox: Path, work: Path, scale: int) -> None:  # type: ignore[no-untyped-def]
    path = mbox
    if scale > 1:
        path = work / f"bench-x{scale}.mbox"
        if not path.exists():
            with open(path, "wb") as out:
                for _ in range(scale):
                    with open(mbox, "rb") as src:
                        shutil.copyfileobj(src, out)
    policy = str(Path(__file__).resolve().parents[2] / "policy" / "policies" / "baseline.policy")
    benchmark.group = "peak memory"
    peak = benchmark.pedantic(lambda: _peak_rss_mb(policy, path), rounds=1, iterations=1)
    benchmark.extra_info["peak_rss_mb"] = round(peak, 1)
    benchmark.extra_info["mbox_mb"] = round(path.stat().st_size / 1e6, 1)
    assert peak < 150


@pytest.mark.parametrize("rules", [10, 2000])
def test_simulate_command(benchmark, mbox: Path, work: Path, rules: int) -> None:  # type: ignore[no-untyped-def]
    """The same as a user runs it: a new process, interpreter start and imports included."""
    policy = _policy(work, f"bench-{rules}.policy", make_policy(rules))
    code = "import sys; from mailpolicy.simulator.cli import main; sys.exit(main(sys.argv[1:]))"
    cmd = [sys.executable, "-c", code, "simulate", policy, str(mbox), "--json"]
    benchmark.group = "replay 3,000 messages"
    benchmark.pedantic(
        lambda: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL), rounds=3, iterations=1
    )
