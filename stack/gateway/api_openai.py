"""The OpenAI dialect: ``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``,
``/v1/models``; streaming as SSE ending in ``[DONE]``, with usage."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson
from aiohttp import web

from sutazai.stack.gateway import telemetry
from sutazai.stack.gateway.core import Gateway
from sutazai.stack.gateway.http_common import (
    answer_id,
    error_headers,
    identity,
    input_texts,
    json_body,
    require,
    start_event_stream,
)
from sutazai.stack.gateway.run_usage import run_tag
from sutazai.stack.gateway.tool_calls import parse_tool_choice
from sutazai.stack.gateway.types import ChatRequest, Completion, Delta, GatewayHTTPError, Usage
from sutazai.stack.gateway.validate import check_messages, check_options, check_tools

OPTION_KEYS = (
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "ignore_eos",
    "n_predict",
    "top_k",
    "min_p",
    "repeat_penalty",
)


def error_response(exc: GatewayHTTPError) -> web.Response:
    headers = error_headers(exc)
    body = {"error": {"message": exc.message, "type": exc.kind, "code": exc.status}}
    return web.Response(
        status=exc.status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


def _usage(u: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
    }


def _parse(body: dict[str, Any], chat: bool, request: web.Request) -> ChatRequest:
    model = require(body, "model", str)
    agent, priority, bypass = identity(request, body)
    options = {k: body[k] for k in OPTION_KEYS if k in body}
    token_key = "max_tokens"
    if "max_completion_tokens" in body:
        options["max_tokens"] = body["max_completion_tokens"]
        token_key = "max_completion_tokens"
    check_options(options, token_key)
    if chat:
        tools = check_tools(body.get("tools"))
        parse_tool_choice(body.get("tool_choice"), tools)  # a bad choice is a 400 before any work
        parallel = body.get("parallel_tool_calls")
        if parallel is not None and not isinstance(parallel, bool):
            raise GatewayHTTPError(
                400, "`parallel_tool_calls` must be true or false", kind="invalid_request_error"
            )
        return ChatRequest(
            model,
            messages=check_messages(body.get("messages"), "openai"),
            stream=bool(body.get("stream")),
            options=options,
            tools=tools,
            tool_choice=body.get("tool_choice"),
            parallel_tool_calls=parallel,
            agent=agent,
            priority=priority,
            cache_bypass=bypass,
        )
    prompt = require(body, "prompt", (str, list))
    prompt = prompt if isinstance(prompt, str) else "".join(map(str, prompt))
    return ChatRequest(
        model,
        prompt=prompt,
        stream=bool(body.get("stream")),
        options=options,
        agent=agent,
        priority=priority,
        cache_bypass=bypass,
    )


class OpenAIRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def register(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_get("/v1/models", self.models)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, chat=True)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, chat=False)

    async def _generate(self, request: web.Request, chat: bool) -> web.StreamResponse:
        started = time.perf_counter()
        body: dict[str, Any] = {}
        try:
            body = await json_body(request)
            req = _parse(body, chat, request)
            req.run, req.run_budget = run_tag(request)
            with telemetry.server_span(request.headers, req, "chat" if chat else "text_completion"):
                if req.stream:
                    return await self._stream(request, req, chat, started)
                completion = await self.gateway.complete(req)
        except GatewayHTTPError as exc:
            self.gateway.record_error("openai", body.get("model"), "-", exc.status, started)
            return error_response(exc)
        self._record(req, completion.usage, 200, started)
        return web.Response(
            body=orjson.dumps(_whole(req, completion, chat)),
            content_type="application/json",
            headers=req.placement.headers(),
        )

    def _record(self, req: ChatRequest, usage: Usage, status: int, started: float) -> None:
        self.gateway.record_answer("openai", req, usage, status, started)

    async def _stream(
        self, request: web.Request, req: ChatRequest, chat: bool, started: float
    ) -> web.StreamResponse:
        async with aclosing(self.gateway.stream(req)) as stream:  # a client that leaves frees the slot now
            return await self._send_stream(request, req, chat, started, stream)

    async def _send_stream(
        self, request: web.Request, req: ChatRequest, chat: bool, started: float, stream: AsyncIterator[Delta]
    ) -> web.StreamResponse:
        ident = answer_id("chatcmpl-" if chat else "cmpl-")
        created = int(time.time())
        kind = "chat.completion.chunk" if chat else "text_completion"
        try:
            response, first = await start_event_stream(request, stream, req.placement.headers())
        except GatewayHTTPError as exc:
            return error_response(exc)
        usage = Usage()

        def chunk(delta: Delta, role: bool = False) -> bytes:
            if chat:
                body: dict[str, Any] = {"content": delta.content} if delta.content else {}
                if role:
                    body["role"] = "assistant"
                if delta.tool_calls:
                    body["tool_calls"] = [{"index": i, **c} for i, c in enumerate(delta.tool_calls)]
                choice: dict[str, Any] = {"index": 0, "delta": body, "finish_reason": delta.finish_reason}
            else:
                choice = {"index": 0, "text": delta.content, "finish_reason": delta.finish_reason}
            event = {"id": ident, "object": kind, "created": created, "model": req.model, "choices": [choice]}
            return b"data: " + orjson.dumps(event) + b"\n\n"

        try:
            await response.write(chunk(first, role=True))
            usage = first.usage or usage
            async for delta in stream:
                usage = delta.usage or usage
                await response.write(chunk(delta))
            final = {
                "id": ident,
                "object": kind,
                "created": created,
                "model": req.model,
                "choices": [],
                "usage": _usage(usage),
            }
            await response.write(b"data: " + orjson.dumps(final) + b"\n\ndata: [DONE]\n\n")
            status = 200
        except GatewayHTTPError as exc:  # the engine died mid-stream: say so in the stream itself
            error = {"error": {"message": exc.message, "type": exc.kind, "code": exc.status}}
            await response.write(b"data: " + orjson.dumps(error) + b"\n\ndata: [DONE]\n\n")
            status = exc.status
        self._record(req, usage, status, started)
        await response.write_eof()
        return response

    async def embeddings(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        body: dict[str, Any] = {}
        try:
            body = await json_body(request)
            agent, _, _ = identity(request, body)
            model = require(body, "model", str)
            texts = input_texts(body)
            if not texts:
                raise GatewayHTTPError(400, "`input` is empty", kind="invalid_request_error")
            vectors = await self.gateway.embed(model, texts)
        except GatewayHTTPError as exc:
            self.gateway.record_error("openai-embed", body.get("model"), "-", exc.status, started)
            return error_response(exc)
        self.gateway.stats.record("openai-embed", model, agent, 200, time.perf_counter() - started)
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        tokens = sum(len(t.split()) for t in texts)
        return web.Response(
            body=orjson.dumps(
                {
                    "object": "list",
                    "data": data,
                    "model": model,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                }
            ),
            content_type="application/json",
        )

    async def models(self, request: web.Request) -> web.Response:
        created = int(self.gateway.stats.started)
        names = [*self.gateway.models(), *(t for t in self.gateway.tiers() if t not in self.gateway.models())]
        data = [{"id": n, "object": "model", "created": created, "owned_by": "sutazai"} for n in names]
        for entry in data:  # where clients and tools look for limits and capabilities
            card = self.gateway.model_card(str(entry["id"]))
            if card is not None:
                entry.update(
                    context_length=card.context,
                    max_model_len=card.context,  # vLLM's name for it
                    max_output_tokens=card.max_output,
                    capabilities=card.capabilities,
                    tool_calls=card.tool_path,
                )
        return web.Response(
            body=orjson.dumps({"object": "list", "data": data}), content_type="application/json"
        )


def _whole(req: ChatRequest, completion: Completion, chat: bool) -> dict[str, Any]:
    ident = answer_id("chatcmpl-" if chat else "cmpl-")
    if chat:
        message: dict[str, Any] = {"role": "assistant", "content": completion.content}
        if completion.tool_calls:
            message["tool_calls"] = completion.tool_calls
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": completion.finish_reason}
    else:
        choice = {"index": 0, "text": completion.content, "finish_reason": completion.finish_reason}
    return {
        "id": ident,
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": req.model,
        "choices": [choice],
        "usage": _usage(completion.usage),
    }
