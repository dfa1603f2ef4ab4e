"""The checker: every error code, list files, the load API, and golden error messages.

Golden files: ``golden/errors/NAME.policy`` and ``NAME.policy.error`` (the rendered
diagnostics). ``MAILPOLICY_UPDATE_GOLDEN=1 pytest tests/policy/test_check.py`` rewrites
them; review the diff.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from mailpolicy.policy import ast, loader
from mailpolicy.policy.check import TYPE_CLASSES, CheckResult, check
from mailpolicy.policy.diagnostics import CODES, Diagnostic, InputError, PolicyError, render_all
from mailpolicy.policy.listfile import read_list_file
from mailpolicy.policy.parse import parse

GOLDEN = Path(__file__).parent / "golden" / "errors"


def diags(text: str, base_dir: Path | None = None) -> list[Diagnostic]:
    return list(check(parse(text, "t.policy"), base_dir=base_dir).diagnostics)


def error_codes(text: str, base_dir: Path | None = None) -> list[str]:
    return [d.code for d in diags(text, base_dir) if d.severity == "error"]


# ---- the API --------------------------------------------------------------------------------
def test_check_result_of_a_good_policy() -> None:
    result = check(parse('list x = ["exe"]\nblock attachment extension in x', "p.policy"))
    assert isinstance(result, CheckResult)
    assert result.policy is not None and result.diagnostics == ()
    assert result.policy.lists == {"x": ("exe",)}
    assert result.policy.ast.lists["x"].items == (ast.Str(value="exe"),)
    assert [r.id for r in result.policy.rules] == [result.policy.rules[0].id]
    assert result.policy.rules[0].id.startswith("block-")


def test_check_result_with_errors_has_no_policy() -> None:
    result = check(parse("block sender in nope\ndiscard *.exe", "p.policy"))
    assert result.policy is None
    assert [d.code for d in result.diagnostics] == ["E101", "W203"]
    assert [d.code for d in result.errors] == ["E101"]
    assert [d.code for d in result.warnings] == ["W203"]


def test_diagnostics_are_sorted_by_position() -> None:
    found = diags("block sender in b\nblock sender in a\nlist x = []\n")
    assert [(d.span.line, d.code) for d in found] == [
        (1, "E101"),
        (2, "E101"),
        (3, "W202"),
        (3, "W205"),
    ]


def test_load_text_keeps_warnings_and_hashes_the_source() -> None:
    text = 'discard attachment "*.scr"\n'
    checked = loader.load_text(text, "p.policy")
    assert [d.code for d in checked.warnings] == ["W203"]
    assert checked.source_sha256 == hashlib.sha256(text.encode()).hexdigest()


def test_load_raises_with_every_diagnostic(tmp_path: Path) -> None:
    path = tmp_path / "p.policy"
    path.write_bytes(b"block sender in nope\nblock sender in nada\ndiscard *.exe\n")
    with pytest.raises(PolicyError) as info:
        loader.load_policy(str(path), lint=True)
    assert [d.code for d in info.value.diagnostics] == ["E101", "E101", "W203"]


def test_load_reads_lists_relative_to_the_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub" / "lists").mkdir(parents=True)
    (tmp_path / "sub" / "lists" / "p.txt").write_text("a@example.com\n", encoding="utf-8")
    policy = tmp_path / "sub" / "p.policy"
    policy.write_text('list p = file "lists/p.txt"\nblock sender in p\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    checked = loader.load_policy("sub/p.policy", lint=True)
    assert checked.lists["p"] == ("a@example.com",)
    assert checked.source_sha256 == hashlib.sha256(policy.read_bytes()).hexdigest()


def test_base_dir_overrides(tmp_path: Path) -> None:
    (tmp_path / "l.txt").write_text("x\n", encoding="utf-8")
    text = 'list l = file "l.txt"\nblock attachment extension in l'
    assert loader.load_text(text, base_dir=str(tmp_path)).lists["l"] == ("x",)
    assert error_codes(text, base_dir=tmp_path / "elsewhere") == ["E103"]


def test_load_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        loader.load_policy(str(tmp_path / "missing.policy"), lint=True)


# ---- list files -----------------------------------------------------------------------------
def test_list_file_format(tmp_path: Path) -> None:
    path = tmp_path / "l.txt"
    path.write_bytes(
        "\ufeff# header\n  exe  \n\n\tpif # trailing comment\n#x\na#b@example.com\n".encode("utf-8")
    )
    assert read_list_file(str(path)) == ("exe", "pif", "a#b@example.com")


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        ("missing", "not found"),
        ("directory", "is a directory"),
        ("binary", "binary"),
        ("latin1", "not UTF-8"),
    ],
)
def test_unusable_list_files(tmp_path: Path, setup: str, fragment: str) -> None:
    target = tmp_path / "l.txt"
    if setup == "directory":
        target.mkdir()
    elif setup == "binary":
        target.write_bytes(b"exe\n\x00\x01\x02")
    elif setup == "latin1":
        target.write_bytes("caf\u00e9\n".encode("latin-1"))
    found = diags('list l = file "l.txt"\nblock attachment extension in l', tmp_path)
    assert [d.code for d in found] == ["E103"]
    assert fragment in found[0].message
    assert (found[0].span.line, found[0].span.column) == (1, 15)  # the file string


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_list_file_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "l.txt")
    found = diags('list l = file "l.txt"\nblock attachment extension in l', tmp_path)
    assert [d.code for d in found] == ["E103"]
    assert "not a regular file" in found[0].message


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="permissions do not bind root"
)
def test_unreadable_list_file(tmp_path: Path) -> None:
    target = tmp_path / "l.txt"
    target.write_text("exe\n", encoding="utf-8")
    target.chmod(0)
    assert error_codes('list l = file "l.txt"\nblock attachment extension in l', tmp_path) == [
        "E103"
    ]


# ---- every error code -----------------------------------------------------------------------
ERRORS = [
    # E101 unknown list
    ('list trusted = ["a"]\nblock sender in trustd', ["E101"]),
    ("block attachment extension in executable", ["E101"]),
    ("block *.exe unless recipient in staff", ["E101"]),
    # E102 type errors
    ('block attachment size > "big"', ["E102"]),
    ('block size < "big"', ["E102"]),
    ("block attachments > 10MB", ["E102"]),
    ('block attachments > "many"', ["E102"]),
    ('block attachment extension in "exe"', ["E102"]),
    ('block attachment double extension in "exe"', ["E102"]),
    ('list trusted = ["a"]\nblock sender matches trusted', ["E102"]),
    ('block recipient matches ["a"]', ["E102"]),
    ('block attachment name matches ["a"]', ["E102"]),
    ('block attachment name in "*.exe"', ["E102"]),
    ('block sender in "a@example.com"', ["E102"]),
    ("block subject contains 10", ["E102"]),
    ('block attachment declared type ["audio/*"]', ["E102"]),
    ('block "X-A: b" when sender in ["a"]', ["E102"]),
    ('tag sender in ["a"]', ["E102"]),
    ('tag "no colon" when sender in ["a"]', ["E102"]),
    ('tag "X-A:" when sender in ["a"]', ["E102"]),
    ('tag "X A: b" when sender in ["a"]', ["E102"]),
    ('tag "X-A: b\r" when sender in ["a"]', ["E102"]),
    ("default tag\nblock *.exe", ["E102"]),
    ("default strip\nblock *.exe", ["E102"]),
    ('strip sender in ["a"]', ["E102"]),
    # E103 list file
    ('list l = file "no/such/file.txt"\nblock sender in l', ["E103"]),
    # E104 duplicate rule id
    ('block *.exe as "a"\nblock *.pif as "a"', ["E104"]),
    # E105 duplicate list
    ('list a = ["x"]\nlist a = ["y"]\nblock sender in a', ["E105"]),
    # E106 unknown type class
    ("block attachment type executabel", ["E106"]),
    ("block attachment type other", ["E106"]),
    # E107 malformed glob, in every glob position
    ('block attachment name matches "[abc"', ["E107"]),
    ('block attachment name matches "[z-a]x"', ["E107"]),  # a backwards range
    ('block attachment name in ["*.{a"]', ["E107"]),
    ('list g = ["a}"]\nblock attachment name in g', ["E107"]),
    ('block sender matches "[x"', ["E107"]),
    ('block recipient in ["{x"]', ["E107"]),
    ('block attachment declared type "audio/[x"', ["E107"]),
    ('block attachment type "application/{x"', ["E107"]),
    ('block subject matches "x{"', ["E107"]),
    ('block header "X-Y" matches "[a"', ["E107"]),
    ("block *.{exe", ["E107"]),
    # E108 duplicate policy/default
    ('policy "a"\npolicy "b"\nblock *.exe', ["E108"]),
    ("default allow\ndefault block\nblock *.exe", ["E108"]),
    # E109 invalid values
    ('block attachment extension ".exe"', ["E109"]),
    ('block attachment extension in ["exe", ".pif"]', ["E109"]),
    ('block attachment type "executable"', ["E109"]),
    ('block header "X Y" contains "a"', ["E109"]),
    ("block attachments > 1.5", ["E109"]),
    ('block *.exe as ""', ["E109"]),
    # E110 empty policy
    ("", ["E110"]),
    ("# only a comment\n", ["E110"]),
]


@pytest.mark.parametrize(("text", "want"), ERRORS)
def test_error_codes(text: str, want: list[str]) -> None:
    assert error_codes(text) == want


def test_every_error_code_is_tested() -> None:
    tested = {c for _, want in ERRORS for c in want} | {"E100", "E111"}  # in test_parse
    assert tested == {c for c in CODES if c.startswith("E1")}  # E3xx: the exporters' tests


def test_type_classes_offered() -> None:
    found = diags("block attachment type exe")
    assert all(c in found[0].message for c in TYPE_CLASSES)


def test_did_you_mean_suggestions() -> None:
    (found,) = diags(
        'list executable = ["exe"]\nblock attachment extension in executabel\n'
        "block attachment extension in executable"
    )
    assert "did you mean 'executable'?" in found.message
    (found,) = diags("block attachment type scirpt")
    assert "did you mean 'script'?" in found.message
    (found,) = diags('block attachment extension in "exe"')
    assert 'extension "exe"' in found.message
    (found,) = diags('list trusted = ["a"]\nblock sender matches trusted')
    assert "sender in trusted" in found.message


def test_duplicates_name_both_places() -> None:
    (found,) = error_codes_and_messages('block *.exe as "a"\nblock *.pif as "a"')
    assert found[0] == "E104" and "line 1, column 16" in found[1]
    (found,) = error_codes_and_messages('list a = ["x"]\nlist a = ["y"]\nblock sender in a')
    assert found[0] == "E105" and "line 1, column 1" in found[1]


def error_codes_and_messages(text: str) -> list[tuple[str, str]]:
    return [(d.code, d.message) for d in diags(text) if d.severity == "error"]


def test_all_errors_in_one_run() -> None:
    text = (
        "default tag\nlist a = []\nlist a = []\nblock sender in nope\n"
        'block attachment size > "x"\nblock attachment type nope as "i"\n'
        'block *.{x as "i"\n'
    )
    assert error_codes(text) == ["E102", "E105", "E101", "E102", "E106", "E107", "E104"]


def test_errors_inside_unless_and_archive_contains() -> None:
    assert error_codes("block *.exe unless sender matches trusted") == ["E102"]
    assert error_codes("block attachment archive contains type nope") == ["E106"]
    assert error_codes('block not attachment (name in "x" or size > "y")') == ["E102", "E102"]


def test_glob_list_checked_once_however_often_used() -> None:
    text = 'list g = ["a}"]\nblock sender in g\nblock recipient in g\nblock attachment name in g'
    assert error_codes(text) == ["E107"]


def test_check_keeps_the_tree_and_resolves_lists_in_one_place() -> None:
    tree = parse('list x = file "x.txt"\nblock sender in x')
    result = check(tree, file_lists={"x": ("a@b.example",)})
    assert result.policy is not None and result.policy.ast is tree
    assert result.policy.lists == {"x": ("a@b.example",)}


# ---- golden error messages ------------------------------------------------------------------
def _render(name: str) -> str:
    text = (GOLDEN / name).read_text(encoding="utf-8")
    try:  # list files relative to the working directory, so messages name them as written
        found = list(loader.check_text(text, name).diagnostics)  # syntax errors, then the rest
    except PolicyError as exc:  # refused before parsing
        found = list(exc.diagnostics)
    return render_all(found, {name: text}) + "\n"


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("*.policy")))
def test_golden_errors(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)  # paths in messages stay relative, the same on every machine
    got = _render(name)
    want = GOLDEN / f"{name}.error"
    if os.environ.get("MAILPOLICY_UPDATE_GOLDEN") == "1":
        want.write_text(got, encoding="utf-8")
        return
    assert want.exists(), f"no {want.name}: run with MAILPOLICY_UPDATE_GOLDEN=1 and review it"
    assert got == want.read_text(encoding="utf-8")
    assert "Traceback" not in got
