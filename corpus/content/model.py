"""What the content readers found in one attachment: ``ContentFacts``, and its builder.

Contract:
- ``ContentFacts`` is frozen; each field is a tuple of evidence phrases, empty when the
  fact does not hold, and every phrase names where it was found (a VBA module, a PDF
  object number, a relationship part and its target, a blob's offset and type).
- ``Found`` collects phrases while a reader runs (each phrase once, in order) and
  ``Found.facts()`` freezes them. ``ContentFacts.within(part)`` prefixes every phrase with
  the member it came from, for a container's view of what its members hold.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class ContentFacts:
    """Active content of one attachment (and, through ``content.facts``, its members)."""

    #: VBA modules (OLE and OOXML) and Excel 4.0 macro sheets
    macros: tuple[str, ...] = ()
    #: entry points Office runs on opening (AutoOpen, Document_Open, Workbook_Open,
    #: an Auto_Open name of an Excel 4.0 sheet)
    auto_run: tuple[str, ...] = ()
    #: PDF /JavaScript and /JS actions; HTML and SVG scripts, event handlers, javascript: URLs
    javascript: tuple[str, ...] = ()
    #: PDF /Launch actions (run a program or open a file)
    launch: tuple[str, ...] = ()
    #: files carried inside to be opened by the reader: PDF /EmbeddedFile, OLE packages
    embedded_files: tuple[str, ...] = ()
    #: OOXML relationships fetched from outside (remote template, OLE object, frame) and
    #: links with schemes that start programs (ms-msdt:, search-ms:, file:)
    external_links: tuple[str, ...] = ()
    #: files an HTML or SVG page assembles in the browser from data it carries
    smuggling: tuple[str, ...] = ()
    #: what runs actions on opening: PDF /OpenAction and /AA (evidence for the above)
    triggers: tuple[str, ...] = ()
    #: what could not be read completely (fails closed as ``attachment unscannable``)
    unscannable: tuple[str, ...] = ()

    def within(self, part: str) -> ContentFacts:
        """These facts as seen from a container: every phrase prefixed with ``part``."""
        return ContentFacts(
            **{f.name: tuple(f"{part}: {p}" for p in getattr(self, f.name)) for f in fields(self)}
        )

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


NONE = ContentFacts()


class Found:
    """Evidence gathered while reading; ``facts()`` freezes it."""

    def __init__(self) -> None:
        self._got: dict[str, dict[str, None]] = {f.name: {} for f in fields(ContentFacts)}

    def add(self, fact: str, phrase: str) -> None:
        self._got[fact][phrase] = None

    def has(self, fact: str) -> bool:
        return bool(self._got[fact])

    def merge(self, other: ContentFacts) -> None:
        for f in fields(other):
            for phrase in getattr(other, f.name):
                self.add(f.name, phrase)

    def facts(self) -> ContentFacts:
        return ContentFacts(**{name: tuple(got) for name, got in self._got.items()})
