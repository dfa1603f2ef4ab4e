"""``export --verify`` as replay with two deciders: the engine and a target's runner.

A stand-in runner (the real tools have their tests in tests/export) decides from the
message's bytes alone, so each case knows which messages agree; the report and the exit
codes are those of the ``export`` verb.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from simsupport import CorpusFiles, policy_file

from mailpolicy.corpus.message import Message
from mailpolicy.policy.export.base import Exporter, ExportResult, Loss
from mailpolicy.policy.export.ir_target import JsonExporter
from mailpolicy.policy.export.runner import TargetVerdict, VerifyError
from mailpolicy.policy.loader import load_policy
from mailpolicy.policy.verdict import Verdict
from mailpolicy.simulator import verify
from mailpolicy.simulator.cli import main


class FakeRunner:
    """Blocks ``.pif`` like the policy below, but misses ``.scr`` (which the policy blocks)."""

    instances: list[FakeRunner] = []

    def __init__(self, problem: str | None = None, explanation: str | None = None) -> None:
        self.problem, self.explanation = problem, explanation
        self.messages: list[tuple[str | None, tuple[str, ...]]] = []
        self.closed = False
        FakeRunner.instances.append(self)

    def check(self) -> str | None:
        return self.problem

    def run(self, data: bytes, sender: str | None, recipients: tuple[str, ...]) -> TargetVerdict:
        self.messages.append((sender, recipients))
        if b'filename="x.pif"' in data:
            return TargetVerdict("block", "pif")
        return TargetVerdict("allow", None, detail="kept")

    def explain(self, msg: Message, engine: Verdict, target: TargetVerdict) -> str | None:
        return self.explanation

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(policy, corpus): three messages, .pif and .scr blocked by the policy, .txt allowed."""
    FakeRunner.instances.clear()
    policy = policy_file(
        tmp_path,
        'block attachment extension in ["pif"] as "pif"',
        'block attachment extension in ["scr"] as "scr"',
    )
    md = CorpusFiles(tmp_path / "corpus")
    md.maildir_message("1:2,S", 1, "x.pif")
    md.maildir_message("2:2,S", 2, "y.scr")
    md.maildir_message("3:2,S", 3, "z.txt")
    monkeypatch.setattr(JsonExporter, "runner", lambda self, result, workdir: FakeRunner())
    return str(policy), str(md.root)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def verify_run(policy: str, corpus: str, tmp_path: Path) -> tuple[int, str, str]:
    dest = str(tmp_path / "out.json")
    return run("export", policy, "--target", "json", "-o", dest, "--verify", corpus)


def test_an_unexplained_disagreement_fails(setup: tuple[str, str], tmp_path: Path) -> None:
    code, out, err = verify_run(*setup, tmp_path)
    assert code == 1
    assert out.startswith("verify json: 3 messages, 2 agree, 1 disagree\n")
    assert "y.scr" not in out and ":2:2,S" in out  # the message, by its place in the corpus
    assert "block (scr)" in out and "allow (default)" in out and "UNEXPLAINED" in out
    assert out.endswith("\n1 disagreements are not explained by the loss report\n")
    assert err.startswith("mailpolicy: wrote ")
    checked, runner = FakeRunner.instances  # the tool check before writing, then verify
    assert checked.closed and checked.messages == [] and runner.closed
    assert runner.messages == [("sender@example.com", ("rcpt@example.org",))] * 3


def test_a_loss_of_the_export_explains_a_disagreement(
    setup: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = JsonExporter.export

    def lossy(self: JsonExporter) -> ExportResult:
        result = real(self)
        result.losses.append(
            Loss("scr", 2, "no .scr here", "delivered", sound=False, key="scr:no-scr")
        )
        return result

    monkeypatch.setattr(JsonExporter, "export", lossy)
    code, out, _ = verify_run(*setup, tmp_path)
    assert code == 0
    assert "[scr:no-scr] UNSOUND: rule scr (line 2): no .scr here; delivered" in out
    assert "UNEXPLAINED" not in out and "not explained" not in out


def _compare(setup: tuple[str, str], *losses: Loss) -> list[verify.Row]:
    policy, corpus = setup
    exporter = JsonExporter(load_policy(policy))
    result = exporter.export()
    result.losses.extend(losses)
    exporter.runner = lambda result, workdir: FakeRunner(explanation="a target-wide limit")  # type: ignore[method-assign]
    rows, unreadable = verify.compare(exporter, result, [corpus])
    assert unreadable == 0
    return rows


def test_only_a_loss_whose_predicate_holds_explains(setup: tuple[str, str]) -> None:
    """The runner's own ``explain`` counts for nothing; a loss explains the .scr message
    only when its facts are there (``when``): an encoded name is not, a named attachment
    is; target-wide losses count as well as the deciding rule's."""
    encoded = Loss(
        "*", 0, "encoded names", "not seen", sound=False, key="json:enc", when=("encoded-name",)
    )
    rows = _compare(setup, encoded)
    assert [(r.engine, r.target, r.keys) for r in rows] == [
        ("block", "block", ()),
        ("block", "allow", ()),
        ("allow", "allow", ()),
    ]
    assert [r.message for r in verify.unexplained(rows)] == [rows[1].message]
    named = Loss("*", 0, "names", "not seen", sound=False, key="json:n", when=("named-attachment",))
    rows = _compare(setup, encoded, named)
    assert rows[1].keys == ("json:n",) and rows[1].detail == "kept"
    assert rows[1].explained_by == "[json:n] UNSOUND: all rules: names; not seen"
    assert verify.unexplained(rows) == []


def test_a_sound_loss_never_explains_mail_the_target_lets_through(
    setup: tuple[str, str],
) -> None:
    sound = Loss("scr", 2, "approximated", "stops more", sound=True, key="scr:approx")
    other = Loss("pif", 1, "approximated", "lets through", sound=False, key="pif:approx")
    rows = _compare(setup, sound, other)
    assert rows[1].keys == () and verify.unexplained(rows) == [rows[1]]


def test_the_tool_rejecting_the_files_fails_before_anything_is_written(
    setup: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        JsonExporter, "runner", lambda self, result, workdir: FakeRunner(problem="line 3: bad")
    )
    code, out, err = verify_run(*setup, tmp_path)
    assert (code, out) == (1, "")
    assert "rejects the exported files, so nothing is written: line 3: bad [E305]" in err
    assert err.endswith("nothing written\n") and not (tmp_path / "out.json").exists()
    assert [r.closed for r in FakeRunner.instances] == [True]


def test_a_missing_tool_exits_2(
    setup: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(self: Exporter, result: ExportResult, workdir: str) -> FakeRunner:
        raise VerifyError("sieve-test is not installed")

    monkeypatch.setattr(JsonExporter, "runner", missing)
    code, _, err = verify_run(*setup, tmp_path)
    assert code == 2 and "sieve-test is not installed" in err and err.count("\n") == 1


def test_a_missing_corpus_exits_2(setup: tuple[str, str], tmp_path: Path) -> None:
    code, out, err = verify_run(setup[0], str(tmp_path / "nope"), tmp_path)
    assert (code, out) == (2, "")
    assert err.endswith(
        f"mailpolicy: error: cannot read {tmp_path / 'nope'}: no such file or directory\n"
    )
    assert FakeRunner.instances == []


def test_unreadable_items_are_counted(setup: tuple[str, str], tmp_path: Path) -> None:
    policy, corpus = setup
    (Path(corpus) / "cur" / "4:2,S").write_bytes(b"\x00" * 64)
    code, out, _ = verify_run(policy, corpus, tmp_path)
    assert code == 1
    assert out.startswith("verify json: 3 messages, 2 agree, 1 disagree, 1 unreadable\n")
