"""A scripted OpenAI-compatible server: a test double for runtime *logic* only.

Replies come from a queue the test fills; integration tests use the real gateway and engine.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    content: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    delay_s: float = 0.0  # before each chunk
    drop: bool = False  # close the connection without answering (a stale keep-alive socket)
    status: int = 200  # answer this HTTP error instead
    retry_after: str | None = None  # with a Retry-After header
    die_after: int | None = None  # send this many pieces of the answer, then drop the connection


@dataclass
class ScriptedEngine:
    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    embedding_requests: list[dict[str, Any]] = field(default_factory=list)
    default: str = "ok"
    # Answers some requests by their body (load that must not eat the script); None: next reply.
    pick: Callable[[dict[str, Any]], Reply | None] | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_get("/v1/models", self.models)
        return app

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fast", "object": "model"}]})

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.embedding_requests.append(body)
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": embed(t)} for i, t in enumerate(texts)]
        return web.json_response({"object": "list", "data": data, "model": body.get("model")})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        picked = self.pick(body) if self.pick else None
        reply = picked or (self.replies.pop(0) if self.replies else Reply(self.default))
        if reply.drop and request.transport is not None:
            request.transport.close()
            return web.Response()
        if reply.status != 200:
            return web.json_response(
                {"error": {"message": reply.content, "code": reply.status}},
                status=reply.status,
                headers={"Retry-After": reply.retry_after} if reply.retry_after else None,
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> None:
            chunk: dict[str, Any] = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
                if delta is not None
                else [],
            }
            if usage:
                chunk["usage"] = usage
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        for index, word in enumerate(_pieces(reply.content)):
            if reply.die_after is not None and index == reply.die_after and request.transport is not None:
                request.transport.abort()  # the engine process died mid-answer
                return response
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            await send({"content": word})
        if reply.tool_calls:
            await send(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": f"call_{i}",
                            "type": "function",
                            "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
                        }
                        for i, c in enumerate(reply.tool_calls)
                    ]
                }
            )
        await send({}, "tool_calls" if reply.tool_calls else "stop")
        await send(
            None,
            usage={
                "prompt_tokens": 10,
                "completion_tokens": len(_pieces(reply.content)),
                "total_tokens": 10 + len(_pieces(reply.content)),
            },
        )
        await response.write(b"data: [DONE]\n\n")
        return response


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)] if text else []


def embed(text: str, dims: int = 16) -> list[float]:
    """Bag-of-words hashing: texts sharing words are close, which is all memory tests need."""
    vector = [0.0] * dims
    for word in text.lower().split():
        digest = hashlib.sha1(word.strip(".,?!").encode()).digest()
        vector[digest[0] % dims] += 1.0
    return vector
