"""Labels: from folder names, from CSV and JSON Lines files, with clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mailpolicy.corpus.labels import SCORED, Labels, folder_label, merge
from mailpolicy.corpus.readers import RawMessage, iter_messages, iter_raw


def msg(n: int) -> bytes:
    return (
        f"From: a{n}@example.org\nSubject: {n}\nMessage-ID: <m{n}@example.org>\n\nhi\n"
    ).encode()


def mbox(*messages: bytes) -> bytes:
    return b"".join(b"From x Sun Jul 15 10:00:00 2001\n" + m + b"\n" for m in messages)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "Benign").mkdir(parents=True)
    (root / "Benign" / "a.eml").write_bytes(msg(1))
    (root / "malicious" / "sircam" / "cur").mkdir(parents=True)
    (root / "malicious" / "sircam" / "cur" / "1.x:2,S").write_bytes(msg(2))
    (root / "unsorted").mkdir()
    (root / "unsorted" / "c.eml").write_bytes(msg(3))
    (root / "unsorted" / "malicious.mbox").write_bytes(mbox(msg(4), msg(5)))
    (root / "unsorted" / "benign.mbox.gz").write_bytes(__import__("gzip").compress(mbox(msg(6))))
    return root


def labelled(root: Path, labels: Labels | None = None) -> dict[str, str | None]:
    out = {}
    for r in iter_raw([root], labels):
        assert isinstance(r, RawMessage)
        out[r.data.split(b"\n", 1)[0].decode()[7:]] = r.label
    return out


def test_folder_labels(corpus: Path) -> None:
    assert labelled(corpus) == {
        "1@example.org": "benign",
        "2@example.org": "malicious",
        "3@example.org": None,
        "4@example.org": "malicious",
        "5@example.org": "malicious",
        "6@example.org": "benign",
    }


def test_folder_label_counts_from_the_root_given(tmp_path: Path) -> None:
    assert folder_label("/srv/benign/spool/x.eml", "/srv/benign/spool") is None
    assert folder_label("/srv/malicious/x.eml", "/srv/malicious") == "malicious"
    assert folder_label("a/malicious/b/benign/x.eml", "a") == "benign"  # innermost wins
    assert folder_label("a/Malicious.mbox.xz", "a/Malicious.mbox.xz") == "malicious"
    assert folder_label("a/benignity/x.eml", "a") is None
    assert folder_label("a/.benign/x.eml", "a") is None
    root = tmp_path / "benign" / "spool"
    root.mkdir(parents=True)
    (root / "x.eml").write_bytes(msg(1))
    assert [r.label for r in iter_raw([root])] == [None]
    assert [r.label for r in iter_raw([root.parent])] == ["benign"]


def test_csv_overrides_folder_labels(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    offset = len(mbox(msg(4)))
    f = tmp_path / "labels.csv"
    f.write_text(
        "path,label\n"
        "# comments and blank lines are skipped\n\n"
        "Benign/a.eml,malicious\n"  # suffix of components
        "corpus/unsorted/c.eml,Spam\n"  # relative to the cwd
        f'"{corpus}/malicious/sircam:1.x:2,S",benign\n'  # absolute, Maildir key
        f"unsorted/malicious.mbox:{offset},benign\n"
    )  # one message in an mbox
    labels = Labels.load(f)
    assert labelled(corpus, labels) == {
        "1@example.org": "malicious",
        "2@example.org": "benign",
        "3@example.org": "spam",
        "4@example.org": "malicious",
        "5@example.org": "benign",
        "6@example.org": "benign",
    }
    assert "spam" not in SCORED


def test_suffix_match_respects_component_boundaries(corpus: Path, tmp_path: Path) -> None:
    f = tmp_path / "l.csv"
    f.write_text("path,label\nnign/a.eml,malicious\n")
    assert labelled(corpus, Labels.load(f))["1@example.org"] == "benign"


def test_maildir_message_by_file_path(corpus: Path, tmp_path: Path) -> None:
    f = tmp_path / "l.csv"
    f.write_text('path,label\n"sircam/cur/1.x:2,S",benign\n')  # Maildir names hold commas
    assert labelled(corpus, Labels.load(f))["2@example.org"] == "benign"


def test_dotdot_paths_resolve_against_the_cwd(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    f = tmp_path / "l.csv"
    f.write_text("path,label\n../corpus/unsorted/c.eml,malicious\n")
    labels = Labels.load(f)
    assert labels.label_for(str(corpus / "unsorted" / "c.eml"), None, None, None) == "malicious"
    assert labels.label_for("/elsewhere/corpus/unsorted/c.eml", None, None, None) is None


def test_jsonl_by_message_id_and_precedence(corpus: Path, tmp_path: Path) -> None:
    f = tmp_path / "labels.jsonl"
    rows = [
        {"message_id": "<m3@example.org>", "label": "malicious"},
        {"message_id": "m1@example.org", "label": "malicious"},  # brackets optional
        {"path": "Benign/a.eml", "label": "benign"},  # path beats Message-ID
        {"message_id": "<m6@example.org>", "label": "malicious"},
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    labels = Labels.load(f)
    got = {
        m.message_id: m.label  # type: ignore[union-attr]
        for m in iter_messages([corpus], labels)
    }
    assert got == {
        "<m1@example.org>": "benign",
        "<m2@example.org>": "malicious",
        "<m3@example.org>": "malicious",
        "<m4@example.org>": "malicious",
        "<m5@example.org>": "malicious",
        "<m6@example.org>": "malicious",
    }
    assert len(labels) == 4


def test_csv_with_both_columns(tmp_path: Path) -> None:
    f = tmp_path / "l.csv"
    f.write_text("message_id,path,label\n<x@y>,,malicious\n,a/b.eml,benign\n")
    labels = Labels.load(f)
    assert labels.label_for("z", None, "<x@y>", None) == "malicious"
    assert labels.label_for(os.path.join("q", "a", "b.eml"), None, None, None) == "benign"


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("file,kind\na,b\n", ":1:", "expected a header"),
        ("path,label\na.eml,benign\nb.eml\n", ":3:", "expected 2 fields"),
        ("path,label\na.eml,\n", ":2:", "empty label"),
        ("path,message_id,label\n,,benign\n", ":2:", "needs a path or a message_id"),
        ("", ":1:", "empty labels file"),
        ('{"path": "a", "label": "benign"}\n{"path": "b", "label": \n', ":2:", "not a JSON object"),
        ('{"path": "a", "label": "benign"}\n[1, 2]\n', ":2:", "expected a JSON object"),
        ('{"path": "a"}\n', ":1:", "missing or empty label"),
        ('{"path": 3, "label": "benign"}\n', ":1:", "path must be a string"),
        ('{"message_id": "<>", "label": "benign"}\n', ":1:", "empty message_id"),
    ],
)
def test_bad_label_files(tmp_path: Path, text: str, where: str, what: str) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(ValueError) as err:
        Labels.load(f)
    assert f"{f}{where}" in str(err.value) and what in str(err.value)


def test_missing_labels_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read labels file"):
        Labels.load(tmp_path / "nope.csv")


def test_merge(tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_text("message_id,label\n<x@y>,benign\n")
    b = tmp_path / "b.jsonl"
    b.write_text('{"message_id": "<x@y>", "label": "malicious"}\n')
    merged = merge(Labels.load(p) for p in (a, b))
    assert merged.label_for("p", None, "<x@y>", None) == "malicious"
