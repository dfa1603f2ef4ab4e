"""Active content as facts: macros, PDF actions, external links, scripts and smuggling.

Contract:
- ``facts(attachment)`` is what the attachment and everything inside it hold
  (``ContentFacts``): its own content read by the reader for its kind, then each member's
  (``Attachment.walk``), every phrase of a member prefixed with the member's part. It is
  computed once per attachment object and kept in a weak dictionary (the message model
  needs no new field) and it never raises.
- ``own(attachment)``: the facts of this one part, without its members. The reader is
  chosen by content, and for OOXML parts by their path in the package:
  ``ole`` (OLE2: VBA, Excel 4.0 sheets, OLE packages, encrypted Office), ``pdf`` (actions),
  ``ooxml`` (``*.rels`` external relationships, macro sheets, ``Auto_Open`` names),
  ``html`` (HTML and SVG, recognised by content or by a ``.html``/``.svg``-like name:
  scripts and smuggling). An OOXML document's ``vbaProject.bin`` is a member, read as OLE.
- Every reader runs under the shared limits (``archives.limits.LIMITS``: bytes read,
  decompression caps, the per-context deadline). Whatever stops it (an exception, the
  deadline) becomes a reason in ``unscannable`` naming the reader and the part, and what
  it had found before stays; nothing is raised to the policy.

Limits of this package: RTF, ODF, OneNote and LNK content is not read here (their
containers may list members); each reader's module states what it does not read.
"""

from __future__ import annotations

import weakref

from mailpolicy.corpus import names as _names
from mailpolicy.corpus.archives import smuggling
from mailpolicy.corpus.archives.limits import LIMITS, Limits, Stop
from mailpolicy.corpus.content import html, ole, ooxml, pdf
from mailpolicy.corpus.content.model import NONE, ContentFacts, Found
from mailpolicy.corpus.message import Attachment

__all__ = ["ContentFacts", "facts", "own"]

_OWN: weakref.WeakKeyDictionary[Attachment, ContentFacts] = weakref.WeakKeyDictionary()
_ALL: weakref.WeakKeyDictionary[Attachment, ContentFacts] = weakref.WeakKeyDictionary()


def _kind(a: Attachment, head: bytes) -> str | None:
    name = a.name or ""
    if a.in_archive and ooxml.is_rels(name):
        return "rels"
    if a.in_archive and ooxml.is_macrosheet(name):
        return "macrosheet"
    if a.in_archive and ooxml.is_workbook(name):
        return "workbook"
    if ole.is_ole(head):
        return "ole"
    if pdf.is_pdf(head):
        return "pdf"
    ext = _names.extensions(a.normalized_name or "")
    if b"\0" not in head[:512] and (smuggling.markup(head) or (ext and ext[-1] in html.EXTENSIONS)):
        return "html"
    return None


def _read(a: Attachment, limits: Limits) -> ContentFacts:
    found = Found()
    where = a.part or a.name or "attachment"
    try:
        data = a.data
        kind = _kind(a, data[:1024])
        if kind is None:
            return NONE
        if len(data) > limits.max_member_bytes:
            found.add("unscannable", f"{kind} content larger than {limits.max_member_bytes} bytes")
            data = data[: limits.max_member_bytes]
        name = a.name or ""
        if kind == "rels":
            ooxml.read_rels(data, name, found)
        elif kind == "macrosheet":
            ooxml.read_macrosheet(name, found)
        elif kind == "workbook":
            ooxml.read_workbook(data, name, found)
        elif kind == "ole":
            ole.read(data, found, limits)
        elif kind == "pdf":
            pdf.read(data, found, limits)
        else:
            html.read(data, found, limits)
    except Stop as stop:
        found.add("unscannable", f"{where}: {stop}")
    except Exception as exc:  # noqa: BLE001 a reader's failure is a fact, never a crash
        found.add("unscannable", f"{where}: content reader failed: {type(exc).__name__}: {exc}")
    return found.facts()


def own(a: Attachment, limits: Limits = LIMITS) -> ContentFacts:
    """The content facts of ``a`` itself, without its members (cached)."""
    got = _OWN.get(a)
    if got is None:
        got = _OWN[a] = _read(a, limits)
    return got


def facts(a: Attachment, limits: Limits = LIMITS) -> ContentFacts:
    """What ``a`` and everything inside it hold (see the module docstring); never raises."""
    got = _ALL.get(a)
    if got is not None:
        return got
    found = Found()
    found.merge(own(a, limits))
    try:
        members = a.walk()[1:]
    except Exception as exc:  # noqa: BLE001 a listing that fails is a fact
        members = ()
        found.add("unscannable", f"members not listed: {type(exc).__name__}: {exc}")
    for m in members:
        mine = own(m, limits)
        if mine:
            found.merge(mine.within(m.part or m.name or "member"))
    got = _ALL[a] = found.facts()
    return got
