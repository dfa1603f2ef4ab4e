"""Attachment names as the recipient's machine treats them.

``normalize`` applies what a mail client saving the file and Windows' file APIs do to a
name before they use it: the path is dropped (clients save under the last component), the
name ends at a NUL (C string APIs stop there), Unicode NFC, trailing dots and spaces
dropped (Win32 path normalisation). ``extensions`` splits the normalised name the way
Explorer does (the last dot decides what runs). ``tricks`` lists the ways a name hides its
real extension from a human reader.

Decoding wire names (RFC 2047, RFC 2231, raw 8-bit) lives in ``corpus.headers``; this
module only ever sees decoded text.

Limits: Windows' other rewrites (reserved device names such as ``CON``, characters
``<>:"|?*`` that clients replace) are not applied; they change no extension.
"""

from __future__ import annotations

import re
import unicodedata

#: Bidirectional controls that reorder what a reader sees (U+202E makes
#: ``invoice\u202egpj.exe`` display as ``invoiceexe.jpg``).
BIDI_CONTROLS = frozenset(
    "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"
)
#: Zero-width and invisible characters that hide or split an extension.
INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")
_CLSID = re.compile(
    r"\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}$", re.IGNORECASE
)
#: Whitespace padding before the last extension: "report.pdf          .exe".
_SPACE = "[ \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]"
_PADDING = re.compile(rf"{_SPACE}{{3,}}\.[^.]*$|{_SPACE}+\.[^.\s]+$")

TRICKS = (
    "bidi-control",  # U+202E and friends
    "invisible-character",
    "padding",  # whitespace before the last extension
    "trailing-dot",  # "invoice.pif."
    "trailing-space",  # "invoice.pif "
    "clsid-extension",  # "file.{3050F4D8-98B5-11CF-BB82-00AA00BDCE0B}"
    "control-character",  # NUL, LF, ... inside a name
    "name-disagreement",  # Content-Type name= and Content-Disposition filename= differ
    "path-in-name",  # "../../x.exe" or "C:\\x.exe"
)


def normalize(name: str) -> str:
    r"""The name Windows would create from a decoded attachment name.

    >>> normalize("invoice.pif. . ")
    'invoice.pif'
    >>> normalize("evil.bat\x00.txt")
    'evil.bat'
    >>> normalize("../../x/run.exe")
    'run.exe'
    """
    name = name.split("\0", 1)[0]
    base = re.split(r"[\\/]", name)[-1]
    if base.strip(". "):  # keep "dir/" or "..." as written rather than an empty name
        name = base
    return unicodedata.normalize("NFC", name).rstrip(". ")


def extensions(name: str) -> tuple[str, ...]:
    """Lower-case extensions of an already normalised name, in order.

    The first dot-separated part is the stem (a leading dot belongs to it), empty parts are
    dropped, and surrounding whitespace of each part is ignored; a CLSID in braces counts
    as an extension.

    >>> extensions("test.tar.gz")
    ('tar', 'gz')
    >>> extensions("書類名1.doc.bat")
    ('doc', 'bat')
    """
    base = re.split(r"[\\/]", name)[-1]
    parts = base.lstrip(".").split(".")[1:]
    return tuple(p.strip().lower() for p in parts if p.strip())


def tricks(name: str) -> tuple[str, ...]:
    """The tricks a decoded name uses, as codes from ``TRICKS``.

    >>> tricks("invoice\u202egpj.exe")
    ('bidi-control',)
    >>> tricks("evil.bat. ")
    ('trailing-dot', 'trailing-space')
    """
    found: list[str] = []
    if any(c in BIDI_CONTROLS for c in name):
        found.append("bidi-control")
    if any(c in INVISIBLE for c in name):
        found.append("invisible-character")
    if any(unicodedata.category(c) == "Cc" for c in name):
        found.append("control-character")
    stripped = name.rstrip(". ")
    tail = name[len(stripped) :]
    if "." in tail:
        found.append("trailing-dot")
    if " " in tail:
        found.append("trailing-space")
    if _PADDING.search(stripped):
        found.append("padding")
    if _CLSID.search(stripped):
        found.append("clsid-extension")
    if "/" in name or "\\" in name:
        found.append("path-in-name")
    return tuple(found)
