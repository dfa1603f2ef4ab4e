"""The ambiguous-MIME sample definitions read as they say, and the generator bundles them."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from mailpolicy.corpus.mime import parse_message

HERE = Path(__file__).resolve().parents[2] / "corpus" / "samples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


SAMPLES = _load("mime_samples").MIME_SAMPLES


def _render(sample: object) -> bytes:
    parts = sample.parts  # type: ignore[attr-defined]
    head = f"From: {sample.sender}\nSubject: {sample.subject}\nMIME-Version: 1.0\n"  # type: ignore[attr-defined]
    if len(parts) == 1:
        return head.encode() + parts[0]
    body = b"".join(b"--s\n" + p.rstrip(b"\n") + b"\n" for p in parts)
    return head.encode() + b'Content-Type: multipart/mixed; boundary="s"\n\n' + body + b"--s--\n"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.key)
def test_sample_reads_as_it_says(sample: object) -> None:
    msg = parse_message(_render(sample))
    assert {n for a in msg.attachments for n in a.names} == set(sample.names)  # type: ignore[attr-defined]
    if sample.label == "benign":  # type: ignore[attr-defined]
        assert msg.tricks == () and msg.unscannable == ()
    else:
        assert "ambiguous-mime" in msg.tricks


def test_samples_have_the_generators_fields() -> None:
    make = _load("make_samples")
    wanted = [f.name for f in dataclasses.fields(make.Sample)]
    assert [f.name for f in dataclasses.fields(SAMPLES[0])] == wanted
    keys = [s.key for s in make.SAMPLES]
    assert len(keys) == len(set(keys))  # wired in once, under keys of their own
    assert [dataclasses.asdict(s) for s in SAMPLES] == [
        dataclasses.asdict(s) for s in make.SAMPLES if s.key in {m.key for m in SAMPLES}
    ]
