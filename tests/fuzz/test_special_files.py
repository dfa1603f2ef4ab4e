"""Special files as every input: each verb answers within a second, exit 0, 1 or 2.

A FIFO (``os.mkfifo``), ``/dev/zero``, a directory, a symbolic link loop, and ``/proc``
entries (``/proc/self/status``, and a symlink to ``/proc/kmsg``, which waits for kernel
messages and whose reads consume them: it must never be read) are given as the policy, as
a list file, and as the corpus. Each run is a real ``mailpolicy`` process under a timeout,
so a verb that blocks fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MESSAGE = ROOT / "corpus" / "samples" / "mbox" / "malicious" / "sircam.mbox"
SECONDS = 1.0


#: Runs ``mailpolicy`` verbs one after another in one process (imports paid once), each
#: under an alarm, and prints one JSON line per verb: exit code, stderr, seconds taken.
_DRIVER = """
import io, json, signal, sys, time
from mailpolicy.simulator.cli import main
def hang(*_):
    raise TimeoutError("verb still running after the alarm")
signal.signal(signal.SIGALRM, hang)
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    signal.alarm(%d)
    started = time.monotonic()
    code = main(argv, out, err)
    signal.alarm(0)
    print(json.dumps([code, err.getvalue(), out.getvalue(), time.monotonic() - started]))
"""


def _mailpolicy(*runs: list[str]) -> list[tuple[int, str]]:
    """Each argv's (exit code, stderr), in a real process; asserts the house rules."""
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER % (SECONDS * 5), json.dumps(list(runs))],
        capture_output=True,
        text=True,
        timeout=SECONDS * 5 * len(runs) + 10,
        cwd=ROOT,
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    out = []
    for argv, line in zip(runs, proc.stdout.splitlines(), strict=True):
        code, err, stdout, elapsed = json.loads(line)
        assert elapsed < SECONDS, (argv, elapsed)
        assert code in (0, 1, 2), (argv, code, err)
        assert "Traceback" not in err + stdout, err
        out.append((code, err))
    return out


@pytest.fixture(scope="module")
def specials(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("special")
    os.mkfifo(d / "fifo")
    (d / "loop").symlink_to(d / "loop")
    (d / "kmsg").symlink_to("/proc/kmsg")
    (d / "zero").symlink_to("/dev/zero")
    (d / "dir").mkdir()
    out = {name: d / name for name in ("fifo", "loop", "kmsg", "zero", "dir")}
    out["/dev/zero"] = Path("/dev/zero")
    out["/proc/self/status"] = Path("/proc/self/status")
    return out


SPECIALS = ["fifo", "/dev/zero", "zero", "dir", "loop", "/proc/self/status", "kmsg"]
#: what the verb reports for each: an input error, except for the /proc entries, which
#: read as the empty file their size says they are (an empty policy: E110, exit 1)
WANT = {"/proc/self/status": 1, "kmsg": 1}


@pytest.mark.parametrize("name", SPECIALS)
def test_special_file_as_the_policy(name: str, specials: dict[str, Path]) -> None:
    p = str(specials[name])
    runs = [
        ["check", p],
        ["fmt", p],
        ["explain", p, str(MESSAGE)],
        ["simulate", p, str(MESSAGE), "--workers", "1"],
        ["export", p, "--target", "postfix"],
        ["diff", p, p, str(MESSAGE), "--workers", "1"],
    ]
    for argv, (code, err) in zip(runs, _mailpolicy(*runs), strict=True):
        want = WANT.get(name, 2)
        if argv[0] == "fmt" and name in ("dir", *WANT):
            want = 0  # a directory stands for the *.policy files below it (none here); an
            # empty file is formatted as empty
        assert code == want, (argv, err)
        if code == 2:
            assert err.count("\n") == 1 and p in err, (argv, err)


def test_special_files_as_list_files(specials: dict[str, Path], tmp_path: Path) -> None:
    policy = tmp_path / "lists.policy"
    lines = [f'list l{i} = file "{specials[n]}"' for i, n in enumerate(SPECIALS)]
    rules = [f"block attachment extension in l{i}" for i in range(len(SPECIALS))]
    policy.write_text("\n".join(lines + rules) + "\n", encoding="utf-8")
    # outside the policy's directory: every one refused before it is opened
    [(code, err)] = _mailpolicy(["check", str(policy)])
    assert code == 1 and err.count("[E103]") == len(SPECIALS), err
    # allowed anywhere: every one an E103 but the /proc entries, which read as the empty
    # lists they claim
    [(code, err)] = _mailpolicy(["check", "--list-root", "/", str(policy)])
    assert code == 1 and err.count("[E103]") == len(SPECIALS) - 2, err


def test_special_files_in_the_corpus(specials: dict[str, Path]) -> None:
    """A corpus folder holding every special file: each one listed, none waited on."""
    folder = str(specials["dir"].parent)
    baseline = str(ROOT / "policy" / "policies" / "baseline.policy")
    runs = [
        ["simulate", baseline, folder, "--workers", "1"],
        ["inspect", folder],
        *(["inspect", str(specials[name])] for name in SPECIALS),
        *(["explain", baseline, str(specials[name])] for name in SPECIALS),
    ]
    results = _mailpolicy(*runs)
    # nothing in the folder is mail: every entry listed as unreadable, and a run that read
    # no message is not a success
    assert results[0][0] == 2 and "no message could be read" in results[0][1], results[0]
    code, err = results[1]
    assert code == 2 and "fifo: unreadable" in err and "kmsg: unreadable: empty file" in err
    for argv, (code, err) in zip(runs[2:], results[2:], strict=True):
        if argv[0] == "inspect" and argv[-1] == str(specials["dir"]):
            assert code == 0, err  # an empty folder: nothing to show
        else:
            assert code == 2 and err.count("\n") >= 1, (argv, err)


def test_special_files_as_labels(specials: dict[str, Path]) -> None:
    """``--labels`` is read the same careful way: never waited on, one line, exit 2 (the
    /proc entries read as the empty files they claim to be, which is no labels file)."""
    baseline = str(ROOT / "policy" / "policies" / "baseline.policy")
    runs = [
        ["simulate", baseline, str(MESSAGE), "--workers", "1", "--labels", str(specials[n])]
        for n in SPECIALS
    ]
    for name, (code, err) in zip(SPECIALS, _mailpolicy(*runs), strict=True):
        assert code == 2 and err.count("\n") == 1, (name, err)
        assert "labels" in err and ("empty labels file" in err) == (name in WANT), (name, err)
