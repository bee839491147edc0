"""Server-sent events as the OpenAI dialect streams them (``data: {json}`` lines, ``data: [DONE]``
at the end), read in one place by the gateway (from its engines), its client and ``plan_check``."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import orjson

DONE = b"[DONE]"


def payload(line: bytes | str) -> bytes | None:
    """The data of a ``data:`` line (``[DONE]`` included); None for comments, blanks and other fields."""
    raw = line.encode() if isinstance(line, str) else line
    if not raw.startswith(b"data:"):
        return None
    return raw[5:].strip()


def _event(line: bytes | str) -> Any:
    """The JSON of one line; None to skip it; ``DONE`` at the end."""
    data = payload(line)
    if not data:
        return None
    return DONE if data == DONE else orjson.loads(data)


async def chunk_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[Any]:
    """:func:`events` from the bytes as they arrive, cut anywhere: one wait per read from the
    network rather than one per line (an engine's answer is a few reads, and twice as many lines)."""
    rest = b""
    async for chunk in chunks:
        lines = (rest + chunk).split(b"\n") if rest else chunk.split(b"\n")
        rest = lines.pop()
        for line in lines:
            event = _event(line)
            if event is DONE:
                return
            if event is not None:
                yield event
    event = _event(rest)
    if event is not None and event is not DONE:
        yield event


async def events(lines: AsyncIterable[bytes] | AsyncIterable[str]) -> AsyncIterator[Any]:
    """Each event's JSON, in order, until ``[DONE]`` or the end of the stream. A line that is not
    JSON raises ``orjson.JSONDecodeError`` (a ``ValueError``): a broken stream is not skipped."""
    async for line in lines:
        event = _event(line)
        if event is DONE:
            return
        if event is not None:
            yield event
