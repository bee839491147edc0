"""An engine that answers at once (OpenAI-compatible, streaming or not): the overhead baseline.

It answers "ok", except to a last message ``call <text>``: then it answers ``<text>`` (a
``TOOL:`` line, say), so a benchmark can make an agent call a tool or another agent. A second
argument, ``DELAY_MS``, makes each answer take that long (an engine busy generating)."""

from __future__ import annotations

import asyncio
import sys

import orjson
from aiohttp import web

ANSWER = {
    "id": "x",
    "object": "chat.completion",
    "created": 0,
    "model": "instant",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}
WHOLE = orjson.dumps(ANSWER)
CHUNKS = (
    b'data: {"id":"x","object":"chat.completion.chunk","created":0,"model":"instant","choices":[{"index":0,'
    b'"delta":{"role":"assistant","content":"ok"},"finish_reason":null}]}\n\n'
    b'data: {"id":"x","object":"chat.completion.chunk","created":0,"model":"instant","choices":[{"index":0,'
    b'"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}\n\n'
    b"data: [DONE]\n\n"
)


def _scripted(body: dict[str, object]) -> bytes | None:
    messages = body.get("messages")
    last = messages[-1].get("content") if isinstance(messages, list) and messages else None
    if not isinstance(last, str) or not last.startswith("call "):
        return None
    return CHUNKS.replace(b'"content":"ok"', b'"content":' + orjson.dumps(last[5:]))


async def chat(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    if DELAY_S:
        await asyncio.sleep(DELAY_S)
    if body.get("stream"):
        return web.Response(body=_scripted(body) or CHUNKS, content_type="text/event-stream")
    return web.Response(body=WHOLE, content_type="application/json")


async def models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "instant", "object": "model"}]})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


DELAY_S = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0


def main() -> None:
    import uvloop

    uvloop.install()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
