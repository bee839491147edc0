"""The one server-sent-events reader (``sutazai.sse``) that the gateway, its client and plan_check share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sutazai import sse


async def _lines(*lines: bytes | str) -> AsyncIterator[bytes | str]:
    for line in lines:
        yield line


async def test_events_in_order_until_done_skipping_comments_and_blank_lines() -> None:
    stream = _lines(
        b": keep-alive\n",
        b'data: {"a": 1}\n',
        b"\n",
        b'data:{"b": 2}\n',
        b"data: [DONE]\n",
        b'data: {"c": 3}\n',
    )
    assert [e async for e in sse.events(stream)] == [{"a": 1}, {"b": 2}]


async def test_text_lines_as_httpx_gives_them() -> None:
    assert [e async for e in sse.events(_lines('data: {"x": "é"}', "event: ping"))] == [{"x": "é"}]


async def test_a_broken_event_raises_instead_of_being_skipped() -> None:
    with pytest.raises(ValueError):
        _ = [e async for e in sse.events(_lines(b"data: {not json\n"))]


async def test_events_from_chunks_cut_anywhere_are_the_events_of_the_lines() -> None:
    text = b': keep-alive\r\ndata: {"a": "x\\ny"}\r\n\r\ndata:{"b": 2}\n\ndata: {"c": 3}'
    whole = [{"a": "x\ny"}, {"b": 2}, {"c": 3}]  # the last line needs no newline after it
    for size in (1, 2, 3, 7, len(text)):
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        assert [e async for e in sse.chunk_events(_lines(*chunks))] == whole, size  # type: ignore[arg-type]
    done = [
        e async for e in sse.chunk_events(_lines(b'data: {"a": 1}\n\nda', b'ta: [DONE]\n\ndata: {"b": 2}\n'))
    ]  # type: ignore[arg-type]
    assert done == [{"a": 1}]
