"""When a target differs: named predicates over a message and the attachment that decided.

Every ``Limit`` and ``Loss`` of an export names, by keys of ``PREDICATES``, the facts
under which the target may judge a message differently from the policy (an encoded name,
a second filename, a uuencoded part...). ``export --verify`` explains a disagreement only
by a loss whose predicate holds on that message (``explaining``); a loss whose facts are
absent explains nothing, so "some loss on the deciding rule" is no explanation.

A predicate is ``(Message, Attachment | None) -> bool``. Attachment predicates are false
for ``None``. ``holds`` calls a predicate with the engine's deciding attachment, or, when
the engine's verdict names none (the target stopped what the engine let through), with
every attachment and archive member of the message.

Targets register their own with ``register("my-fact", fn)`` at import time, before the
``Limit`` that names it; a key nobody registered is a ``KeyError`` when the ``Limit`` or
``Loss`` is built, never a silent "always".

Limits: the message model keeps decoded names and their wire forms, not the raw
parameters: two equal ``filename`` values are one name (they cannot change a verdict),
and an RFC 2231 continuation without a charset (``filename*0="a.e"; filename*1="xe"``)
has the same wire form as a plain name, so ``encoded-name`` does not see it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

from mailpolicy.corpus.message import Attachment, Message
from mailpolicy.policy import ast

Predicate = Callable[[Message, Attachment | None], bool]

#: Every predicate by its key (``register`` adds to it).
PREDICATES: dict[str, Predicate] = {}

_EMBEDDED_PART = re.compile(r"\.(uu|hqx|tnef)\d+")
#: ``backslashreplace`` escapes of undecodable wire bytes (raw 8-bit, not UTF-8).
_BYTE_ESCAPE = re.compile(r"\\x[89a-f][0-9a-f]")
_RFC2231 = re.compile(r"^[A-Za-z0-9_.:-]*'[A-Za-z-]*'")


def register(key: str, predicate: Predicate, *, replace: bool = False) -> str:
    """Add ``predicate`` under ``key`` (``replace``: allow a new definition); returns the key."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", key):
        raise ValueError(f"predicate key {key!r}: lower-case letters, digits and '-' only")
    if key in PREDICATES and not replace and PREDICATES[key] is not predicate:
        raise ValueError(f"predicate {key!r} is already registered")
    PREDICATES[key] = predicate
    return key


def check(keys: Iterable[str]) -> tuple[str, ...]:
    """``keys`` as a tuple, each registered (``KeyError`` naming the unknown one)."""
    out = tuple(keys)
    for k in out:
        if k not in PREDICATES:
            raise KeyError(f"no predicate {k!r} is registered (policy.export.when.register)")
    return out


def _att(fn: Callable[[Attachment], bool]) -> Predicate:
    return lambda msg, att: att is not None and fn(att)


def _trick(code: str) -> Predicate:
    return _att(lambda a: code in a.tricks)


def _quoted_pair(a: Attachment) -> bool:
    return any("\\" in _BYTE_ESCAPE.sub("", r) and r not in a.names for r in a.raw_names)


def _raw_8bit(a: Attachment) -> bool:
    return any(
        "=?" not in r and (not r.isascii() or _BYTE_ESCAPE.search(r) is not None)
        for r in a.raw_names
    )


def _raw_non_utf8(a: Attachment) -> bool:
    """A raw 8-bit name whose bytes are not UTF-8 (kept as byte escapes in the wire form)."""
    return any("=?" not in r and _BYTE_ESCAPE.search(r) is not None for r in a.raw_names)


def _encoded(a: Attachment) -> bool:
    """RFC 2047 words or an RFC 2231 value (``charset'lang'...``) in a wire form."""
    return any("=?" in r or _RFC2231.match(r) is not None for r in a.raw_names)


def _unicode_space(a: Attachment) -> bool:
    return any(
        not c.isascii() and (unicodedata.category(c) == "Zs" or c in "\u2800\u3164\uffa0")
        for n in a.names
        for c in n
    )


def _several_attachments(msg: Message, att: Attachment | None) -> bool:
    return len(msg.attachments) > 1 or any(a.members for a in msg.attachments)


_BUILTIN: dict[str, Predicate] = {
    "always": lambda msg, att: True,
    "has-attachment": lambda msg, att: att is not None,
    "named-attachment": _att(lambda a: bool(a.names)),
    "encoded-name": _att(_encoded),
    "quoted-pair": _att(_quoted_pair),
    "raw-8bit-name": _att(_raw_8bit),
    "raw-non-utf8-name": _att(_raw_non_utf8),
    "non-ascii-name": _att(lambda a: any(not n.isascii() for n in a.names)),
    "unicode-space": _att(_unicode_space),
    "several-filenames": _att(lambda a: len(a.names) > 1 or len(a.raw_names) > 1),
    "embedded-part": _att(lambda a: _EMBEDDED_PART.search(a.part or "") is not None),
    "attached-message": _att(lambda a: "/" in (a.part or "")),
    "archive-member": _att(lambda a: a.in_archive or bool(a.members)),
    "true-type": lambda msg, att: att is not None,
    "true-type-differs": _att(
        lambda a: any(m.type_class == "executable" or m.type_mismatch for m in a.walk())
    ),
    "ambiguous-mime": lambda msg, att: "ambiguous-mime" in msg.tricks,
    "several-attachments": _several_attachments,
    "trailing-dot": _trick("trailing-dot"),
    "trailing-space": _trick("trailing-space"),
    "padded-name": _trick("padding"),
    "homoglyph": _trick("homoglyph"),
    "bidi-control": _trick("bidi-control"),
    "invisible-character": _trick("invisible-character"),
    "control-character": _trick("control-character"),
    "path-in-name": _trick("path-in-name"),
    "name-disagreement": _trick("name-disagreement"),
}
for _key, _fn in _BUILTIN.items():
    register(_key, _fn)
#: The model keeps distinct values only (see the module docstring): a duplicate parameter
#: or header shows as a second name.
register("duplicate-header", PREDICATES["several-filenames"])
register("content-fact", PREDICATES["always"])

#: What a ``Limit`` that names no predicate means, by its key (the limits targets stated
#: before limits named their facts). A key missing here must pass ``when``.
LIMIT_DEFAULTS: dict[str, tuple[str, ...]] = {
    "homoglyph": ("homoglyph",),
    "ambiguous-mime": ("ambiguous-mime",),
    "embedded": ("embedded-part",),
    "mime-parts-only": ("embedded-part",),
    "one-filename": ("several-filenames",),
    "rfc2047-charset": ("non-ascii-name",),
    "encoded": ("encoded-name",),
    "raw-8bit": ("raw-8bit-name",),
    "per-leaf": ("several-attachments",),
    "file-types": ("true-type-differs",),
    "lua-magic": ("true-type-differs",),
    "quarantine": ("always",),
    "tag": ("always",),
}


def node_when(node: ast.Cond | None, *, in_attachment: bool = False) -> tuple[str, ...]:
    """The predicate of the facts a relaxed (or dropped, ``None``) node reads: a type test
    reads the content's true type, ``archive contains`` members, a name test the names;
    any other attachment test needs an attachment; a message-level test holds always."""
    match node:
        case ast.TypeClass() | ast.TypeMime() | ast.TypeMismatch():
            return ("true-type",)
        case ast.ArchiveContains():
            return ("archive-member",)
        case ast.NameMatches() | ast.NameIn() | ast.ExtensionIn() | ast.ExtensionIs():
            return ("named-attachment",)
        case ast.DoubleExtensionIn():
            return ("named-attachment",)
        case ast.AnyAttachment():
            return ("has-attachment",)
        case _ if in_attachment:
            return ("has-attachment",)
        case _:
            return ("always",)


def candidates(msg: Message, decided: Attachment | None) -> Sequence[Attachment | None]:
    """The attachments a predicate is asked about: the deciding one, else all of them
    (archive members included), else ``None`` for a message without attachments."""
    if decided is not None:
        return (decided,)
    found: list[Attachment | None] = [m for a in msg.attachments for m in a.walk()]
    return found or (None,)


def holds(keys: Iterable[str], msg: Message, decided: Attachment | None) -> bool:
    """True when one of ``keys`` holds on ``msg`` for one of the ``candidates``. A
    predicate that raises does not hold: the disagreement stays unexplained (closed)."""
    for key in keys:
        fn = PREDICATES[key]
        for att in candidates(msg, decided):
            try:
                if fn(msg, att):
                    return True
            except Exception:  # noqa: BLE001, S112 - a broken predicate explains nothing
                continue
    return False
