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
