"""One way to load a policy file, written as text or as its JSON form.

A file whose first non-blank character is ``{`` is the JSON form (what ``mailpolicy
export --target json`` prints, read back by ``ir.loads``); anything else is policy text
(``parse`` then ``check``). Both give the same ``CheckedPolicy``: the JSON form carries
the policy's name, source path and digest, and its list files' entries.

- ``load_policy(path, lint=False)``: the checked policy. ``InputError`` (one line) when the
  path is missing, a directory or unreadable; ``PolicyError`` with diagnostics when it is
  not a valid policy. A JSON document that ``ir`` refuses becomes one diagnostic naming
  the JSON path (``rules[3].condition.and[1]: unknown test field 'sendr'``), with the
  checker's code when the message carries one, else E100.
- ``check_file(path)``: ``(text, diagnostics, policy or None)`` for the ``check`` verb,
  which reports every diagnostic (lint warnings included) instead of stopping at the first
  failing file. Raises ``InputError`` like ``load_policy``; never ``PolicyError``.
- ``read_source(path)``: the bytes of a policy file, or ``InputError``; only a regular
  file is read, never blocking, at most ``parse.MAX_BYTES + 1`` bytes.
- ``is_json(text)``: whether ``text`` is the JSON form.
- ``load_text(text, path)``: a checked policy from policy text in memory (tests, programs
  that build a policy as text); ``PolicyError`` on any error.
- ``check_text(text, path)``: the ``CheckResult`` of policy text: after a syntax error the
  statements that parsed are still checked and linted, so one run reports every mistake.

List files are read only from under the policy's directory, or under ``list_root`` when
given (the command line's ``--list-root DIR``): ``load_policy``, ``check_file``,
``load_text`` and ``check_text`` take it.

Lint on the JSON form runs over the rebuilt policy; its warnings point at the lines of
the source the document was exported from. ``load_policy`` and ``check_file`` take
``as_of``, the day list entries' expiry dates are judged on (``expiry.judged_on``; the
other functions judge on the day in force, today in UTC unless a caller set one).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import sys

from mailpolicy.policy import check, expiry, ir
from mailpolicy.policy.ast import Span
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.diagnostics import Diagnostic, InputError, PolicyError, error
from mailpolicy.policy.listfile import read_regular
from mailpolicy.policy.parse import MAX_BYTES, decode_source, parse_partial

#: ``ir`` ends a message that came from the checker with its code: ``... [E102]``.
_CODE = re.compile(r"^(?P<message>.*) \[(?P<code>E\d{3})\]$", re.DOTALL)


def is_json(text: str) -> bool:
    """True when ``text`` is the JSON form of a policy (first non-blank character ``{``)."""
    return text.lstrip("\ufeff \t\r\n").startswith("{")


#: The policy path that means standard input.
STDIN = "-"


def read_source(path: str) -> bytes:
    """The bytes of the policy file ``path``, or of standard input for ``-`` (at most
    ``MAX_BYTES + 1``, which
    ``decode_source`` refuses); InputError says why it cannot be read. Only a regular file
    is read, never blocking (``listfile.read_regular``): a FIFO, a device, a directory or a
    symbolic link loop is a one-line error, a ``/proc`` entry reads as the size it states."""
    if path == STDIN:  # a policy piped in; its list files are found from the working dir
        return sys.stdin.buffer.read(MAX_BYTES + 1)
    try:
        return read_regular(path, MAX_BYTES)
    except ValueError as exc:
        reason = {"not found": "no such file", "is a directory, not a file": "it is a directory"}
        raise InputError(f"cannot read policy {path}: {reason.get(str(exc), exc)}") from None


def _json_error(path: str, exc: ValueError) -> Diagnostic:
    text = str(exc)
    m = _CODE.match(text)
    code, message = (m["code"], m["message"]) if m else ("E100", text)
    return error(code, f"policy in JSON form: {message}", Span(path, 0, 0, 0, 0))


def _from_json(path: str, text: str, lint: bool) -> CheckedPolicy:
    try:
        policy = ir.loads(text)
    except ValueError as exc:
        raise PolicyError([_json_error(path, exc)]) from None
    if not lint:
        return policy
    from mailpolicy.policy import lint as _lint

    return dataclasses.replace(policy, warnings=tuple(_lint.lint(policy)))


def check_text(
    text: str,
    path: str = "<string>",
    *,
    base_dir: str | None = None,
    source: bytes | None = None,
    lint: bool = True,
    list_root: str | None = None,
) -> check.CheckResult:
    """Parse and check policy text, reporting every mistake one run can find: the syntax
    errors (``parse.parse_partial`` recovers at statement boundaries), then the errors
    and warnings of the statements that parsed. ``PolicyError`` only for a text refused
    before parsing (too large, nested too deep)."""
    partial = parse_partial(text, path)
    result = check.check(
        partial.policy,
        base_dir=base_dir,
        source=text.encode("utf-8") if source is None else source,
        lint=lint,
        list_root=list_root,
        skipped=partial.skipped,
    )
    if not partial.errors:
        return result
    diags = sorted([*partial.errors, *result.diagnostics], key=Diagnostic.sort_key)
    return check.CheckResult(policy=None, diagnostics=tuple(diags))


def _from_text(path: str, data: bytes, lint: bool, list_root: str | None) -> CheckedPolicy:
    base_dir = os.path.dirname(os.path.abspath(path))
    text = decode_source(data, path)
    result = check_text(text, path, base_dir=base_dir, source=data, lint=lint, list_root=list_root)
    if result.policy is None:
        raise PolicyError(result.diagnostics)
    return result.policy


def load_policy(
    path: str,
    *,
    lint: bool = False,
    list_root: str | None = None,
    as_of: datetime.date | None = None,
) -> CheckedPolicy:
    """The checked policy in ``path`` (text or JSON form); see the module docstring.

    ``lint`` fills ``CheckedPolicy.warnings``; the verbs that only run a policy leave it
    off, ``check`` turns it on. ``list_root``: the directory list files must be under
    (``--list-root DIR``; None: the policy's own directory). ``as_of``: the day list
    entries' expiry dates are judged on (``--as-of DATE``; None: today in UTC)."""
    return load_source(path, lint=lint, list_root=list_root, as_of=as_of)[0]


def load_source(
    path: str,
    *,
    lint: bool = False,
    list_root: str | None = None,
    as_of: datetime.date | None = None,
) -> tuple[CheckedPolicy, bytes]:
    """``load_policy``, and the very bytes the policy was read from (read once: a caller
    that hashes them names the policy that runs, standard input included)."""
    data = read_source(path)
    text = decode_source(data, path)
    with expiry.judged_on(as_of):
        if is_json(text):
            return _from_json(path, text, lint), data
        return _from_text(path, data, lint, list_root), data


def check_file(
    path: str, *, list_root: str | None = None, as_of: datetime.date | None = None
) -> tuple[str, list[Diagnostic], CheckedPolicy | None]:
    """(source text, every diagnostic, checked policy or None) for ``mailpolicy check``;
    ``list_root`` and ``as_of`` as for ``load_policy``."""
    with expiry.judged_on(as_of):
        return _check_file(path, list_root)


def _check_file(
    path: str, list_root: str | None
) -> tuple[str, list[Diagnostic], CheckedPolicy | None]:
    data = read_source(path)
    try:
        text = decode_source(data, path)
    except PolicyError as exc:
        return data.decode("utf-8", "replace"), list(exc.diagnostics), None
    try:
        if is_json(text):
            policy = _from_json(path, text, True)
        else:
            policy = _from_text(path, data, True, list_root)
    except PolicyError as exc:
        return text, list(exc.diagnostics), None
    return text, list(policy.warnings), policy


def load_text(
    text: str,
    path: str = "<string>",
    base_dir: str | None = None,
    *,
    list_root: str | None = None,
) -> CheckedPolicy:
    """Parse and check ``text``; raises ``PolicyError`` with every diagnostic on an error."""
    result = check_text(text, path, base_dir=base_dir, list_root=list_root)
    if result.policy is None:
        raise PolicyError(result.diagnostics)
    return result.policy
