"""The milter's side of the wire: what it asks the MTA for, and how replies go out.

- ``WANT``: the actions the filter may take (add and change headers, replace the body,
  quarantine); the MTA grants what it supports.
- ``QUIET``/``NO_REPLY``: the stages the filter has nothing to say at (it decides at end
  of message). On a local (``unix:``) socket the filter asks the MTA not to wait for a
  reply at them (``SMFIP_NR_*``, Postfix since 2.6): that spares a round trip per header
  field and per body chunk. On TCP it answers every stage: measured behind Postfix, the
  no-reply stages there add latency (p50 added 9 ms -> 39 ms at 50 messages a second),
  as the MTA's small frames wait for acknowledgements that the quiet side delays
  (Nagle's algorithm against delayed ACK); a local socket has no Nagle.
- ``frame(reader)``: the next frame the MTA sent, as its command byte and payload (at most
  ``BUFFER`` bytes; a longer or empty one is a ``ValueError``, the end of the stream
  ``asyncio.IncompleteReadError``). ``command(ident, payload)`` unpacks it with the codec
  (``kilter.protocol``), except macros: their values are decoded here as UTF-8 with
  replacement, since the codec's ASCII decoding raises on a UTF-8 login. The server reads
  body chunks straight from the payload, without a codec object.
- ``send(writer, replies)`` packs and writes replies through one reusable buffer (packing
  and writing have no ``await`` between them, so the event loop never interleaves two).
"""

from __future__ import annotations

import asyncio
import functools
import operator

from kilter.protocol import messages as km
from kilter.protocol.buffer import SimpleBuffer

BUFFER = 1 << 20  # the codec's buffer (the MTA sends body chunks of 64 KB at most)
WANT = (
    km.ActionFlags.ADD_HEADERS
    | km.ActionFlags.CHANGE_HEADERS
    | km.ActionFlags.CHANGE_BODY
    | km.ActionFlags.QUARANTINE
)

P = km.ProtocolFlags
#: The stages with nothing to say, and the flag that spares their reply.
QUIET: dict[type[km.Message], km.ProtocolFlags] = {
    km.Connect: P.NR_CONNECT,
    km.Helo: P.NR_HELO,
    km.EnvelopeFrom: P.NR_MAIL,
    km.EnvelopeRecipient: P.NR_RCPT,
    km.Header: P.NR_HEADER,
    km.EndOfHeaders: P.NR_END_OF_HEADERS,
    km.Body: P.NR_BODY,
    km.Data: P.NR_DATA,
    km.Unknown: P.NR_UNKNOWN,
}
NO_REPLY = functools.reduce(operator.or_, QUIET.values())

#: The MTA's commands, by command byte (macros are read by ``_macro``).
_COMMANDS: dict[int, type[km.Message]] = {
    c.ident: c
    for c in (
        km.Negotiate,
        km.Connect,
        km.Helo,
        km.EnvelopeFrom,
        km.EnvelopeRecipient,
        km.Data,
        km.Unknown,
        km.Header,
        km.EndOfHeaders,
        km.Body,
        km.EndOfMessage,
        km.Abort,
        km.Close,
    )
}
_MACRO = ord("D")


async def frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readexactly(5)
    size = int.from_bytes(head[:4], "big")
    if not 1 <= size <= BUFFER:
        raise ValueError(f"a milter frame of {size} bytes")
    return head[4], await reader.readexactly(size - 1)


def _macro(payload: bytes) -> km.Macro:
    """A Macro message (SMFIC_MACRO) with its values decoded as UTF-8, never raising."""
    parts = payload[1:].split(b"\0")
    pairs = zip(parts[0::2], parts[1::2], strict=False)
    macros = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in pairs}
    return km.Macro(payload[0] if payload else 0, macros)


def command(ident: int, payload: bytes) -> km.Message:
    """The command in one frame; raises on bytes the codec cannot read."""
    if ident == _MACRO:
        return _macro(payload)
    cls = _COMMANDS.get(ident)
    if cls is None:
        raise ValueError(f"unknown milter command {bytes([ident])!r}")
    msg = cls.from_buffer(memoryview(payload))
    msg.freeze()
    return msg


_OUT = SimpleBuffer(BUFFER)  # one buffer for replies: packed and written with no await


async def send(writer: asyncio.StreamWriter, out: list[km.Message]) -> None:
    if not out:
        return
    for m in out:
        m.pack(_OUT)
        writer.write(_OUT[:].tobytes())
        del _OUT[:]
    await writer.drain()
