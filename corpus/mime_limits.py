"""The limits of the MIME reader, why each has its value, and the words a limit hit leaves.

Contract:
- Every limit here bounds work *before* it is done: a header block is cut at
  ``MAX_HEADER_LINES`` lines (and a message's header lines at a budget), values at
  ``HEADER_LIMIT`` bytes, a
  multipart's delimiters are counted against ``MAX_PARTS`` before its parts are walked,
  a text part is decoded for the uuencode scan only up to ``SCAN_WINDOW`` decoded bytes,
  a TNEF part is expanded only if its *decoded* size is within ``TNEF_LIMIT`` and its
  object count within ``MAX_TNEF_OBJECTS``. So a message of any shape is read in time
  and memory linear in its size, with small constants (figures in ``notes``).
- Every limit hit is a fact, never a silent pass: the reader adds a ``Message.unscannable``
  reason (message level: nesting, parts, header blocks, scan windows) or an
  ``Attachment.unscannable`` reason (a part that could not be expanded: TNEF), each a
  short phrase naming the limit and the part (``reason``). What can still be seen cheaply
  beyond a limit (the names in the header lines of the parts not walked) is listed as
  name-only attachments that carry the reason too.

Why these values (defaults of the scanners mail servers run in front of mailboxes):
- ClamAV ``clamd.conf(5)``: ``MaxRecursion`` 17 (nesting of containers, mail included),
  ``MaxFiles`` 10000 (files scanned in one container); over-limit files are reported clean
  unless ``AlertExceedsMax`` is set.
- amavisd-new ``amavisd.conf-default``: ``$MAXLEVELS`` 14 (nesting), ``$MAXFILES`` 3000
  (parts and members per message); over-limit mail is ``UNDECIPHERABLE``.
- Python's ``email`` package follows any nesting its recursion limit allows (a message
  nested 41 and 1000 levels deep still yields its attachment), and has no part limit.
The nesting limit is above every reader's (a message nested deeper than any reader goes
can only be an attack, and is unscannable here rather than followed); the part limit is
ClamAV's, the larger of the two scanners'. Both are far above real mail: the bundled and
third-party corpora nest at most 6 levels and carry at most 40 parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_DEPTH = 100  #: multipart / message nesting levels followed
MAX_PARTS = 10_000  #: MIME entities read per message (ClamAV MaxFiles)
MAX_HEADERS = 2000  #: header fields kept per entity
MAX_HEADER_LINES = 20_000  #: lines of one header block read (folded lines count once a run)
HEADER_LIMIT = 256 * 1024  #: bytes of one header value that are kept and decoded
TNEF_LIMIT = 32 * 1024 * 1024  #: decoded winmail.dat parts larger than this are not expanded
MAX_TNEF_OBJECTS = 20_000  #: TNEF attributes read from one winmail.dat
UU_LIMIT = 100  #: uuencoded / BinHex files taken from one text part
SCAN_WINDOW = 32 * 1024 * 1024  #: decoded bytes of a text part searched for uuencode/BinHex
NAMES_BEYOND = 1000  #: names listed from parts beyond a limit, per message


def reason(limit: str, where: str) -> str:
    """``"<limit> at part <where>"``: the phrase a trace prints."""
    return f"{limit} at part {where.rstrip('/') or 'top'}"


@dataclass(slots=True)
class Budget:
    """What one message may still spend: parts walked and names listed beyond limits."""

    parts: int = MAX_PARTS
    names_beyond: int = NAMES_BEYOND
    header_lines: int = 0  #: header lines read so far (``mime_structure`` bounds the total)
    reasons: list[str] = field(default_factory=list)

    def hit(self, text: str) -> None:
        """Record a limit hit once (the first 50 distinct ones: enough to act on)."""
        if text not in self.reasons and len(self.reasons) < 50:
            self.reasons.append(text)
