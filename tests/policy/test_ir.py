"""Policy as data: the JSON IR, its round trips and its validation messages."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from strategies import checked_policies

from mailpolicy.policy import ast, ir, loader
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.fmt import format_policy, format_source
from mailpolicy.policy.parse import parse

SHIPPED = sorted((Path(ast.__file__).parent / "policies").glob("*.policy"))

SAMPLE = """\
policy "campus-mail"
default block
list executable = ["exe", "pif"]
list partners = file "partners.txt"  # read by the checker
block attachment extension in executable unless sender in partners
quarantine attachment name matches "*.{doc,xls}.{bat,pif}" as "sircam-double-extension"
tag "X-Policy-Warning: big" when size > 10MB and attachments >= 3
strip attachment (archive contains type executable or not declared type "text/*")
allow header "X-Scanned" contains "yes" or recipient in ["postmaster@*"] reason "ok"
"""


@pytest.fixture
def sample(tmp_path: Path) -> CheckedPolicy:
    (tmp_path / "partners.txt").write_text("# partners\n*@partner.example.com\n")
    path = tmp_path / "campus.policy"
    path.write_text(SAMPLE)
    return loader.load_policy(str(path), lint=True)


def same(a: CheckedPolicy, b: CheckedPolicy) -> bool:
    return (
        a.ast == b.ast
        and a.lists == b.lists
        and [r.id for r in a.rules] == [r.id for r in b.rules]
        and a.rules == b.rules
        and a.name == b.name
        and a.default == b.default
        and a.source_sha256 == b.source_sha256
    )


# ---- the document ------------------------------------------------------------------------
def test_document_shape(sample: CheckedPolicy) -> None:
    doc = ir.to_ir(sample)
    assert list(doc) == ["format", "version", "policy", "default", "source", "lists", "rules"]
    assert (doc["format"], doc["version"], doc["policy"], doc["default"]) == (
        "mailpolicy-ir",
        1,
        "campus-mail",
        "block",
    )
    assert doc["source"]["path"].endswith("campus.policy") and len(doc["source"]["sha256"]) == 64
    assert doc["lists"] == {
        "executable": {"entries": ["exe", "pif"], "file": None, "line": 3},
        "partners": {"entries": ["*@partner.example.com"], "file": "partners.txt", "line": 4},
    }
    first = doc["rules"][0]
    assert list(first) == [
        "id",
        "explicit_id",
        "action",
        "header",
        "condition",
        "unless",
        "reason",
        "mode",
        "line",
    ]
    assert first["id"] == sample.rules[0].id and first["explicit_id"] is False
    assert first["condition"] == {
        "attachment": {"attachment_test": "extension", "op": "in", "value": {"list": "executable"}}
    }
    assert first["unless"] == {"test": "sender", "op": "in", "value": {"list": "partners"}}
    assert doc["rules"][1]["id"] == "sircam-double-extension"
    assert doc["rules"][1]["explicit_id"] is True
    tag = doc["rules"][2]
    assert tag["header"] == "X-Policy-Warning: big"
    assert tag["condition"] == {
        "and": [
            {"test": "size", "op": ">", "value": {"number": "10MB", "value": 10_000_000}},
            {"test": "attachments", "op": ">=", "value": {"number": "3", "value": 3}},
        ]
    }
    assert doc["rules"][3]["condition"] == {
        "attachment": {
            "or": [
                {
                    "archive_contains": {
                        "attachment_test": "type",
                        "op": "class",
                        "value": "executable",
                    }
                },
                {"not": {"attachment_test": "declared_type", "op": "matches", "value": "text/*"}},
            ]
        }
    }
    assert doc["rules"][4]["condition"]["or"] == [
        {"test": "header", "header": "X-Scanned", "op": "contains", "value": "yes"},
        {"test": "recipient", "op": "in", "value": {"items": ["postmaster@*"]}},
    ]
    assert doc["rules"][4]["reason"] == "ok" and doc["rules"][4]["line"] == 9


def test_value_less_tests_have_no_value_key() -> None:
    checked = loader.load_text("block attachment type mismatch or attachment archive encrypted")
    assert ir.to_ir(checked)["rules"][0]["condition"] == {
        "or": [
            {"attachment": {"attachment_test": "type", "op": "mismatch"}},
            {"attachment": {"attachment_test": "archive", "op": "encrypted"}},
        ]
    }


def test_dumps_is_deterministic_readable_json(sample: CheckedPolicy) -> None:
    text = ir.dumps(sample)
    assert text == ir.dumps(sample) and text.endswith("}\n") and not text.endswith("\n\n")
    assert text.startswith('{\n  "format": "mailpolicy-ir",\n  "version": 1,\n')
    assert json.loads(text) == ir.to_ir(sample)
    unicode = loader.load_text('block subject contains "書類名1.doc.bat"')
    assert "書類名1" in ir.dumps(unicode)


# ---- round trips -------------------------------------------------------------------------
def test_round_trip(sample: CheckedPolicy) -> None:
    back = ir.from_ir(ir.to_ir(sample))
    assert same(back, sample)
    assert ir.to_ir(back) == ir.to_ir(sample)
    assert ir.loads(ir.dumps(sample)) == back
    assert back.rules[0].line == 5  # lines survive for reports


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_policies_round_trip(path: Path) -> None:
    checked = loader.load_policy(str(path), lint=True)
    back = ir.loads(ir.dumps(checked))
    assert [r.id for r in back.rules] == [r.id for r in checked.rules]
    assert [r.rule for r in back.rules] == [r.rule for r in checked.rules]
    assert back.lists == checked.lists and back.default == checked.default
    assert ir.dumps(back) == ir.dumps(checked)


def test_text_to_ir_to_text_is_lossless_up_to_layout(sample: CheckedPolicy) -> None:
    text = format_policy(ir.from_ir(ir.to_ir(sample)).ast)
    assert format_source(text) == text
    again = parse(text, sample.path)
    original = parse(SAMPLE, sample.path)
    assert again.rules == original.rules
    assert [(d.name, d.items, d.file) for d in again.lists.values()] == [
        (d.name, d.items, d.file) for d in original.lists.values()
    ]
    assert (again.name, again.default) == (original.name, original.default)


def test_statements_come_back_in_canonical_order() -> None:
    checked = loader.load_text('block sender in x\nlist x = ["a"]')
    back = ir.from_ir(ir.to_ir(checked))
    assert [type(s).__name__ for s in back.ast.statements] == ["Default", "ListDef", "Rule"]
    assert back.rules == checked.rules and back.lists == checked.lists
    assert ir.to_ir(checked)["policy"] is None and back.name == checked.name


@settings(max_examples=100, deadline=None)
@given(checked_policies())
def test_round_trip_property(checked: CheckedPolicy) -> None:
    doc = ir.to_ir(checked)
    back = ir.from_ir(doc)
    assert same(back, checked)
    assert ir.to_ir(back) == doc
    assert ir.loads(ir.dumps(checked)) == back
    text = format_policy(back.ast)
    assert [s for s in parse(text).statements] == [
        s
        if not isinstance(s, ast.ListDef)
        else ast.ListDef(name=s.name, items=s.items, file=s.file)
        for s in checked.ast.statements
    ]


# ---- written by a program ----------------------------------------------------------------
def minimal(**rule: Any) -> dict[str, Any]:
    body = {
        "action": "block",
        "condition": {
            "attachment": {"attachment_test": "extension", "op": "in", "value": {"items": ["exe"]}}
        },
    }
    body.update(rule)
    return {"format": "mailpolicy-ir", "version": 1, "rules": [body]}


def test_minimal_document() -> None:
    checked = ir.from_ir(minimal())
    assert checked.default == "allow" and checked.lists == {} and checked.path == "<ir>"
    assert checked.rules[0].id.startswith("block-")
    assert format_policy(checked.ast) == 'default allow\n\nblock attachment extension in ["exe"]\n'


def test_given_id_is_explicit_unless_said_otherwise() -> None:
    assert ir.from_ir(minimal(id="no-exe")).ast.rules[0].id == ast.Str(value="no-exe")
    derived = ir.from_ir(minimal()).rules[0].id
    assert ir.from_ir(minimal(id=derived, explicit_id=False)).rules[0].rule.id is None


def test_nested_and_or_are_flattened_and_singletons_unwrapped() -> None:
    leaf = {"test": "subject", "op": "contains", "value": "x"}
    doc = minimal(condition={"and": [{"and": [leaf, leaf]}, {"or": [leaf]}]})
    assert ir.from_ir(doc).rules[0].rule.condition == ast.And(
        items=(ast.TextContains(field="subject", operand=ast.Str(value="x")),) * 3
    )


BAD: list[tuple[str, Any, str]] = [
    ("version", 2, "version: unsupported IR version 2 (this mailpolicy reads version 1)"),
    ("format", "other", "format: expected 'mailpolicy-ir', got 'other'"),
    ("extra", 1, "unknown key 'extra'"),
    (
        "rules[0].condition",
        {
            "and": [
                {"test": "subject", "op": "contains", "value": "x"},
                {"test": "sendr", "op": "in", "value": {"list": "x"}},
            ]
        },
        "rules[0].condition.and[1]: unknown test field 'sendr'",
    ),
    (
        "rules[0].condition",
        {"attachment": {"test": "size", "op": ">", "value": "1"}},
        "rules[0].condition.attachment: a message test cannot appear inside 'attachment'",
    ),
    (
        "rules[0].condition",
        {"attachment": {"attachment_test": "size", "op": ">", "value": "1"}},
        "rules[0].condition.attachment.value: this test takes a number, not a string",
    ),
    (
        "rules[0].condition",
        {
            "attachment": {
                "attachment_test": "size",
                "op": ">",
                "value": {"number": "10MB", "value": 10},
            }
        },
        "rules[0].condition.attachment.value.value: 10 is not the value of '10MB' (10000000)",
    ),
    (
        "rules[0].condition",
        {"attachment": {"attachment_test": "size", "op": "~", "value": {"number": "1"}}},
        "rules[0].condition.attachment.op: 'size' takes >, <, >=, <=, ==, !=, not '~'",
    ),
    (
        "rules[0].condition",
        {"attachment": {"attachment_test": "type", "op": "mismatch", "value": "x"}},
        "rules[0].condition.attachment.value: 'type mismatch' takes no value",
    ),
    (
        "rules[0].condition",
        {"test": "sender", "op": "in", "value": {"list": "trustd"}},
        "rules[0].condition.value.list: unknown list 'trustd'",
    ),
    ("rules[0].condition", {"or": []}, "rules[0].condition.or: 'or' needs at least one operand"),
    ("rules[0].condition", {"xor": []}, "rules[0].condition: unknown expression 'xor'"),
    ("rules[0].condition", [], "rules[0].condition: expected an expression object, got an array"),
    ("rules[0].reason", "two\nlines", "rules[0].reason: a string cannot contain a line break"),
    ("rules[0].action", "reject", "rules[0].action: unknown action 'reject'"),
    ("rules[0].id", "block-00000000", None),  # explicit: fine
    ("rules[0].explicit_id", "yes", "rules[0].explicit_id: expected true or false, got a string"),
    ("rules[0].line", 0, "rules[0].line: expected a line number (1 or more) or null, got 0"),
    ("rules[0].header", "X-Oops", "rules[0]: only 'tag' takes a header text"),
    (
        "rules[0].condition",
        {"attachment": {"attachment_test": "type", "op": "class", "value": "exectuable"}},
        "rules[0]: unknown type class 'exectuable' (did you mean 'executable'?)",
    ),
    ("lists", {"bad name": {"entries": []}}, "lists.bad name: 'bad name' is not a valid name"),
    ("lists", {"x": {"entries": [1]}}, "lists.x.entries[0]: expected a string, got a number"),
    ("default", "strip", "policy: 'default strip' makes no sense"),
]


def _set(doc: dict[str, Any], where: str, value: Any) -> None:
    node: Any = doc
    parts = where.replace("[", ".").replace("]", "").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    node[parts[-1]] = value


@pytest.mark.parametrize("where,value,message", BAD, ids=[b[0] + ":" + str(b[2]) for b in BAD])
def test_invalid_documents_name_the_json_path(where: str, value: Any, message: str | None) -> None:
    doc = copy.deepcopy(minimal())
    _set(doc, where, value)
    if message is None:
        ir.from_ir(doc)
        return
    with pytest.raises(ValueError) as exc:
        ir.from_ir(doc)
    assert str(exc.value).startswith(message), str(exc.value)


def test_wrong_derived_id_and_duplicate_ids() -> None:
    with pytest.raises(ValueError, match=r"rules\[0\]\.id: 'block-1' is not the id derived"):
        ir.from_ir(minimal(id="block-1", explicit_id=False))
    doc = minimal(id="same")
    doc["rules"].append(dict(doc["rules"][0]))
    with pytest.raises(
        ValueError, match=r"rules\[1\]\.id: duplicate rule id 'same' \(also rules\[0\]\)"
    ):
        ir.from_ir(doc)


def test_loads_refuses_bad_json_and_duplicate_keys() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        ir.loads("{")
    with pytest.raises(ValueError, match="duplicate key 'rules'"):
        ir.loads('{"format": "mailpolicy-ir", "version": 1, "rules": [], "rules": []}')
    with pytest.raises(ValueError, match="expected an object, got an array"):
        ir.loads("[]")
