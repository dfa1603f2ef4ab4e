"""The parser: every construct of LANGUAGE.md, bad input, recovery, and a grammar fuzzer."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailpolicy.policy import ast, loader, printer
from mailpolicy.policy.check import check
from mailpolicy.policy.diagnostics import CODES, InputError, PolicyError, render_all
from mailpolicy.policy.parse import decode_source, parse, parser
from mailpolicy.policy.syntax import MAX_DEPTH

# The two example boxes of LANGUAGE.md, verbatim.
HEADER_BOX = """\
policy "campus-mail"             # optional name, used in reports and exported files
default allow                    # what happens when no rule decides; allow when omitted

list executable = ["exe", "pif", "scr", "bat", "com", "cmd", "lnk", "vbs", "js", "hta", "cpl"]
list documents  = ["doc", "xls", "ppt", "zip", "jpg", "txt", "pdf"]
list trusted    = ["*@partner.example.com", "postmaster@example.ac.jp"]
list partners   = file "lists/partners.txt"   # one entry a line, '#' comments, path relative to the policy file
"""

RULES_BOX = """\
block attachment "*.pif" unless sender in trusted                     # the one-line form
block attachment extension in executable unless sender in trusted
quarantine attachment name matches "*.{doc,xls,zip,jpg}.{bat,com,lnk,pif}" as "sircam-double-extension"
block attachment double extension in executable                        # name.doc.bat yes; test.tar.gz, archive.sit.bin no
block attachment type executable reason "executable content under any name"   # detected from the bytes, not the name
block attachment archive contains extension in executable            # looks inside zip, tar, gzip, ... recursively
quarantine attachment archive exceeds limits                           # too deep, too large, too many members, encrypted
strip attachment extension in ["hta", "reg"]                          # remove only those parts, deliver the rest
tag "X-Policy-Warning: executable from partner" when sender in trusted and attachment extension in executable
allow sender in trusted and attachment extension in ["exe"]            # explicit exception
quarantine body contains "I send you this file in order to have your advice"
block *.pif unless sender trusted                                      # shorthand, as administrators say it
"""


def codes(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse(text, "t.policy")
    return [d.code for d in info.value.diagnostics]


def rule(text: str) -> ast.Rule:
    (r,) = parse(text, "t.policy").rules
    return r


def canonical(text: str) -> str:
    return printer.rule(rule(text))


# ---- LANGUAGE.md ----------------------------------------------------------------------------
def test_language_boxes_parse_and_check(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "partners.txt").write_text(
        "# partners\nalice@example.com\n\n", encoding="utf-8"
    )
    path = tmp_path / "campus.policy"
    path.write_text(HEADER_BOX + "\n" + RULES_BOX, encoding="utf-8")
    checked = loader.load_policy(str(path), lint=True)
    assert checked.name == "campus-mail"
    assert checked.default == "allow"
    assert len(checked.rules) == 12
    assert checked.lists["partners"] == ("alice@example.com",)
    assert checked.rule("sircam-double-extension").action == "quarantine"
    # the box is a gallery, not one policy: some rules repeat earlier ones, and its
    # exceptions trust a sender without authentication (W209)
    assert {d.code for d in checked.warnings} <= {"W201", "W202", "W209"}


def test_language_rules_mean_what_their_comments_say() -> None:
    rules = parse(HEADER_BOX.replace('file "lists/partners.txt"', '["x"]') + RULES_BOX).rules
    one_line, _, sircam, double, typed, archive, limits, strip, tag, allow, body, short = rules
    assert short.condition == one_line.condition and short.unless == one_line.unless
    assert printer.rule(one_line) == (
        'block attachment name matches "*.pif" unless sender in trusted'
    )
    assert sircam.id is not None and sircam.id.value == "sircam-double-extension"
    assert double.condition == ast.AnyAttachment(
        pred=ast.DoubleExtensionIn(operand=ast.ListRef(name="executable"))
    )
    assert typed.reason is not None and typed.condition == ast.AnyAttachment(
        pred=ast.TypeClass(operand=ast.Str(value="executable"))
    )
    assert isinstance(archive.condition, ast.AnyAttachment)
    assert isinstance(archive.condition.pred, ast.ArchiveContains)
    assert limits.condition == ast.AnyAttachment(pred=ast.ArchiveExceedsLimits())
    assert strip.action == "strip"
    # `tag HEADER when A and attachment P` is a message-level `and`
    assert tag.header is not None and tag.header.value.startswith("X-Policy-Warning:")
    assert isinstance(tag.condition, ast.And) and len(tag.condition.items) == 2
    assert isinstance(tag.condition.items[1], ast.AnyAttachment)
    assert allow.action == "allow"
    assert body.condition == ast.TextContains(
        field="body",
        operand=ast.Str(value="I send you this file in order to have your advice"),
    )


CONSTRUCTS = [
    # (as written, canonical)
    ('block attachment "*.pif"', 'block attachment name matches "*.pif"'),
    ("block *.pif", 'block attachment name matches "*.pif"'),
    ("block attachment name in globs", "block attachment name in globs"),
    ('block attachment extension "pif"', 'block attachment extension "pif"'),
    ("block attachment extension in [exe, pif]", 'block attachment extension in ["exe", "pif"]'),
    ("block attachment type mismatch", "block attachment type mismatch"),
    (
        'block attachment type "application/x-dosexec"',
        'block attachment type "application/x-dosexec"',
    ),
    ('block attachment declared type "audio/*"', 'block attachment declared type "audio/*"'),
    ("block attachment size > 10MB", "block attachment size > 10MB"),
    ("block attachment size <= 200KB", "block attachment size <= 200KB"),
    ("quarantine attachment archive encrypted", "quarantine attachment archive encrypted"),
    ("block attachment evasive name", "block attachment evasive name"),
    (
        "block attachment (extension in x and size > 1MB)",
        "block attachment (extension in x and size > 1MB)",
    ),
    (
        'block attachment archive contains (name matches "*.exe" or type executable)',
        'block attachment archive contains (name matches "*.exe" or type executable)',
    ),
    ('block sender matches "*@example.com"', 'block sender matches "*@example.com"'),
    ("block recipient in staff", "block recipient in staff"),
    ('block recipient matches "a@b"', 'block recipient matches "a@b"'),
    ('block from contains "x"', 'block from contains "x"'),
    ('block subject matches "Hi*"', 'block subject matches "Hi*"'),
    ('block header "X-Mailer" contains "Bulk"', 'block header "X-Mailer" contains "Bulk"'),
    ("block size >= 20MB", "block size >= 20MB"),
    ("block attachments > 10", "block attachments > 10"),
    (
        'block not sender in x and (subject contains "a" or body contains "b")',
        'block not sender in x and (subject contains "a" or body contains "b")',
    ),
    ('discard attachment "*.scr"', 'discard attachment name matches "*.scr"'),
    (
        'block attachment "*.exe" reason "r" as "id" unless sender in t',
        'block attachment name matches "*.exe" unless sender in t as "id" reason "r"',
    ),
]


@pytest.mark.parametrize(("text", "want"), CONSTRUCTS)
def test_every_construct_parses_to_its_canonical_form(text: str, want: str) -> None:
    assert canonical(text) == want
    assert rule(want) == rule(text)  # the canonical text means the same


def test_header_and_defaults() -> None:
    policy = parse('policy "p"\ndefault quarantine\nlist x = file "a.txt"\nlist y = []\n')
    assert policy.name == "p" and policy.default == "quarantine"
    assert policy.lists["x"].file == ast.Str(value="a.txt")
    assert policy.lists["y"].items == ()
    assert parse("block *.exe").default == "allow"


def test_sizes_carry_units() -> None:
    size = rule("block attachment size > 1KiB").condition
    assert isinstance(size, ast.AnyAttachment) and isinstance(size.pred, ast.AttTest)
    assert size.pred.operand == ast.Number(text="1KiB", value=1024, unit="KiB")


def test_spans_point_at_the_source() -> None:
    r = parse('\n\n  block attachment "*.pif"', "f.policy").rules[0]
    assert (r.span.file, r.span.line, r.span.column) == ("f.policy", 3, 3)


def test_statements_span_lines() -> None:
    text = 'block attachment extension in [\n  "exe",\n  "pif",\n]\n  unless sender in t\n'
    assert canonical(text) == 'block attachment extension in ["exe", "pif"] unless sender in t'


# Every node kind, keywords at either end, brackets around conditions (the node inside
# spans without them, the node around spans with them) and statements over two lines.
SPANS_POLICY = """\
policy "p"
default block
list a = ["x", 1KB, w]
list b = file "b.txt"
block "X-H: 1" when (sender in a or sender matches "*@x")
  unless (recipient in b and not recipient matches ["r"]) as "id" reason "why"
tag ((subject contains "s")) and header "H" matches "h" and body contains "b"
quarantine from matches "f" or size >= 10MB or attachments > 2 or sender trusted
strip attachment (name matches "n" or name in [n] or extension in [e] or extension "e")
discard not attachment (not (double extension in d and type mismatch) and type "a/b")
allow attachment (type image and declared type "t" and size < 1)
block attachment archive contains (archive encrypted or archive exceeds limits)
block attachment evasive name or *.pif
"""

SPANS_WANTED = [
    ("PolicyName", 'policy "p"'),
    ("Default", "default block"),
    ("ListDef", 'list a = ["x", 1KB, w]'),
    ("Str", '"x"'),
    ("Str", "1KB"),
    ("Str", "w"),
    ("ListDef", 'list b = file "b.txt"'),
    ("Str", '"b.txt"'),
    (
        "Rule",
        'block "X-H: 1" when (sender in a or sender matches "*@x")\n  unless (recipient in b and not recipient matches ["r"]) as "id" reason "why"',
    ),
    ("Or", 'sender in a or sender matches "*@x"'),
    ("SenderIn", "sender in a"),
    ("ListRef", "a"),
    ("SenderMatches", 'sender matches "*@x"'),
    ("Str", '"*@x"'),
    ("Str", '"X-H: 1"'),
    ("And", 'recipient in b and not recipient matches ["r"]'),
    ("RecipientIn", "recipient in b"),
    ("ListRef", "b"),
    ("Not", 'not recipient matches ["r"]'),
    ("RecipientMatches", 'recipient matches ["r"]'),
    ("ListLit", '["r"]'),
    ("Str", '"r"'),
    ("Str", '"id"'),
    ("Str", '"why"'),
    ("Rule", 'tag ((subject contains "s")) and header "H" matches "h" and body contains "b"'),
    ("And", '((subject contains "s")) and header "H" matches "h" and body contains "b"'),
    ("TextContains", 'subject contains "s"'),
    ("Str", '"s"'),
    ("HeaderMatches", 'header "H" matches "h"'),
    ("Str", '"h"'),
    ("TextContains", 'body contains "b"'),
    ("Str", '"b"'),
    ("Rule", 'quarantine from matches "f" or size >= 10MB or attachments > 2 or sender trusted'),
    ("Or", 'from matches "f" or size >= 10MB or attachments > 2 or sender trusted'),
    ("TextMatches", 'from matches "f"'),
    ("Str", '"f"'),
    ("MessageSize", "size >= 10MB"),
    ("Number", "10MB"),
    ("AttachmentCount", "attachments > 2"),
    ("Number", "2"),
    ("SenderIn", "sender trusted"),
    ("ListRef", "trusted"),
    (
        "Rule",
        'strip attachment (name matches "n" or name in [n] or extension in [e] or extension "e")',
    ),
    (
        "AnyAttachment",
        'attachment (name matches "n" or name in [n] or extension in [e] or extension "e")',
    ),
    ("Or", 'name matches "n" or name in [n] or extension in [e] or extension "e"'),
    ("NameMatches", 'name matches "n"'),
    ("Str", '"n"'),
    ("NameIn", "name in [n]"),
    ("ListLit", "[n]"),
    ("Str", "n"),
    ("ExtensionIn", "extension in [e]"),
    ("ListLit", "[e]"),
    ("Str", "e"),
    ("ExtensionIs", 'extension "e"'),
    ("Str", '"e"'),
    (
        "Rule",
        'discard not attachment (not (double extension in d and type mismatch) and type "a/b")',
    ),
    ("Not", 'not attachment (not (double extension in d and type mismatch) and type "a/b")'),
    ("AnyAttachment", 'attachment (not (double extension in d and type mismatch) and type "a/b")'),
    ("And", 'not (double extension in d and type mismatch) and type "a/b"'),
    ("Not", "not (double extension in d and type mismatch)"),
    ("And", "double extension in d and type mismatch"),
    ("DoubleExtensionIn", "double extension in d"),
    ("ListRef", "d"),
    ("TypeMismatch", "type mismatch"),
    ("TypeMime", 'type "a/b"'),
    ("Str", '"a/b"'),
    ("Rule", 'allow attachment (type image and declared type "t" and size < 1)'),
    ("AnyAttachment", 'attachment (type image and declared type "t" and size < 1)'),
    ("And", 'type image and declared type "t" and size < 1'),
    ("TypeClass", "type image"),
    ("Str", "image"),
    ("DeclaredType", 'declared type "t"'),
    ("Str", '"t"'),
    ("AttachmentSize", "size < 1"),
    ("Number", "1"),
    ("Rule", "block attachment archive contains (archive encrypted or archive exceeds limits)"),
    ("AnyAttachment", "attachment archive contains (archive encrypted or archive exceeds limits)"),
    ("ArchiveContains", "archive contains (archive encrypted or archive exceeds limits)"),
    ("Or", "archive encrypted or archive exceeds limits"),
    ("ArchiveEncrypted", "archive encrypted"),
    ("ArchiveExceedsLimits", "archive exceeds limits"),
    ("Rule", "block attachment evasive name or *.pif"),
    ("Or", "attachment evasive name or *.pif"),
    ("AnyAttachment", "attachment evasive name"),
    ("EvasiveName", "evasive name"),
    ("AnyAttachment", "*.pif"),
    ("NameMatches", "*.pif"),
    ("Str", "*.pif"),
]


def _nodes(node: Any) -> list[Any]:
    if isinstance(node, tuple):
        return [n for item in node for n in _nodes(item)]
    if not dataclasses.is_dataclass(node) or isinstance(node, ast.Span):
        return []
    inner = [getattr(node, f.name) for f in dataclasses.fields(node) if f.name != "span"]
    return [node, *_nodes(tuple(inner))]


def test_every_node_spans_its_source() -> None:
    text = SPANS_POLICY
    nodes = _nodes(parse(text, "s.policy"))
    assert nodes[0].span == ast.Span("s.policy", 1, 1, 13, 39, 0, len(text) - 1)
    got = [(type(n).__name__, text[n.span.start : n.span.end]) for n in nodes[1:]]
    assert got == SPANS_WANTED
    for node in nodes:
        span: ast.Span = node.span
        for line, column, offset in (
            (span.line, span.column, span.start),
            (span.end_line, span.end_column, span.end),
        ):
            assert line == text.count("\n", 0, offset) + 1
            assert column == offset - (text.rfind("\n", 0, offset) + 1) + 1


# ---- keywords and syntax errors -------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        'blockattachment "x"',
        'block attachmentname matches "x"',
        "block attachment extensionin x",
        "block attachment typemismatch",
        'listx = ["a"]',
    ],
)
def test_keywords_are_word_bounded(text: str) -> None:
    assert codes(text) == ["E100"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('blok attachment "*.exe"', "did you mean 'block'?"),
        ('block attachment "*.exe\n', "unterminated string"),
        ('list x = ["a", "b"\nblock *.exe', "the list opened at line 1, column 10"),
        ("block (sender in x", "the parenthesis opened at line 1, column 7"),
        ("block attachment size > 10XB", "invalid number '10XB'"),
        ("block attachment", "unexpected end of file"),
    ],
)
def test_syntax_errors_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse(text, "t.policy")
    assert fragment in info.value.diagnostics[0].message
    assert info.value.diagnostics[0].code == "E100"


def test_expected_tokens_are_shown_as_text() -> None:
    with pytest.raises(PolicyError) as info:
        parse('list x = ["a" "b"]')
    message = info.value.diagnostics[0].message
    assert "']'" in message and "RSQB" not in message and "COMMA" not in message


def test_several_errors_in_one_run() -> None:
    text = 'blok attachment "*.exe"\nblock sender in x\nblock attachment (\nallow sender in\n'
    with pytest.raises(PolicyError) as info:
        parse(text, "t.policy")
    assert [(d.code, d.span.line) for d in info.value.diagnostics] == [
        ("E100", 1),
        ("E100", 4),
        ("E100", 4),
    ]


def test_modifier_given_twice() -> None:
    assert codes('block *.exe as "a" as "b"') == ["E108"]


# ---- bad input ------------------------------------------------------------------------------
def load_codes(path: Path) -> list[str]:
    with pytest.raises(PolicyError) as info:
        loader.load_policy(str(path), lint=True)
    rendered = render_all(info.value.diagnostics, {str(path): ""})
    assert "Traceback" not in rendered
    return [d.code for d in info.value.diagnostics]


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.policy"
    path.write_bytes(b"")
    assert parse("").statements == ()
    assert load_codes(path) == ["E110"]


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "bin.policy"
    path.write_bytes(bytes(range(256)) * 4)
    assert load_codes(path) == ["E111"]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.policy"
    path.write_bytes('block attachment "caf\u00e9.exe"'.encode("latin-1"))
    assert load_codes(path) == ["E111"]


def test_utf8_bom_is_accepted() -> None:
    assert decode_source(b"\xef\xbb\xbfblock *.exe", "p").startswith("block")


def test_ten_megabyte_policy(tmp_path: Path) -> None:
    path = tmp_path / "big.policy"
    line = b'block attachment name matches "*.exe" unless sender in ["a@example.com"]\n'
    path.write_bytes(line * (10 * 1024 * 1024 // len(line) + 1))
    assert load_codes(path) == ["E111"]
    with pytest.raises(PolicyError):
        parse(path.read_text(encoding="utf-8"))


def test_deeply_nested_parentheses(tmp_path: Path) -> None:
    path = tmp_path / "deep.policy"
    path.write_text("block " + "(" * 1000 + "sender in x" + ")" * 1000, encoding="utf-8")
    assert load_codes(path) == ["E100"]


def test_long_not_chains_are_refused_not_a_recursion_error() -> None:
    assert codes("block " + "not " * 5000 + "sender in x") == ["E100"]


def test_nesting_at_the_limit_still_works() -> None:
    text = 'list x = ["a@b"]\nblock ' + "not (" * MAX_DEPTH + "sender in x" + ")" * MAX_DEPTH
    result = check(parse(text))
    assert result.policy is not None
    printer.rule(result.policy.rules[0].rule)


def test_unterminated_string_file(tmp_path: Path) -> None:
    path = tmp_path / "open.policy"
    path.write_text('block attachment "*.exe\nblock *.pif\n', encoding="utf-8")
    assert load_codes(path) == ["E100"]


def test_missing_policy_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        loader.load_policy(str(tmp_path / "nope.policy"), lint=True)


# ---- the grammar fuzzer ---------------------------------------------------------------------
_SAMPLES: dict[str, list[str]] = {
    "NAME": ["executable", "trusted", "x", "my-list", "exe_2", "blok"],
    "STRING": [
        '"*.pif"',
        '"exe"',
        '"X-Tag: yes"',
        '"a\\"b"',
        '"書類名1.doc.bat"',
        '""',
        '"[a"',
        '"application/*"',
        '"*.*.*"',
        '"\\\\"',
        '"{a,b"',
    ],
    "NUMBER": ["10", "1MB", "1.5KB", "200kib", "3", "0"],
    "BARE_GLOB": ["*.pif", "*.*.*", "a?c", "*.{doc,xls}", "*[!a].exe"],
    "COMPARE": [">", "<", ">=", "<=", "==", "!="],
    "TEXT_FIELD": ["from", "subject", "body"],
    "_AUTO_RUN": ["auto-run"],
}
_JUNK = ['"', "\\", "@", ";", "]", "[", "(", ")", "{", "\u202e", "\x00", "#", "=", "10XB", "\t"]


def _grammar() -> tuple[dict[str, list[list[str]]], dict[str, list[str]]]:
    """Productions (non-terminal -> expansions) and example texts of each terminal."""
    lark = parser()
    rules: dict[str, list[list[str]]] = {}
    for r in lark.rules:
        rules.setdefault(r.origin.name, []).append([s.name for s in r.expansion])
    texts = dict(_SAMPLES)
    for term in lark.terminals:
        if term.name in texts or term.name in lark.ignore_tokens:
            continue
        if term.pattern.type == "str":
            texts[term.name] = [term.pattern.value]
        else:
            word = re.fullmatch(r"(\w+)\\b", term.pattern.value)
            assert word, f"add a sample for terminal {term.name}"
            texts[term.name] = [word.group(1)]
    return rules, texts


RULES, TERMINALS = _grammar()


def _heights() -> dict[str, int]:
    """Fewest derivation levels to reach only terminals, per non-terminal."""
    height: dict[str, int] = {}
    changed = True
    while changed:
        changed = False
        for name, expansions in RULES.items():
            for exp in expansions:
                if all(s in TERMINALS or s in height for s in exp):
                    h = 1 + max((height.get(s, 0) for s in exp), default=0)
                    if h < height.get(name, 1 << 30):
                        height[name] = h
                        changed = True
    return height


HEIGHTS = _heights()


@st.composite
def token_streams(draw: st.DrawFn, symbol: str = "start", depth: int = 0) -> list[str]:
    """Tokens derived from ``symbol`` by the grammar's own productions."""
    if symbol in TERMINALS:
        return [draw(st.sampled_from(TERMINALS[symbol]))]
    options = RULES[symbol]
    if depth > 8:  # head for the exit: only the shallowest expansions
        best = min(max((HEIGHTS.get(s, 0) for s in e), default=0) for e in options)
        options = [e for e in options if max((HEIGHTS.get(s, 0) for s in e), default=0) == best]
    expansion = draw(st.sampled_from(options))
    out: list[str] = []
    for sym in expansion:
        out.extend(draw(token_streams(sym, depth + 1)))
    return out


@st.composite
def policy_texts(draw: st.DrawFn) -> str:
    """Valid token streams, and the same streams damaged by a few random edits."""
    tokens = draw(token_streams())
    vocabulary = [t for texts in TERMINALS.values() for t in texts] + _JUNK
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["delete", "insert", "swap", "duplicate"]))
        i = draw(st.integers(0, max(0, len(tokens) - 1)))
        if op == "insert" or not tokens:
            tokens.insert(i, draw(st.sampled_from(vocabulary)))
        elif op == "delete":
            del tokens[i]
        elif op == "swap" and i + 1 < len(tokens):
            tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
        elif op == "duplicate":
            tokens.insert(i, tokens[i])
    seps = st.sampled_from([" ", " ", " ", "\n", " # note\n", "\t"])
    return "".join(tok + draw(seps) for tok in tokens)


@pytest.fixture(scope="module")
def empty_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=policy_texts())
def test_grammar_text_parses_or_raises_policy_error(text: str, empty_dir: Path) -> None:
    try:
        tree = parse(text, "fuzz.policy")
    except PolicyError as exc:
        assert exc.diagnostics and all(d.code in CODES for d in exc.diagnostics)
        render_all(exc.diagnostics, {"fuzz.policy": text})
        return
    result = check(tree, base_dir=empty_dir)  # the checker and lint never raise either
    assert all(d.code in CODES for d in result.diagnostics)
    render_all(result.diagnostics, {"fuzz.policy": text})
    for stmt in tree.statements:
        assert parse(printer.statement(stmt)).statements == (stmt,)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tokens=token_streams())
def test_unmutated_grammar_text_always_parses(tokens: list[str]) -> None:
    text = " ".join(tokens)
    try:
        parse(text)
    except PolicyError as exc:  # only the checks the parser makes beyond the grammar
        assert {d.code for d in exc.diagnostics} <= {"E108", "E109"}, text


# ---- sizes: a space before the unit, units and their values ---------------------------------
@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("10B", 10),
        ("1KB", 1000),
        ("1kb", 1000),
        ("1K", 1000),
        ("1KiB", 1024),
        ("1MB", 10**6),
        ("1MiB", 2**20),
        ("1.5GB", 1_500_000_000),
        ("2GiB", 2 * 2**30),
        ("1TB", 10**12),
        ("1TiB", 2**40),
    ],
)
def test_units(written: str, value: int) -> None:
    spaced = written[: len(written.rstrip("BbKkMmGgTtIi"))] + " " + written.lstrip("0123456789.")
    for text in (written, spaced, spaced.replace(" ", "\t")):
        rule = parse(f"block attachment size > {text}").rules[0]
        number = rule.condition.pred.operand  # type: ignore[union-attr]
        assert isinstance(number, ast.Number)
        assert (number.value, number.text) == (value, written)


@pytest.mark.parametrize(
    "text",
    [
        "block size > 25 MB",
        "block attachment size > 25 MB",
        "block attachment contains (size >= 25 MB)",
        "block attachment archive contains size < 1 KiB",
        'block *.exe unless size <= 2 GB as "x"',
    ],
)
def test_a_space_before_the_unit_everywhere_a_size_is_written(text: str) -> None:
    assert parse(text) == parse(
        text.replace(" MB", "MB").replace(" KiB", "KiB").replace(" GB", "GB")
    )
    assert " MB" not in printer.rule(parse(text).rules[0])


def test_a_unit_on_the_next_line_is_not_a_unit() -> None:
    with pytest.raises(PolicyError):
        parse("block attachment size > 25\nMB")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("block attachment size > 10 bytes", "did you mean '10B'?"),
        ("block attachment size > 25 megabytes", "did you mean '25MB'?"),
        ("block attachment size > 25megabytes", "did you mean '25MB'?"),
        ("block attachment size > 2 mebibytes", "did you mean '2MiB'?"),
        ("block attachment size > 25 XB", "a size is a number and a unit, such as 25MB or 25 MB"),
    ],
)
def test_a_size_written_out_gets_a_hint_saying_what_to_write(text: str, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse(text)
    (diag,) = info.value.diagnostics
    assert diag.code == "E100" and fragment in diag.message
    assert "NAME" not in diag.message and "NUMBER" not in diag.message


@pytest.mark.parametrize(
    "text",
    ["block attachment", "block sender", "block foo", "foo", "list x = [1 2]", 'block "a" and'],
)
def test_expected_tokens_are_a_readable_hint(text: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse(text)
    message = info.value.diagnostics[0].message
    assert "; expected " in message
    assert not re.search(r"\b[A-Z_]{3,}\b", message)  # no terminal names (RSQB, _NAME_KW)
    assert ", ..." not in message or len(message) < 400
