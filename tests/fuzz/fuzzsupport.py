"""What the fuzzing suite shares: running a verb in-process, the budgets, the seeds.

The normal test run gives each fuzz test a small fixed number of examples (``FAST``);
``pytest -m fuzz`` runs the longer tests marked ``fuzz`` (``LONG`` examples each). Every
verb run here must end with exit 0, 1 or 2, a message of its own (never a traceback), and
within ``SECONDS``. ``hostile_shapes()`` are the mutations the message fuzzer draws from,
at their worst, for the tests and the budget benchmark alike.
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

# the policy strategies live beside the policy tests (see tests/policy/strategies.py)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "policy"))

from mailpolicy.simulator.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "corpus" / "samples"
#: the third-party corpus, found as ``tests/conftest.py`` finds it (never copied here)
THIRDPARTY = Path(
    os.environ.get("MAILPOLICY_THIRDPARTY") or ROOT.parent / "shared" / "corpora" / "thirdparty"
)

#: Examples per fuzz test in the normal run, and behind ``-m fuzz``.
FAST = 12
LONG = 400
#: Wall-clock seconds one verb may take on one fuzzed input.
SECONDS = 5.0


def run_verb(argv: list[str]) -> tuple[int, str, str]:
    """``mailpolicy ARGV`` in this process: (exit code, stdout, stderr); asserts the
    house rules every verb keeps on any input."""
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    code = main(argv, out, err)
    elapsed = time.monotonic() - started
    text = out.getvalue() + err.getvalue()
    assert code in (0, 1, 2), (argv, code, text[-2000:])
    assert "Traceback" not in text, (argv, text[-2000:])
    assert elapsed < SECONDS, (argv, elapsed)
    if code == 2:
        assert err.getvalue().strip(), argv  # an input error says what it was
    return code, out.getvalue(), err.getvalue()


def nest(depth: int, inner: bytes) -> bytes:
    """``inner`` inside ``depth`` levels of multipart."""
    out = inner
    for i in range(depth):
        b = f"b{i}".encode()
        out = b"Content-Type: multipart/mixed; boundary=" + b + b"\n\n--" + b + b"\n" + out
        out += b"\n--" + b + b"--\n"
    return b"From: a@example.com\nSubject: nest\nMIME-Version: 1.0\n" + out


def hostile_shapes() -> dict[str, bytes]:
    """Each mutation of the message fuzzer at its largest."""
    seed = (SAMPLES / "mbox" / "malicious" / "sircam.mbox").read_bytes()[:4096]
    return {
        "nest": nest(400, seed),
        "fold": b"Subject: x\n" + b" =?utf-8?b?QUJD?=\n" * 60000 + b"\n",
        "parts": b"Content-Type: multipart/mixed; boundary=p\n\n"
        + b'--p\nContent-Type: application/octet-stream; name="a.exe"\n\nMZ\n' * 5000,
        "b64": b"Content-Type: multipart/mixed; boundary=p\n\n--p\nContent-Type: application/zip\n"
        b"Content-Transfer-Encoding: base64\n\n" + b"UEsDB" * 200000,
        "headers": b"X-A: b\n" * 3000 + b"\nbody\n",
        "cut": seed[:100],
    }
