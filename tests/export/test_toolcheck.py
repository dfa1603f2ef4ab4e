"""Every exported file passes its target's own tool before ``export`` exits 0: a refusal
is error E305 and nothing is written; a tool that is not installed fails the export
unless ``--no-tool-check`` says to write unchecked files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from toolsupport import tool_missing

from mailpolicy.policy.export import TARGETS
from mailpolicy.policy.export.runner import VerifyError
from mailpolicy.simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]
BASELINE = str(ROOT / "policy" / "policies" / "baseline.policy")
TOOLED = [t for t in TARGETS if t != "json"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


class _Refusing:
    def check(self) -> str | None:
        return "line 3: error: unknown command 'bogus'"

    def close(self) -> None:
        pass


@pytest.mark.parametrize("target", TOOLED)
def test_a_file_the_tool_refuses_is_never_written(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(TARGETS[target], "runner", lambda self, result, workdir: _Refusing())
    dest = tmp_path / "out"
    code, out, err = run("export", BASELINE, "--target", target, "--approximate", "-o", str(dest))
    assert code == 1 and out == ""
    assert "[E305]" in err and "unknown command 'bogus'" in err
    assert "nothing written" in err and not dest.exists()


@pytest.mark.parametrize("target", TOOLED)
def test_a_missing_tool_fails_unless_told(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(self: object, result: object, workdir: str) -> None:
        raise VerifyError("thetool is not installed (run .ci/install-mta.sh)")

    monkeypatch.setattr(TARGETS[target], "runner", missing)
    dest = tmp_path / "out"
    code, _, err = run("export", BASELINE, "--target", target, "--approximate", "-o", str(dest))
    assert code == 2 and not dest.exists()
    assert err.count("\n") == 1 and "--no-tool-check" in err and "thetool" in err
    code, _, err = run(
        "export", BASELINE, "--target", target, "--approximate", "--no-tool-check", "-o", str(dest)
    )
    assert code == 0 and dest.exists()


@pytest.mark.parametrize("target", TOOLED)
def test_every_target_accepts_the_shipped_policy(target: str, tmp_path: Path) -> None:
    code, _, err = run(
        "export", BASELINE, "--target", target, "--approximate", "-o", str(tmp_path / "o")
    )
    if code == 2 and "not installed" in err:
        tool_missing(err.strip())
    assert code == 0, err
