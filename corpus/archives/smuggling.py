"""HTML and SVG smuggling: the files a page would build in the browser, as its members.

An HTML or SVG attachment can carry a zip, an ISO or a program as base64 text (in a
script string, a ``data:`` URL) or as a byte array, and have its script write that out
with ``atob``, ``new Blob``, ``createObjectURL`` and ``msSaveOrOpenBlob``, past every
filter that looks at attachments. This reader decodes those blobs, so the rules about
members (``contains type executable``, extensions, disk images) see what would land on
the disk.

Contract:
- ``SmugglingReader.recognises(head)``: the content starts as HTML or SVG markup (after a
  byte order mark, whitespace, an XML declaration or comments).
- ``items(data, level)``: one ``Item`` (content in hand) per blob that is a file:
  ``blobs`` finds every base64 ``data:`` URL, every base64 run of 128 characters or more
  (string literals joined by ``+`` are joined first) and every byte array of 64 numbers
  or more, and decodes them, at most ``Limits.max_member_bytes`` in all; ``is_file`` keeps
  the ones that are not an image, a font or plain text (a newsletter's inline logo is not
  a member), and plain text too when the page's script saves a file. A member is named
  by the page's own ``download`` name when it gives one, else ``smuggled-N`` with the
  extension of its detected type. ``level.document`` is set: a page is not an archive.
- Never raises for odd markup; a blob that is not valid base64 is skipped.

Limits of this module: blobs that the script decrypts, reverses, XORs or builds from
many small pieces are not decoded (``content.html`` still reports the script that saves
a file); UTF-16 pages are not read; hex escapes (``\\x4d\\x5a``) are not decoded.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass

from mailpolicy.corpus.archives.limits import check_time, mb
from mailpolicy.corpus.archives.protocol import Item, Level
from mailpolicy.corpus.message import HEAD_BYTES

_START = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]{0,256}>\s*)?(?:<!--.{0,512}?-->\s*)*"
    rb"<(?:!doctype\s+(?:html|svg)|html|head|body|script|svg|meta|title|div|table|iframe)\b",
    re.IGNORECASE | re.DOTALL,
)
_DATA_URL = re.compile(
    rb"data:([\w.+-]{1,64}/[\w.+-]{1,64})?(?:;[\w.+-]{1,64}=[^;,\s]{0,64})*;base64,"
    rb"([A-Za-z0-9+/]{16,}={0,2})",
    re.IGNORECASE,
)
_RUN = re.compile(rb"[A-Za-z0-9+/]{128,}={0,2}")
_JOIN = re.compile(rb"""(["'`])\s*\+\s*\1""")
_ARRAY = re.compile(rb"\[\s*(?:\d{1,3}\s*,\s*){63,}\d{1,3}\s*\]")
_NAMES = (
    re.compile(rb"""\bdownload\s*=\s*["'`]([^"'`<>\r\n]{1,200})["'`]""", re.IGNORECASE),
    re.compile(rb"""msSave(?:OrOpen)?Blob\s*\([^,)]{1,200},\s*["'`]([^"'`\r\n]{1,200})["'`]"""),
    re.compile(rb"""new\s+File\s*\(\s*\[[^\]]{0,200}\]\s*,\s*["'`]([^"'`\r\n]{1,200})["'`]"""),
)
#: what a script that saves a file uses: making the bytes, then handing them over
MAKES = {b"new Blob(": "new Blob", b"new File(": "new File"}
SAVES = {
    b"createObjectURL": "createObjectURL",
    b"msSaveOrOpenBlob": "msSaveOrOpenBlob",
    b"msSaveBlob": "msSaveBlob",
    b".download": "a download link",
}
#: classes of content that are files someone would open, whatever their size
FILE_CLASSES = ("executable", "script", "archive", "document", "disk-image")
_EXT = {
    "application/zip": "zip",
    "application/x-dosexec": "exe",
    "application/vnd.microsoft.portable-executable": "exe",
    "application/x-iso9660-image": "iso",
    "application/x-7z-compressed": "7z",
    "application/x-rar": "rar",
    "application/gzip": "gz",
    "application/pdf": "pdf",
    "application/x-ole-storage": "doc",
    "application/x-ms-shortcut": "lnk",
    "text/html": "html",
    "text/plain": "txt",
}


@dataclass(frozen=True, slots=True)
class Blob:
    """One decoded blob: where it came from, its bytes, and its detected type."""

    source: str  # "data: URL", "base64 text", "byte array"
    declared: str | None  # a data: URL's MIME type
    data: bytes
    mime: str
    cls: str

    def describe(self) -> str:
        said = f" declared {self.declared}" if self.declared else ""
        return f"{self.source}{said} decodes to {self.mime} ({len(self.data)} bytes)"


def markup(head: bytes) -> bool:
    """Whether content starting with ``head`` is HTML or SVG markup."""
    return _START.match(head[:1024]) is not None


def _detect(data: bytes) -> tuple[str, str]:
    if data[0x8001:0x8006] == b"CD001" or data[0x9001:0x9006] == b"CD001":
        return "application/x-iso9660-image", "disk-image"  # libmagic needs 32 KiB for it
    from mailpolicy.corpus import types

    return types.detect(data[:HEAD_BYTES])


def _b64(text: bytes) -> bytes | None:
    text = text.rstrip(b"=")
    text += b"=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def blobs(data: bytes, cap: int) -> tuple[list[Blob], bool]:
    """Every decodable blob in the page ``data``, at most ``cap`` decoded bytes in all;
    the flag says whether the cap cut the list short."""
    found: list[Blob] = []
    spent = 0
    spans: list[tuple[int, int]] = []
    candidates: list[tuple[str, str | None, bytes | None]] = []
    for m in _DATA_URL.finditer(data):
        spans.append(m.span(2))
        declared = m.group(1).decode("ascii").lower() if m.group(1) else None
        candidates.append(("data: URL", declared, _b64(m.group(2))))
    joined = _JOIN.sub(b"", data) if b"+" in data else data
    taken = {data[a:b] for a, b in spans}
    for m in _RUN.finditer(joined):
        if m.group(0) not in taken:
            candidates.append(("base64 text", None, _b64(m.group(0))))
    for m in _ARRAY.finditer(data):
        values = [int(v) for v in re.findall(rb"\d+", m.group(0))]
        if max(values) < 256:
            candidates.append(("byte array", None, bytes(values)))
    for source, declared, decoded in candidates:
        check_time()
        if decoded is None or len(decoded) < 32:
            continue
        if spent + len(decoded) > cap:
            return found, True
        spent += len(decoded)
        mime, cls = _detect(decoded)
        found.append(Blob(source, declared, decoded, mime, cls))
    return found, False


def saves_a_file(data: bytes) -> tuple[list[str], list[str]]:
    """(how the script makes bytes, how it hands them over) as found in ``data``."""
    makes = [word for key, word in MAKES.items() if key in data]
    saves = [word for key, word in SAVES.items() if key in data]
    if re.search(rb"""(?<![.\w])download\s*=\s*["'`]""", data, re.IGNORECASE):
        saves.append("a download attribute")
    return makes, list(dict.fromkeys(saves))


def is_file(blob: Blob, script_saves: bool) -> bool:
    """A blob someone would get as a file (see the module docstring)."""
    if blob.cls in FILE_CLASSES:
        return True
    media = (blob.declared or blob.mime).split("/", 1)[0]
    if media in ("image", "font", "audio", "video") or blob.mime.startswith("font/"):
        return False
    if blob.cls == "text":
        return script_saves
    return blob.cls != "image" and (len(blob.data) >= 1024 or script_saves)


def download_names(data: bytes) -> list[str]:
    """The file names the page gives its downloads, in order."""
    out: list[str] = []
    for rx in _NAMES:
        out.extend(m.group(1).decode("utf-8", "replace").strip() for m in rx.finditer(data))
    return [n for n in dict.fromkeys(out) if n and "/" not in n and "\\" not in n]


def files(data: bytes, cap: int) -> tuple[list[tuple[str, Blob]], bool]:
    """(member name, blob) of every smuggled file in the page, and the cap flag."""
    found, cut = blobs(data, cap)
    makes, saves = saves_a_file(data)
    script_saves = bool(makes and saves)
    hints = download_names(data)
    out: list[tuple[str, Blob]] = []
    for blob in found:
        if not is_file(blob, script_saves):
            continue
        n = len(out) + 1
        name = hints.pop(0) if hints else f"smuggled-{n}.{_EXT.get(blob.mime, 'bin')}"
        out.append((name, blob))
    return out, cut


class SmugglingReader:
    """HTML and SVG pages: the files they would assemble, as members."""

    def recognises(self, head: bytes) -> bool:
        return markup(head)

    def items(self, data: bytes, level: Level) -> Iterator[Item]:
        level.document = True
        lim = level.budget.limits
        found, cut = files(data, lim.max_member_bytes)
        for name, blob in found:
            yield Item(name=name, size=len(blob.data), content=blob.data)
        if cut:  # a limit: the expansion stops and says so (``attachment unscannable``)
            raise level.budget.trip(f"smuggled blobs larger than {mb(lim.max_member_bytes)}")
