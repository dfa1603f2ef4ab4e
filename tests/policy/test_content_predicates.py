"""The active-content predicates and the type lists in the language: parse, canonical
text, JSON form, checker, ``contains`` as the general form of ``archive contains``, and
every export target declaring what it cannot see."""

from __future__ import annotations

import pytest

from mailpolicy.policy import ast, ir, loader, printer
from mailpolicy.policy.diagnostics import PolicyError
from mailpolicy.policy.export import TARGETS, export
from mailpolicy.policy.export.base import E_UNSUPPORTED
from mailpolicy.policy.parse import parse

SENTENCES = {
    "has macros": ast.HasMacros,
    "has auto-run macros": ast.HasAutoRunMacros,
    "has javascript": ast.HasJavaScript,
    "has launch action": ast.HasLaunchAction,
    "has embedded file": ast.HasEmbeddedFile,
    "has external link": ast.HasExternalLink,
    "smuggles a file": ast.SmugglesFile,
    'type in ["executable", "application/x-iso9660-image"]': ast.TypeIn,
    'declared type in ["text/html", "image/svg+xml"]': ast.DeclaredTypeIn,
}


def _pred(text: str) -> ast.Cond:
    (rule,) = parse(f"block attachment {text}").rules
    assert isinstance(rule.condition, ast.AnyAttachment)
    return rule.condition.pred


@pytest.mark.parametrize("text", SENTENCES)
def test_each_sentence_parses_prints_and_round_trips_through_json(text: str) -> None:
    pred = _pred(text)
    assert isinstance(pred, SENTENCES[text])
    assert printer.cond(pred) == text
    checked = loader.load_text(
        f'list trusted = ["partner.example"]\nquarantine attachment {text} unless sender in trusted',
        "p.policy",
    )
    back = ir.from_ir(ir.to_ir(checked))
    assert back.ast.rules == checked.ast.rules


def test_contains_reads_for_any_container_and_keeps_the_old_form() -> None:
    assert _pred('contains extension in ["exe"]') == _pred('archive contains extension in ["exe"]')
    assert _pred("contains (type in [executable] or has macros)") == ast.ArchiveContains(
        pred=ast.Or(
            items=(
                ast.TypeIn(operand=ast.ListLit(items=(ast.Str(value="executable"),))),
                ast.HasMacros(),
            )
        )
    )


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("block attachment type in [exectuable]", "E106", "did you mean 'executable'"),
        ('block attachment type in "executable"', "E102", "needs a list"),
        ('block attachment declared type in ["html"]', "E109", "MIME type"),
        ('block attachment declared type in "text/html"', "E102", 'declared type "text/html"'),
        ('list l = ["bogus"]\nblock attachment type in l', "E106", "unknown type class 'bogus'"),
    ],
)
def test_checker_words_type_list_errors(text: str, code: str, words: str) -> None:
    with pytest.raises(PolicyError) as err:
        loader.load_text(text, "p.policy")
    assert [d.code for d in err.value.diagnostics] == [code]
    assert words in err.value.diagnostics[0].message


@pytest.mark.parametrize("text", [t for t in SENTENCES if not t.startswith(("type", "declared"))])
def test_every_mail_server_target_declares_the_content_facts_unsupported(text: str) -> None:
    p = loader.load_text(f'policy "t"\nblock attachment {text}', "t.policy")
    for target in TARGETS:
        if target == "json":
            assert export(p, target).ok
            continue
        strict = export(p, target)
        assert not strict.ok, target
        assert {d.code for d in strict.diagnostics} == {E_UNSUPPORTED}, target
