"""The least a gateway must do beyond the forwarder: parse the client's JSON, ask the engine for a
stream, read its events, assemble one answer and write it. No queue, no metrics, no validation: the
control that says how much of the gateway's cost is its own per-request features."""

from __future__ import annotations

import sys
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from bench.forwarder import serve
from sutazai import sse


def main() -> None:
    port, upstream = int(sys.argv[1]), sys.argv[2]

    async def answer(request: web.Request, session: aiohttp.ClientSession) -> web.Response:
        body = orjson.loads(await request.read())
        body["stream"] = True
        text: list[str] = []
        finish: Any = None
        usage: Any = None
        async with session.post(
            upstream + request.path, data=orjson.dumps(body), headers={"Content-Type": "application/json"}
        ) as r:
            async for event in sse.chunk_events(r.content.iter_any()):
                choice = event["choices"][0] if event.get("choices") else {}
                text.append((choice.get("delta") or {}).get("content") or "")
                finish = choice.get("finish_reason") or finish
                usage = event.get("usage") or usage
        message = {"role": "assistant", "content": "".join(text)}
        whole = {
            "id": "chatcmpl-minimal",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }
        return web.Response(body=orjson.dumps(whole), content_type="application/json")

    serve(port, answer)


if __name__ == "__main__":
    main()
