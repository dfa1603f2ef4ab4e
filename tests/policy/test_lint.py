"""Lint: every warning code, the shadowing implication test, the broad-glob heuristics."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailpolicy.policy.check import check
from mailpolicy.policy.checked import CheckedPolicy, assign_ids
from mailpolicy.policy.diagnostics import CODES, Diagnostic
from mailpolicy.policy.lint import BENIGN_NAMES, LINTS, lint
from mailpolicy.policy.loader import load_text
from mailpolicy.policy.parse import parse


def warnings(text: str, base_dir: Path | None = None) -> list[Diagnostic]:
    return [
        d
        for d in check(parse(text, "t.policy"), base_dir=base_dir).diagnostics
        if d.severity == "warning"
    ]


def codes(text: str, ignore: tuple[str, ...] = ()) -> list[tuple[str, int]]:
    """(code, line) of every warning, but those in ``ignore``."""
    return [(d.code, d.span.line) for d in warnings(text) if d.code not in ignore]


#: W209 (a forgeable sender excepted from an executables rule): beside the point of the
#: shadowing and use tests, whose policies are minimal
TRUST = ("W209",)


# ---- the registry ---------------------------------------------------------------------------
def test_lints_cover_every_warning_code_in_order() -> None:
    assert [code for code, _ in LINTS] == sorted(c for c in CODES if c.startswith("W"))
    for code, rule in LINTS:
        assert rule.__name__.replace("_", "-") == CODES[code]
        assert rule.__doc__ and "Example::" in rule.__doc__


def test_lint_is_a_plain_function_of_a_checked_policy() -> None:
    tree = parse('discard attachment "*.scr"')
    policy = CheckedPolicy(ast=tree, rules=assign_ids(tree.rules), lists={})
    assert [d.code for d in lint(policy)] == ["W203"]


def test_warnings_are_reported_next_to_errors() -> None:
    diags = check(parse("block sender in nope\ndiscard *.exe")).diagnostics
    assert [(d.code, d.severity) for d in diags] == [("E101", "error"), ("W203", "warning")]


def test_a_clean_policy_has_no_warnings() -> None:
    text = (
        'authserv-id "mx.example"\n'
        'list executable = ["exe", "pif", "scr"]\nlist trusted = ["*@partner.example"]\n'
        "allow sender in trusted authenticated and attachment extension in executable\n"
        'quarantine attachment name matches "*.{doc,xls,zip,jpg}.{bat,com,lnk,pif}"\n'
        "quarantine attachment double extension in executable\n"
        "block attachment extension in executable\n"
        'block attachment "*.gz" and attachment size > 10MB\n'
    )
    assert codes(text) == []


# ---- W201 shadowed-rule ---------------------------------------------------------------------
SHADOWED = [
    "block *.pif\nblock *.pif",
    'block attachment extension in ["exe", "pif"]\nquarantine attachment extension "pif"',
    'block attachment extension in ["exe", "pif"]\nquarantine attachment "*.pif"',
    'block attachment extension in ["EXE", "pif"]\nquarantine attachment extension in ["exe"]',
    'block attachment "*.{exe,pif}"\nquarantine attachment extension in ["exe"]',
    'block attachment "*.exe"\nblock attachment "setup.exe"',
    'block attachment name in ["*.exe", "*.pif"]\nblock attachment name matches "run.pif"',
    'block attachment "*.exe" or sender in ["a"]\nblock attachment "*.exe"',
    'block sender in ["*@x.com"]\nblock sender in ["*@x.com"] and attachment "*.exe"',
    'block sender in ["*@x.com"]\nblock sender matches "bob@x.com"',
    'block attachment extension in ["exe"]\nblock attachment double extension in ["exe"]',
    "block size > 10MB\nblock size > 20MB",
    "block attachments >= 3\nblock attachments == 5",
    # `attachment (A and B)` is one attachment with both: narrower than two with one each
    (
        'block attachment extension in ["exe"] and attachment size > 1MB\n'
        'block attachment (extension in ["exe"] and size > 1MB)'
    ),
    'block attachment (extension "exe" or size > 1MB)\nblock attachment size > 2MB',
    'block *.exe unless sender in ["a"]\nblock *.exe unless sender in ["a"]',
    (
        'block *.exe unless sender in ["a"]\n'
        'block *.exe unless sender in ["a"] or subject contains "x"'
    ),
    (
        'block attachment archive contains extension in ["exe", "scr"]\n'
        'block attachment archive contains "*.exe"'
    ),
    (
        'list x = ["exe"]\nlist y = ["exe"]\nblock attachment extension in x\n'
        "block attachment extension in y"
    ),
    # an allow rule after a block that covers it is a real mistake
    'block attachment "*.exe"\nallow sender in ["a"] and attachment "*.exe"',
    # the second rule is covered by the union of the first rule's cases
    (
        'block subject contains "a" or body contains "b"\n'
        'block body contains "b" and attachment "*.x"'
    ),
]


@pytest.mark.parametrize("text", SHADOWED)
def test_shadowed(text: str) -> None:
    last = text.count("\n") + 1
    assert codes(text, TRUST)[-1:] == [("W201", last)]


NOT_SHADOWED = [
    'block *.pif unless sender in ["a"]\nblock *.pif',
    'block attachment extension "pif"\nquarantine attachment "*.pif*"',
    'allow sender in ["a"] and attachment "*.exe"\nblock attachment "*.exe"',
    'block attachment double extension in ["exe"]\nblock attachment extension in ["exe"]',
    "block size > 20MB\nblock size > 10MB",
    "block size != 20MB\nblock size > 30MB",
    'block attachment "*.exe"\nblock attachment archive contains "*.exe"',
    "block attachment type executable\nblock attachment type script",
    'block sender in ["a"]\nblock recipient in ["a"]',
    'block attachment "*.ex?"\nblock attachment "*.e*"',
    'block sender in ["a"] and attachment "*.exe"\nblock attachment "*.exe"',
    'block not attachment "*.exe"\nblock attachment "*.exe"',
    # one attachment with both properties is narrower than two attachments with one each
    (
        'block attachment (extension in ["exe"] and size > 1MB)\n'
        'block attachment extension in ["exe"] and attachment size > 1MB'
    ),
]


@pytest.mark.parametrize("text", NOT_SHADOWED)
def test_not_shadowed(text: str) -> None:
    assert [c for c, _ in codes(text, TRUST)] == []


def test_shadowing_names_the_earlier_rule_and_its_line() -> None:
    (found,) = warnings('\nblock *.pif as "pif"\n\nquarantine attachment extension "pif"')
    assert found.code == "W201" and found.span.line == 4
    assert "line 2" in found.message and "'pif'" in found.message


def test_each_rule_is_reported_once() -> None:
    assert codes("block *.pif\nblock *.pif\nblock *.pif") == [("W201", 2), ("W201", 3)]


def test_huge_conditions_give_up_rather_than_hang() -> None:
    alts = " or ".join(f'subject contains "{i}"' for i in range(300))
    text = f"block {alts}\nblock {alts}\n"
    assert codes(text) == [("W201", 2)]
    many = " and ".join(f'(subject contains "{i}" or body contains "{i}")' for i in range(40))
    codes(f"block {many}\nblock {many} and size > 1MB\n")  # finishes quickly, either way


# ---- W202 unused-list -----------------------------------------------------------------------
def test_unused_list() -> None:
    assert codes('list used = ["a"]\nlist unused = ["b"]\nblock sender in used') == [("W202", 2)]


def test_list_used_only_in_unless_is_used() -> None:
    assert codes('list t = ["a"]\nblock *.exe unless sender in t', TRUST) == []


def test_misspelt_reference_does_not_make_the_list_unused() -> None:
    found = check(parse('list trusted = ["a"]\nblock sender in trustd')).diagnostics
    assert [d.code for d in found] == ["E101"]


# ---- W203 discard-loses-mail ----------------------------------------------------------------
def test_discard_rule_and_default() -> None:
    assert codes('default discard\ndiscard attachment "*.scr"') == [("W203", 1), ("W203", 2)]


# ---- W204 broad-glob ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "glob",
    ["*.*.*", "*.*.gz", "*.*.bin", "*.tar.*", "*.*.*.*", "*.?*.*", "report.*.pdf", "*.*.{zip,gz}"],
)
def test_broad_globs_warn(glob: str) -> None:
    assert codes(f'block attachment "{glob}"') == [("W204", 1)]


@pytest.mark.parametrize(
    "glob",
    [
        "*.gz",
        "*.*",
        "*.exe",
        "*.tar.gz",
        "*.{tar.gz,tgz}",
        "*.{doc,xls,zip,jpg}.{bat,com,lnk,pif}",
        "*.doc.*",
        "*.*.exe",
        "*.*.{exe,pif,scr}",
    ],
)
def test_intended_globs_do_not_warn(glob: str) -> None:
    assert codes(f'block attachment "{glob}"') == []


@pytest.mark.parametrize("action", ["block", "quarantine", "strip", "discard"])
def test_broad_glob_in_every_stopping_action(action: str) -> None:
    assert ("W204", 1) in codes(f'{action} attachment "*.*.*"')


@pytest.mark.parametrize(
    "text",
    [
        'allow attachment "*.*.*"',
        'tag "X-Multi: yes" when attachment "*.*.*"',
        'block *.exe unless attachment "*.*.*"',
        'block not attachment "*.*.*"',
    ],
)
def test_broad_glob_that_cannot_stop_mail_is_fine(text: str) -> None:
    assert codes(text) == []


def test_broad_glob_in_lists_bare_globs_and_archives() -> None:
    assert codes('list g = ["*.*.*"]\nblock attachment name in g') == [("W204", 2)]
    assert codes("block *.*.*") == [("W204", 1)]
    assert codes('block attachment archive contains "*.*.*"') == [("W204", 1)]


@pytest.mark.parametrize(
    ("exts", "warn"),
    [
        ('["gz"]', True),
        ('["bz2"]', True),
        ('["bin"]', True),
        ('["01"]', True),
        ('["xz"]', True),
        ('["exe", "pif", "scr", "bat", "com", "lnk"]', False),
    ],
)
def test_double_extension_lists(exts: str, warn: bool) -> None:
    got = codes(f"block attachment double extension in {exts}")
    assert got == ([("W204", 1)] if warn else [])


def test_broad_glob_message_names_benign_names() -> None:
    (found,) = warnings('block attachment "*.*.*"')
    assert "test.tar.gz" in found.message
    assert all(n.count(".") >= 2 for n in BENIGN_NAMES)


# ---- W205 empty-list / W206 duplicate-entry -------------------------------------------------
def test_empty_lists(tmp_path: Path) -> None:
    (tmp_path / "l.txt").write_text("# only comments\n\n", encoding="utf-8")
    text = 'list a = []\nlist b = file "l.txt"\nblock sender in a or sender in b or sender in []'
    assert [(d.code, d.span.line) for d in warnings(text, tmp_path)] == [
        ("W205", 1),
        ("W205", 2),
        ("W205", 3),
    ]


def test_duplicate_entries(tmp_path: Path) -> None:
    (tmp_path / "l.txt").write_text("exe\npif\nPIF\n", encoding="utf-8")
    text = (
        'list a = ["exe", "EXE", "pif"]\nlist b = file "l.txt"\n'
        "block attachment extension in a or attachment extension in b\n"
        'block attachment extension in ["scr", "scr"]'
    )
    found = warnings(text, tmp_path)
    assert [(d.code, d.span.line) for d in found] == [("W206", 1), ("W206", 2), ("W206", 4)]
    assert "'EXE'" in found[0].message and "l.txt" in found[1].message


def test_thousands_of_rules_are_linted_in_bounded_time() -> None:
    import time

    text = "".join(
        f'block attachment name matches "*.e{i}" unless sender in ["a{i}@b"]\n' for i in range(3000)
    )
    tree = parse(text)
    start = time.monotonic()
    check(tree)
    assert time.monotonic() - start < 30


def test_shadowing_is_found_in_a_policy_of_thousands_of_rules() -> None:
    """The extension index keeps W201 near-linear; it must still find the shadowed rules."""
    rules = [f'block attachment extension "x{i}"' for i in range(2000)]
    rules += [f'quarantine attachment name matches "worm{i}-*.exe"' for i in range(500)]
    rules += [
        'quarantine attachment name matches "worm7-*.exe"',  # same glob as an earlier rule
        'block attachment extension in ["x5", "x6"]',  # not covered by one rule
        'quarantine attachment name matches "a.x42"',
    ]  # literal under extension x42
    result = check(parse("\n".join(rules), "big.policy"))
    shadowed = [d.span.line for d in result.diagnostics if d.code == "W201"]
    assert shadowed == [2501, 2503]


def test_exceeds_limits_shadows_a_later_encrypted_rule() -> None:
    """``archive exceeds limits`` holds for encrypted archives too (they cannot be inspected)."""
    text = "quarantine attachment archive exceeds limits\nquarantine attachment archive encrypted\n"
    assert [d.code for d in check(parse(text, "p.policy")).diagnostics] == ["W201"]
    swapped = "\n".join(reversed(text.strip().splitlines()))
    assert [d.code for d in check(parse(swapped, "p.policy")).diagnostics] == []


# ---- W207 broad-content-rule ----------------------------------------------------------------
def test_broad_content_rules_warn_and_narrow_ones_do_not() -> None:
    text = "\n".join(
        [
            'list trusted = ["*@partner.example.com"]',
            "block attachment has macros",  # line 2: every partner's workbook
            "quarantine attachment (has javascript and type document)",  # 3: PDF forms
            "quarantine attachment has macros unless sender in trusted",  # an exception
            "block attachment has auto-run macros",  # nothing benign runs on opening
            'block attachment (not has macros and extension "docm")',  # negative position
            'tag "X-Macro: yes" when attachment has macros',  # does not stop mail
        ]
    )
    assert [c for c in codes(text) if c[0] == "W207"] == [("W207", 2), ("W207", 3)]


def test_broad_content_rule_says_what_it_stops_and_what_to_write() -> None:
    [diag] = [d for d in lint(load_text("block attachment has javascript")) if d.code == "W207"]
    assert "PDF forms" in diag.message and "'smuggles a file'" in diag.message
    assert diag.name == "broad-content-rule"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("block attachment size > 10", [("W208", 1)]),
        ("quarantine size >= 999", [("W208", 1)]),
        ("block attachment contains (size > 20)", [("W208", 1)]),
        ('block *.exe unless attachment size < 50 reason "tiny"', [("W208", 1)]),
        ("block attachment size == 0", []),  # empty: written on purpose
        ("block attachment size < 1", []),
        ("block size > 1", []),
        ("block attachment size > 10B", []),  # bytes, said explicitly
        ("block attachment size > 1000", []),
        ("block attachment size > 10KB", []),
        ("block attachment size > 25 MB", []),
        ("block attachments > 10", []),  # a count, not a size
    ],
)
def test_size_without_unit(text: str, want: list[tuple[str, int]]) -> None:
    assert codes(text) == want


def test_size_without_unit_says_what_to_write() -> None:
    (diag,) = warnings("block attachment size > 10")
    assert diag.name == "size-without-unit" and (diag.span.column, diag.span.end_column) == (25, 27)
    assert "10KB or 10MB" in diag.message and "10B" in diag.message and "MiB 2^20" in diag.message
