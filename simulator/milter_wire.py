"""The milter's side of the wire: what it asks the MTA for, and how replies go out.

- ``WANT``: the actions the filter may take (add and change headers, replace the body,
  quarantine); the MTA grants what it supports.
- ``QUIET``/``NO_REPLY``: the stages the filter has nothing to say at (it decides at end of
  message). When the MTA offers it, no reply is sent for them, which spares a round trip
  per header field and per body chunk (Postfix since 2.6; Sendmail 8.14).
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
P = km.ProtocolFlags
WANT = (
    km.ActionFlags.ADD_HEADERS
    | km.ActionFlags.CHANGE_HEADERS
    | km.ActionFlags.CHANGE_BODY
    | km.ActionFlags.QUARANTINE
)
#: The stages the filter has nothing to say at (it decides at end of message): when the
#: MTA offers it, no reply is sent for them, which spares a round trip per header field
#: and per body chunk (Postfix since 2.6).
QUIET: dict[type[km.Message], km.ProtocolFlags] = {
    km.Connect: P.NR_CONNECT,
    km.Helo: P.NR_HELO,
    km.Header: P.NR_HEADER,
    km.EndOfHeaders: P.NR_END_OF_HEADERS,
    km.Body: P.NR_BODY,
    km.Data: P.NR_DATA,
    km.Unknown: P.NR_UNKNOWN,
}
NO_REPLY = functools.reduce(operator.or_, QUIET.values())


_OUT = SimpleBuffer(BUFFER)  # one buffer for replies: packed and written with no await


async def send(writer: asyncio.StreamWriter, out: list[km.Message]) -> None:
    if not out:
        return
    for m in out:
        m.pack(_OUT)
        writer.write(_OUT[:].tobytes())
        del _OUT[:]
    await writer.drain()
