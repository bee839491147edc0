"""One request's path through a dialect's edge, shared by the Anthropic and Responses dialects:
read and check the body, tag the run, open the server span, stream or answer whole, and count the
answer or the error under the dialect's name. The dialect supplies only its shapes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, TypeVar

from aiohttp import web

from sutazai.stack.gateway import telemetry
from sutazai.stack.gateway.core import Gateway
from sutazai.stack.gateway.http_common import json_body
from sutazai.stack.gateway.run_usage import run_tag
from sutazai.stack.gateway.types import ChatRequest, Completion, Delta, GatewayHTTPError

P = TypeVar("P")


async def answer_chat(
    gateway: Gateway,
    request: web.Request,
    api: str,
    parse: Callable[[dict[str, Any]], P],
    chat_of: Callable[[P], ChatRequest],
    send_stream: Callable[[P, float, AsyncIterator[Delta]], Awaitable[web.StreamResponse]],
    send_whole: Callable[[P, Completion], web.StreamResponse],
    error_response: Callable[[GatewayHTTPError], web.Response],
) -> web.StreamResponse:
    started = time.perf_counter()
    body: dict[str, Any] = {}
    try:
        body = await json_body(request)
        parsed = parse(body)
        req = chat_of(parsed)
        req.run, req.run_budget = run_tag(request)
        with telemetry.server_span(request.headers, req, "chat"):
            if req.stream:  # a client that leaves closes the stream: its slot is freed at once
                async with aclosing(gateway.stream(req)) as stream:
                    return await send_stream(parsed, started, stream)
            completion = await gateway.complete(req)
    except GatewayHTTPError as exc:
        gateway.record_error(api, body.get("model"), "-", exc.status, started)
        return error_response(exc)
    gateway.record_answer(api, req, completion.usage, 200, started)
    return send_whole(parsed, completion)
