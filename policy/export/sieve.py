"""The ``sieve`` target (Dovecot Pigeonhole). Work in progress: capabilities only."""

from __future__ import annotations

from mailpolicy.policy.export.base import Capabilities, Exporter, Limit, ops


class SieveExporter(Exporter):
    target = "sieve"
    description = "Dovecot Pigeonhole Sieve, RFC 5228 + RFC 5703 mime/foreverypart"
    filenames = ("policy.sieve",)
    caps = Capabilities(
        message=ops(sender="in matches", recipient="in matches", subject="contains matches",
                    header="contains matches", body="contains", size="> < >= <= == !="),
        attachment=ops(name="matches in", extension="in is", double_extension="in"),
        actions=frozenset({"allow", "block", "quarantine", "tag", "discard"}),
        name_encodings=frozenset({"rfc2047", "rfc2231", "rfc2231-continuations"}),
        all_filenames=True,
        archive_members=False,
        true_types=False,
        limits=(Limit("embedded", "Sieve does not see the names of uuencoded or BinHex files "
                      "inside text bodies nor winmail.dat (TNEF) members",
                      "those names are not tested", strict=False, sound=False),),
    )
