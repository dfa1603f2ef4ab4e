"""Turn a pytest-benchmark JSON file into the BENCHMARKS.md tables (ratios within one run).

python3 tests/bench/table.py bench.json
"""

from __future__ import annotations

import json
import sys


def main(path: str) -> None:
    doc = json.load(open(path, encoding="utf-8"))
    by = {b["name"]: b for b in doc["benchmarks"]}
    mean = {n: b["stats"]["mean"] for n, b in by.items()}
    cpu = doc["machine_info"].get("cpu", {})
    print(
        f"Run {doc['datetime'][:16]} UTC on {cpu.get('brand_raw', '?')}, "
        f"{cpu.get('count', '?')} cores, Python {doc['machine_info']['python_version']}.\n"
    )

    if "test_mixed_compiled[10]" in mean:
        mixed(mean, by)
    if "test_compiled[10]" not in mean:
        return  # a run of the mixed benchmarks alone (-k mixed)
    print("### 1. Matcher cost per message (50 messages a round)\n")
    print("| rules | compiled (µs/message) | reference (µs/message) | compiled vs 10 rules |")
    print("| ---: | ---: | ---: | ---: |")
    base = mean["test_compiled[10]"]
    for n in (10, 100, 1000, 10000):
        c, r = mean[f"test_compiled[{n}]"], mean[f"test_reference[{n}]"]
        print(f"| {n:,} | {c / 50 * 1e6:.1f} | {r / 50 * 1e6:,.0f} | {c / base:.2f}x |")

    print(
        "\n### 2. Replay of a generated 3,000-message mbox "
        f"({by['test_email_parser_only']['extra_info'].get('mb', '?')} MB)\n"
    )
    print("| what | seconds (mean of 3) | messages/s | MB/s | vs email parser |")
    print("| --- | ---: | ---: | ---: | ---: |")
    mb = by["test_email_parser_only"]["extra_info"].get("mb", 0)
    ref = mean["test_email_parser_only"]
    rows = [
        ("Python `email` parser, parse only", "test_email_parser_only"),
        ("Pigeonhole `sieve-filter`, names-only script", "test_sieve_filter"),
        ("`mailpolicy simulate`, names-only policy", "test_simulate[names-only]"),
        ("`mailpolicy simulate`, 10 rules", "test_simulate[10]"),
        ("`mailpolicy simulate`, 2,000 rules", "test_simulate[2000]"),
        (
            "`mailpolicy simulate`, shipped baseline (true types, archives)",
            "test_simulate[baseline]",
        ),
    ]
    for label, name in rows:
        s = mean[name]
        print(f"| {label} | {s:.2f} | {3000 / s:,.0f} | {mb / s:.0f} | {s / ref:.2f} |")

    print(
        f"\n2,000 rules against 10 rules, end to end: "
        f"{mean['test_simulate[2000]'] / mean['test_simulate[10]']:.2f}x in process; "
        f"{mean['test_simulate_command[2000]'] / mean['test_simulate_command[10]']:.2f}x as a "
        f"command ({mean['test_simulate_command[10]']:.2f} s against "
        f"{mean['test_simulate_command[2000]']:.2f} s, interpreter start included)."
    )
    print("\n### 3. Peak memory of `simulate` (baseline policy, default workers)\n")
    print("| mbox | size | peak RSS of the largest process |")
    print("| --- | ---: | ---: |")
    for n in ("test_peak_memory[1]", "test_peak_memory[10]"):
        e = by[n]["extra_info"]
        print(
            f"| {'x10' if '10' in n else 'x1'} | {e['mbox_mb']:,.0f} MB | {e['peak_rss_mb']:.0f} MB |"
        )

    print("\n### 4. Attachment extraction, bundled corpus (112 messages)\n")
    print("| what | ms per corpus | vs email parser |")
    print("| --- | ---: | ---: |")
    eref = mean["test_email_parser"]
    for label, name in [
        ("Python `email` parser + `get_filename()`", "test_email_parser"),
        ("`parse_message`, every name and trick", "test_names"),
        ("`parse_message`, every fact (type, sha256, archives)", "test_all_facts"),
    ]:
        print(f"| {label} | {mean[name] * 1e3:.1f} | {mean[name] / eref:.2f} |")


def mixed(mean: dict[str, float], by: dict[str, dict]) -> None:  # type: ignore[type-arg]
    """Benchmark 1a and 2a: the mixed workload (tests/bench/workload.py)."""
    print("### 1a. `evaluate()` per message, mixed rules, fresh messages (100 a round)\n")
    print(
        "| rules | compiled: mean | median | min | reference: mean | compiled vs 10 rules (mean) |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    base = mean["test_mixed_compiled[10]"]
    for n in (10, 100, 1000, 10000):
        st = by[f"test_mixed_compiled[{n}]"]["stats"]
        ref = mean.get(f"test_mixed_reference[{n}]")
        shown = f"{ref / 100 * 1e6:,.0f} µs" if ref else "-"
        print(
            f"| {by[f'test_mixed_compiled[{n}]']['extra_info']['rules']:,} "
            f"| {st['mean'] / 100 * 1e6:,.1f} µs | {st['median'] / 100 * 1e6:,.1f} µs "
            f"| {st['min'] / 100 * 1e6:,.1f} µs | {shown} | {st['mean'] / base:.2f}x |"
        )
    if "test_simulate_mixed[10-1-worker]" in mean:
        print("\n### 2a. `simulate` of the 3,000-message mbox, mixed rules (mean of 3)\n")
        print("| workers | 10 rules | 2,000 rules | 2,000 vs 10 |")
        print("| --- | ---: | ---: | ---: |")
        for w, label in (("1-worker", "one (`--workers 1`)"), ("all-cores", "all cores")):
            a, b = mean[f"test_simulate_mixed[10-{w}]"], mean[f"test_simulate_mixed[2000-{w}]"]
            print(f"| {label} | {a:.2f} s | {b:.2f} s | {b / a:.2f}x |")
    print()


if __name__ == "__main__":
    main(sys.argv[1])
