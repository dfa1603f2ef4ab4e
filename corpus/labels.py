"""Labels for scoring: which messages of a corpus are benign and which are malicious.

Contract:
- **Folder labels.** A message read from below a folder named ``benign`` or ``malicious``
  (case-insensitive) carries that label; so does a message from a file whose name minus
  its extensions is one of them (``malicious.mbox``, ``benign.mbox.gz``). Only the
  components from the corpus root that was given (its own name included) downwards count,
  so a corpus stored under ``/home/benign/`` is not labelled by accident. The innermost
  labelled component wins. See ``folder_label``.
- **A labels file** (``--labels FILE``, ``Labels.load``) overrides folder labels. It is CSV
  with a header naming a ``label`` column and a ``path`` and/or ``message_id`` column, or
  JSON Lines: one object a line with ``label`` and ``path`` or ``message_id``. Blank lines
  and, in CSV, lines starting with ``#`` are skipped. A bad file raises ``ValueError``
  naming the file and the line.
- **Matching a path.** An entry matches a message when its path components are a suffix
  of the message's absolute path components (so the path as given, a path relative to the
  current directory, and a shorter tail such as ``malicious/x.eml`` all match). Entries
  that are absolute or contain ``..`` are resolved against the current directory and must
  match the whole path. ``path:key`` names one message inside an mbox (``inbox.mbox:1042``,
  the byte offset of its ``From`` line) or a Maildir/MH folder (``maildir:name``); for
  Maildir, ``maildir/cur/name`` works too.
- **Precedence**: ``path:key`` entry, then whole-file path entry, then Message-ID entry,
  then the folder label.

Any non-empty label is kept (``spam``, ``unknown``, ...), lower-cased; only the labels in
``SCORED`` are scored by the simulator, every other label is reported but not scored.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mailpolicy.corpus import filestreams

#: Largest labels file read (a CSV line a message: millions of messages fit).
MAX_LABELS_BYTES = 256 << 20

#: The labels the simulator scores; others are carried through and reported only.
SCORED = ("benign", "malicious")


def _stem(component: str) -> str:
    return component.split(".", 1)[0].lower() if not component.startswith(".") else ""


def folder_label(path: str | Path, root: str | Path | None = None) -> str | None:
    """The folder label of ``path``: the innermost ``benign``/``malicious`` component.

    Only ``root``'s own last component and the components below it are looked at (all
    components of ``path`` when ``root`` is None).

    >>> folder_label("corpus/malicious/sircam/x.eml", "corpus")
    'malicious'
    >>> folder_label("/home/benign/corpus/x.eml", "/home/benign/corpus/x.eml") is None
    True
    >>> folder_label("spool/Benign.mbox.gz", "spool/Benign.mbox.gz")
    'benign'
    """
    parts = Path(path).parts
    if root is not None:
        nroot = len(Path(root).parts)
        parts = parts[max(nroot - 1, 0) :] if nroot else parts
    for part in reversed(parts):
        stem = _stem(part)
        if stem in SCORED:
            return stem
    return None


def _components(path: str) -> tuple[str, ...]:
    """Absolute, normalised path components (``os.path.abspath`` keeps symlinks as given)."""
    return Path(os.path.abspath(path)).parts


def _normalize_message_id(mid: str) -> str:
    return mid.strip().strip("<>").strip()


@dataclass(frozen=True)
class _Entry:
    parts: tuple[str, ...]
    exact: bool  # absolute or with "..": the whole path must match
    label: str


@dataclass
class Labels:
    """Label overrides read from a labels file (see the module docstring)."""

    #: entries indexed by their last path component
    by_name: dict[str, list[_Entry]] = field(default_factory=dict)
    by_message_id: dict[str, str] = field(default_factory=dict)
    source: str = ""

    # -- building ----------------------------------------------------------------------
    def add_path(self, path: str, label: str) -> None:
        raw = Path(path)
        exact = raw.is_absolute() or ".." in raw.parts
        parts = _components(path) if exact else Path(os.path.normpath(path)).parts
        if not parts:
            raise ValueError("empty path")
        self.by_name.setdefault(parts[-1], []).append(_Entry(parts, exact, label))

    def add_message_id(self, message_id: str, label: str) -> None:
        mid = _normalize_message_id(message_id)
        if not mid:
            raise ValueError("empty message_id")
        self.by_message_id[mid] = label

    @classmethod
    def load(cls, path: str | Path) -> Labels:
        """Read a CSV or JSON Lines labels file; ``ValueError`` with the line on bad input."""
        name = str(path)
        try:  # a regular file only: a FIFO or a /proc entry given as labels never blocks
            with filestreams.open_regular(name) as f:
                data = f.read(MAX_LABELS_BYTES + 1)
            if len(data) > MAX_LABELS_BYTES:
                raise ValueError(f"{name}: labels file larger than {MAX_LABELS_BYTES >> 20} MB")
            text = data.decode("utf-8-sig").replace("\r\n", "\n")
        except OSError as exc:
            raise ValueError(f"{name}: cannot read labels file: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ValueError(f"{name}: cannot read labels file: {exc}") from exc
        labels = cls(source=name)
        first = text.lstrip()[:1]
        if first == "{":
            labels._load_jsonl(text, name)
        else:
            labels._load_csv(text, name)
        return labels

    def _add(self, name: str, line: int, path: object, mid: object, label: object) -> None:
        where = f"{name}:{line}"
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"{where}: missing or empty label")
        value = label.strip().lower()
        given = False
        for kind, item in (("path", path), ("message_id", mid)):
            if item is None or item == "":
                continue
            if not isinstance(item, str):
                raise ValueError(f"{where}: {kind} must be a string, not {type(item).__name__}")
            try:
                (self.add_path if kind == "path" else self.add_message_id)(item, value)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            given = True
        if not given:
            raise ValueError(f"{where}: a row needs a path or a message_id")

    def _load_jsonl(self, text: str, name: str) -> None:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{name}:{number}: not a JSON object: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise ValueError(
                    f"{name}:{number}: expected a JSON object with path or message_id and label"
                )
            self._add(name, number, obj.get("path"), obj.get("message_id"), obj.get("label"))

    def _load_csv(self, text: str, name: str) -> None:
        lines = [
            (n, ln)
            for n, ln in enumerate(text.splitlines(), 1)
            if ln.strip() and not ln.lstrip().startswith("#")
        ]
        if not lines:
            raise ValueError(
                f"{name}:1: empty labels file (expected a header path,label or message_id,label)"
            )
        reader = csv.reader(io.StringIO("\n".join(ln for _, ln in lines)))
        try:
            rows = list(reader)
        except csv.Error as exc:
            raise ValueError(f"{name}: bad CSV: {exc}") from None
        header = [h.strip().lower() for h in rows[0]]
        head_line = lines[0][0]
        if "label" not in header or not ({"path", "message_id"} & set(header)):
            raise ValueError(
                f"{name}:{head_line}: expected a header with a label column and "
                f"a path or message_id column, got {','.join(rows[0])!r}"
            )
        if len(set(header)) != len(header):
            raise ValueError(f"{name}:{head_line}: repeated column in header")
        col = {h: i for i, h in enumerate(header)}
        for (number, _), row in zip(lines[1:], rows[1:], strict=False):
            if len(row) != len(header):
                raise ValueError(f"{name}:{number}: expected {len(header)} fields, got {len(row)}")

            def get(key: str, row: list[str] = row) -> str | None:
                return row[col[key]].strip() if key in col else None

            self._add(name, number, get("path"), get("message_id"), get("label"))

    # -- lookup ------------------------------------------------------------------------
    def _match_path(self, path: str) -> str | None:
        parts = _components(path)
        if not parts:
            return None
        found: _Entry | None = None
        for entry in self.by_name.get(parts[-1], ()):
            n = len(entry.parts)
            ok = parts == entry.parts if entry.exact else parts[-n:] == entry.parts
            # the longest (most specific) matching entry wins; among equals, the last one
            if ok and (found is None or n >= len(found.parts)):
                found = entry
        return found.label if found else None

    def label_for(
        self, path: str, key: str | None, message_id: str | None, default: str | None
    ) -> str | None:
        """The label of one message: ``path:key``, path, Message-ID, then ``default``."""
        if key is not None:
            for candidate in (
                f"{path}:{key}",
                os.path.join(path, key),
                os.path.join(path, "cur", key),
                os.path.join(path, "new", key),
            ):
                hit = self._match_path(candidate)
                if hit is not None:
                    return hit
        hit = self._match_path(path)
        if hit is not None:
            return hit
        if message_id:
            hit = self.by_message_id.get(_normalize_message_id(message_id))
            if hit is not None:
                return hit
        return default

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_name.values()) + len(self.by_message_id)


def merge(labels: Iterable[Labels]) -> Labels:
    """One ``Labels`` from several files; later files win on conflicts."""
    items = list(labels)
    out = Labels()
    for item in items:
        for name, entries in item.by_name.items():
            out.by_name.setdefault(name, []).extend(entries)
        out.by_message_id.update(item.by_message_id)
    out.source = ",".join(x.source for x in items if x.source)
    return out
