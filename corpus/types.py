"""True type of an attachment from its first bytes.

Uses libmagic (through python-magic): it is the engine of file(1), the detector amavis
relies on, maintained with the file database of every Linux distribution, and it knows
thousands of formats where a hand-written table would know dozens. Its MIME answer is
mapped to the coarse classes a policy names (``type executable``).

Contract:
- ``detect(data, extension, in_archive)`` returns (MIME type, class) for the content
  ``data`` (the whole part, or at least its first ``SNIFF_BYTES``); it never raises (a
  libmagic failure gives ``application/octet-stream``, class ``other``). It asks
  ``filekind.signature_type`` first (disk images whose signature is at 32 KiB or at the
  end, OneNote, CAB, MSI and the other OLE kinds, S/MIME, ARJ), then libmagic with
  ``SNIFF_BYTES`` (64 KiB: an ISO's volume descriptor is at 32 KiB, libmagic needs it).
  One libmagic handle per thread, as libmagic handles are not thread-safe.
- ``classify(mime)`` maps a MIME type to one of ``CLASSES``, as an administrator reads
  them: ``disk-image`` (ISO, UDF, raw FAT/MBR images, VHD, VHDX, VMDK, DMG: Windows
  mounts most of them on a double-click); ``archive`` (zip, tar, 7z, rar, CAB, ACE, ARJ,
  LZH, ...); ``executable`` (PE, ELF, Mach-O, and what Windows runs: MSI, LNK, CHM, URL
  shortcuts); ``script``; ``document`` (PDF, RTF, OLE and OOXML/ODF office files, EPUB,
  OneNote); ``image``; ``text`` (XHTML and XML too); ``other`` (fonts, S/MIME and PGP
  signatures and encrypted parts, unknown binary data), each with a specific MIME type.
- **Scripts**: content decides where content tells (a shebang, ``@echo off``, an HTA's
  ``<hta:application>``, a WSF ``<job>``, encoded VBScript/JScript ``#@~^``, a ``.reg``
  file); where content cannot (JScript, VBScript, PowerShell are plain text), text
  under a Windows script extension (``WINDOWS_SCRIPT_EXT``: js, jse, vbs, vbe, wsf, wsh,
  ps1, psm1, bat, cmd, hta, sct) is ``script``, and text under a Windows-run extension
  (``url``, ``library-ms``, ``searchconnector-ms``, ...) is ``executable``. Inside an
  archive (``in_archive``), interpreter scripts of source trees (shell, Python, Perl,
  Ruby, ...) are ``text`` unless their extension is a Windows script one: a source
  release is not ``script``; a top-level script attachment keeps its ``script`` class.
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

from mailpolicy.corpus.filekind import signature_type

if TYPE_CHECKING:
    import magic

CLASSES = (
    "executable",
    "script",
    "archive",
    "disk-image",
    "document",
    "image",
    "text",
    "other",
)
#: A MIME type ``classify`` puts in each class: the content a fact stated only by its
#: class (a test case's ``type = "executable"``, a built counterexample) is given.
CLASS_MIME = {
    "executable": "application/x-dosexec",
    "script": "text/x-shellscript",
    "archive": "application/zip",
    "disk-image": "application/x-iso9660-image",
    "document": "application/pdf",
    "image": "image/png",
    "text": "text/plain",
    "other": "application/octet-stream",
}
#: Bytes handed to libmagic (an ISO 9660 volume descriptor sits at 32 KiB).
SNIFF_BYTES = 64 * 1024
#: Windows script extensions: text under these names is ``script`` (WSH, cmd, PowerShell,
#: mshta run them on a double-click).
WINDOWS_SCRIPT_EXT = frozenset("js jse vbs vbe wsf wsh ps1 psm1 bat cmd hta sct".split())
#: Windows-run formats whose content is text (shortcuts, search connectors, RDP files):
#: text under these names is ``executable``.
WINDOWS_RUN_EXT = frozenset(
    "url library-ms searchconnector-ms search-ms settingcontent-ms rdp jnlp appref-ms "
    "application msc inf scf".split()
)

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
        "application/vnd.ms-htmlhelp",
        "application/x-mswinurl",
        "application/x-ms-windows-executable",
    }
)
_DISK_IMAGE = frozenset(
    {
        "application/x-iso9660-image",
        "application/x-udf-image",
        "application/x-raw-disk-image",
        "application/x-vhd",
        "application/x-vhdx",
        "application/x-vmdk",
        "application/x-apple-diskimage",
        "application/x-virtualbox-vdi",
        "application/x-qemu-disk",
    }
)
#: libmagic's answer, renamed to what the format is registered or commonly known as.
_RENAMED = {
    "application/vnd.ms-opentype": "font/otf",
    "application/x-font-ttf": "font/ttf",
    "text/xml+xhtml": "application/xhtml+xml",
}
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
        "application/x-cpio",
        "application/vnd.ms-cab-compressed",
        "application/java-archive",
        "application/x-archive",
        "application/x-arj",
        "application/x-lha",
        "application/x-lzh-compressed",
        "application/x-ace-compressed",
        "application/x-stuffit",
        "application/x-xar",
        "application/x-lzh",
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
        "application/epub+zip",
        "application/onenote",
        "application/vnd.ms-xpsdocument",
        "application/oxps",
    }
)
_UNIX_SCRIPT = (
    "x-sh",
    "x-shellscript",
    "x-perl",
    "x-python",
    "x-script.python",
    "x-ruby",
    "x-php",
    "x-awk",
    "x-tcl",
    "x-lua",
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
    "x-ms-regedit",
    "hta",
    "x-wsf",
    "vbscript",
)


def classify(mime: str) -> str:
    """Map a MIME type to one of ``CLASSES``.

    >>> classify("application/vnd.microsoft.portable-executable"), classify("text/x-shellscript")
    ('executable', 'script')
    """
    mime = mime.lower().split(";", 1)[0].strip()
    if mime in _EXECUTABLE:
        return "executable"
    if mime in _DISK_IMAGE:
        return "disk-image"
    if mime in _ARCHIVE:
        return "archive"
    if mime.startswith("font/") or mime.startswith("application/font"):
        return "other"
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
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("text/") or mime in (
        "application/json",
        "application/xml",
        "application/xhtml+xml",
    ):
        return "text"
    return "other"


def _script_by_content(head: bytes) -> str | None:
    low = head[:4096].lower()
    if head.startswith(b"#@~^"):
        return "text/x-vbscript-encoded"
    if b"<hta:application" in low:
        return "application/hta"
    if (b"<job" in low or b"<package" in low) and b"<script" in low:
        return "text/x-wsf"
    return None


def detect(data: bytes, extension: str | None = None, in_archive: bool = False) -> tuple[str, str]:
    """(MIME type, class) of ``data`` (see the module docstring); never raises.

    >>> detect(b"WScript.Echo 1\n", "vbs")
    ('text/plain', 'script')
    """
    if not data:
        return "application/x-empty", "other"
    try:
        mime = signature_type(data)
        if mime is None:
            mime = str(_magic().from_buffer(data[:SNIFF_BYTES]))
            mime = _RENAMED.get(mime, mime)
        if mime in ("text/html", "text/xml", "text/plain"):
            if b"http://www.w3.org/1999/xhtml" in data[:4096]:
                mime = "application/xhtml+xml"
            mime = _script_by_content(data) or mime
    except Exception:  # noqa: BLE001 - libmagic errors on odd input must not stop a scan
        return "application/octet-stream", "other"
    cls = classify(mime)
    ext = (extension or "").lower()
    if cls == "text" and ext in WINDOWS_SCRIPT_EXT:
        cls = "script"
    elif cls == "text" and ext in WINDOWS_RUN_EXT:
        cls = "executable"
    elif (
        cls == "script"
        and in_archive
        and ext not in WINDOWS_SCRIPT_EXT
        and any(m in mime for m in _UNIX_SCRIPT)
    ):
        cls = "text"
    return mime, cls


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
        "appxbundle",
        "msixbundle",
        "xll",
        "chm",
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
            "lzh",
            "lha",
            "arj",
            "ace",
            "z",
            "zst",
            "cpio",
        )
    },
    **{e: "disk-image" for e in ("iso", "img", "vhd", "vhdx", "vmdk", "dmg", "udf")},
    **{
        e: "document"
        for e in ("pdf", "doc", "dot", "xls", "xlt", "ppt", "pps", "rtf", "msg", "one", *_OOXML)
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
