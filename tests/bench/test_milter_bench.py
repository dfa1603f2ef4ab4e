"""Benchmark: the milter's throughput and added latency behind a real Postfix on loopback,
with the shipped baseline policy (``-m bench``; nothing here asserts a time).

One private Postfix (``tests/postfix_rig.py``) with two ports: one with ``smtpd_milters``
pointing at ``mailpolicy milter policy/policies/baseline.policy`` (a child process, default
options), one without a milter. The same workload (``tests/loadgen.py``: text, PDF, zip,
Office, 1 MB, and the executables the baseline refuses) goes through both, in one run, by
``MILTER_BENCH_SESSIONS`` concurrent SMTP sessions (default 16),
``MILTER_BENCH_MESSAGES`` messages each (default 1,000), as fast as they go and offered
at ``MILTER_BENCH_RATES`` messages per second (default 50,100); ``MILTER_BENCH_ARGS``
adds options to the milter (e.g. ``--isolation thread``); ``MILTER_BENCH_LISTEN`` is
where it listens: ``unix`` (default, a socket in the work directory, as the README
recommends on the MTA's host) or ``inet`` (a loopback port). Reported:

- messages per second answered (end of DATA) and drained (every 250 at the sink);
- latency per message, connect to the reply after DATA, and end of DATA to that reply:
  p50/p95/p99 with and without the milter, the difference in ms and the ratio;
- CPU seconds per message: the whole machine (``/proc/stat``) and the milter process;
- where the milter's time goes, measured in-process on the same messages: the milter
  codec (``kilter.protocol``: the frames Postfix sends, unpacked), reassembly, parsing
  and evaluation (``judge``);
- a restart under load: ``MILTER_BENCH_RESTART`` messages (default 1,000) while the milter
  is stopped (SIGTERM) and started twice; lost and duplicated messages counted by
  Message-ID (both must be 0: that is asserted).

The report is printed (run with ``-s``) and written to ``MILTER_BENCH_REPORT`` if set:

    python3 -m pytest tests/bench/test_milter_bench.py -m bench -s -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import loadgen
import postfix_rig as rig
import pytest
from kilter.protocol import messages as km
from kilter.protocol.buffer import SimpleBuffer

from mailpolicy.corpus.readers import RawMessage
from mailpolicy.policy import loader
from mailpolicy.policy.evaluate import evaluate
from mailpolicy.simulator import milter, milter_wire
from mailpolicy.simulator.budget import DEFAULT
from mailpolicy.simulator.replay import judge_raw

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parents[2]
BASELINE = str(ROOT / "policy" / "policies" / "baseline.policy")
MESSAGES = int(os.environ.get("MILTER_BENCH_MESSAGES", "1000"))
SESSIONS = int(os.environ.get("MILTER_BENCH_SESSIONS", "16"))
RESTART = int(os.environ.get("MILTER_BENCH_RESTART", "1000"))
REPORT: list[str] = []


def say(line: str = "") -> None:
    REPORT.append(line)
    print(line)
    out = os.environ.get("MILTER_BENCH_REPORT")
    if out:
        Path(out).write_text("\n".join(REPORT) + "\n", encoding="utf-8")


def machine_cpu() -> float:
    """Busy CPU seconds of the whole machine so far (``/proc/stat``)."""
    with open("/proc/stat", encoding="ascii") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    idle = f[3] + f[4]
    return (sum(f[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class Phase:
    name: str
    results: list[loadgen.Result]
    wall: float  # until every message had its answer
    drained: float  # until the queue held nothing but the hold queue
    cpu: dict[str, float]  # CPU seconds over ``drained``: machine, and each component

    def latencies(self, what: str) -> list[float]:
        return [getattr(r, what) * 1000 for r in self.results if r.code in (250, 550)]


@pytest.fixture(scope="module")
def bench() -> Iterator[tuple[rig.Rig, rig.MilterProcess]]:
    problem = rig.missing()
    if problem:
        pytest.skip(problem)
    with tempfile.TemporaryDirectory(prefix="mailpolicy-milter-bench-") as d:
        work = Path(d)
        extra = os.environ.get("MILTER_BENCH_ARGS", "").split()
        local = os.environ.get("MILTER_BENCH_LISTEN", "unix") == "unix"
        m = rig.MilterProcess(work, "baseline", BASELINE, *extra, local=local)
        m.start()
        r = rig.Rig(work, {"milter": rig.Route(m.address)})
        r.start()
        try:
            yield r, m
        finally:
            r.stop()
            m.stop()


def cpu(r: rig.Rig, m: rig.MilterProcess) -> dict[str, float]:
    """CPU seconds so far: the machine, Postfix, the sink, the milter, the load generator
    (this process)."""
    return {
        "machine": machine_cpu(),
        "postfix": r.postfix_cpu(),
        "smtp-sink": r.sink_cpu(),
        "milter": m.cpu_seconds(),
        "load generator": time.process_time(),
    }


def run(
    r: rig.Rig,
    m: rig.MilterProcess,
    name: str,
    port: int,
    mails: list[loadgen.Mail],
    rate: float = 0.0,
) -> Phase:
    cpu0, t0 = cpu(r, m), time.perf_counter()
    results = loadgen.send(port, mails, SESSIONS, rate=rate)
    wall = time.perf_counter() - t0
    assert r.settle(300)
    drained = time.perf_counter() - t0
    used = {k: v - cpu0[k] for k, v in cpu(r, m).items()}
    used["other processes"] = used["machine"] - sum(v for k, v in used.items() if k != "machine")
    return Phase(name, results, wall, drained, used)


def ms(v: float) -> str:
    return f"{v:.1f}"


RATES = [float(x) for x in os.environ.get("MILTER_BENCH_RATES", "50,100").split(",") if x]


@pytest.mark.parametrize("rate", [0.0, *RATES], ids=lambda r: f"rate{r:g}" if r else "saturated")
def test_throughput_and_added_latency(
    bench: tuple[rig.Rig, rig.MilterProcess], rate: float
) -> None:
    """The same messages without and with the milter: as fast as ``SESSIONS`` sessions
    go (``saturated``), or offered at ``rate`` messages per second."""
    r, m = bench
    loadgen.send(r.plain, loadgen.workload(40, seed=1, tag=f"warm-plain-{rate}"), SESSIONS)
    loadgen.send(r.port("milter"), loadgen.workload(40, seed=1, tag=f"warm-m-{rate}"), SESSIONS)
    assert r.settle(60)
    plain_mails = loadgen.workload(MESSAGES, seed=16, tag=f"plain-{rate}")
    milter_mails = loadgen.workload(MESSAGES, seed=16, tag=f"milter-{rate}")
    size = sum(x.size for x in plain_mails) / MESSAGES
    phases = [
        run(r, m, "without milter", r.plain, plain_mails, rate),
        run(r, m, "with milter", r.port("milter"), milter_mails, rate),
    ]
    delivered = r.delivered()
    kinds = Counter(x.kind for x in plain_mails)
    where = "a loopback port" if m.socket is None else "a unix socket"
    offered = f"offered {rate:g} msg/s" if rate else "saturated"
    say(
        f"### Milter behind Postfix, {offered} (milter on {where}, {os.cpu_count()} "
        f"cores, {MESSAGES:,} messages a phase, at most {SESSIONS} sessions, mean "
        f"{size / 1024:.0f} KB, largest {max(x.size for x in plain_mails) / 1e6:.2f} MB)"
    )
    say()
    say("Mix: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    say()
    say("| route | answered msg/s | drained msg/s | 250 | 550 | other | delivered |")
    say("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for p in phases:
        codes = Counter(x.code for x in p.results)
        got = sum(len(delivered.get(x.mail.mid, [])) for x in p.results)
        say(
            f"| {p.name} | {MESSAGES / p.wall:.0f} | {MESSAGES / p.drained:.0f} "
            f"| {codes[250]} | {codes[550]} | {MESSAGES - codes[250] - codes[550]} | {got} |"
        )
    say()
    say("| CPU ms/msg | " + " | ".join(p.name for p in phases) + " |")
    say("| --- | ---: | ---: |")
    for part in phases[0].cpu:
        say(
            f"| {part} | "
            + " | ".join(f"{p.cpu[part] / MESSAGES * 1000:.1f}" for p in phases)
            + " |"
        )
    say()
    say("| latency (ms) | p50 | p95 | p99 | mean |")
    say("| --- | ---: | ---: | ---: | ---: |")
    table: dict[tuple[str, str], list[float]] = {}
    for what, label in (("latency", "connect to reply"), ("eod", "end of DATA to reply")):
        for p in phases:
            v = p.latencies(what)
            row = [loadgen.percentile(v, q) for q in (50, 95, 99)] + [statistics.fmean(v)]
            table[(what, p.name)] = row
            say(f"| {label}, {p.name} | " + " | ".join(ms(x) for x in row) + " |")
        a, b = table[(what, "without milter")], table[(what, "with milter")]
        say(f"| {label}, added | " + " | ".join(ms(y - x) for x, y in zip(a, b)) + " |")
        say(f"| {label}, ratio | " + " | ".join(f"{y / x:.2f}x" for x, y in zip(a, b)) + " |")
    say()
    for p in phases:
        bad = [x for x in p.results if x.code not in (250, 550)]
        assert not bad, [(x.mail.mid, x.code, x.reply, x.tempfails[-1:]) for x in bad]
        for x in p.results:
            want_550 = p.name == "with milter" and x.mail.kind in loadgen.BLOCKED
            assert (x.code == 550) == want_550, (x.mail.mid, x.code, x.reply)
            assert len(delivered.get(x.mail.mid, [])) == (x.code == 250)


def frames(mail: loadgen.Mail) -> bytes:
    """The milter frames Postfix sends for one message (header fields, body in 64 KB
    chunks, end of message), packed."""
    data = mail.wire.replace(b"\r\n..", b"\r\n.")
    head, _, body = data.partition(b"\r\n\r\n")
    out = bytearray()
    buf = SimpleBuffer(1 << 20)
    msgs: list[km.Message] = [
        km.EnvelopeFrom(mail.sender.encode()),
        km.EnvelopeRecipient(mail.rcpt.encode()),
    ]
    for line in head.replace(b"\r\n ", b"\n ").replace(b"\r\n\t", b"\n\t").split(b"\r\n"):
        name, _, value = line.partition(b":")
        msgs.append(km.Header(name.decode(), value.lstrip()))
    msgs.append(km.EndOfHeaders())
    msgs += [km.Body(body[i : i + 65535]) for i in range(0, len(body), 65535)]
    msgs.append(km.EndOfMessage(b""))
    for msg in msgs:
        msg.pack(buf)
        out += buf[:].tobytes()
        del buf[:]
    return bytes(out)


def test_where_the_milter_time_goes(bench: tuple[rig.Rig, rig.MilterProcess]) -> None:
    """In-process, on the benchmark's messages: codec, reassembly, parsing, evaluation."""
    del bench
    policy = loader.load_policy(BASELINE)
    mails = loadgen.workload(min(MESSAGES, 400), seed=16, tag="profile")
    t = Counter[str]()
    loop = asyncio.new_event_loop()

    async def read(raw: bytes) -> milter.Envelope:
        """The frames as the server reads them: body chunks without the codec."""
        reader, env = asyncio.StreamReader(), milter.Envelope()
        reader.feed_data(raw)
        reader.feed_eof()
        while not reader.at_eof():
            ident, payload = await milter_wire.frame(reader)
            if ident in (ord("B"), ord("E")):
                env.body += payload
                continue
            msg = milter_wire.command(ident, payload)
            if isinstance(msg, km.Header):
                env.headers.append((msg.name, b" " + bytes(msg.value)))
        return env

    for mail in mails:
        raw = frames(mail)
        t0 = time.perf_counter()
        env = loop.run_until_complete(read(raw))
        t1 = time.perf_counter()
        data = milter.reassemble(env)
        t2 = time.perf_counter()
        spent: list[float] = []

        def timed(message: object, spent: list[float] = spent) -> object:
            s = time.perf_counter()
            try:
                return evaluate(policy, message, trace=False)  # type: ignore[arg-type]
            finally:
                spent.append(time.perf_counter() - s)

        judge_raw(RawMessage("bench", None, data, None), None, DEFAULT, timed, lambda e: e)
        t3 = time.perf_counter()
        t["codec"] += t1 - t0
        t["reassemble"] += t2 - t1
        t["evaluate (with the facts it reads lazily)"] += sum(spent)
        t["parse (MIME, facts read up front)"] += (t3 - t2) - sum(spent)
    loop.close()
    n = len(mails)
    total = sum(t.values())
    say(f"Where the milter's analysis time goes ({n} messages, in-process, one thread):")
    say()
    say("| stage | ms/msg | share |")
    say("| --- | ---: | ---: |")
    for stage, sec in t.most_common():
        say(f"| {stage} | {sec / n * 1000:.2f} | {sec / total:.0%} |")
    say(f"| total | {total / n * 1000:.2f} | |")
    say()
    assert total > 0


def test_restart_under_load(bench: tuple[rig.Rig, rig.MilterProcess]) -> None:
    r, m = bench
    mails = loadgen.workload(RESTART, seed=99, tag="restart")
    done: list[list[loadgen.Result]] = []
    sender = threading.Thread(
        target=lambda: done.append(loadgen.send(r.port("milter"), mails, SESSIONS))
    )
    t0 = time.perf_counter()
    sender.start()
    restarts = 0
    while sender.is_alive() and restarts < 2:
        time.sleep(3)
        assert m.stop() == 0
        time.sleep(0.5)
        m.start()
        restarts += 1
    sender.join(600)
    wall = time.perf_counter() - t0
    assert r.settle(300)
    results = done[0]
    delivered = r.delivered()
    codes = Counter(x.code for x in results)
    lost = [x.mail.mid for x in results if x.code == 250 and not delivered.get(x.mail.mid)]
    dup = [x.mail.mid for x in results if len(delivered.get(x.mail.mid, [])) > 1]
    leaked = [x.mail.mid for x in results if x.code != 250 and delivered.get(x.mail.mid)]
    retried = sum(1 for x in results if x.tempfails)
    say(
        f"Restart under load: {RESTART:,} messages, {SESSIONS} sessions, {restarts} restarts "
        f"(SIGTERM, start) in {wall:.1f} s: 250 {codes[250]}, 550 {codes[550]}, other "
        f"{RESTART - codes[250] - codes[550]}; retried after 4xx {retried}; lost {len(lost)}, "
        f"duplicated {len(dup)}, delivered despite a refusal {len(leaked)}."
    )
    say()
    assert not lost and not dup and not leaked
    assert codes[250] + codes[550] == RESTART
