"""Office Open XML parts (``.docx``, ``.xlsm``, ``.pptx``...): relationships, macro sheets.

An OOXML document is a zip whose parts the archive readers already list as members,
within the shared limits; this module reads the few parts that carry active content,
each on its own, by its path in the package:

Contract:
- ``*.rels`` (relationship parts): every relationship with ``TargetMode="External"``
  other than a plain hyperlink adds ``type -> target`` to ``external_links``
  (``content.facts`` prefixes the part)
  (``attachedTemplate`` is a remote template, ``oleObject`` with ``mhtml:`` or
  ``ms-msdt:`` the Follina shape, ``frame``, ``subDocument``, ``externalLinkPath``, a
  remote ``image``); a hyperlink counts only when its scheme starts a program or
  reaches a file share (``ms-msdt:``, ``search-ms:``, ``file:``, ``\\\\host``), never for
  ``http``, ``https`` or ``mailto``.
- ``xl/macrosheets/*`` parts are Excel 4.0 macro sheets (``macros``); ``xl/workbook.xml``
  and ``xl/workbook.bin`` defined names ``Auto_Open`` (or ``_xlnm.Auto_Open``) are
  ``auto_run``. VBA in OOXML (``vbaProject.bin``) is an OLE member and read as one.
- Relationship parts are scanned as text with a bounded regular expression, never
  through an XML parser, so entity tricks cannot cost memory.

Limits of this module: ``.xlsb`` defined names are found by their text only; ODF
(``.odt``) macros and linked objects are not read; RTF is not read.
"""

from __future__ import annotations

import re

from mailpolicy.corpus.content.model import Found

_REL = re.compile(rb"<(?:\w+:)?Relationship\b([^>]{0,8192})>", re.IGNORECASE)
_ATTR = re.compile(rb"""\b(Type|Target|TargetMode)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
#: hyperlink targets that open a web page or a mail window: a click, not a fetch
_PLAIN = re.compile(r"^(?:https?|mailto):|^#", re.IGNORECASE)
_AUTO_OPEN = re.compile(rb"""name\s*=\s*["'](?:_xlnm\.)?auto_open""", re.IGNORECASE)


def is_rels(name: str) -> bool:
    return name.lower().endswith(".rels")


def is_macrosheet(name: str) -> bool:
    low = name.lower().lstrip("/")
    return low.startswith("xl/macrosheets/") and not low.endswith(".rels")


def is_workbook(name: str) -> bool:
    return name.lower().lstrip("/") in ("xl/workbook.xml", "xl/workbook.bin")


def read_rels(data: bytes, part: str, found: Found) -> None:
    """Relationships of the part ``part`` that are fetched from outside."""
    for m in _REL.finditer(data):
        attrs = {
            k.decode(): (v1 or v2).decode("utf-8", "replace")
            for k, v1, v2 in _ATTR.findall(m.group(1))
        }
        if attrs.get("TargetMode", "").lower() != "external":
            continue
        kind = attrs.get("Type", "").rstrip("/").rsplit("/", 1)[-1] or "relationship"
        target = attrs.get("Target", "").strip()
        if kind == "hyperlink" and _PLAIN.match(target):
            continue
        found.add("external_links", f"{kind} -> {target}")


def read_macrosheet(part: str, found: Found) -> None:
    found.add("macros", f"Excel 4.0 macro sheet {part}")


def read_workbook(data: bytes, part: str, found: Found) -> None:
    if _AUTO_OPEN.search(data) or (part.endswith(".bin") and b"A\0u\0t\0o\0_\0O\0p\0e\0n" in data):
        found.add("auto_run", f"Auto_Open defined name in {part}")
