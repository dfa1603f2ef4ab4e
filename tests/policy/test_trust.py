"""``sender authenticated``: reading Authentication-Results (RFC 8601) from named servers
only, alignment, SMTP AUTH, the trace's sentences, lint W209/W212, and the A-R reading
against a small reference parser on generated fields (Hypothesis)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailpolicy.corpus.authresults import fields_from, parse_field
from mailpolicy.corpus.message import Message
from mailpolicy.policy import loader, printer, trust
from mailpolicy.policy.compile import compile_policy
from mailpolicy.policy.evaluate import evaluate
from mailpolicy.policy.parse import parse

MX = "mx1.example.ac.jp"


def message(*fields: str, sender: str = "partner@x.example", auth: str | None = None) -> Message:
    headers = tuple(("Authentication-Results", f) for f in fields)
    return Message(path="m.eml", sender=sender, headers=headers, smtp_auth=auth)


@pytest.mark.parametrize(
    ("field", "ok"),
    [
        (f"{MX}; dkim=pass header.d=x.example", True),
        (f"{MX}; dkim=pass header.i=@x.example", True),
        (f"{MX}; dkim=pass header.d=example", False),  # a public suffix aligns nothing
        (f"{MX}; dkim=fail header.d=x.example", False),
        (f"{MX}; dkim=pass header.d=other.example", False),
        (f"{MX}; dmarc=pass header.from=X.Example", True),
        (f"{MX}; dmarc=pass header.from=y.example", False),
        (f"{MX}; spf=pass smtp.mailfrom=partner@x.example", True),
        (f"{MX}; spf=pass smtp.mailfrom=a@sub.x.example", False),
        (f"{MX}; auth=pass smtp.auth=partner", True),
        (f"{MX} 1; dkim=pass (good) header.d=x.example", True),
        ("mx.evil.example; dkim=pass header.d=x.example", False),  # not a named server
        (f"{MX}; dkim=pass header.d=x.example;;; garbage ===", False),  # unreadable
        (f"{MX}; none", False),
    ],
)
def test_which_results_authenticate(field: str, ok: bool) -> None:
    assert trust.decide(message(field), (MX,)).ok is ok


def test_a_subdomain_sender_aligns_with_a_parent_signature() -> None:
    m = message(f"{MX}; dkim=pass header.d=x.example", sender="a@mail.x.example")
    assert trust.decide(m, (MX,)).ok


def test_without_authserv_id_only_smtp_auth_counts() -> None:
    assert not trust.decide(message(f"{MX}; dkim=pass header.d=x.example"), ()).ok
    assert trust.decide(message(auth="partner"), ()).ok


def test_the_trace_says_why() -> None:
    yes = trust.decide(message(f"{MX}; dkim=pass header.d=x.example"), (MX,))
    assert yes.why == f"sender partner@x.example authenticated: dkim=pass header.d=x.example ({MX})"
    no = trust.decide(message(), (MX,))
    assert (
        no.why == f"sender partner@x.example not authenticated: no Authentication-Results from {MX}"
    )


POLICY = f"""authserv-id "{MX}"
list partners = ["*@x.example"]
block attachment extension in ["exe"] unless sender in partners authenticated
"""


def test_both_deciders_apply_the_exception_only_when_authenticated() -> None:
    from mailpolicy.corpus.message import Attachment

    policy = loader.load_text(POLICY)
    exe = (Attachment(names=("a.exe",), data=b"MZ", part="2"),)
    forged = dataclasses.replace(message(), attachments=exe)
    signed = dataclasses.replace(message(f"{MX}; dkim=pass header.d=x.example"), attachments=exe)
    for m, action in ((forged, "block"), (signed, "allow")):
        assert evaluate(policy, m, trace=False).action == action
        assert compile_policy(policy).evaluate(m).action == action


def test_sender_in_list_authenticated_prints_as_written() -> None:
    text = 'block *.exe unless not sender in ["a@b.example"] authenticated or sender authenticated'
    rule = parse(text).rules[0]
    assert printer.rule(rule).endswith(
        'unless not sender in ["a@b.example"] authenticated or sender authenticated'
    )
    assert parse(printer.rule(rule)).rules[0] == rule


def codes(text: str) -> list[str]:
    return [d.code for d in loader.check_text(text).warnings]


def test_lint_w209_on_an_unauthenticated_exception_for_executables() -> None:
    assert "W209" in codes('block attachment extension in ["exe"] unless sender in ["a@b.example"]')
    assert "W209" in codes('allow from contains "partner"\nblock attachment has macros')
    assert "W209" in codes('allow sender matches "*@b.example"\nblock attachment type executable')
    assert "W209" not in codes(
        f'authserv-id "{MX}"\n'
        'block attachment extension in ["exe"] unless sender in ["a@b.example"] authenticated'
    )
    assert "W209" not in codes(
        'block attachment extension in ["txt"] unless sender in ["a@b.example"]'
    )


def test_lint_w212_authenticated_without_authserv_id() -> None:
    assert codes("block attachment has macros unless sender authenticated") == ["W212"]


def test_duplicate_and_bad_authserv_ids_are_errors() -> None:
    result = loader.check_text(
        f'authserv-id "{MX}"\nauthserv-id "{MX.upper()}"\nauthserv-id "a b"\nblock *.exe'
    )
    assert [d.code for d in result.errors] == ["E108", "E109"]


def test_real_headers_from_the_thirdparty_corpora() -> None:
    """Fields as real servers wrote them (Google, a test MTA) read completely."""
    google = (
        "mx.google.com; spf=neutral (google.com: 210.14.110.240 is neither permitted nor "
        "denied by domain of mikel@test.lindsaar.net) smtp.mail=mikel@test.lindsaar.net"
    )
    field = parse_field(google)
    assert field is not None and field.results[0].method == "spf"
    other = (
        "mxs.test.it; spf=pass (mx34.test.it: domain of ggg.com designates 66.202.209.213 "
        "as permitted sender) smtp.mailfrom=noreply@ggg.com smtp.helo=smtp11.ggg.com; "
        "dkim=pass header.d=ggg.com"
    )
    m = message(other, sender="noreply@ggg.com")
    assert trust.decide(m, ("mxs.test.it",)).ok and not trust.decide(m, (MX,)).ok


# ---- the A-R reading against a small reference --------------------------------------------
_token = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
_domain = st.builds(lambda a, b: f"{a}.{b}", _token, st.sampled_from(["example", "test", "jp"]))
_results = st.lists(
    st.tuples(
        st.sampled_from(["dkim", "spf", "dmarc", "auth", "iprev"]),
        st.sampled_from(["pass", "fail", "none", "neutral"]),
        st.lists(
            st.tuples(st.sampled_from(["header", "smtp", "policy"]), _token, _domain),
            max_size=2,
        ),
    ),
    min_size=1,
    max_size=3,
)


def _reference(field: str) -> tuple[str, list[tuple[str, str, list[tuple[str, str]]]]]:
    """A reader for exactly the fields the strategy writes (no comments, no quoting)."""
    head, *parts = [p.strip() for p in field.split(";")]
    out = []
    for part in parts:
        method, *props = part.split()
        name, result = method.split("=")
        out.append((name, result, [tuple(p.split("=", 1)) for p in props]))
    return head, out  # type: ignore[return-value]


@settings(max_examples=200, deadline=None)
@given(_domain, _results)
def test_the_reading_agrees_with_a_reference(server: str, results: list) -> None:  # type: ignore[type-arg]
    field = server + "".join(
        f"; {m}={r}" + "".join(f" {t}.{n}={v}" for t, n, v in props) for m, r, props in results
    )
    read = parse_field(field)
    want_server, want = _reference(field)
    assert read is not None and read.authserv_id == want_server
    assert [(r.method, r.result, list(r.props)) for r in read.results] == want
    found, unreadable = fields_from([field], [want_server.upper()])
    assert found == (read,) and unreadable == 0
    assert fields_from([field], ["other.example"]) == ((), 0)
