"""Checked list files: where they may be read from, and every entry checked for its use.

A list file is read only from under the policy's directory (or the ``list_root`` the loader
is given, the command line's ``--list-root DIR``): ``..`` is refused, symbolic links are
followed and their target checked, all before the file is opened. Every entry is checked
for what its list is used with and reported at its own ``FILE:LINE:COLUMN``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from mailpolicy.policy import check as check_module
from mailpolicy.policy import listfile, loader
from mailpolicy.policy.check import check
from mailpolicy.policy.diagnostics import CODES, Diagnostic, PolicyError
from mailpolicy.policy.listfile import address_problem, extension_problem, resolve
from mailpolicy.policy.parse import parse
from mailpolicy.simulator.cli import main

SECRET = "root:$6$SECRET-HASH-LINE:19000:0:99999:7:::"


def _policy(tmp_path: Path, text: str) -> Path:
    """``tmp_path/policies/p.policy`` holding ``text``, and a secret one level above."""
    (tmp_path / "policies" / "lists").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text(SECRET + "\n", encoding="utf-8")
    path = tmp_path / "policies" / "p.policy"
    path.write_text(text, encoding="utf-8")
    return path


def _errors(path: Path, list_root: str | None = None) -> list[Diagnostic]:
    with pytest.raises(PolicyError) as info:
        loader.load_policy(str(path), lint=True, list_root=list_root)
    return [d for d in info.value.diagnostics if d.severity == "error"]


# ---- where list files may be read from --------------------------------------------------------
def test_dot_dot_is_refused_and_never_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real = listfile.read_regular

    def spy(path: str, limit: int) -> bytes:
        opened.append(path)
        return real(path, limit)

    monkeypatch.setattr(listfile, "read_regular", spy)
    path = _policy(tmp_path, 'list s = file "../../../etc/shadow"\nblock sender in s\n')
    found = _errors(path)
    assert [d.code for d in found] == ["E103"]
    assert "--list-root DIR" in found[0].message and "'..'" in found[0].message
    assert (found[0].span.line, found[0].span.column) == (1, 15)
    assert not [p for p in opened if "shadow" in p]


def test_shadow_never_reaches_the_json_export(tmp_path: Path) -> None:
    path = _policy(
        tmp_path,
        'list s = file "../../../etc/shadow"\nlist t = file "../secret.txt"\n'
        "block sender in s or sender in t\n",
    )
    out, err = io.StringIO(), io.StringIO()
    status = main(["export", str(path), "--target", "json"], out, err)
    assert status == 1
    assert "root:" not in out.getvalue() + err.getvalue()
    assert "SECRET-HASH-LINE" not in out.getvalue() + err.getvalue()
    assert "E103" in err.getvalue() and "Traceback" not in err.getvalue()


def test_a_symbolic_link_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    path = _policy(tmp_path, 'list s = file "lists/link.txt"\nblock sender in s\n')
    (tmp_path / "policies" / "lists" / "link.txt").symlink_to(tmp_path / "secret.txt")
    found = _errors(path)
    assert [d.code for d in found] == ["E103"]
    assert "outside the policy's directory" in found[0].message
    assert "SECRET" not in found[0].message


def test_a_symbolic_link_inside_the_directory_is_followed(tmp_path: Path) -> None:
    path = _policy(tmp_path, 'list s = file "lists/link.txt"\nblock sender in s\n')
    (tmp_path / "policies" / "lists" / "real.txt").write_text("a@example.com\n", "utf-8")
    (tmp_path / "policies" / "lists" / "link.txt").symlink_to("real.txt")
    assert loader.load_policy(str(path)).lists["s"] == ("a@example.com",)


def test_an_absolute_path_outside_is_refused(tmp_path: Path) -> None:
    path = _policy(tmp_path, f'list s = file "{tmp_path / "secret.txt"}"\nblock sender in s\n')
    assert [d.code for d in _errors(path)] == ["E103"]


def test_list_root_allows_another_directory(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "partners.txt").write_text("*@partner.example\n", "utf-8")
    path = _policy(tmp_path, 'list p = file "../shared/partners.txt"\nblock sender in p\n')
    assert [d.code for d in _errors(path)] == ["E103"]
    checked = loader.load_policy(str(path), list_root=str(tmp_path))
    assert checked.lists["p"] == ("*@partner.example",)
    # the root still binds: the secret is under tmp_path, /etc is not
    other = _policy(tmp_path / "x", 'list s = file "../../../../../../etc/hostname"\nblock *.a\n')
    assert [d.code for d in _errors(other, list_root=str(tmp_path))] == ["E103"]


def test_list_root_is_taken_by_every_entry_point(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "l.txt").write_text("exe\n", "utf-8")
    text = 'list l = file "../shared/l.txt"\nblock attachment extension in l\n'
    path = _policy(tmp_path, text)
    root = str(tmp_path)
    _, diags, checked = loader.check_file(str(path), list_root=root)
    assert checked is not None and not [d for d in diags if d.severity == "error"]
    base = str(tmp_path / "policies")
    assert loader.load_text(text, base_dir=base, list_root=root).lists["l"] == ("exe",)
    assert loader.check_text(text, base_dir=base, list_root=root).policy is not None
    result = check(parse(text, str(path)), base_dir=base, list_root=root)
    assert result.policy is not None


def test_resolve_checks_before_anything_is_read(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("x\n", "utf-8")
    assert resolve("in.txt", str(tmp_path), None) == os.path.realpath(tmp_path / "in.txt")
    for written in ("../x", "a/../../x", "a\\..\\x", "x\0y"):
        with pytest.raises(ValueError):
            resolve(written, str(tmp_path), None)


def test_e103_names_both_paths_with_closed_parentheses(tmp_path: Path) -> None:
    path = _policy(tmp_path, 'list s = file "lists/missing.txt"\nblock sender in s\n')
    (message,) = [d.message for d in _errors(path)]
    full = str(tmp_path / "policies" / "lists" / "missing.txt")
    assert message == f"list file 'lists/missing.txt' ({full}) not found"


# ---- every entry checked for its use ----------------------------------------------------------
ADDRESSES = [
    ("alice@example.com", None),
    ("*@example.com", None),
    ("example.com", None),
    ("@example.com", None),
    ("*.example.com", None),
    ("*@{a,b}.example", None),
    ('"john smith"@example.com', None),
    ("not an address at all", "a space"),
    ("@@@", "more than one '@'"),
    ("user@@example.com", "did you mean 'user@example.com'?"),
    ("Bob <bob@example.com>", "did you mean 'bob@example.com'?"),
    ("mailto:bob@example.com", "did you mean 'bob@example.com'?"),
    ("user@", "no domain"),
    ("user@example..com", "did you mean 'user@example.com'?"),
    (".example.com", "did you mean 'example.com'?"),
    ("a@example.com, b@example.com", "one a line"),
]


@pytest.mark.parametrize(("entry", "fragment"), ADDRESSES)
def test_address_entries(entry: str, fragment: str | None) -> None:
    why = address_problem(entry)
    assert (why is None) == (fragment is None), why
    if fragment is not None:
        assert why is not None and fragment in why


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("exe", None),
        ("7z", None),
        (".exe", "'exe', not '.exe'"),
        ("*.exe", "'exe', not '*.exe'"),
        ("tar.gz", "not an extension"),
        ("a/b", "not an extension"),
    ],
)
def test_extension_entries(entry: str, fragment: str | None) -> None:
    why = extension_problem(entry)
    assert (why is None) == (fragment is None), why
    if fragment is not None:
        assert why is not None and fragment in why


def test_file_entries_are_reported_at_their_own_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _policy(
        tmp_path,
        'list senders = file "lists/senders.txt"\nlist exts = file "lists/exts.txt"\n'
        "block attachment extension in exts unless sender in senders\n",
    )
    (tmp_path / "policies" / "lists" / "senders.txt").write_text(
        "# partners\nalice@example.com\n  not an address at all\n@@@\nuser@@example.com\n", "utf-8"
    )
    (tmp_path / "policies" / "lists" / "exts.txt").write_text("exe\n.scr\n", "utf-8")
    monkeypatch.chdir(tmp_path)
    found = _errors(Path("policies/p.policy"))
    where = [(d.code, d.span.file, d.span.line, d.span.column) for d in found]
    assert where == [
        ("E109", "policies/lists/exts.txt", 2, 1),
        ("E109", "policies/lists/senders.txt", 3, 3),
        ("E109", "policies/lists/senders.txt", 4, 1),
        ("E109", "policies/lists/senders.txt", 5, 1),
    ]
    assert "did you mean 'scr'" not in found[0].message and "'scr', not '.scr'" in found[0].message
    assert "did you mean 'user@example.com'?" in found[3].message


def test_an_entry_is_checked_for_each_use_once() -> None:
    text = (
        'list l = ["a b"]\nblock sender in l\nblock recipient in l\n'
        "block attachment extension in l\nblock attachment name in l\n"
    )
    codes = [d.code for d in check(parse(text)).diagnostics if d.severity == "error"]
    assert codes == ["E109"]  # as an address (twice used, once said); fine as an extension


def test_inline_lists_are_checked_like_files() -> None:
    found = check(parse('block sender in ["ok@example.com", "@@@"]')).diagnostics
    assert [(d.code, d.span.column) for d in found] == [("E109", 36)]


def test_the_json_form_checks_its_entries_too(tmp_path: Path) -> None:
    text = 'list l = file "l.txt"\nblock sender in l\n'
    result = check(parse(text), file_lists={"l": ("user@@example.com",)})
    assert [d.code for d in result.diagnostics] == ["E109"]
    assert result.diagnostics[0].span.line == 1  # the file string: no line of its own


def test_check_module_keeps_its_codes() -> None:
    assert CODES["E103"] == "list-file" and CODES["E109"] == "invalid-value"
    assert check_module.TYPE_CLASSES
