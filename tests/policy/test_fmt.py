"""The formatter: golden files, comments, layout, the `fmt` verb, and properties.

Golden files: ``golden/fmt/NAME.policy`` and its ``NAME.policy.formatted``; run with
``MAILPOLICY_UPDATE_GOLDEN=1`` to rewrite the ``.formatted`` files, then read the diff.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import policies

from mailpolicy.policy import printer
from mailpolicy.policy.diagnostics import PolicyError
from mailpolicy.policy.fmt import WIDTH, format_policy, format_source, scan_comments
from mailpolicy.policy.parse import parse
from mailpolicy.simulator.cli.fmt import fmt_paths

GOLDEN = Path(__file__).parent / "golden" / "fmt"
UPDATE = os.environ.get("MAILPOLICY_UPDATE_GOLDEN") == "1"
CASES = sorted(p.name for p in GOLDEN.glob("*.policy"))


def fmt(text: str) -> str:
    return format_source(text, "t.policy")


# ---- golden files -------------------------------------------------------------------------
@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    source = (GOLDEN / name).read_bytes().decode("utf-8")
    got = format_source(source, name)
    want_path = GOLDEN / (name + ".formatted")
    if UPDATE:
        want_path.write_bytes(got.encode("utf-8"))
    assert want_path.exists(), f"run with MAILPOLICY_UPDATE_GOLDEN=1 to create {want_path.name}"
    assert got == want_path.read_bytes().decode("utf-8")
    assert format_source(got, name) == got  # idempotent
    assert parse(got, name) == parse(source, name)  # same meaning
    assert _comments(got) == _comments(source)  # every comment kept, in order


def test_golden_cases_cover_the_list() -> None:
    assert {
        "comments.policy",
        "shorthands.policy",
        "long_lists.policy",
        "blank_lines.policy",
        "weird_spacing.policy",
        "multiline_rules.policy",
        "every_construct.policy",
        "empty.policy",
        "comments_only.policy",
        "crlf.policy",
    } <= set(CASES)


def _comments(text: str) -> list[str]:
    return [c.text for c in scan_comments(text)]


# ---- layout rules ---------------------------------------------------------------------------
def test_shorthands_are_rewritten() -> None:
    assert fmt("block *.pif unless sender trusted\nlist trusted = []") == (
        'block attachment name matches "*.pif" unless sender in trusted\nlist trusted = []\n'
    )
    assert fmt('block attachment "*.pif"') == 'block attachment name matches "*.pif"\n'


def test_one_statement_per_line_and_final_newline() -> None:
    assert fmt('policy "p" default block') == 'policy "p"\ndefault block\n'
    assert fmt("default block\n\n\n\n") == "default block\n"


def test_empty_and_comment_only_files() -> None:
    assert fmt("") == ""
    assert fmt("\n\n  \n") == ""
    assert fmt("# a\n\n\n# b") == "# a\n\n# b\n"


def test_blank_lines_collapse_to_one_and_none_at_the_start() -> None:
    assert fmt("\n\ndefault block\n\n\n\nblock *.exe\nblock *.pif\n") == (
        'default block\n\nblock attachment name matches "*.exe"\n'
        'block attachment name matches "*.pif"\n'
    )


def test_trailing_comment_two_spaces() -> None:
    assert fmt("default block#why\n") == "default block  #why\n"
    assert fmt("default block   # why   \n") == "default block  # why\n"


def test_comment_inside_a_rule_moves_above_it() -> None:
    src = 'block attachment # one\n  extension in ["exe"] # two\n'
    assert fmt(src) == '# one\nblock attachment extension in ["exe"]  # two\n'


def test_hash_inside_strings_is_not_a_comment() -> None:
    src = 'block subject contains "#1 \\" # x"  # real\n'
    assert fmt(src) == src
    assert _comments(src) == ["# real"]


def test_long_list_wraps_one_entry_per_line() -> None:
    items = [f"entry{i:02}" for i in range(12)]
    src = "list x = [" + ", ".join(f'"{i}"' for i in items) + "]\n"
    assert len(src) > WIDTH
    assert fmt(src) == "list x = [\n" + "".join(f'    "{i}",\n' for i in items) + "]\n"


def test_list_that_fits_stays_on_one_line_unless_it_ends_with_a_comma() -> None:
    assert fmt('list x = [\n"a",\n"b"\n]') == 'list x = ["a", "b"]\n'
    assert fmt('list x = ["a", "b",]') == 'list x = [\n    "a",\n    "b",\n]\n'


def test_line_of_exactly_width_is_not_wrapped() -> None:
    value = "a" * (WIDTH - len('list x = [""]'))
    src = f'list x = ["{value}"]\n'
    assert len(src) == WIDTH + 1 and fmt(src) == src


def test_long_rule_breaks_before_modifiers_and_operators() -> None:
    cond = " and ".join(f'subject contains "{c * 20}"' for c in "abc")
    src = f'block {cond} unless sender in t as "id" reason "why"\nlist t = []\n'
    assert fmt(src) == (
        f'block subject contains "{"a" * 20}"\n'
        f'    and subject contains "{"b" * 20}"\n'
        f'    and subject contains "{"c" * 20}"\n'
        "    unless sender in t\n"
        '    as "id"\n'
        '    reason "why"\n'
        "list t = []\n"
    )


def test_does_not_format_a_file_that_does_not_parse() -> None:
    with pytest.raises(PolicyError) as exc:
        fmt('block attachment extension in ["exe"\n')
    assert exc.value.diagnostics[0].code == "E100"


def test_format_policy_of_an_ast_is_stable_under_format_source() -> None:
    tree = parse('list x = ["a"]\npolicy "p"\nblock sender in x\ndefault block')
    text = format_policy(tree)
    assert text == 'list x = ["a"]\n\npolicy "p"\n\nblock sender in x\n\ndefault block\n'
    assert format_source(text) == text


# ---- the fmt verb ------------------------------------------------------------------------
UGLY = "block   *.pif\n"
PRETTY = 'block attachment name matches "*.pif"\n'


def run(
    *paths: str | Path, check: bool = False, write: bool = False, stdin: str = ""
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = fmt_paths(
        [str(p) for p in paths],
        check=check,
        write=write,
        out=out,
        err=err,
        stdin=io.StringIO(stdin),
    )
    return rc, out.getvalue(), err.getvalue()


def test_default_prints_the_formatted_text(tmp_path: Path) -> None:
    f = tmp_path / "a.policy"
    f.write_text(UGLY)
    assert run(f) == (0, PRETTY, "")
    assert f.read_text() == UGLY


def test_stdin(tmp_path: Path) -> None:
    assert run("-", stdin=UGLY) == (0, PRETTY, "")


def test_check(tmp_path: Path) -> None:
    ugly, pretty = tmp_path / "ugly.policy", tmp_path / "pretty.policy"
    ugly.write_text(UGLY)
    pretty.write_text(PRETTY)
    assert run(pretty, check=True) == (0, "", "")
    assert run(ugly, pretty, check=True) == (1, "", f"would reformat {ugly}\n")
    assert ugly.read_text() == UGLY


def test_write_rewrites_only_what_changes(tmp_path: Path) -> None:
    ugly, pretty = tmp_path / "ugly.policy", tmp_path / "pretty.policy"
    ugly.write_text(UGLY)
    pretty.write_text(PRETTY)
    os.chmod(ugly, 0o640)
    past = 1_000_000_000
    os.utime(pretty, (past, past))
    assert run(ugly, pretty, write=True) == (0, "", f"reformatted {ugly}\n")
    assert ugly.read_text() == PRETTY
    assert os.stat(ugly).st_mode & 0o777 == 0o640
    assert os.stat(pretty).st_mtime == past  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pretty.policy", "ugly.policy"]
    assert run(ugly, pretty, write=True) == (0, "", "")
    assert run(ugly, pretty, check=True) == (0, "", "")


def test_directory_means_its_policy_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.policy").write_text(UGLY)
    (tmp_path / "a.policy").write_text(PRETTY)
    (tmp_path / "notes.txt").write_text("not a policy")
    assert run(tmp_path, check=True) == (1, "", f"would reformat {tmp_path / 'sub' / 'b.policy'}\n")


def test_unreadable_file_is_exit_2(tmp_path: Path) -> None:
    rc, out, err = run(tmp_path / "missing.policy")
    assert (rc, out) == (2, "")
    assert err.startswith("mailpolicy fmt: cannot read ") and err.count("\n") == 1


def test_policy_that_does_not_parse_is_exit_1_with_diagnostics(tmp_path: Path) -> None:
    bad, good = tmp_path / "bad.policy", tmp_path / "good.policy"
    bad.write_text('block attachment extension in ["exe"\n')
    good.write_text(UGLY)
    rc, _, err = run(bad, good, write=True)
    assert rc == 1
    assert re.match(rf"{re.escape(str(bad))}:\d+:\d+: error: .*\[E100\]", err)
    assert f"reformatted {good}" in err
    assert bad.read_text() == 'block attachment extension in ["exe"\n'


def test_binary_file_is_a_diagnostic_not_a_traceback(tmp_path: Path) -> None:
    f = tmp_path / "bin.policy"
    f.write_bytes(b"\x00\x01\x02")
    rc, _, err = run(f)
    assert rc == 1 and "[E111]" in err


def test_usage_errors() -> None:
    assert run("x", check=True, write=True)[0] == 2
    assert run()[0] == 2
    assert run("-", write=True)[0] == 2


# ---- properties --------------------------------------------------------------------------
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[<>!=]=|[()\[\],=]|[^\s()\[\],="]+')
_SEPARATORS = st.sampled_from(
    [" ", "  ", "\t", "\n", "\n\n\n", " \n  ", "  # note\n", "\n# own line\n", ' #"x" [ ( # \n']
)


@settings(max_examples=100, deadline=None)
@given(policies(canonical=False))
def test_printed_policy_parses_back(policy) -> None:  # type: ignore[no-untyped-def]
    text = "\n".join(printer.statement(s) for s in policy.statements)
    assert parse(text) == policy
    formatted = format_source(text)
    assert parse(formatted) == policy
    assert format_source(formatted) == formatted


@settings(max_examples=100, deadline=None)
@given(policies(canonical=False), st.data())
def test_any_layout_formats_to_the_same_meaning(policy, data) -> None:  # type: ignore[no-untyped-def]
    tokens = _TOKEN.findall("\n".join(printer.statement(s) for s in policy.statements))
    seps = data.draw(st.lists(_SEPARATORS, min_size=len(tokens), max_size=len(tokens)))
    text = "".join(t + s for t, s in zip(tokens, seps))
    formatted = format_source(text)
    assert parse(formatted) == policy
    assert format_source(formatted) == formatted
    assert _comments(formatted) == _comments(text)
    assert all(len(line) <= WIDTH or not _breakable(line) for line in formatted.split("\n"))


def _breakable(line: str) -> bool:
    """Whether the formatter could have done better with a line over ``WIDTH``: it only
    leaves such a line when it is one entry, one clause or one top-level operand."""
    return line.startswith("list ") and line.endswith("]") and '", "' in line


@pytest.mark.parametrize(
    ("source", "want"),
    [
        ("block attachment size > 25 MB\n", "block attachment size > 25MB\n"),
        ("quarantine size >= 1.5\tGiB  # big\n", "quarantine size >= 1.5GiB  # big\n"),
        (
            "block attachment contains (size > 2 kb)\n",
            "block attachment archive contains size > 2kb\n",
        ),
    ],
)
def test_a_spaced_size_is_written_without_the_space(source: str, want: str) -> None:
    got = format_source(source, "t.policy")
    assert got == want
    assert format_source(got, "t.policy") == got
