"""Recovery after syntax errors: one run of ``check`` shows every mistake it can.

``parse.parse_partial`` keeps the statements that parsed and leaves out each statement
holding a syntax error; ``loader.check_text`` then checks and lints what parsed, without
the errors that only the missing statements would cause (an unknown list whose definition
did not parse, an unused list whose user did not parse, an empty policy).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import policies

from mailpolicy.policy import ast, loader
from mailpolicy.policy import parse as parse_module
from mailpolicy.policy.fmt import format_policy
from mailpolicy.policy.parse import MAX_ERRORS, parse, parse_partial
from mailpolicy.simulator.cli import main


def found(text: str) -> list[tuple[int, str]]:
    return [(d.span.line, d.code) for d in loader.check_text(text, "t.policy").diagnostics]


def test_semantic_errors_after_a_syntax_error_are_reported() -> None:
    text = (
        'list executable = ["exe", ".pif"]\n'
        'blok attachment "*.scr"\n'
        "block attachment type executabel\n"
        "block attachment extension in executable\n"
        "allow sender in trustd\n"
    )
    assert found(text) == [(1, "E109"), (2, "E100"), (3, "E106"), (5, "E101")]


def test_statements_on_both_sides_of_an_error_are_kept() -> None:
    text = (
        'policy "p"\nlist x = ["a"]\nblock attachment (name in x\nblock sender in x\nlist y = [\n'
    )
    partial = parse_partial(text, "t.policy")
    kinds = [type(s).__name__ for s in partial.policy.statements]
    assert kinds == ["PolicyName", "ListDef", "Rule"]
    assert [(d.span.line, d.code) for d in partial.errors] == [(4, "E100"), (5, "E100")]
    assert partial.skipped == ("block attachment (name in x", "list y = [\n")


def test_what_only_a_missing_statement_causes_is_not_reported() -> None:
    # `trusted` is defined by a statement that did not parse; `x` is used by one
    text = 'list trusted = [\nlist x = ["exe"]\nblock sender in trusted\nblok extension in x\n'
    assert found(text) == [(1, "E100"), (4, "E100")]  # the list left open, the misspelling
    assert found("blok\nquarantin *.exe\n") == [(1, "E100"), (2, "E100")]  # no E110


def test_an_echo_of_an_earlier_mistake_is_not_a_second_error() -> None:
    # lark reads `block` as the list name `allow sender in` lacks; the rule after is fine
    text = 'list x = ["exe"]\nallow sender in\nblock attachment extension in x\n'
    assert found(text) == [(2, "E100")]
    kinds = [type(s).__name__ for s in parse_partial(text).policy.statements]
    assert kinds == ["ListDef", "Rule"]


def test_build_errors_of_every_statement_are_reported() -> None:
    text = 'block *.exe as "a" as "b"\nblok\nblock *.pif as "c" as "d"\nblock size > 99999999TB\n'
    assert found(text) == [(1, "E108"), (2, "E100"), (3, "E108"), (4, "E109")]


def test_at_most_max_errors_and_each_statement_parsed_a_few_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    whole = parse_module._parse_whole

    def count(text: str, path: str, errors: Any) -> Any:
        calls.append(len(text))
        return whole(text, path, errors)

    monkeypatch.setattr(parse_module, "_parse_whole", count)
    text = "".join(f'block attachment "a{i}.exe"\nblok {i}\n' for i in range(200))
    partial = parse_partial(text)
    assert len(partial.errors) == MAX_ERRORS
    assert len(calls) <= 2 * MAX_ERRORS + 1
    assert len(partial.policy.statements) == MAX_ERRORS


def test_parse_still_raises_with_every_error() -> None:
    with pytest.raises(Exception) as info:
        parse('blok\nblock *.exe as "a" as "b"\n')
    assert [d.code for d in info.value.diagnostics] == ["E100", "E108"]  # type: ignore[attr-defined]


def test_the_check_verb_reports_everything_in_one_run(tmp_path: Path) -> None:
    path = tmp_path / "p.policy"
    path.write_text(
        'blok attachment "*.exe"\nblock attachment size > 10\nblock sender in nope\n',
        encoding="utf-8",
    )
    out, err = io.StringIO(), io.StringIO()
    assert main(["check", str(path)], out, err) == 1
    assert "[E100]" in err.getvalue() and "[E101]" in err.getvalue()
    assert "[W208]" in err.getvalue()
    out = io.StringIO()
    assert main(["check", "--json", str(path)], out, io.StringIO()) == 1
    (report,) = json.loads(out.getvalue())
    assert [d["code"] for d in report["diagnostics"]] == ["E100", "W208", "E101"]
    assert report["ok"] is False


BAD = [
    'blok attachment "*.exe"',
    'quarantin sender in ["a@example.com"]',
    'block attachment (extension in ["x"]',
    "allow sender in",
    'list = ["a"]',
    "block attachment size > 10 XB",
]


@settings(max_examples=40, deadline=None)
@given(policies(canonical=False), st.data())
def test_good_statements_survive_bad_ones_between_them(policy: ast.Policy, data: Any) -> None:
    texts = [format_policy(ast.Policy(statements=(s,))).strip("\n") for s in policy.statements]
    out: list[str] = []
    for text in texts:
        if data.draw(st.booleans()):
            out.append(data.draw(st.sampled_from(BAD)))
        out.append(text)
    if data.draw(st.booleans()):
        out.append(data.draw(st.sampled_from(BAD)))
    partial = parse_partial("\n".join(out) + "\n")
    assert partial.policy.statements == policy.statements
    assert len(partial.errors) == sum(1 for line in out if line in BAD)
    assert all(d.code == "E100" for d in partial.errors)
