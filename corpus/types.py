"""True type of an attachment from its first bytes.

Uses libmagic (through python-magic): it is the engine of file(1), the detector amavis
relies on, maintained with the file database of every Linux distribution, and it knows
thousands of formats where a hand-written table would know dozens. Its MIME answer is
mapped to the coarse classes a policy names (``type executable``).

Contract:
- ``detect(head)`` returns (MIME type, class) for content starting with ``head`` (the first
  ``message.HEAD_BYTES``); it never raises (a libmagic failure gives
  ``application/octet-stream``, class ``other``). One libmagic handle per thread, as
  libmagic handles are not thread-safe.
- ``classify(mime)`` maps a MIME type to one of ``CLASSES``.
- ``mismatch(extension, mime, cls)`` is true when the name's last extension disagrees with
  the content in a way that matters: executable content under any name that does not run
  as an executable (``photo.jpg`` that is a PE, ``readme.txt`` that is an ELF), script
  content under a document, image, archive or executable extension, and a known
  extension whose expected class differs from the content. Benign pairs stay quiet:
  OOXML/ODF documents are zip containers, a document saved as a ``.zip``, a ``.jpg`` that
  is PNG, ``.txt``/``.csv`` that are any text, RTF saved as ``.doc``; unknown content
  (class ``other``) and names without an extension are never a mismatch.

Limits (of content sniffing itself): scripts without a shebang are plain text to
libmagic: a ``.bat`` is recognised only when it starts like one (``@echo off``), and
JScript, VBScript and PowerShell look like ``text/plain``; HTA files look like HTML.
A policy should treat those by extension (``extension in executable``), not by type.
A minimal OOXML file may be reported as plain ``application/zip``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import magic

CLASSES = ("executable", "script", "archive", "document", "image", "text", "other")

_local = threading.local()


def _magic() -> magic.Magic:
    handle = getattr(_local, "magic", None)
    if handle is None:
        import magic

        handle = _local.magic = magic.Magic(mime=True)
    return handle


_EXECUTABLE = frozenset(
    {
        "application/x-dosexec",
        "application/x-msdownload",
        "application/vnd.microsoft.portable-executable",
        "application/x-executable",
        "application/x-sharedlib",
        "application/x-pie-executable",
        "application/x-mach-binary",
        "application/x-elf",
        "application/x-msi",
        "application/x-ms-installer",
        "application/x-ms-shortcut",
        "application/x-java-applet",
        "application/x-coff",
        "application/x-object",
    }
)
_ARCHIVE = frozenset(
    {
        "application/zip",
        "application/x-zip-compressed",
        "application/x-tar",
        "application/gzip",
        "application/x-gzip",
        "application/x-bzip2",
        "application/x-xz",
        "application/x-7z-compressed",
        "application/x-rar",
        "application/vnd.rar",
        "application/x-rar-compressed",
        "application/x-lzma",
        "application/x-lzip",
        "application/x-lz4",
        "application/zstd",
        "application/x-compress",
        "application/x-iso9660-image",
        "application/x-cpio",
        "application/vnd.ms-cab-compressed",
        "application/java-archive",
        "application/x-archive",
        "application/x-arj",
        "application/x-lha",
        "application/x-lzh-compressed",
        "application/x-ace-compressed",
        "application/x-stuffit",
        "application/x-apple-diskimage",
        "application/x-xar",
    }
)
_DOCUMENT = frozenset(
    {
        "application/pdf",
        "application/rtf",
        "text/rtf",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.ms-office",
        "application/x-ole-storage",
        "application/cdfv2",
        "application/vnd.ms-outlook",
        "application/postscript",
        "application/x-hwp",
        "application/vnd.visio",
    }
)
_SCRIPT_MARKERS = (
    "script",
    "x-sh",
    "x-perl",
    "x-python",
    "javascript",
    "x-msdos-batch",
    "x-php",
    "x-ruby",
    "x-awk",
    "x-tcl",
    "x-lua",
    "x-powershell",
)


def classify(mime: str) -> str:
    """Map a MIME type to one of ``CLASSES``.

    >>> classify("application/vnd.microsoft.portable-executable"), classify("text/x-shellscript")
    ('executable', 'script')
    """
    mime = mime.lower().split(";", 1)[0].strip()
    if mime in _EXECUTABLE:
        return "executable"
    if mime in _DOCUMENT or mime.startswith(
        (
            "application/vnd.openxmlformats",
            "application/vnd.oasis.opendocument",
            "application/vnd.ms-",
        )
    ):
        return "document"
    if any(m in mime for m in _SCRIPT_MARKERS):
        return "script"
    if mime in _ARCHIVE:
        return "archive"
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("text/") or mime in ("application/json", "application/xml"):
        return "text"
    return "other"


def detect(head: bytes) -> tuple[str, str]:
    """(MIME type, class) of content starting with ``head``; never raises."""
    if not head:
        return "application/x-empty", "other"
    try:
        mime = str(_magic().from_buffer(head))
    except Exception:  # noqa: BLE001 - libmagic errors on odd input must not stop a scan
        return "application/octet-stream", "other"
    return mime, classify(mime)


_EXEC_EXT = frozenset(
    {
        "exe",
        "dll",
        "scr",
        "pif",
        "com",
        "cpl",
        "msi",
        "msp",
        "sys",
        "drv",
        "ocx",
        "lnk",
        "efi",
        "elf",
        "so",
        "dylib",
        "bin",
        "run",
        "out",
        "app",
        "appx",
        "msix",
        "jar",
        "class",
        "o",
    }
)
_SCRIPT_EXT = frozenset(
    {
        "bat",
        "cmd",
        "js",
        "jse",
        "vbs",
        "vbe",
        "wsf",
        "wsh",
        "ps1",
        "psm1",
        "sh",
        "bash",
        "zsh",
        "csh",
        "py",
        "pl",
        "rb",
        "php",
        "hta",
        "sct",
        "command",
        "tcl",
        "lua",
        "awk",
    }
)
_OOXML = frozenset(
    {
        "docx",
        "docm",
        "dotx",
        "xlsx",
        "xlsm",
        "xltx",
        "pptx",
        "pptm",
        "ppsx",
        "odt",
        "ods",
        "odp",
        "odg",
        "epub",
        "xps",
        "oxps",
        "vsdx",
    }
)
#: Extensions whose content is expected to be of a class (for ``type mismatch``).
EXPECTED = {
    # "bin" is any binary data (MacBinary, firmware, disk images): it promises no class.
    **{e: "executable" for e in _EXEC_EXT - {"bin"}},
    **{
        e: "archive"
        for e in (
            "zip",
            "tar",
            "gz",
            "tgz",
            "bz2",
            "tbz",
            "xz",
            "txz",
            "7z",
            "rar",
            "cab",
            "iso",
            "lzh",
            "arj",
            "z",
            "zst",
            "cpio",
        )
    },
    **{
        e: "document"
        for e in ("pdf", "doc", "dot", "xls", "xlt", "ppt", "pps", "rtf", "msg", *_OOXML)
    },
    **{
        e: "image"
        for e in (
            "jpg",
            "jpeg",
            "jpe",
            "png",
            "gif",
            "bmp",
            "tif",
            "tiff",
            "webp",
            "ico",
            "svg",
            "heic",
        )
    },
    **{
        e: "text"
        for e in (
            "txt",
            "csv",
            "tsv",
            "log",
            "htm",
            "html",
            "xml",
            "json",
            "ics",
            "md",
            "ini",
            "cfg",
            "vcf",
            "eml",
        )
    },
}


def mismatch(extension: str | None, mime: str, cls: str) -> bool:
    """True when the name's extension disagrees with the detected content (see module).

    >>> mismatch("jpg", "application/vnd.microsoft.portable-executable", "executable")
    True
    >>> mismatch("docx", "application/zip", "archive")
    False
    """
    if not extension:
        return False
    ext = extension.lower()
    want = EXPECTED.get(ext)
    if cls == "executable":
        return ext not in _EXEC_EXT
    if cls == "script":
        return want in ("executable", "archive", "document", "image")
    if want is None or cls == "other":
        return False
    if want == "text":
        return cls not in ("text", "script")
    if want == "document":
        if cls == "archive":  # OOXML/ODF are zip containers; libmagic may say just zip
            return ext not in _OOXML
        if cls == "text" and mime.lower() in ("text/rtf", "text/xml", "application/xml"):
            return False  # RTF or Word 2003 XML saved as .doc
        return cls != "document"
    if want == "archive" and cls == "document":
        return not mime.lower().startswith(
            ("application/vnd.openxmlformats", "application/vnd.oasis.opendocument")
        )
    return want != cls
