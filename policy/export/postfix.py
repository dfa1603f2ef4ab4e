"""The ``postfix`` target (mime_header_checks pcre: table). Work in progress."""

from __future__ import annotations

from mailpolicy.policy.export.base import Capabilities, Exporter, Limit, ops


class PostfixExporter(Exporter):
    target = "postfix"
    description = "Postfix mime_header_checks (pcre:) with a two-stage sender exception"
    filenames = ("mime_header_checks.pcre", "sender_access", "main.cf.fragment",
                 "master.cf.fragment")
    caps = Capabilities(
        message=ops(sender="in"),
        attachment=ops(name="matches in", extension="in is", double_extension="in"),
        actions=frozenset({"block", "quarantine", "discard"}),
        name_encodings=frozenset({"rfc2231"}),
        all_filenames=True,
        archive_members=False,
        true_types=False,
        combinators=frozenset({"or"}),
        limits=(Limit("encoded", "Postfix matches the raw header text: RFC 2047-encoded names, "
                      "%-encoded RFC 2231 names and names split over RFC 2231 continuations "
                      "are not seen", "a last table line quarantines (HOLD) every attachment "
                      "whose name is encoded", strict=True, sound=True),),
    )
