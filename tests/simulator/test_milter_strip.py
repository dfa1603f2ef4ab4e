"""Strip (``simulator.strip``) and the milter carrying it out: the removed parts give way to
a notice, everything else stays byte for byte, the rebuilt message reads back as the
original minus what was removed, and whatever cannot be stripped safely is quarantined."""

from __future__ import annotations

import asyncio
import base64
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kilter.protocol import messages as km
from test_milter import client, split

from mailpolicy.corpus.message import Message
from mailpolicy.corpus.mime import parse_message
from mailpolicy.policy import loader
from mailpolicy.simulator import milter, strip

POLICY = """\
policy "strip"
strip attachment extension in ["hta", "reg"] as "hta" reason "HTML applications are removed"
"""


def key(msg: Message) -> list[tuple[str, tuple[str, ...], str, bytes]]:
    return [(a.part, a.names, a.declared_type, a.data) for a in msg.attachments]


def mail(
    attachments: list[tuple[str, bytes, str]], body: str = "see attached", boundary: str = "=_b1"
) -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "a@example.org", "b@example.net", "files"
    m["Message-ID"] = "<strip@example.org>"
    m.set_content(body)
    for name, data, ctype in attachments:
        main, sub = ctype.split("/")
        m.add_attachment(data, main, sub, filename=name)
    if m.is_multipart():
        m.set_boundary(boundary)  # not a random one: Hypothesis replays the same bytes
    return bytes(m)


def stripped(data: bytes, names: set[str]) -> tuple[Message, strip.Rebuilt | strip.Refused]:
    msg = parse_message(data)
    gone = [a for a in msg.attachments if a.name in names]
    return msg, strip.strip(data, msg, gone, "hta", "HTML applications are removed")


def test_stripped_part_becomes_a_notice_and_the_rest_stays_byte_for_byte() -> None:
    data = mail(
        [
            ("report.pdf", b"%PDF-1.4 pdf", "application/pdf"),
            ("run.hta", b"<script>x</script>", "application/octet-stream"),
            ("notes.txt", b"plain notes\n", "text/plain"),
        ]
    )
    msg, done = stripped(data, {"run.hta"})
    assert isinstance(done, strip.Rebuilt)
    assert done.headers == () and done.removed == ("run.hta",)
    again = parse_message(done.data)
    assert [a.name for a in again.attachments] == ["report.pdf", "notes.txt"]
    assert key(again) == [k for k in key(msg) if k[1] != ("run.hta",)]
    text = done.data.decode()
    assert "File: run.hta" in text and "Rule: hta" in text
    assert "Reason: HTML applications are removed" in text
    assert "<script>" not in text and base64.b64encode(b"<script>x</script>").decode() not in text
    # everything before and after the removed part is the input's own bytes
    s = data.index(b"Content-Type: application/octet-stream")
    e = data.index(b"\n--=_b1\nContent-Type: text/plain", s)
    assert done.data.startswith(data[:s]) and done.data.endswith(data[e:])
    assert done.data[: done.body_start] == data[: done.body_start]


def test_a_message_that_is_one_attachment_gets_the_notice_and_new_content_headers() -> None:
    data = (
        b"From: a@example.org\r\nTo: b@example.net\r\nSubject: x\r\n"
        b'Content-Type: application/hta; name="run.hta"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="run.hta"\r\n\r\n'
        + base64.encodebytes(b"<script>evil()</script>").replace(b"\n", b"\r\n")
    )
    msg, done = stripped(data, {"run.hta"})
    assert isinstance(done, strip.Rebuilt)
    assert done.headers == (
        strip.HeaderEdit("Content-Type", 1, strip.NOTICE_TYPE),
        strip.HeaderEdit("Content-Transfer-Encoding", 1, "7bit"),
        strip.HeaderEdit("Content-Disposition", 1, ""),
    )
    again = parse_message(done.data)
    assert again.attachments == () and "File: run.hta" in again.body
    assert b"Subject: x\r\n" in done.data[: done.body_start]


def test_a_non_ascii_name_is_written_in_base64_and_reads_back() -> None:
    data = mail([("書類名1.doc.hta", b"x" * 10, "application/octet-stream")])
    _, done = stripped(data, {"書類名1.doc.hta"})
    assert isinstance(done, strip.Rebuilt)
    again = parse_message(done.data)
    assert again.attachments == () and "File: 書類名1.doc.hta" in again.body


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (  # a uuencoded file inside a text part is no MIME part of its own
            b"From: a@example.org\nSubject: uu\n\nhello\nbegin 644 run.hta\n#9&]G\n`\nend\n",
            "not a MIME part",
        ),
        (  # two Content-Type headers: readers disagree on the parts
            b"From: a@example.org\nContent-Type: text/plain\n"
            b'Content-Type: application/octet-stream; name="run.hta"\n\nxx\n',
            "ambiguous MIME",
        ),
    ],
)
def test_what_cannot_be_stripped_safely_is_refused(data: bytes, why: str) -> None:
    msg = parse_message(data)
    gone = [a for a in msg.attachments if a.name == "run.hta"]
    assert gone
    done = strip.strip(data, msg, gone, "hta", "r")
    assert isinstance(done, strip.Refused) and why in done.reason


def test_a_part_inside_a_base64_attached_message_is_not_found_and_refused() -> None:
    inner = mail([("run.hta", b"x", "application/octet-stream")])
    outer = EmailMessage()
    outer["From"], outer["Subject"] = "a@example.org", "fwd"
    outer.set_content("forwarded")
    outer.add_attachment(inner, "message", "rfc822", cte="base64")  # type: ignore[arg-type]
    outer.set_boundary("=_b2")
    data = bytes(outer)
    msg = parse_message(data)
    gone = [a for a in msg.attachments if a.name == "run.hta"]
    if not gone:
        pytest.skip("the generator did not write the attached message in base64")
    done = strip.strip(data, msg, gone, "hta", "r")
    assert isinstance(done, strip.Refused)


# -- the property: strip, read again, the same attachments minus the stripped ones ----------
NAMES = st.text(alphabet=st.sampled_from("abcXYZ._- 名ü"), min_size=1, max_size=12).map(
    lambda s: s.strip(" .") or "f"
)
EXTS = st.sampled_from(["hta", "pdf", "txt", "zip", "eml"])
ATTACHMENT = st.tuples(
    st.tuples(NAMES, EXTS).map(lambda t: f"{t[0]}.{t[1]}"),
    st.binary(max_size=300),
    st.sampled_from(["application/octet-stream", "text/plain", "image/png"]),
)


def _nested(draw: st.DrawFn) -> bytes:
    attachments = draw(st.lists(ATTACHMENT, max_size=4))
    data = mail(attachments, draw(st.sampled_from(["hi", "see --attached--", "ü"])))
    if draw(st.booleans()):  # forwarded inside another message (not encoded), with more
        more = b"".join(
            b"--=_b2\nContent-Type: " + ctype.encode() + b"\nContent-Transfer-Encoding: base64\n"
            b'Content-Disposition: attachment; filename="'
            + name.encode()
            + b'"\n\n'
            + base64.encodebytes(payload)
            + b"\n"
            for name, payload, ctype in draw(st.lists(ATTACHMENT, max_size=2))
        )
        data = (
            b"From: c@example.org\nSubject: fwd\nMIME-Version: 1.0\n"
            b'Content-Type: multipart/mixed; boundary="=_b2"\n\n--=_b2\n'
            b"Content-Type: text/plain\n\nforwarded\n--=_b2\nContent-Type: message/rfc822\n"
            b'Content-Disposition: attachment; filename="fwd.eml"\n\n'
            + data.replace(b"\r\n", b"\n")
            + b"\n"
            + more
            + b"--=_b2--\n"
        )
    if draw(st.booleans()):
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return data


@st.composite
def messages(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    data = _nested(draw)
    n = len(parse_message(data).attachments)
    chosen = draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=3)) if n else []
    return data, chosen


def _inside(part: str, parts: list[str]) -> bool:
    return any(part == p or part.startswith((p + "/", p + ".")) for p in parts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_strip_then_read_again_gives_the_attachments_minus_the_stripped(
    case: tuple[bytes, list[int]],
) -> None:
    data, chosen = case
    msg = parse_message(data)
    gone = [msg.attachments[i] for i in sorted(set(chosen))]
    if not gone:
        return
    done = strip.strip(data, msg, gone, "r1", "because")
    assert not msg.tricks and not msg.unscannable  # generated mail is clean: nothing refused
    assert isinstance(done, strip.Rebuilt), done
    parts = [a.part for a in gone]
    again = parse_message(done.data)
    want = [k for a, k in zip(msg.attachments, key(msg), strict=True) if not _inside(a.part, parts)]
    # an attached message holding a stripped part holds the notice now: the rest is equal
    holders = {a.part for a in msg.attachments if any(p.startswith(a.part + "/") for p in parts)}
    got = key(again)
    assert [k[:3] for k in got] == [k[:3] for k in want]
    assert [k for k in got if k[0] not in holders] == [k for k in want if k[0] not in holders]
    assert not again.tricks and not again.unscannable
    outermost = [a for a in gone if not _inside(a.part, [p for p in parts if p != a.part])]
    for a in outermost:  # each has its notice (names outside ASCII are in base64)
        assert f"File: {strip.label(a)}" in done.data.decode("utf-8", "replace") or any(
            ord(c) > 127 for c in strip.label(a)
        )


# -- through the milter ------------------------------------------------------------------
@pytest.fixture
def policy_path(tmp_path: Path) -> str:
    path = tmp_path / "strip.policy"
    path.write_text(POLICY)
    return str(path)


def _run(cfg: milter.Config, data: bytes) -> list[km.Message]:
    async def go() -> list[km.Message]:
        m = milter.Milter(cfg)
        server = await asyncio.start_server(m.handle, "127.0.0.1", 0)
        try:
            return await client(server.sockets[0].getsockname()[1], data)
        finally:
            server.close()
            m.close()

    return asyncio.run(go())


def _apply(data: bytes, edits: list[km.Message]) -> bytes:
    """The message as the MTA has it after the edits (body replaced, header changes)."""
    fields, _ = split(data.replace(b"\r\n", b"\n"))
    body = b"".join(bytes(e.content) for e in edits if isinstance(e, km.ReplaceBody))
    for e in edits:
        if isinstance(e, km.ChangeHeader):
            idx = [i for i, (n, _) in enumerate(fields) if n.lower() == e.name.lower()]
            if bytes(e.value):
                fields[idx[e.index - 1]] = (e.name, bytes(e.value))
            else:
                del fields[idx[e.index - 1]]
        elif isinstance(e, km.AddHeader):
            fields.append((e.name, bytes(e.value)))
    head = b"".join(n.encode() + b":" + v + b"\n" for n, v in fields)
    return head + b"\n" + body.replace(b"\r\n", b"\n")


def test_the_milter_replaces_the_body_in_chunks_under_64_kb(policy_path: str) -> None:
    big = bytes(range(256)) * 700  # about 240 KB of base64 kept
    data = mail([("big.bin", big, "application/octet-stream"), ("x.hta", b"s", "text/plain")])
    cfg = milter.Config(loader.load_policy(policy_path), "0" * 64, isolation="thread")
    got = _run(cfg, data.replace(b"\r\n", b"\n"))
    assert isinstance(got[-1], km.Accept)
    chunks = [e for e in got if isinstance(e, km.ReplaceBody)]
    assert len(chunks) >= 4 and all(len(bytes(c.content)) <= 65535 for c in chunks)
    again = parse_message(_apply(data, got[:-1]))
    assert [(a.name, a.data) for a in again.attachments] == [("big.bin", big)]


def test_the_milter_rewrites_the_header_of_a_message_that_is_one_attachment(
    policy_path: str,
) -> None:
    data = (
        b"From: a@example.org\nTo: b@example.net\nSubject: x\n"
        b'Content-Type: application/octet-stream; name="run.hta"\n'
        b"Content-Transfer-Encoding: base64\n\nPHNjcmlwdD4=\n"
    )
    cfg = milter.Config(loader.load_policy(policy_path), "0" * 64, isolation="thread")
    got = _run(cfg, data)
    changes = [e for e in got if isinstance(e, km.ChangeHeader)]
    assert [(c.index, c.name, bytes(c.value)) for c in changes] == [
        (1, "Content-Type", b" " + strip.NOTICE_TYPE.encode()),
        (1, "Content-Transfer-Encoding", b" 7bit"),
    ]
    again = parse_message(_apply(data, got[:-1]))
    assert again.attachments == () and "File: run.hta" in again.body


def test_a_strip_that_cannot_be_done_is_quarantined_never_delivered(
    policy_path: str, tmp_path: Path
) -> None:
    data = b"From: a@example.org\nSubject: uu\n\nhello\nbegin 644 run.hta\n#9&]G\n`\nend\n"
    log = tmp_path / "d.jsonl"
    with open(log, "w", encoding="utf-8") as fh:
        cfg = milter.Config(
            loader.load_policy(policy_path), "0" * 64, isolation="thread", decision_log=fh
        )
        got = _run(cfg, data)
    assert isinstance(got[-1], km.Accept)
    (held,) = [e for e in got if isinstance(e, km.Quarantine)]
    assert "strip not possible" in held.reason and "rule=hta" in held.reason
    assert not any(isinstance(e, km.ReplaceBody) for e in got)
    line = log.read_text()
    assert '"action": "quarantine"' in line and '"strip_refused": "part 1.uu1' in line


def test_the_milter_asks_for_body_header_and_quarantine_actions() -> None:
    async def go() -> km.Negotiate:
        cfg = milter.Config(loader.load_text(POLICY), "0" * 64, isolation="thread")
        m = milter.Milter(cfg)
        server = await asyncio.start_server(m.handle, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        from kilter.protocol.buffer import SimpleBuffer

        b = SimpleBuffer(1 << 16)
        km.Negotiate(6, km.ActionFlags.ALL, km.ProtocolFlags.NONE).pack(b)
        writer.write(b[:].tobytes())
        raw = await reader.read(1 << 16)
        writer.close()
        server.close()
        m.close()
        buf = SimpleBuffer(1 << 16)
        buf[:] = raw
        msg, _ = km.Message.unpack(buf)
        assert isinstance(msg, km.Negotiate)
        return msg

    got = asyncio.run(go())
    want = km.ActionFlags.CHGBODY | km.ActionFlags.CHGHDRS | km.ActionFlags.ADDHDRS
    assert got.action_flags & want == want and got.action_flags & km.ActionFlags.QUARANTINE
    assert not got.action_flags & km.ActionFlags.ADD_RECIPIENT
