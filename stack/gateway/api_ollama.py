"""The Ollama dialect: ``/api/chat``, ``/api/generate``, ``/api/embed``, ``/api/embeddings``,
``/api/tags``, ``/api/show``, ``/api/ps``, ``/api/version``; streaming as NDJSON exactly as
Ollama does, the last line with ``done``, timings and counts. Streaming is on by default."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson
from aiohttp import web

from sutazai.stack.gateway import telemetry
from sutazai.stack.gateway.core import Gateway
from sutazai.stack.gateway.engines import ModelInfo
from sutazai.stack.gateway.http_common import error_headers, identity, input_texts, json_body, require
from sutazai.stack.gateway.run_usage import run_tag
from sutazai.stack.gateway.tool_calls import json_schema_format
from sutazai.stack.gateway.types import ChatRequest, Delta, GatewayHTTPError, Usage
from sutazai.stack.gateway.validate import check_messages, check_options, check_tools

OLLAMA_VERSION = "0.6.5"
OPTION_MAP = {
    "num_predict": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "seed": "seed",
    "stop": "stop",
    "min_p": "min_p",
    "repeat_penalty": "repeat_penalty",
}


def error_response(exc: GatewayHTTPError) -> web.Response:
    # Ollama answers an overloaded server with 503 (OpenAI clients expect 429); a spent budget is
    # not overload: it stays a 429 that names the budget.
    budget = exc.kind == "budget_exceeded"
    status = 503 if exc.status == 429 and not budget else exc.status
    return web.Response(
        status=status,
        body=orjson.dumps({"error": exc.message}),
        content_type="application/json",
        headers=error_headers(exc),
    )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def _options(body: dict[str, Any]) -> dict[str, Any]:
    raw = body.get("options") or {}
    if not isinstance(raw, dict):
        raise GatewayHTTPError(400, "`options` must be an object", kind="invalid_request_error")
    out = {OPTION_MAP[k]: v for k, v in raw.items() if k in OPTION_MAP}
    check_options(out, "options.num_predict")
    fmt = body.get("format")
    if fmt == "json":
        out["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, dict):  # a JSON Schema: enforced by the engine's grammar
        out["response_format"] = json_schema_format(fmt, "format")
    elif fmt not in (None, ""):
        raise GatewayHTTPError(
            400, '`format` must be "json" or a JSON Schema object', kind="invalid_request_error"
        )
    return out


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _details(info: ModelInfo) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": info.family or "llama",
        "families": [info.family or "llama"],
        "parameter_size": "",
        "quantization_level": "",
    }


class OllamaRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def register(self, app: web.Application) -> None:
        app.router.add_post("/api/chat", self.chat)
        app.router.add_post("/api/generate", self.generate)
        app.router.add_post("/api/embed", self.embed)
        app.router.add_post("/api/embeddings", self.embeddings_legacy)
        app.router.add_get("/api/tags", self.tags)
        app.router.add_post("/api/show", self.show)
        app.router.add_get("/api/ps", self.ps)
        app.router.add_get("/api/version", self.version)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, chat=True)

    async def generate(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, chat=False)

    def _parse(self, request: web.Request, body: dict[str, Any], chat: bool) -> ChatRequest:
        model = require(body, "model", str)
        agent, priority, bypass = identity(request, body)
        stream = body.get("stream", True) is not False
        if chat:
            return ChatRequest(
                model,
                messages=_openai_messages(check_messages(body.get("messages"), "ollama")),
                stream=stream,
                options=_options(body),
                tools=check_tools(body.get("tools")),
                agent=agent,
                priority=priority,
                cache_bypass=bypass,
            )
        prompt = body.get("prompt") or ""
        if not isinstance(prompt, str):
            raise GatewayHTTPError(400, "`prompt` must be a string", kind="invalid_request_error")
        messages = [{"role": "system", "content": body["system"]}] if body.get("system") else []
        messages.append({"role": "user", "content": prompt})
        if body.get("raw"):
            return ChatRequest(
                model,
                prompt=prompt,
                stream=stream,
                options=_options(body),
                agent=agent,
                priority=priority,
                cache_bypass=bypass,
            )
        return ChatRequest(
            model,
            messages=messages,
            stream=stream,
            options=_options(body),
            agent=agent,
            priority=priority,
            cache_bypass=bypass,
        )

    async def _generate(self, request: web.Request, chat: bool) -> web.StreamResponse:
        started = time.perf_counter()
        body: dict[str, Any] = {}
        try:
            body = await json_body(request)
            if not chat and not body.get("prompt") and "model" in body:
                # Ollama's "load the model" call: an empty prompt answers done at once (404 if unknown).
                self.gateway.candidates(require(body, "model", str))
                return web.Response(
                    body=orjson.dumps(
                        {
                            "model": body["model"],
                            "created_at": _now(),
                            "response": "",
                            "done": True,
                            "done_reason": "load",
                        }
                    ),
                    content_type="application/json",
                )
            req = self._parse(request, body, chat)
            req.run, req.run_budget = run_tag(request)
        except GatewayHTTPError as exc:
            self.gateway.record_error("ollama", body.get("model"), "-", exc.status, started)
            return error_response(exc)
        with telemetry.server_span(request.headers, req, "chat" if chat else "text_completion"):
            async with aclosing(self.gateway.stream(req)) as stream:  # a client that leaves frees the slot
                return await self._answer(request, req, chat, started, stream)

    async def _answer(
        self, request: web.Request, req: ChatRequest, chat: bool, started: float, stream: AsyncIterator[Delta]
    ) -> web.StreamResponse:
        try:
            first = await anext(stream)
        except GatewayHTTPError as exc:
            self._record(req, Usage(), exc.status, started)
            return error_response(exc)
        except StopAsyncIteration:
            first = Delta(finish_reason="stop", usage=Usage())

        def line(delta: Delta) -> dict[str, Any]:
            event: dict[str, Any] = {"model": req.model, "created_at": _now()}
            if chat:
                message: dict[str, Any] = {"role": "assistant", "content": delta.content}
                if delta.tool_calls:
                    message["tool_calls"] = [
                        {
                            "function": {
                                "name": c["function"]["name"],
                                "arguments": _json_args(c["function"]["arguments"]),
                            }
                        }
                        for c in delta.tool_calls
                    ]
                event["message"] = message
            else:
                event["response"] = delta.content
            event["done"] = False
            return event

        def final(delta: Delta, usage: Usage) -> dict[str, Any]:
            event = line(delta)
            total_ns = int((time.perf_counter() - started) * 1e9)
            event.update(
                done=True,
                done_reason=delta.finish_reason or "stop",
                total_duration=total_ns,
                load_duration=0,
                prompt_eval_count=usage.prompt_tokens,
                prompt_eval_duration=int(usage.prompt_ms * 1e6),
                eval_count=usage.completion_tokens,
                eval_duration=int(usage.completion_ms * 1e6),
            )
            if not chat:
                event["context"] = []
            return event

        if not req.stream:
            deltas = [first]
            try:
                deltas += [d async for d in stream]
            except GatewayHTTPError as exc:
                self._record(req, Usage(), exc.status, started)
                return error_response(exc)
            usage = deltas[-1].usage or Usage()
            merged = Delta(
                "".join(d.content for d in deltas),
                [c for d in deltas for c in (d.tool_calls or [])] or None,
                deltas[-1].finish_reason,
                usage,
            )
            self._record(req, usage, 200, started)
            return web.Response(
                body=orjson.dumps(final(merged, usage)),
                content_type="application/json",
                headers=req.placement.headers(),
            )

        response = web.StreamResponse(
            headers={"Content-Type": "application/x-ndjson", **req.placement.headers()}
        )
        await response.prepare(request)
        usage = Usage()
        status = 200
        try:
            pending = first
            async for delta in stream:  # an exhausted stream (empty answer) yields nothing
                await response.write(orjson.dumps(line(pending)) + b"\n")
                pending = delta
            usage = pending.usage or usage
            await response.write(orjson.dumps(final(pending, usage)) + b"\n")
        except GatewayHTTPError as exc:
            await response.write(orjson.dumps({"error": exc.message}) + b"\n")
            status = exc.status
        self._record(req, usage, status, started)
        await response.write_eof()
        return response

    def _record(self, req: ChatRequest, usage: Usage, status: int, started: float) -> None:
        self.gateway.record_answer("ollama", req, usage, status, started)

    async def embed(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        body: dict[str, Any] = {}
        try:
            body = await json_body(request)
            agent, _, _ = identity(request, body)
            model = require(body, "model", str)
            texts = input_texts(body)
            vectors = await self.gateway.embed(model, texts) if texts else []
        except GatewayHTTPError as exc:
            self.gateway.record_error("ollama-embed", body.get("model"), "-", exc.status, started)
            return error_response(exc)
        self.gateway.stats.record("ollama-embed", model, agent, 200, time.perf_counter() - started)
        took = int((time.perf_counter() - started) * 1e9)
        return web.Response(
            body=orjson.dumps(
                {
                    "model": model,
                    "embeddings": vectors,
                    "total_duration": took,
                    "load_duration": 0,
                    "prompt_eval_count": sum(len(t.split()) for t in texts),
                }
            ),
            content_type="application/json",
        )

    async def embeddings_legacy(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        body: dict[str, Any] = {}
        try:
            body = await json_body(request)
            agent, _, _ = identity(request, body)
            model = require(body, "model", str)
            prompt = require(body, "prompt", str)
            [vector] = await self.gateway.embed(model, [prompt])
        except GatewayHTTPError as exc:
            self.gateway.record_error("ollama-embed", body.get("model"), "-", exc.status, started)
            return error_response(exc)
        self.gateway.stats.record("ollama-embed", model, agent, 200, time.perf_counter() - started)
        return web.Response(body=orjson.dumps({"embedding": vector}), content_type="application/json")

    def _model_entry(self, name: str, info: ModelInfo) -> dict[str, Any]:
        return {
            "name": name,
            "model": name,
            "modified_at": _now(),
            "size": info.size,
            "digest": _digest(name),
            "details": _details(info),
        }

    async def tags(self, request: web.Request) -> web.Response:
        models = self.gateway.models()
        entries = [self._model_entry(n, i) for n, i in models.items()]
        entries += [self._model_entry(t, ModelInfo(t)) for t in self.gateway.tiers() if t not in models]
        return web.Response(body=orjson.dumps({"models": entries}), content_type="application/json")

    async def show(self, request: web.Request) -> web.Response:
        try:
            body = await json_body(request)
            name = body.get("model") or body.get("name")
            if not isinstance(name, str):
                raise GatewayHTTPError(400, "`model` is required", kind="invalid_request_error")
            engine, resolved = self.gateway.candidates(name, embedding=name == "embed")[0]
        except GatewayHTTPError as exc:
            return error_response(exc)
        info = engine.models[resolved]
        pool = self.gateway.pools[engine.name]
        card = self.gateway.model_card(name)
        capabilities = card.capabilities if card else ["completion"]
        architecture = info.family or "llama"
        context = card.context if card else info.context_length
        return web.Response(
            body=orjson.dumps(
                {
                    "modelfile": f"FROM {resolved}",
                    "parameters": "",
                    "template": "{{ .Prompt }}",
                    "details": _details(info),
                    "model_info": {
                        "general.architecture": architecture,
                        "general.parameter_count": info.size,
                        f"{architecture}.context_length": context,
                    },
                    "capabilities": capabilities,
                    "sutazai": {
                        "engine": engine.name,
                        "resolved_model": resolved,
                        "queue_depth": pool.depth(),
                        "in_flight": pool.in_flight,
                        "slots": pool.slots,
                        "tool_calls": card.tool_path if card else None,
                        "max_output_tokens": card.max_output if card else 0,
                    },
                }
            ),
            content_type="application/json",
        )

    async def ps(self, request: web.Request) -> web.Response:
        running = []
        for engine in self.gateway.engines.values():
            if not engine.healthy:
                continue
            for name, info in engine.models.items():
                entry = self._model_entry(name, info)
                entry.update(expires_at="0001-01-01T00:00:00Z", size_vram=0)
                running.append(entry)
        return web.Response(body=orjson.dumps({"models": running}), content_type="application/json")

    async def version(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps({"version": OLLAMA_VERSION}), content_type="application/json")


def _json_args(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}


def _openai_messages(messages: list[Any]) -> list[dict[str, Any]]:
    """Ollama messages are OpenAI-shaped except tool-call arguments (objects, not strings) and images."""
    out = []
    for m in messages:
        message = {"role": m["role"], "content": m.get("content", "")}
        if m["role"] == "tool" and (m.get("tool_name") or m.get("name")):
            message["name"] = m.get("tool_name") or m.get("name")  # Ollama names the tool that answered
        if m.get("tool_calls"):
            message["tool_calls"] = [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {
                        "name": c["function"]["name"],
                        "arguments": _args_text(c["function"].get("arguments")),
                    },
                }
                for i, c in enumerate(m["tool_calls"])
            ]
        out.append(message)
    return out


def _args_text(arguments: Any) -> str:
    """Ollama sends tool-call arguments as an object; OpenAI engines expect a JSON string."""
    return arguments if isinstance(arguments, str) else orjson.dumps(arguments or {}).decode()
