"""Policy as data: the versioned, canonical JSON form (IR) of a checked policy.

``to_ir``/``dumps`` write it, ``from_ir``/``loads`` read it back into a ``CheckedPolicy``.
It is what ``mailpolicy export --target json`` prints and what a program may write to
produce a policy without the text syntax. ``dumps`` is deterministic: keys in the order
below (not sorted), two-space indent, UTF-8 text (no ``\\u`` escapes), one final newline.

Document (version 1)::

    {
      "format": "mailpolicy-ir",            # required, exactly this
      "version": 1,                         # required; other versions are refused
      "policy": "campus-mail",              # the `policy "..."` name, or null when none
      "default": "allow",                   # the default action (explicit, never omitted)
      "source": {"path": "x.policy", "sha256": "..."},   # provenance, or null
      "authserv_ids": ["mx1.example.ac.jp"],  # `authserv-id` statements; left out when none
      "lists": {                            # in definition order
        "executable": {"entries": ["exe", "pif"], "file": null, "line": 3},
        "partners": {"entries": ["a@b.c"], "file": "lists/partners.txt", "line": 4}
      },
      "rules": [                            # in order: the first rule that matches decides
        {"id": "block-3fa94c1e", "explicit_id": false, "action": "block", "header": null,
         "condition": EXPR, "unless": EXPR or null, "reason": "..." or null,
         "mode": "enforce" or "audit", "line": 7}
      ]
    }

Expressions (``EXPR``), message level::

    {"and": [EXPR, EXPR, ...]}   {"or": [EXPR, ...]}   {"not": EXPR}
    {"attachment": AEXPR}                        # some attachment satisfies AEXPR
    {"test": FIELD, "op": OP, "value": OPERAND}  # FIELD: sender recipient from subject body
                                                 #   size attachments, and "header" with
    {"test": "header", "header": "X-Name", "op": "contains", "value": "..."}
    {"test": "message", "op": "unscannable"}     # no value: `message unscannable`
    {"test": "evasive_mime", "op": "is"}         # no value: `evasive mime`

Attachment level (``AEXPR``, inside ``attachment`` and ``archive_contains``)::

    {"and": [...]}   {"or": [...]}   {"not": AEXPR}
    {"archive_contains": AEXPR}                  # some archive member, at any depth
    {"attachment_test": FIELD, "op": OP, "value": OPERAND}   # "value" only where OP takes one

Fields and operators are those of ``MESSAGE_FIELDS`` and ``ATTACHMENT_FIELDS``:
``name`` matches/in, ``extension`` in/is, ``double_extension`` in, ``type`` class (a
class name such as "executable") / mime / mismatch (no value), ``declared_type`` matches,
``size`` with ``>`` ``<`` ``>=`` ``<=`` ``==`` ``!=``, ``archive`` encrypted /
exceeds_limits (no value), ``evasive_name`` is (no value), ``unscannable`` is (no value).

Operands: a JSON string (a glob, an address, a text); ``{"number": "10MB", "value":
10000000}`` (the text as written and its value, bytes when it has a unit; ``value`` may be
left out by writers and must agree when given); ``{"list": "executable"}`` (a defined
list); ``{"items": ["hta", "reg"]}`` (an inline list). A list entry with an expiry, here
and in ``lists``: ``{"value": "*@partner.example", "until": "2027-03-01"}``; expired ones
are kept (the checker leaves them out of what applies), so rule ids still derive.

Rule ids: ``explicit_id`` true means the rule says ``as "id"``. Writers may leave ``id``
out (an id is derived from the rule's text) or give one (``explicit_id`` then defaults to
true); a derived id given with ``explicit_id`` false must be the one the rule derives.

Reading is strict about shape and lenient about structure: unknown keys, wrong types,
unknown fields or operators, operand kinds a test cannot take, undefined lists, duplicate
ids and strings with a line break (no text form can hold one) raise ``ValueError`` naming
the JSON path (``rules[3].condition.and[1]: unknown test field 'sendr'``). The rebuilt
tree then goes through the checker (``check.check``, list files not read), whose first
error is raised naming the rule (``rules[2]: 'tag' needs the header to add [E102]``). Nested
``and``/``or`` of the same kind are flattened and a one-element ``and``/``or`` is its
element, as the parser does for text. Lint warnings are not part of the IR.

Round trips: ``from_ir(to_ir(p))`` has the same rules (ASTs and ids), lists, name, default
and source as ``p``; its AST holds the statements in the canonical order (``policy``,
``default``, lists, rules) with ``default`` explicit, and spans only carry the line
numbers. ``to_ir(from_ir(d)) == d`` for every document ``to_ir`` wrote. Text -> IR -> text
(``fmt.format_policy``) is lossless up to layout, comments and that statement order.
List files are not read again: their entries travel in the document.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

from mailpolicy.policy import ast, conditions
from mailpolicy.policy.checked import CheckedPolicy, CheckedRule, assign_ids, derive_id
from mailpolicy.policy.diagnostics import Diagnostic
from mailpolicy.policy.expiry import entry_from_ir, entry_ir
from mailpolicy.policy.parse import parse_size
from mailpolicy.policy.vocabulary import (
    ATTACHMENT_FIELDS,
    ATTACHMENT_OPERANDS,
    MESSAGE_FIELDS,
    MESSAGE_OPERANDS,
    from_keyword,
)

FORMAT = "mailpolicy-ir"
VERSION = 1

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NUMBER = re.compile(r"\d+(\.\d+)?([KMGT]i?B|[KMGT]|B)?", re.IGNORECASE)


# ---- writing ------------------------------------------------------------------------------
def _operand(node: ast.Operand) -> Any:
    if isinstance(node, ast.Str):
        return node.value
    if isinstance(node, ast.Number):
        return {"number": node.text, "value": node.value}
    if isinstance(node, ast.ListRef):
        return {"list": node.name}
    return {"items": [entry_ir(i) for i in node.items]}


def expr(node: ast.Cond) -> dict[str, Any]:
    """The IR of one condition (message or attachment level)."""
    if isinstance(node, ast.And):
        return {"and": [expr(i) for i in node.items]}
    if isinstance(node, ast.Or):
        return {"or": [expr(i) for i in node.items]}
    if isinstance(node, ast.Not):
        return {"not": expr(node.item)}
    if isinstance(node, ast.AnyAttachment):
        return {"attachment": expr(node.pred)}
    if isinstance(node, ast.ArchiveContains):
        return {"archive_contains": expr(node.pred)}
    field, op = conditions.keyword(node)
    if isinstance(node, ast.Test):
        out: dict[str, Any] = {"test": field}
        if isinstance(node, (ast.HeaderContains, ast.HeaderMatches)):
            out["header"] = node.header
        out["op"] = op
        if node.operand is not None:
            out["value"] = _operand(node.operand)
        return out
    att: dict[str, Any] = {"attachment_test": field, "op": op}
    if node.operand is not None:
        att["value"] = _operand(node.operand)
    return att


def _rule(cr: CheckedRule, r: ast.Rule) -> dict[str, Any]:
    return {
        "id": cr.id,
        "explicit_id": r.id is not None,
        "action": r.action,
        "header": r.header.value if r.header is not None else None,
        "condition": expr(r.condition),
        "unless": expr(r.unless) if r.unless is not None else None,
        "reason": r.reason.value if r.reason is not None else None,
        "mode": "audit" if r.audit else "enforce",
        "line": r.span.line or None,
    }


def to_ir(checked: CheckedPolicy) -> dict[str, Any]:
    """The IR document of a checked policy (plain dicts and lists, ready for ``json``)."""
    lists: dict[str, Any] = {}
    for name, node in checked.ast.lists.items():
        lists[name] = {
            "entries": [entry_ir(i) for i in node.items]  # dated: expired ones too
            if node.items is not None
            else list(checked.lists.get(name, ())),
            "file": node.file.value if node.file is not None else None,
            "line": node.span.line or None,
        }
    return {
        "format": FORMAT,
        "version": VERSION,
        "policy": checked.ast.name,
        "default": checked.default,
        "source": {"path": checked.path, "sha256": checked.source_sha256 or None},
        **({"authserv_ids": list(ids)} if (ids := checked.ast.authserv_ids) else {}),
        "lists": lists,
        # the rules as written (expired entries and all): their ids derive from that text
        "rules": [_rule(cr, r) for cr, r in zip(checked.rules, checked.ast.rules, strict=True)],
    }


def dumps(checked: CheckedPolicy) -> str:
    """``to_ir`` as JSON text: stable key order, 2-space indent, final newline."""
    return json.dumps(to_ir(checked), indent=2, ensure_ascii=False) + "\n"


# ---- reading ------------------------------------------------------------------------------
def _fail(where: str, message: str) -> ValueError:
    return ValueError(f"{where}: {message}" if where else message)


def _obj(
    data: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _fail(where, f"expected an object, got {_kind(data)}")
    for key in data:
        if key not in required and key not in optional:
            raise _fail(where, f"unknown key {key!r} (expected {', '.join(required + optional)})")
    for key in required:
        if key not in data:
            raise _fail(where, f"missing key {key!r}")
    return data


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _text(value: Any, where: str, nullable: bool = False) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise _fail(where, f"expected a string, got {_kind(value)}")
    if "\n" in value:
        raise _fail(where, "a string cannot contain a line break (the text form has none)")
    return value


def _str(value: Any, where: str) -> str:
    text = _text(value, where)
    assert text is not None
    return text


def _name(value: Any, where: str) -> str:
    name = _str(value, where)
    if not _NAME.fullmatch(name):
        raise _fail(where, f"{name!r} is not a valid name (letters, digits, '_', '-')")
    return name


class _Reader:
    """Builds AST nodes from an IR document, checking every part against its JSON path."""

    def __init__(self, lists: dict[str, tuple[ast.Str, ...]]) -> None:
        self.lists = lists

    def operand(self, value: Any, where: str, kinds: tuple[str, ...]) -> ast.Operand:
        node: ast.Operand
        if isinstance(value, str):
            kind, node = "string", ast.Str(value=_str(value, where))
        elif isinstance(value, dict) and "number" in value:
            kind, node = "number", self.number(value, where)
        elif isinstance(value, dict) and "list" in value:
            _obj(value, where, ("list",))
            name = _name(value["list"], f"{where}.list")
            if name not in self.lists:
                raise _fail(f"{where}.list", f"unknown list {name!r}")
            kind, node = "list", ast.ListRef(name=name)
        elif isinstance(value, dict) and "items" in value:
            _obj(value, where, ("items",))
            items = _array(value["items"], f"{where}.items")
            entries = tuple(entry_from_ir(v, f"{where}.items[{i}]") for i, v in enumerate(items))
            kind, node = "list", ast.ListLit(items=entries)
        else:
            raise _fail(
                where,
                f'expected an operand (a string, {{"number": ...}}, '
                f'{{"list": ...}} or {{"items": [...]}}), got {_kind(value)}',
            )
        if kind not in kinds:
            raise _fail(where, f"this test takes a {' or '.join(kinds)}, not a {kind}")
        return node

    def number(self, value: dict[str, Any], where: str) -> ast.Number:
        _obj(value, where, ("number",), ("value",))
        text = _str(value["number"], f"{where}.number")
        if not _NUMBER.fullmatch(text):
            raise _fail(f"{where}.number", f"{text!r} is not a number such as 10, 1.5MB or 200KiB")
        try:
            n, unit = parse_size(text)
        except ValueError as exc:
            raise _fail(f"{where}.number", str(exc)) from None
        if "value" in value and (type(value["value"]) is not int or value["value"] != n):
            raise _fail(f"{where}.value", f"{value['value']!r} is not the value of {text!r} ({n})")
        return ast.Number(text=text, value=n, unit=unit)

    def cond(self, data: Any, where: str, attachment: bool) -> ast.Cond:
        """A condition; ``attachment`` says whether this is inside ``attachment``."""
        if not isinstance(data, dict) or not data:
            raise _fail(where, f"expected an expression object, got {_kind(data)}")
        tag = next(iter(data))
        for key in (
            "and",
            "or",
            "not",
            "attachment",
            "archive_contains",
            "test",
            "attachment_test",
        ):
            if key in data:
                tag = key
                break
        else:
            raise _fail(where, f"unknown expression {tag!r}")
        if tag in ("and", "or"):
            _obj(data, where, (tag,))
            kind = ast.And if tag == "and" else ast.Or
            raw = _array(data[tag], f"{where}.{tag}")
            if not raw:
                raise _fail(f"{where}.{tag}", f"'{tag}' needs at least one operand")
            items: list[ast.Cond] = []
            for i, sub in enumerate(raw):
                node = self.cond(sub, f"{where}.{tag}[{i}]", attachment)
                items.extend(node.items if isinstance(node, kind) else (node,))
            return items[0] if len(items) == 1 else kind(items=tuple(items))
        if tag == "not":
            _obj(data, where, ("not",))
            return ast.Not(item=self.cond(data["not"], f"{where}.not", attachment))
        if tag == "attachment":
            if attachment:
                raise _fail(where, "'attachment' cannot appear inside 'attachment'")
            _obj(data, where, ("attachment",))
            return ast.AnyAttachment(pred=self.cond(data[tag], f"{where}.attachment", True))
        if tag == "archive_contains":
            if not attachment:
                raise _fail(where, "'archive_contains' only appears inside 'attachment'")
            _obj(data, where, (tag,))
            return ast.ArchiveContains(pred=self.cond(data[tag], f"{where}.{tag}", True))
        if tag == "test":
            if attachment:
                raise _fail(
                    where,
                    "a message test cannot appear inside 'attachment' (use 'attachment_test')",
                )
            return self.test(data, where)
        if not attachment:
            raise _fail(where, "'attachment_test' only appears inside 'attachment'")
        return self.att_test(data, where)

    def test(self, data: dict[str, Any], where: str) -> ast.Test:
        field = _str(data["test"], f"{where}.test")
        if field not in MESSAGE_FIELDS:
            raise _fail(
                where,
                f"unknown test field {field!r} (expected one of {', '.join(MESSAGE_FIELDS)})",
            )
        if field == "header":
            _obj(data, where, ("test", "header", "op", "value"))
        elif MESSAGE_OPERANDS.get((field, data.get("op")), ("?",)) == ():  # type: ignore[arg-type]
            _obj(data, where, ("test", "op"))
        else:
            _obj(data, where, ("test", "op", "value"))
        op = _str(data["op"], f"{where}.op")
        if op not in MESSAGE_FIELDS[field]:
            raise _fail(
                f"{where}.op", f"'{field}' takes {', '.join(MESSAGE_FIELDS[field])}, not {op!r}"
            )
        if not MESSAGE_OPERANDS[(field, op)]:
            return cast(ast.Test, from_keyword("message", field, op, None))
        value = self.operand(data["value"], f"{where}.value", MESSAGE_OPERANDS[(field, op)])
        header = _str(data["header"], f"{where}.header") if field == "header" else None
        return cast(ast.Test, from_keyword("message", field, op, value, header))

    def att_test(self, data: dict[str, Any], where: str) -> ast.AttTest:
        field = _str(data["attachment_test"], f"{where}.attachment_test")
        if field not in ATTACHMENT_FIELDS:
            raise _fail(
                where,
                f"unknown attachment test field {field!r} (expected one of "
                f"{', '.join(ATTACHMENT_FIELDS)})",
            )
        _obj(data, where, ("attachment_test", "op"), ("value",))
        op = _str(data["op"], f"{where}.op")
        if op not in ATTACHMENT_FIELDS[field]:
            raise _fail(
                f"{where}.op",
                f"'{field}' takes {', '.join(ATTACHMENT_FIELDS[field])}, not {op!r}",
            )
        kinds = ATTACHMENT_OPERANDS[(field, op)]
        if not kinds:
            if "value" in data:
                raise _fail(f"{where}.value", f"'{field} {op}' takes no value")
            return cast(ast.AttTest, from_keyword("attachment", field, op, None))
        if "value" not in data:
            raise _fail(where, "missing key 'value'")
        value = self.operand(data["value"], f"{where}.value", kinds)
        if (field, op) == ("type", "class"):  # printed bare: `type executable`
            assert isinstance(value, ast.Str)
            if not _NAME.fullmatch(value.value) or value.value == "mismatch":
                raise _fail(f"{where}.value", f"{value.value!r} is not a type class name")
        return cast(ast.AttTest, from_keyword("attachment", field, op, value))


def _array(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(where, f"expected an array, got {_kind(value)}")
    return value


def _line(value: Any, where: str) -> int:
    if value is None:
        return 0
    if type(value) is not int or value < 1:
        raise _fail(where, f"expected a line number (1 or more) or null, got {value!r}")
    return value


def _span(path: str, line: int) -> ast.Span:
    return ast.Span(path, line, 1, line, 1) if line else ast.NOSPAN


def _lists(data: Any, path: str) -> tuple[list[ast.ListDef], dict[str, tuple[ast.Str, ...]]]:
    """The list definitions as written, and every list's entries."""
    if not isinstance(data, dict):
        raise _fail("lists", f"expected an object, got {_kind(data)}")
    out = []
    entries_of: dict[str, tuple[ast.Str, ...]] = {}
    for name, spec in data.items():
        where = f"lists.{name}"
        _name(name, where)
        _obj(spec, where, ("entries",), ("file", "line"))
        entries = tuple(
            entry_from_ir(e, f"{where}.entries[{i}]")
            for i, e in enumerate(_array(spec["entries"], f"{where}.entries"))
        )
        file = _text(spec.get("file"), f"{where}.file", nullable=True)
        span = _span(path, _line(spec.get("line"), f"{where}.line"))
        entries_of[name] = entries
        if file is not None:
            out.append(ast.ListDef(name=name, file=ast.Str(value=file), span=span))
        else:
            out.append(ast.ListDef(name=name, items=entries, span=span))
    return out, entries_of


_TOP = ("policy", "default", "source", "authserv_ids", "lists")
_RULE_KEYS = (
    "id",
    "explicit_id",
    "action",
    "header",
    "condition",
    "unless",
    "reason",
    "mode",
    "line",
)


def _rules(data: Any, reader: _Reader, path: str) -> list[tuple[ast.Rule, str | None]]:
    out = []
    for i, spec in enumerate(_array(data, "rules")):
        where = f"rules[{i}]"
        _obj(spec, where, ("action", "condition"), _RULE_KEYS)
        action = _str(spec["action"], f"{where}.action")
        if action not in ast.ACTIONS:
            raise _fail(
                f"{where}.action",
                f"unknown action {action!r} (expected one of {', '.join(ast.ACTIONS)})",
            )
        rid = _text(spec.get("id"), f"{where}.id", nullable=True)
        explicit = spec.get("explicit_id", rid is not None)
        if not isinstance(explicit, bool):
            raise _fail(f"{where}.explicit_id", f"expected true or false, got {_kind(explicit)}")
        if explicit and rid is None:
            raise _fail(where, "'explicit_id' is true but there is no 'id'")
        header = _text(spec.get("header"), f"{where}.header", nullable=True)
        reason = _text(spec.get("reason"), f"{where}.reason", nullable=True)
        mode = _text(spec.get("mode"), f"{where}.mode", nullable=True)
        if mode not in (None, "enforce", "audit"):
            raise _fail(f"{where}.mode", f"unknown mode {mode!r} (expected enforce or audit)")
        unless = spec.get("unless")
        rule = ast.Rule(
            action=action,
            header=ast.Str(value=header) if header is not None else None,
            condition=reader.cond(spec["condition"], f"{where}.condition", False),
            unless=reader.cond(unless, f"{where}.unless", False) if unless is not None else None,
            id=ast.Str(value=rid) if explicit and rid is not None else None,
            reason=ast.Str(value=reason) if reason is not None else None,
            mode=ast.Str(value="audit") if mode == "audit" else None,
            span=_span(path, _line(spec.get("line"), f"{where}.line")),
        )
        out.append((rule, None if explicit else rid))
    return out


def from_ir(data: Any) -> CheckedPolicy:
    """Validate an IR document and rebuild the checked policy; ValueError names the path."""
    doc = _obj(data, "", ("format", "version", "rules"), _TOP)
    if doc["format"] != FORMAT:
        raise _fail("format", f"expected {FORMAT!r}, got {doc['format']!r}")
    if type(doc["version"]) is not int or doc["version"] != VERSION:
        raise _fail(
            "version",
            f"unsupported IR version {doc['version']!r} (this mailpolicy reads version {VERSION})",
        )
    source = doc.get("source")
    path, sha = "<ir>", ""
    if source is not None:
        _obj(source, "source", (), ("path", "sha256"))
        path = _text(source.get("path"), "source.path", nullable=True) or "<ir>"
        sha = _text(source.get("sha256"), "source.sha256", nullable=True) or ""
    name = _text(doc.get("policy"), "policy", nullable=True)
    default = _str(doc.get("default", "allow"), "default")
    if default not in ast.ACTIONS:
        raise _fail(
            "default", f"unknown action {default!r} (expected one of {', '.join(ast.ACTIONS)})"
        )
    list_defs, lists = _lists(doc.get("lists", {}), path)
    servers = [
        _str(v, f"authserv_ids[{i}]")
        for i, v in enumerate(_array(doc.get("authserv_ids", []), "authserv_ids"))
    ]
    built = _rules(doc["rules"], _Reader(lists), path)

    statements: list[ast.Statement] = []
    if name is not None:
        statements.append(ast.PolicyName(name=name))
    statements.append(ast.Default(action=default))
    statements.extend(ast.AuthservId(name=v) for v in servers)
    statements.extend(list_defs)
    statements.extend(rule for rule, _ in built)
    policy = ast.Policy(statements=tuple(statements), path=path)
    _check_ids(assign_ids(policy.rules), [given for _, given in built])
    _semantics(policy, lists)
    # The checked policy comes from the checker, as for the text form: one structure
    # whichever form was read. List files are not read again: the document carries them.
    from mailpolicy.policy.check import check

    result = check(policy, source_sha256=sha, file_lists=lists, lint=False)
    assert result.policy is not None  # _semantics raised on any error
    return result.policy


def _semantics(policy: ast.Policy, entries: dict[str, tuple[ast.Str, ...]]) -> None:
    """Run the checker over the rebuilt tree (list files are not read: their entries are
    made inline) and turn its first error into a ValueError naming the rule."""
    from mailpolicy.policy.check import check  # the checker is the one judge of meaning

    head: list[ast.Statement] = []
    lists: list[ast.Statement] = []
    for stmt in policy.statements:
        if isinstance(stmt, ast.ListDef):
            lists.append(
                ast.ListDef(
                    name=stmt.name,
                    span=stmt.span,
                    items=entries.get(stmt.name, ()),
                )
            )
        elif not isinstance(stmt, ast.Rule):
            head.append(stmt)

    def errors(statements: list[ast.Statement]) -> list[Diagnostic]:
        tree = ast.Policy(statements=tuple(statements), path=policy.path)
        return [d for d in check(tree).diagnostics if d.severity == "error"]

    whole = errors(head + lists + list(policy.rules))
    if not whole:
        return
    for where, part in [("", head + lists)] + [
        (f"rules[{i}]", lists + [r]) for i, r in enumerate(policy.rules)
    ]:
        found = [d for d in errors(part) if d.code != "E110"]
        if found:
            raise _fail(where or "policy", f"{found[0].message} [{found[0].code}]")
    raise _fail("", f"{whole[0].message} [{whole[0].code}]")


def _check_ids(rules: tuple[CheckedRule, ...], given: list[str | None]) -> None:
    seen: dict[str, int] = {}
    for cr, want in zip(rules, given, strict=True):
        where = f"rules[{cr.index}].id"
        if cr.rule.id is not None and cr.id in seen:
            raise _fail(where, f"duplicate rule id {cr.id!r} (also rules[{seen[cr.id]}])")
        seen.setdefault(cr.id, cr.index)
        if want is not None and want != cr.id:
            raise _fail(
                where,
                f"{want!r} is not the id derived from this rule "
                f'({derive_id(cr.rule)!r}); set "explicit_id": true to keep it',
            )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r} in a JSON object")
        out[key] = value
    return out


def loads(text: str) -> CheckedPolicy:
    """Parse IR JSON text (duplicate keys refused) and rebuild the policy with ``from_ir``."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    return from_ir(data)
