"""Attachment names as the recipient's machine treats them.

``normalize`` applies what a mail client saving the file and Windows' file APIs do to a
name before they use it: the path is dropped (clients save under the last component), the
name ends at a NUL (C string APIs stop there), Unicode NFC, trailing dots and spaces
dropped (Win32 path normalisation). ``extensions`` splits the normalised name the way
Explorer does (the last dot decides what runs), each extension in its confusable
skeleton (``skeleton``: ``ехе`` written in Cyrillic is ``exe``). ``tricks`` lists the
ways a name hides its real extension from a human reader.

Thresholds, and why:
- ``padding``: a run of at least ``PADDING_RUN`` (4) whitespace characters before the
  last extension. Mail clients show an attachment name in a chip or a column about 20 to
  30 characters wide and cut the rest (Outlook and Gmail put an ellipsis in the middle or
  at the end): a few spaces move nothing out of view, dozens do. One stray space
  (``Final Report .docx``) or a double space from a typo is not a trick.
- ``path-in-name``: a top-level attachment name (a MIME ``name``/``filename``) is a
  single file name, so any directory part is suspect; inside an archive, folders are
  ordinary (``word/document.xml``, ``pkg-1.0/src/x.py``) and only ``..`` components,
  absolute and UNC paths (``/etc/x``) and drive letters (``C:``) are tricks.
- ``homoglyph``: an extension written with letters of another script that look like
  Latin ones (Unicode TR39 confusables): its skeleton is plain ASCII but the extension
  as written is not. The skeleton uses ``CONFUSABLES``, a small table taken from
  Unicode's ``confusables.txt`` for the letters that spell extensions (Cyrillic, Greek,
  Armenian, Cherokee and Latin look-alikes of a-z), after NFKC (which already folds
  full-width and mathematical letters); a whole-repertoire library such as
  ``confusable-homoglyphs`` answers "is this string mixed-script" but gives no skeleton,
  and the extensions are short, so a table we can read and test is the better fit.

``CONTAINER_TRICKS`` are the codes archive readers give a container whose structure other
readers see differently; they reach ``Attachment.tricks`` through the listing.

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
#: Whitespace run (and blank look-alikes: Braille blank, Hangul fillers) that counts as
#: padding before the last extension: "report.pdf          .exe".
PADDING_RUN = 4
_SPACE = "[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\u2800\u3164\u115f\u1160\uffa0]"
_PADDING = re.compile(rf"{_SPACE}{{{PADDING_RUN},}}[^.]*\.[^.]*$")
_DRIVE = re.compile(r"^[A-Za-z]:")

#: Letters that look like a-z (TR39 confusables.txt, prototypes in a-z), beyond what
#: NFKC folds. Upper-case look-alikes map to the lower-case Latin letter.
CONFUSABLES = {
    **dict.fromkeys("аαɑ⍺", "a"),
    **dict.fromkeys("АΑᎪ", "a"),
    **dict.fromkeys("ВΒᏴЬ", "b"),
    **dict.fromkeys("сϲᴄⅽ", "c"),
    **dict.fromkeys("СϹᏟⅭ", "c"),
    **dict.fromkeys("ԁⅾ", "d"),
    **dict.fromkeys("ᎠⅮ", "d"),
    **dict.fromkeys("еҽ℮", "e"),
    **dict.fromkeys("ЕΕᎬ", "e"),
    **dict.fromkeys("ϜҒ", "f"),
    **dict.fromkeys("ɡց", "g"),
    **dict.fromkeys("һհ", "h"),
    **dict.fromkeys("НΗᎻ", "h"),
    **dict.fromkeys("іıιⅰӏ", "i"),
    **dict.fromkeys("ІΙӀⅠ", "i"),
    **dict.fromkeys("јϳ", "j"),
    **dict.fromkeys("ЈᎫ", "j"),
    **dict.fromkeys("КΚᏦ", "k"),
    **dict.fromkeys("ⅼ", "l"),
    **dict.fromkeys("ⅬᏞ", "l"),
    **dict.fromkeys("ⅿ", "m"),
    **dict.fromkeys("МΜᎷⅯ", "m"),
    **dict.fromkeys("ո", "n"),
    **dict.fromkeys("Ν", "n"),
    **dict.fromkeys("оοօ", "o"),
    **dict.fromkeys("ОΟՕ", "o"),
    **dict.fromkeys("рρ", "p"),
    **dict.fromkeys("РΡᏢ", "p"),
    **dict.fromkeys("ԛ", "q"),
    **dict.fromkeys("ѕ", "s"),
    **dict.fromkeys("ЅᏚ", "s"),
    **dict.fromkeys("ТΤᎢ", "t"),
    **dict.fromkeys("υս", "u"),
    **dict.fromkeys("ѵνⅴ", "v"),
    **dict.fromkeys("ᏙⅤ", "v"),
    **dict.fromkeys("ԝ", "w"),
    **dict.fromkeys("ᎳԜ", "w"),
    **dict.fromkeys("хⅹ", "x"),
    **dict.fromkeys("ХΧⅩ", "x"),
    **dict.fromkeys("уγ", "y"),
    **dict.fromkeys("УΥҮ", "y"),
    **dict.fromkeys("ΖᏃ", "z"),
}

CONTAINER_TRICKS = (
    "concatenated-archive",  # two archives in one file (7-Zip shows one, zipfile another)
    "overlapping-entries",  # zip entries sharing bytes: the overlap zip bomb (CVE-2024-0450)
    "directory-mismatch",  # central directory missing or disagreeing with the local headers
)

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
    "homoglyph",  # an extension in look-alike letters: "invoice.ехе" (Cyrillic)
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
    return tuple(skeleton(p.strip()) for p in parts if p.strip())


def skeleton(text: str) -> str:
    """``text`` as it looks: NFKC, confusable letters mapped to Latin (``CONFUSABLES``),
    lower case.

    >>> skeleton("ЕХЕ"), skeleton("ｅｘｅ"), skeleton("pdf")
    ('exe', 'exe', 'pdf')
    """
    if text.isascii():
        return text.lower()
    folded = unicodedata.normalize("NFKC", text)
    return "".join(CONFUSABLES.get(c, c) for c in folded).lower()


def _homoglyph(name: str) -> bool:
    """An extension not in ASCII whose skeleton is plain ASCII letters and digits."""
    if name.isascii():
        return False
    base = re.split(r"[\\/]", normalize(name))[-1]
    for part in (p.strip() for p in base.lstrip(".").split(".")[1:]):
        if part and not part.isascii():
            skel = skeleton(part)
            if skel.isascii() and skel.isalnum():
                return True
    return False


def _hides_path(name: str, in_archive: bool) -> bool:
    if "/" not in name and "\\" not in name and not _DRIVE.match(name):
        return False
    if not in_archive:
        return True
    parts = re.split(r"[\\/]", name)
    return name.startswith(("/", "\\")) or bool(_DRIVE.match(name)) or ".." in parts


def tricks(name: str, in_archive: bool = False) -> tuple[str, ...]:
    """The tricks a decoded name uses, as codes from ``TRICKS`` (``in_archive``: a member
    name, whose folders are ordinary; see the module docstring).

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
    if _hides_path(name, in_archive):
        found.append("path-in-name")
    if _homoglyph(name):
        found.append("homoglyph")
    return tuple(found)
