"""Limits every name-matching target shares: stated once here, listed by each target.

The engine reads more than any mail server does in two places, and every export says so
as a target-wide loss (``Capabilities.limits``), which ``--verify`` names when a message
shows it (``runner.part_limit``):

- ``homoglyph``: the engine reads an extension in look-alike letters (``ехе`` in
  Cyrillic) as the extension it imitates; targets match names as written.
- ``ambiguous-mime``: where common readers disagree on a message's MIME structure (two
  ``Content-Type`` headers, a name only in a non-standard ``file=`` parameter, a comment
  before a parameter), the engine sees every reading; a target sees one.
"""

from __future__ import annotations

from mailpolicy.policy.export.base import Limit

HOMOGLYPH = Limit(
    "homoglyph",
    "names are matched as written: an extension in look-alike letters (Cyrillic 'ехе') "
    "is not read as the extension it imitates",
    "such names are not matched; 'evasive name' in the engine stops them",
    sound=False,
    strict=False,
)

AMBIGUOUS_MIME = Limit(
    "ambiguous-mime",
    "MIME that common readers read differently (two Content-Type headers, a name only in "
    "a non-standard file= parameter, a comment before a parameter) is read one way",
    "names another reader would show are not tested; 'evasive mime' in the engine stops "
    "such messages",
    sound=False,
    strict=False,
)

#: What every name-matching target adds to its own limits.
SHARED = (HOMOGLYPH, AMBIGUOUS_MIME)
