"""Text for human eyes: every invisible character of a name or a trace shown as an escape.

``visible(text)`` is what every human output (``inspect`` and ``explain`` tables, traces,
``simulate``/``diff`` tables, the HTML report) prints in place of a message-derived
string; JSON keeps the exact string. It lives in ``corpus`` so that every layer can use it
(``corpus <- policy <- simulator``).

- Control, format (bidi controls, zero-width characters, soft hyphen, BOM), private-use,
  unassigned and surrogate code points, every space other than U+0020, line and paragraph
  separators, variation selectors and fillers that draw nothing become ``\\uXXXX``
  (``\\UXXXXXXXX`` above U+FFFF): ``invoice\\u202Egpj.exe``.
- Spaces (U+0020) that pad stay visible: a leading or trailing space, or a run of two or
  more, becomes ``␠`` each, and a run longer than ``RUN`` becomes ``␠×N`` (unless a digit
  follows it):
  ``document.pdf␠×20.exe``, ``setup.exe␠␠␠``. A single space between words stays a space.
- A backslash becomes ``\\\\``, a literal ``␠`` becomes ``\\u2420``, and a ``×`` right after
  a ``␠`` marker becomes ``\\u00D7``, so the shown form maps back to exactly one string.

Limits: a character that draws as another (a homoglyph) is printable and shown as is;
combining marks other than those listed are shown as is.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["RUN", "SPACE_MARK", "invisible", "visible"]

#: A run of padding spaces longer than this is shown as ``␠×N``.
RUN = 3
#: The marker of a padding space.
SPACE_MARK = "\u2420"

#: Categories that draw nothing (or something misleading) on a terminal or in a browser.
_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp", "Zs"})
#: Printable by category, yet blank: fillers, a blank Braille pattern, joiners and selectors.
_BLANK = frozenset(
    {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x2800, 0x3164}
    | {0xFFA0}
    | set(range(0xFE00, 0xFE10))
    | set(range(0xE0100, 0xE01F0))
)
_SPACES = re.compile(" +")


def invisible(ch: str) -> bool:
    """True when the character ``ch`` is escaped by ``visible`` (U+0020 aside)."""
    if ch == " ":
        return False
    return ord(ch) in _BLANK or unicodedata.category(ch) in _CATEGORIES


def _escape(ch: str) -> str:
    n = ord(ch)
    return f"\\u{n:04X}" if n <= 0xFFFF else f"\\U{n:08X}"


def _spaces(text: str, start: int, end: int) -> str:
    n = end - start
    if n == 1 and 0 < start and end < len(text):
        return " "
    if n > RUN and not (end < len(text) and text[end].isdigit()):  # ␠×4 then 0 is not ␠×40
        return f"{SPACE_MARK}×{n}"
    return SPACE_MARK * n


def visible(text: str | None) -> str:
    """``text`` with every invisible character and padding space shown (module docstring);
    None is the empty string."""
    if not text:
        return ""
    out: list[str] = []
    i, length = 0, len(text)
    marked = False  # the last thing written ends with a space marker
    while i < length:
        ch = text[i]
        if ch == " ":
            m = _SPACES.match(text, i)
            assert m is not None
            shown = _spaces(text, i, m.end())
            out.append(shown)
            marked = shown != " "
            i = m.end()
            continue
        if ch == "\\":
            out.append("\\\\")
        elif ch == SPACE_MARK or (ch == "×" and marked) or invisible(ch):
            out.append(_escape(ch))
        else:
            out.append(ch)
        marked = False
        i += 1
    return "".join(out)
