"""True type of an attachment from its first bytes.

Uses libmagic (through python-magic): it is the engine of file(1), the detector amavis
relies on, maintained with the file database of every Linux distribution, and it knows
thousands of formats where a hand-written table would know dozens. Its MIME answer is
mapped to the coarse classes a policy names (``type executable``).
"""

from __future__ import annotations

import functools

CLASSES = ("executable", "script", "archive", "document", "image", "text", "other")


@functools.cache
def _magic():  # type: ignore[no-untyped-def]
    import magic

    return magic.Magic(mime=True)


_EXECUTABLE = {
    "application/x-dosexec", "application/x-msdownload", "application/vnd.microsoft.portable-executable",
    "application/x-executable", "application/x-sharedlib", "application/x-pie-executable",
    "application/x-mach-binary", "application/x-elf", "application/x-msi", "application/x-ms-shortcut",
}
_ARCHIVE = {
    "application/zip", "application/x-tar", "application/gzip", "application/x-gzip",
    "application/x-bzip2", "application/x-xz", "application/x-7z-compressed",
    "application/x-rar", "application/vnd.rar", "application/x-rar-compressed",
    "application/x-lzma", "application/zstd", "application/x-compress", "application/x-iso9660-image",
    "application/x-cpio", "application/vnd.ms-cab-compressed", "application/java-archive",
}
_SCRIPT_MARKERS = ("script", "x-sh", "x-shellscript", "x-perl", "x-python", "javascript",
                   "x-msdos-batch", "vbscript", "x-php", "hta")


def classify(mime: str) -> str:
    """Map a MIME type to one of ``CLASSES``."""
    mime = mime.lower()
    if mime in _EXECUTABLE:
        return "executable"
    if any(m in mime for m in _SCRIPT_MARKERS):
        return "script"
    if mime in _ARCHIVE:
        return "archive"
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("text/"):
        return "text"
    if (
        mime in {"application/pdf", "application/rtf", "application/msword", "application/vnd.ms-excel",
                 "application/vnd.ms-powerpoint", "application/vnd.ms-office", "application/x-ole-storage",
                 "application/CDFV2".lower()}
        or mime.startswith("application/vnd.openxmlformats")
        or mime.startswith("application/vnd.oasis.opendocument")
    ):
        return "document"
    return "other"


def detect(head: bytes) -> tuple[str, str]:
    """(MIME type, class) of content starting with ``head``."""
    if not head:
        return "application/x-empty", "other"
    mime = _magic().from_buffer(head)
    return mime, classify(mime)


#: Extensions whose content is expected to be of a class (for ``type mismatch``).
EXPECTED = {
    **{e: "executable" for e in ("exe", "dll", "scr", "pif", "com", "cpl", "msi", "sys", "elf")},
    **{e: "archive" for e in ("zip", "tar", "gz", "tgz", "bz2", "xz", "7z", "rar", "cab", "iso", "jar")},
    **{e: "document" for e in ("pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "rtf")},
    **{e: "image" for e in ("jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "webp", "ico")},
    **{e: "text" for e in ("txt", "csv", "log")},
}


def mismatch(extension: str | None, mime: str, cls: str) -> bool:
    """True when the content is an executable or script that the extension does not
    announce, or when a known extension's expected class disagrees with the content."""
    if cls in ("executable", "script") and EXPECTED.get(extension or "") not in (cls,):
        return extension not in {"bat", "cmd", "js", "vbs", "ps1", "sh", "py", "pl", "hta", "wsf"}
    want = EXPECTED.get(extension or "")
    if want is None or cls in ("other",):
        return False
    if want == "text":
        return cls not in ("text", "script")
    if want == "document" and cls == "archive":  # OOXML/ODF are zip containers
        return extension not in {"docx", "xlsx", "pptx", "odt", "ods", "odp"}
    return want != cls
