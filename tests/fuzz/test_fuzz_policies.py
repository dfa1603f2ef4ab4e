"""Fuzzed policies through every verb: exit 0, 1 or 2, a message, never a traceback.

Policies come from the grammar-shaped generator of the policy tests (``strategies``),
printed canonically, then damaged: tokens swapped for hostile ones (a 309-digit number,
deep parentheses, an ``unless`` Postfix cannot express, list files that are a FIFO,
``/dev/zero`` or a ``/proc`` entry), bytes flipped, lines cut. Each text goes through
``check``, ``fmt`` (``--check`` too), ``explain``, ``simulate``, and ``export`` to every
target, strict and approximate, and its JSON form back through ``check``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fuzzsupport import FAST, LONG, run_verb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import policies

from mailpolicy.policy.export import TARGETS
from mailpolicy.policy.fmt import format_policy

ROOT = Path(__file__).resolve().parents[2]
MESSAGE = ROOT / "corpus" / "samples" / "mbox" / "malicious" / "sircam.mbox"

#: Tokens that broke a verb once, or that a hostile policy author would try.
HOSTILE = [
    "9" * 309,
    "99999999999999999999TB",
    "1." + "9" * 400 + "GiB",
    "18446744073709551616",
    "(" * 300,
    ")" * 50,
    '"unterminated',
    '"' + "x" * 5000 + '"',
    "\\",
    "\x00",
    "\ufeff",
    "\u202e",
    "\r",
    '{"format": "mailpolicy-ir"}',
    'unless attachment "*.exe"',
    'block attachment "*.pif" unless attachment "*.exe"',
    "unless not sender in trusted",
    'list special = file "fifo"',
    'list special = file "/dev/zero"',
    'list special = file "/proc/self/status"',
    'list special = file "loop"',
    'list special = file "."',
    "size > 0",
    "attachments > " + "1" * 30,
    'header "X-' + "a" * 300 + '" contains "x"',
    'name matches "[[[[[[["',
    'name matches "{a,{b,{c,{d,{e,{f,{g,{h}}}}}}}}"',
    'name matches "' + "*?" * 200 + '"',
]


@st.composite
def policy_bytes(draw: st.DrawFn) -> bytes:
    """A generated policy's canonical text, damaged by a few edits."""
    text = format_policy(draw(policies(canonical=False)))
    words = text.split(" ")
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(words)))
        op = draw(st.sampled_from(["hostile", "delete", "duplicate", "line"]))
        if op == "hostile":
            words.insert(i, draw(st.sampled_from(HOSTILE)))
        elif op == "delete" and i < len(words):
            del words[i]
        elif op == "duplicate" and i < len(words):
            words.insert(i, words[i] * draw(st.integers(2, 50)))
        else:
            words.insert(i, "\n" + draw(st.sampled_from(HOSTILE)) + "\n")
    data = bytearray(" ".join(words).encode("utf-8"))
    for _ in range(draw(st.integers(0, 2))):  # a flipped byte or two
        if data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def _specials(folder: Path) -> None:
    """The list files the hostile tokens name: a FIFO and a symbolic link loop."""
    if not (folder / "fifo").exists():
        os.mkfifo(folder / "fifo")
    if not (folder / "loop").is_symlink():
        (folder / "loop").symlink_to(folder / "loop")


def every_verb(data: bytes, folder: Path) -> None:
    _specials(folder)
    path = folder / "fuzz.policy"
    path.write_bytes(data)
    p = str(path)
    code, _, _ = run_verb(["check", p])
    run_verb(["check", "--json", p])
    run_verb(["fmt", p])
    run_verb(["fmt", "--check", p])
    run_verb(["explain", p, str(MESSAGE)])
    run_verb(["simulate", p, str(MESSAGE), "--workers", "1"])
    for target in TARGETS:
        run_verb(["export", p, "--target", target])
        if target != "json":
            run_verb(["export", p, "--target", target, "--approximate"])
    if code == 0:  # the JSON form of a policy that checks is a policy too
        _, doc, _ = run_verb(["export", p, "--target", "json"])
        (folder / "fuzz.json").write_text(doc, encoding="utf-8")
        assert run_verb(["check", str(folder / "fuzz.json")])[0] == 0


_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}


@settings(max_examples=FAST, **_COMMON)  # type: ignore[arg-type]
@given(data=policy_bytes())
def test_every_verb_on_fuzzed_policies(data: bytes, fuzz_dir: Path) -> None:
    every_verb(data, fuzz_dir)


@pytest.mark.fuzz
@settings(max_examples=LONG, **_COMMON)  # type: ignore[arg-type]
@given(data=policy_bytes())
def test_every_verb_on_fuzzed_policies_long(data: bytes, fuzz_dir: Path) -> None:
    every_verb(data, fuzz_dir)


@pytest.mark.parametrize("token", HOSTILE)
def test_every_verb_on_each_hostile_token(token: str, fuzz_dir: Path) -> None:
    """Each hostile token in a rule, and alone, through every verb."""
    every_verb(f"block attachment size > {token}\n".encode(), fuzz_dir)
    every_verb(token.encode("utf-8", "surrogatepass"), fuzz_dir)
