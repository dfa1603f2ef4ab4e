"""List entries with ``until DATE``: parsing (E109 with position), what applies on a day,
W210/W211, list files, the JSON form, ``--as-of``, and round trips (Hypothesis)."""

from __future__ import annotations

import datetime
import io
from pathlib import Path

from hypothesis import given, settings
from strategies import policies

from mailpolicy.policy import expiry, ir, loader, printer
from mailpolicy.policy.check import check
from mailpolicy.policy.fmt import format_policy, format_source
from mailpolicy.policy.parse import parse
from mailpolicy.simulator.cli import main

DAY = datetime.date(2027, 2, 20)
TEXT = """list partners = ["*@a.example" until 2027-03-01, "b@b.example" until 2027-01-01, "c.example"]
block attachment extension in ["exe"] unless sender in partners
block attachment extension in ["scr"] unless sender in ["x@y.example" until 2027-01-31]
"""


def checked(text: str = TEXT, day: datetime.date = DAY):  # type: ignore[no-untyped-def]
    return check(parse(text), as_of=day)


def test_expired_entries_stop_applying_on_the_day_after() -> None:
    p = checked().policy
    assert p is not None and p.lists["partners"] == ("*@a.example", "c.example")
    assert p.entries(p.rules[1].rule.unless.operand) == ()  # type: ignore[union-attr]
    last = checked(day=datetime.date(2027, 3, 1)).policy
    assert last is not None and "*@a.example" in last.lists["partners"]
    after = checked(day=datetime.date(2027, 3, 2)).policy
    assert after is not None and after.lists["partners"] == ("c.example",)


def test_rule_ids_do_not_change_when_an_entry_expires() -> None:
    before = checked(day=datetime.date(2026, 1, 1)).policy
    after = checked().policy
    assert before is not None and after is not None
    assert [r.id for r in before.rules] == [r.id for r in after.rules]


def test_warnings_ahead_of_and_after_expiry() -> None:
    diags = [(d.code, d.span.line, d.span.column) for d in checked().diagnostics]
    assert [x for x in diags if x[0] in ("W210", "W211")] == [
        ("W210", 1, 18),
        ("W211", 1, 50),
        ("W211", 3, 57),
    ]
    (soon,) = [d for d in checked().diagnostics if d.code == "W210"]
    assert "9 days left" in soon.message


def test_bad_dates_are_e109_at_their_position() -> None:
    result = loader.check_text('list x = ["a@b.example" until 2027-02-30]\nblock sender in x')
    assert [(d.code, d.span.line, d.span.column) for d in result.errors] == [("E109", 1, 31)]


def test_list_files_carry_dates_and_the_json_form_keeps_them(tmp_path: Path) -> None:
    (tmp_path / "p.txt").write_text(
        "*@a.example until 2027-03-01\nold@b.example until 2020-01-01\nc.example\n"
        "bad@d.example until 2027-99-01\n",
        encoding="utf-8",
    )
    text = 'list p = file "p.txt"\nblock attachment has macros unless sender in p\n'
    result = check(parse(text, str(tmp_path / "x.policy")), as_of=DAY)
    assert [(d.code, d.span.line) for d in result.errors] == [("E109", 4)]
    (tmp_path / "p.txt").write_text(
        "*@a.example until 2027-03-01\nold@b.example until 2020-01-01\nc.example\n",
        encoding="utf-8",
    )
    p = check(parse(text, str(tmp_path / "x.policy")), as_of=DAY).policy
    assert p is not None and p.lists["p"] == ("*@a.example", "c.example")
    doc = ir.to_ir(p)
    assert doc["lists"]["p"]["entries"][0] == {"value": "*@a.example", "until": "2027-03-01"}
    with expiry.judged_on(DAY):
        back = ir.from_ir(doc)
    assert back.lists == p.lists and ir.to_ir(back) == doc


def test_as_of_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "p.policy"
    path.write_text(TEXT, encoding="utf-8")
    eml = tmp_path / "m.eml"
    eml.write_text("From: b@b.example\nSubject: x\n\nhello\n", encoding="utf-8")
    err = io.StringIO()
    assert main(["explain", "--as-of", "2027-99-01", str(path), str(eml)], io.StringIO(), err) == 2
    assert "is not a date" in err.getvalue()


@settings(max_examples=60, deadline=None)
@given(policies())
def test_text_and_json_round_trips_keep_until_and_authenticated(tree) -> None:  # type: ignore[no-untyped-def]
    assert parse(format_policy(tree)) == tree
    assert parse(format_source(format_policy(tree))) == tree
    for stmt in tree.statements:
        if getattr(stmt, "items", None):
            text = printer.statement(stmt)
            assert parse(text + "\nblock sender authenticated").statements[0] == stmt


def test_exporters_learn_which_live_entries_expire() -> None:
    p = checked().policy
    assert p is not None
    assert expiry.dated_entries(p, p.rules[0].rule) == [("*@a.example", datetime.date(2027, 3, 1))]
    assert expiry.dated_entries(p, p.rules[1].rule) == []  # its one entry has expired


def test_an_export_states_each_rule_whose_entries_expire(tmp_path: Path) -> None:
    """The exported file keeps an entry after its day: an unsound loss, per rule, with the
    date; strict export refuses it unless it is accepted by its key."""
    path = tmp_path / "p.policy"
    path.write_text(
        'list partners = ["*@a.example" until 2099-03-01, "x@b.example"]\n'
        'block attachment extension in ["exe"] unless sender in partners as "exe"\n'
        'block attachment extension in ["scr"] as "scr"\n',
        encoding="utf-8",
    )
    out, err = io.StringIO(), io.StringIO()
    code = main(["export", str(path), "--target", "postfix", "--approximate"], out, err)
    assert code == 0, err.getvalue()
    lines = [x for x in err.getvalue().splitlines() if ":expiry]" in x]
    assert len(lines) == 1 and "[exe:expiry] UNSOUND" in lines[0]
    assert "'*@a.example' until 2099-03-01" in lines[0]
    assert "'*@a.example' until 2099-03-01" in out.getvalue()  # in the file's loss comments
    strict = ["export", str(path), "--target", "postfix", "--no-tool-check"]
    err = io.StringIO()
    assert main(strict, io.StringIO(), err) == 1
    assert "loss exe:expiry) [E301]" in err.getvalue()


def test_an_exception_that_vanished_in_the_export_keeps_no_entry_alive(tmp_path: Path) -> None:
    """No target checks ``authenticated``: the exception vanishes (more mail stopped), so
    its dated entry is in no exported file and no expiry loss is stated; an entry the rule
    itself uses still is."""
    path = tmp_path / "p.policy"
    path.write_text(
        'authserv-id "mx.example"\n'
        'list partners = ["*@a.example" until 2099-03-01]\n'
        'block attachment extension in ["exe"] unless sender in partners authenticated\n'
        '    as "exe"\n'
        'list watched = ["*@b.example" until 2099-04-01]\n'
        'quarantine sender in watched as "watched"\n',
        encoding="utf-8",
    )
    out, err = io.StringIO(), io.StringIO()
    code = main(["export", str(path), "--target", "sieve", "--approximate"], out, err)
    assert code == 0, err.getvalue()
    assert "[exe:sender-authenticated]" in err.getvalue()
    assert "[exe:expiry]" not in err.getvalue()
    assert "[watched:expiry] UNSOUND" in err.getvalue() and "until 2099-04-01" in err.getvalue()
