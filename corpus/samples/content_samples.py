"""The active-content samples (2022 onwards): each threat, and the benign mail it resembles.

``CONTENT_SAMPLES`` extends ``make_samples.SAMPLES`` (same ``Sample`` rows, built with the
same helpers); the files come from ``content_files.py``, inert. Wiring, at the end of
``make_samples.py`` once its helpers and ``SAMPLES`` exist::

    sys.modules.setdefault("make_samples", sys.modules[__name__])
    sys.path.insert(0, str(HERE))
    from content_samples import CONTENT_SAMPLES  # noqa: E402
    SAMPLES += CONTENT_SAMPLES

Each row's ``policy`` says which baseline rule must stop it (or that it is delivered). Keys
start at 101 (``benign-101``, ``malicious-101``) so they never meet the 2001 table's.
"""

# ruff: noqa: E501  (the sample table: one row a line, like make_samples.py)
from __future__ import annotations

import dataclasses
import io
import zipfile

# both beside this file, found through sys.path as the generator sets it (see above)
import content_files as cf  # type: ignore[import-not-found]
from make_samples import (  # type: ignore[import-not-found]
    ALLOW,
    S,
    Sample,
    attach,
    encrypted_zip,
    pe_stub,
    signed,
    text,
)


def _zip_names(data: bytes) -> tuple[str, ...]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return tuple(z.namelist())


def _doc(
    key: str,
    label: str,
    tests: str,
    policy: str,
    sender: str,
    subject: str,
    name: str,
    data: bytes,
    ctype: str,
    note: str,
) -> Sample:
    members = _zip_names(data) if data[:2] == b"PK" else ()
    return S(
        key,
        label,
        tests,
        policy,
        sender,
        subject,
        text(note),
        attach(name, data, ctype),
        names=(name,),
        members=members,
    )


_SHORTCUT_ZIP = cf._zip([("invoice.lnk", b"L\0\0\0" + bytes(72)), ("payload.dll", pe_stub())])
OFFICE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

CONTENT_SAMPLES: tuple[Sample, ...] = (
    # ---- benign look-alikes ----------------------------------------------------------------
    _doc(
        "benign-101",
        "benign",
        "newsletter HTML: tables, links, an inline PNG logo (data: URL), no script",
        ALLOW + "; 'smuggles a file' and 'has javascript' stay quiet",
        "news@example.ac.jp",
        "Campus news, July",
        "newsletter.html",
        cf.newsletter_html(),
        "text/html",
        "This month's newsletter is attached.\n",
    ),
    _doc(
        "benign-102",
        "benign",
        "an SVG logo",
        ALLOW + "; an SVG without script is an image",
        "design@example.co.jp",
        "new logo",
        "logo.svg",
        cf.svg_logo(),
        "image/svg+xml",
        "The new logo, as SVG.\n",
    ),
    _doc(
        "benign-103",
        "benign",
        "a PDF with an ordinary web link (/URI)",
        ALLOW + "; /URI is not an action that runs anything",
        "sato@example.co.jp",
        "links",
        "links.pdf",
        cf.pdf_with_links(),
        "application/pdf",
        "The PDF with the links.\n",
    ),
    _doc(
        "benign-104",
        "benign",
        "a docx with an ordinary relationship (styles) and an external web hyperlink",
        ALLOW + "; a hyperlink is a click, not an external link",
        "suzuki@example.ac.jp",
        "minutes",
        "committee-minutes.docx",
        cf.docx_with_hyperlink(),
        OFFICE,
        "The minutes, with the link to the web page.\n",
    ),
    _doc(
        "benign-105",
        "benign",
        "an ERP export: an HTML table named .xls",
        ALLOW + "; HTML content under .xls is how ERP systems export to Excel",
        "erp@example.co.jp",
        "monthly export",
        "export-2001-07.xls",
        cf.erp_export_xls(),
        "application/vnd.ms-excel",
        "The monthly export.\n",
    ),
    _doc(
        "benign-106",
        "benign",
        "a password-protected zip from HR (the password goes by phone)",
        "tag: internal-encrypted-documents (from our own domain, every member named as a document: delivered with a warning; from outside it would be quarantined)",
        "hr@example.ac.jp",
        "salary statement",
        "statement.zip",
        encrypted_zip("statement.pdf", cf.pdf_with_links(), b"2001"),
        "application/zip",
        "Your statement; the password comes by phone.\n",
    ),
    dataclasses.replace(
        _doc(
            "benign-107",
            "benign",
            "a spreadsheet with a macro that runs only when asked, from a trusted partner",
            ALLOW + "; 'has macros' is excepted for trusted partners, auto-run is not",
            "build@partner.example.com",
            "tables",
            "tables.docm",
            cf.docm_with_macros(cf.PLAIN_MACRO),
            "application/vnd.ms-word.document.macroEnabled.12",
            "The table macros.\n",
        ),
        auth=signed("build@partner.example.com"),
    ),
    # ---- threats -----------------------------------------------------------------------------
    _doc(
        "malicious-101",
        "malicious",
        "Word 97 document with an AutoOpen VBA macro (OLE Macros storage)",
        "block: auto-run-macros",
        "billing@example.net",
        "Invoice 2001-07",
        "invoice.doc",
        cf.doc_with_macros(),
        "application/msword",
        "Please see the invoice.\n",
    ),
    _doc(
        "malicious-102",
        "malicious",
        "Excel 97 workbook with a hidden Excel 4.0 macro sheet and Auto_Open",
        "block: auto-run-macros",
        "billing@example.net",
        "prices",
        "prices.xls",
        cf.xls_with_xlm(),
        "application/vnd.ms-excel",
        "Updated prices.\n",
    ),
    _doc(
        "malicious-103",
        "malicious",
        "docm whose vbaProject.bin has AutoOpen",
        "block: auto-run-macros",
        "billing@example.net",
        "order form",
        "order.docm",
        cf.docm_with_macros(),
        "application/vnd.ms-word.document.macroEnabled.12",
        "The order form.\n",
    ),
    _doc(
        "malicious-104",
        "malicious",
        "a macro from a stranger that runs only when asked",
        "quarantine: macros-from-outside",
        "hr-dept@example.net",
        "form",
        "form.docm",
        cf.docm_with_macros(cf.PLAIN_MACRO),
        "application/vnd.ms-word.document.macroEnabled.12",
        "Fill in the form and enable editing.\n",
    ),
    _doc(
        "malicious-105",
        "malicious",
        "Follina: an oleObject relationship to mhtml: (CVE-2022-30190)",
        "block: external-link",
        "hr-dept@example.net",
        "CV",
        "cv.docx",
        cf.docx_follina(),
        OFFICE,
        "My CV.\n",
    ),
    _doc(
        "malicious-106",
        "malicious",
        "remote template injection: attachedTemplate on the web",
        "block: external-link",
        "hr-dept@example.net",
        "report",
        "report.docx",
        cf.docx_remote_template(),
        OFFICE,
        "The report.\n",
    ),
    _doc(
        "malicious-107",
        "malicious",
        "PDF whose /OpenAction runs /JavaScript",
        "quarantine: pdf-javascript",
        "scanner@example.net",
        "scan",
        "scan.pdf",
        cf.pdf_openaction_js(),
        "application/pdf",
        "Scanned document.\n",
    ),
    _doc(
        "malicious-108",
        "malicious",
        "PDF whose page /AA runs a /Launch action (name written /L#61unch)",
        "block: launch-action",
        "scanner@example.net",
        "scan",
        "scan-0716.pdf",
        cf.pdf_launch(),
        "application/pdf",
        "Scanned document.\n",
    ),
    _doc(
        "malicious-109",
        "malicious",
        "PDF carrying a program as an /EmbeddedFile",
        "block: embedded-file",
        "scanner@example.net",
        "scan",
        "scan-0717.pdf",
        cf.pdf_embedded_file("scan.exe", pe_stub()),
        "application/pdf",
        "Open the attachment inside.\n",
    ),
    _doc(
        "malicious-110",
        "malicious",
        "HTML smuggling: base64 zip of a .lnk and a .dll, saved through new Blob and createObjectURL",
        "block: smuggling",
        "docs@example.net",
        "shared document",
        "document.html",
        cf.smuggling_html(_SHORTCUT_ZIP, "document.zip"),
        "text/html",
        "Open the document in your browser.\n",
    ),
    _doc(
        "malicious-111",
        "malicious",
        "SVG smuggling: a program in a data: URL opened by the SVG's script",
        "block: smuggling",
        "docs@example.net",
        "logo",
        "brand.svg",
        cf.smuggling_svg(pe_stub()),
        "image/svg+xml",
        "Our logo.\n",
    ),
)
