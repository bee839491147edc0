"""The Debug Adapter Protocol's framing: ``Content-Length`` headers, then a JSON body, both ways.

Reads from any asyncio stream (stdin or a TCP connection); a malformed frame is answered, never a
crash, and the end of the stream ends the session.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

MAX_BODY = 16 * 1024 * 1024  # a client that announces more is cut off, not buffered


class FrameError(Exception):
    """A frame that cannot be read: the message says what was wrong."""


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None at the end of the stream."""
    length: int | None = None
    while True:
        line = await reader.readline()
        if not line:
            return None
        text = line.decode("ascii", "replace").strip()
        if not text:
            break
        name, _, value = text.partition(":")
        if name.strip().lower() == "content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise FrameError(f"bad Content-Length header {value.strip()!r}") from None
    if length is None or not 0 < length <= MAX_BODY:
        raise FrameError(f"missing or out-of-range Content-Length ({length})")
    body = await reader.readexactly(length)
    try:
        message = json.loads(body)
    except json.JSONDecodeError as exc:
        raise FrameError(f"malformed JSON: {exc}") from None
    if not isinstance(message, dict):
        raise FrameError("a message must be a JSON object")
    return message


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, ensure_ascii=False, default=str).encode()
    return b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


async def stdio_streams() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """stdin and stdout as asyncio streams (the adapter's usual transport)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_BODY)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, sys.stdout)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer
