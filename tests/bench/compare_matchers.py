"""Which multi-pattern engine the rule index uses, by measurement (BENCHMARKS.md, table 6).

python3 tests/bench/compare_matchers.py

1. Needles (``contains``): N needles searched in a subject line and in a 4 KB body, all
   matches reported (overlapping), with pyahocorasick, ahocorasick-rs, one ``in`` test per
   needle (what the matcher did before), and a Python ``re`` alternation.
2. Globs with a wildcard in the middle (``*invK*.exe``): N globs against one name, "which
   globs match", with a Python ``re`` alternation (one pattern to say "any", then each glob
   to say which), google-re2's ``Set``, Hyperscan's block database, and the index's own
   prefilter (``index_text.GlobIndex``: an Aho-Corasick search for each glob's longest
   literal, then only those globs verified).

A library that is not installed is reported as such. Times are per searched text.
"""

from __future__ import annotations

import importlib
import re
import timeit
from collections.abc import Callable

from mailpolicy.policy import globs

SUBJECT = "Special offer 4711 today: wire 20 dollars to the account"
BODY = ("Hello, the minutes are attached. Lorem ipsum dolor sit amet. " * 70)[:4096]


def _time(fn: Callable[[], object], number: int = 200) -> float:
    best = min(timeit.repeat(fn, number=number, repeat=5))
    return best / number * 1e6


def needles(n: int) -> None:
    pats = [f"offer {k} " for k in range(n // 2)] + [f"wire {k} dollars" for k in range(n // 2)]
    rows: list[tuple[str, float, float]] = []
    try:
        import ahocorasick  # pyahocorasick

        auto = ahocorasick.Automaton()
        for i, p in enumerate(pats):
            auto.add_word(p, i)
        auto.make_automaton()
        rows.append(
            (
                "pyahocorasick",
                _time(lambda: {v for _, v in auto.iter(SUBJECT.casefold())}),
                _time(lambda: {v for _, v in auto.iter(BODY.casefold())}),
            )
        )
    except ImportError:
        print("pyahocorasick: not installed")
    try:
        import ahocorasick_rs

        rs = ahocorasick_rs.AhoCorasick(pats, matchkind=ahocorasick_rs.MatchKind.Standard)
        rows.append(
            (
                "ahocorasick-rs",
                _time(
                    lambda: {i for i, _, _ in rs.find_matches_as_indexes(SUBJECT.casefold(), True)}
                ),
                _time(lambda: {i for i, _, _ in rs.find_matches_as_indexes(BODY.casefold(), True)}),
            )
        )
    except ImportError:
        print("ahocorasick-rs: not installed")
    rows.append(
        (
            "one `in` per needle",
            _time(lambda: [p for p in pats if p in SUBJECT.casefold()], 20),
            _time(lambda: [p for p in pats if p in BODY.casefold()], 20),
        )
    )
    alt = re.compile("(?=(" + "|".join(map(re.escape, pats)) + "))")
    rows.append(
        (
            "Python `re` alternation",
            _time(lambda: set(alt.findall(SUBJECT.casefold())), 20),
            _time(lambda: set(alt.findall(BODY.casefold())), 5),
        )
    )
    for name, subject, body in rows:
        print(f"| {n:,} needles | {name} | {subject:,.1f} | {body:,.1f} |")


def glob_sets(n: int) -> None:
    from mailpolicy.policy.index_text import GlobIndex

    pats = [f"*inv{k}*.exe" for k in range(n)]
    names = ["scan-inv4711-2026.exe", "report-17.pdf", "invoice.exe"]
    rows: list[tuple[str, float]] = []
    whole = re.compile(
        "|".join(f"(?:{globs.translate(p)})\\Z" for p in pats), re.IGNORECASE | re.DOTALL
    )
    each = [globs.compile_glob(p) for p in pats]

    def alternation() -> list[list[int]]:
        return [
            [i for i, rx in enumerate(each) if rx.match(t)] if whole.match(t) else [] for t in names
        ]

    rows.append(("Python `re` alternation + each glob", _time(alternation, 5)))
    try:
        re2 = importlib.import_module("re2")
        s = re2.Set.SearchSet(re2.Options())  # anchored by the pattern itself
        for p in pats:
            s.Add("(?is)^" + globs.translate(p) + "$")
        s.Compile()
        rows.append(("google-re2 `Set`", _time(lambda: [s.Match(t) for t in names])))
    except (ImportError, AttributeError) as e:
        print(f"google-re2: {e}")
    try:
        hs = importlib.import_module("hyperscan")
        db = hs.Database(mode=hs.HS_MODE_BLOCK)
        exprs = [("^" + globs.translate(p) + "$").encode() for p in pats]
        flags = [hs.HS_FLAG_CASELESS | hs.HS_FLAG_DOTALL | hs.HS_FLAG_SINGLEMATCH] * len(exprs)
        db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs), flags=flags)
        found: list[int] = []

        def on_match(i: int, start: int, end: int, flags: int, ctx: object) -> None:
            found.append(i)

        def scan() -> None:
            for t in names:
                db.scan(t.encode(), match_event_handler=on_match)

        rows.append(("Hyperscan block database", _time(scan)))
    except (ImportError, AttributeError) as e:
        print(f"hyperscan: {e}")
    gi = GlobIndex(pats)
    rows.append(
        ("AC prefilter on literals + verify", _time(lambda: [gi.matching(t) for t in names]))
    )
    for name, us in rows:
        print(f"| {n:,} globs | {name} | {us / len(names):,.2f} |")


if __name__ == "__main__":
    print("| needles | engine | µs per subject | µs per 4 KB body |\n| --- | --- | ---: | ---: |")
    for n in (10, 1000):
        needles(n)
    print("\n| globs | engine | µs per name |\n| --- | --- | ---: |")
    for n in (10, 1000):
        glob_sets(n)
