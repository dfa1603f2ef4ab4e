"""VBA projects (MS-OVBA): the compressed ``dir`` stream, module names, module source.

Contract:
- ``decompress(data, cap)`` undoes MS-OVBA 2.4.1 compression (a signature byte 0x01, then
  chunks of at most 4096 bytes, each either raw or a sequence of literal and copy tokens);
  it stops with ``ValueError`` on anything malformed and never produces more than ``cap``
  bytes.
- ``modules(dir_stream)`` reads the decompressed ``dir`` stream's records and returns each
  module's (name, stream name, source offset); unknown records are skipped by their size.
- ``entry_points(source)`` names the procedures in VBA source that Office runs by itself
  (``AutoOpen``, ``Document_Open``, ``Workbook_Open``, ActiveX events such as
  ``InkPicture1_Painted``): the list olevba keeps (oletools ``AUTOEXEC_KEYWORDS``), matched
  as ``Sub``/``Function`` declarations, so a comment that mentions ``AutoOpen`` is not one.

Limits of this module: p-code is not read, so a project whose source was removed ("VBA
stomping") shows its modules but no entry points; the project's reference records are
skipped, not checked.
"""

from __future__ import annotations

import re
import struct

#: Entry points Office runs by itself (olevba's AUTOEXEC_KEYWORDS, Word, Excel, Publisher).
AUTO_EXEC = (
    "AutoExec",
    "AutoOpen",
    "DocumentOpen",
    "AutoExit",
    "AutoClose",
    "Document_Close",
    "DocumentBeforeClose",
    "Document_BeforeClose",
    "DocumentChange",
    "AutoNew",
    "Document_New",
    "NewDocument",
    "Document_Open",
    "Document_ContentControlOnEnter",
    "Auto_Open",
    "Workbook_Open",
    "Workbook_Activate",
    "Auto_Close",
    "Workbook_Close",
    "Workbook_BeforeClose",
    "Workbook_Deactivate",
)
#: ActiveX control events that fire as the document is shown (olevba's list).
_ACTIVEX = (
    "Painted|Painting|GotFocus|LostFocus|MouseHover|Layout|Resize|BeforeNavigate2|"
    "BeforeScriptExecute|DocumentComplete|DownloadBegin|DownloadComplete|FileDownload|"
    "NavigateComplete2|NavigateError|ProgressChange|PropertyChange|SetSecureLockIcon|"
    "StatusTextChange|TitleChange|MouseMove|MouseEnter|MouseLeave|OnConnecting"
)
_DECL = re.compile(
    r"^[ \t]*(?:(?:public|private|friend|static)[ \t]+)*(?:sub|function)[ \t]+"
    rf"({'|'.join(AUTO_EXEC)}|\w+_(?:{_ACTIVEX}))\b",
    re.IGNORECASE | re.MULTILINE,
)

_U16 = struct.Struct("<H")
_REC = struct.Struct("<HI")


def decompress(data: bytes, cap: int) -> bytes:
    """MS-OVBA 2.4.1 decompression of ``data``, at most ``cap`` bytes of output."""
    if not data or data[0] != 1:
        raise ValueError("not a compressed VBA container (signature byte is not 1)")
    out = bytearray()
    pos = 1
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError("truncated chunk header")
        (header,) = _U16.unpack_from(data, pos)
        size = (header & 0x0FFF) + 3
        end = min(pos + size, len(data))
        pos += 2
        chunk_start = len(out)
        if not header & 0x8000:  # a raw chunk: 4096 bytes as they are
            out += data[pos : pos + 4096]
            pos += 4096
        else:
            while pos < end:
                flags = data[pos]
                pos += 1
                for bit in range(8):
                    if pos >= end:
                        break
                    if not flags & (1 << bit):
                        out.append(data[pos])
                        pos += 1
                        continue
                    if pos + 2 > end:
                        raise ValueError("truncated copy token")
                    (token,) = _U16.unpack_from(data, pos)
                    pos += 2
                    done = len(out) - chunk_start
                    if done == 0:
                        raise ValueError("copy token at the start of a chunk")
                    bits = max((done - 1).bit_length(), 4)
                    length = (token & (0xFFFF >> bits)) + 3
                    offset = (token >> (16 - bits)) + 1
                    if offset > done:
                        raise ValueError("copy token points before its chunk")
                    for _ in range(length):
                        out.append(out[-offset])
            pos = end
        if len(out) > cap:
            raise ValueError(f"decompressed VBA larger than {cap} bytes")
    return bytes(out)


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")


def modules(dir_stream: bytes) -> list[tuple[str, str, int]]:
    """(module name, stream name, source offset) of every module in a decompressed
    ``dir`` stream, in order. Raises ``ValueError`` on a record that overruns the stream."""
    found: list[tuple[str, str, int]] = []
    name = stream = ""
    offset = 0
    pos = 0
    while pos + _REC.size <= len(dir_stream):
        rid, size = _REC.unpack_from(dir_stream, pos)
        pos += _REC.size
        if rid == 0x0009:  # PROJECTVERSION: its size field says 4, it holds 6
            size = 6
        if pos + size > len(dir_stream):
            raise ValueError(f"dir record 0x{rid:04x} overruns the stream")
        body = dir_stream[pos : pos + size]
        pos += size
        if rid == 0x0019:  # MODULENAME
            name, stream, offset = _text(body), _text(body), 0
        elif rid == 0x001A:  # MODULESTREAMNAME (the unicode form follows in 0x0032)
            stream = _text(body)
        elif rid == 0x0031 and size >= 4:  # MODULEOFFSET
            offset = int.from_bytes(body[:4], "little")
        elif rid == 0x002B:  # module terminator
            found.append((name, stream, offset))
        elif rid == 0x0010:  # dir stream terminator
            break
    return found


def entry_points(source: str) -> list[str]:
    """The auto-run procedures declared in ``source``, each once, in order."""
    return list(dict.fromkeys(m.group(1) for m in _DECL.finditer(source)))
