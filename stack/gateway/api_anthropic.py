"""The Anthropic Messages dialect: ``/v1/messages`` and ``/v1/messages/count_tokens``, what Claude
Code and the ``anthropic`` SDKs speak.

A request becomes the core's OpenAI-shaped :class:`ChatRequest` (system prompt first, ``tool_use``
blocks as tool calls, ``tool_result`` blocks as tool messages), so it is scheduled, budgeted, cached
and given grammar-made tool calls like any other. Answers go back as content blocks; a stream as
``message_start``, content blocks opened, filled and closed, ``message_delta`` and ``message_stop``.
The workspace token may be given as the API key (``x-api-key``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from sutazai.stack.gateway import token_count
from sutazai.stack.gateway.core import Gateway
from sutazai.stack.gateway.edge import answer_chat
from sutazai.stack.gateway.http_common import (
    answer_id,
    error_headers,
    identity,
    json_body,
    require,
    start_event_stream,
)
from sutazai.stack.gateway.tool_calls import parse_tool_choice
from sutazai.stack.gateway.types import ChatRequest, Completion, Delta, GatewayHTTPError, Usage
from sutazai.stack.gateway.validate import bad, check_options, check_tools

API = "anthropic"
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
IGNORED_BLOCKS = frozenset({"thinking", "redacted_thinking"})  # a model here never thinks aloud


def error_body(exc: GatewayHTTPError) -> dict[str, Any]:
    kind = ERROR_TYPES.get(exc.status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": exc.message}}


def error_response(exc: GatewayHTTPError) -> web.Response:
    return web.Response(
        status=exc.status,
        body=orjson.dumps(error_body(exc)),
        content_type="application/json",
        headers=error_headers(exc),
    )


# --- request: Anthropic in, the core's shape out ------------------------------------------------


def _text_of(content: Any, where: str) -> str:
    """A string, or text blocks joined (a system prompt, a tool result)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad(f"{where} must be a string or a list of text blocks")
    texts = []
    for j, block in enumerate(content):
        if (
            not isinstance(block, dict)
            or block.get("type") != "text"
            or not isinstance(block.get("text"), str)
        ):
            raise bad(f"{where}[{j}] must be {{'type': 'text', 'text': ...}}")
        texts.append(block["text"])
    return "\n".join(texts)


def _tool_call(block: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
        raise bad(f"{where} needs an `id` and a `name`")
    arguments = block.get("input", {})
    if not isinstance(arguments, dict):
        raise bad(f"{where}.input must be an object")
    return {
        "id": block["id"],
        "type": "function",
        "function": {"name": block["name"], "arguments": orjson.dumps(arguments).decode()},
    }


def _message(message: Any, where: str) -> list[dict[str, Any]]:
    """One Anthropic message as OpenAI messages: tool results become tool messages ahead of the
    user's text; an assistant's ``tool_use`` blocks become its tool calls."""
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant", "system"):
        raise bad(f"{where} must be an object with `role` user, assistant or system")
    role, content = message["role"], message.get("content")
    if role == "system":  # an instruction between turns, as Claude Code sends them
        return [{"role": "system", "content": _text_of(content, f"{where}.content")}]
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise bad(f"{where}.content must be a string or a list of content blocks")
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use" and role == "assistant":
            calls.append(_tool_call(block, at))
        elif kind == "tool_result" and role == "user":
            if not isinstance(block.get("tool_use_id"), str):
                raise bad(f"{at}.tool_use_id must be a string")
            text = _text_of(block.get("content", ""), f"{at}.content")
            if block.get("is_error"):
                text = f"[error] {text}"
            results.append({"role": "tool", "tool_call_id": block["tool_use_id"], "content": text})
        elif kind in IGNORED_BLOCKS:
            continue
        elif kind in ("image", "document"):
            raise bad(f"{at}: {kind} blocks are not supported by the models this gateway serves")
        else:
            raise bad(f"{at} must be a text, tool_use (assistant) or tool_result (user) block")
    converted = list(results)
    if texts or calls or not results:
        entry: dict[str, Any] = {"role": role, "content": "\n".join(texts)}
        if calls:
            entry["tool_calls"] = calls
        converted.append(entry)
    return converted


def _tools(raw: Any) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise bad("`tools` must be a list")
    tools = []
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise bad(f"tools[{i}] must be {{'name': ..., 'input_schema': {{...}}}}")
        if tool.get("type") not in (None, "custom") or "input_schema" not in tool:
            raise bad(
                f"tools[{i}] ({tool['name']}): only custom tools with an `input_schema` are served here"
            )
        function = {"name": tool["name"], "parameters": tool["input_schema"]}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        tools.append({"type": "function", "function": function})
    return check_tools(tools)


def _tool_choice(raw: Any) -> tuple[Any, bool | None]:
    """Anthropic's choice as OpenAI's, and whether calls may run in parallel."""
    if raw is None:
        return None, None
    if not isinstance(raw, dict) or raw.get("type") not in ("auto", "any", "tool", "none"):
        raise bad("`tool_choice` must be {'type': 'auto' | 'any' | 'tool' | 'none'}")
    parallel = None if raw.get("disable_parallel_tool_use") is None else not raw["disable_parallel_tool_use"]
    kind = raw["type"]
    if kind == "tool":
        if not isinstance(raw.get("name"), str):
            raise bad("`tool_choice` of type 'tool' needs the tool's `name`")
        return {"type": "function", "function": {"name": raw["name"]}}, parallel
    return {"auto": "auto", "any": "required", "none": "none"}[kind], parallel


def conversation(body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """The request's messages (system first) and tools in the core's shape."""
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise bad("`messages` is required and must be a non-empty list")
    messages: list[dict[str, Any]] = []
    if body.get("system") is not None:
        messages.append({"role": "system", "content": _text_of(body["system"], "system")})
    for i, message in enumerate(raw):
        messages += _message(message, f"messages[{i}]")
    return messages, _tools(body.get("tools"))


def parse(body: dict[str, Any], request: web.Request) -> ChatRequest:
    model = require(body, "model", str)
    agent, priority, bypass = identity(request, {})  # metadata.user_id is an account, not an agent
    if "max_tokens" not in body:
        raise bad("`max_tokens` is required")
    options = {"max_tokens": body["max_tokens"]}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"), ("top_k", "top_k")):
        if theirs in body:
            options[ours] = body[theirs]
    if body.get("stop_sequences") is not None:
        options["stop"] = body["stop_sequences"]
    check_options(options, "max_tokens")
    messages, tools = conversation(body)
    choice, parallel = _tool_choice(body.get("tool_choice"))
    parse_tool_choice(choice, tools)  # a choice naming no offered tool is a 400 before any work
    return ChatRequest(
        model,
        messages=messages,
        stream=bool(body.get("stream")),
        options=options,
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        agent=agent,
        priority=priority,
        cache_bypass=bypass,
    )


# --- answer: the core's shape in, Anthropic out -------------------------------------------------


def _usage(u: Usage) -> dict[str, int]:
    return {
        "input_tokens": u.prompt_tokens - u.cached_tokens,
        "cache_read_input_tokens": u.cached_tokens,
        "cache_creation_input_tokens": 0,
        "output_tokens": u.completion_tokens,
    }


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    try:
        arguments = orjson.loads(function.get("arguments") or "{}")
    except orjson.JSONDecodeError:
        arguments = {}
    return {"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": arguments}


def _message_id() -> str:
    return answer_id("msg_")


def whole(req: ChatRequest, completion: Completion) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = (
        [{"type": "text", "text": completion.content}] if completion.content else []
    )
    blocks += [_tool_use(call) for call in completion.tool_calls or []]
    return {
        "id": _message_id(),
        "type": "message",
        "role": "assistant",
        "model": req.model,
        "content": blocks,
        "stop_reason": STOP_REASONS.get(completion.finish_reason, "end_turn"),
        "stop_sequence": None,
        "usage": _usage(completion.usage),
    }


def event(kind: str, body: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **body}) + b"\n\n"


class BlockWriter:
    """Turns the core's deltas into content block events: text runs into one open text block, each
    tool call is a block of its own (opened, its input as one JSON delta, closed)."""

    def __init__(self) -> None:
        self.index = -1
        self.open_text = False

    def _close(self) -> list[bytes]:
        if not self.open_text:
            return []
        self.open_text = False
        return [event("content_block_stop", {"index": self.index})]

    def delta(self, delta: Delta) -> list[bytes]:
        out: list[bytes] = []
        if delta.content:
            if not self.open_text:
                self.index += 1
                self.open_text = True
                block = {"type": "text", "text": ""}
                out.append(event("content_block_start", {"index": self.index, "content_block": block}))
            text = {"type": "text_delta", "text": delta.content}
            out.append(event("content_block_delta", {"index": self.index, "delta": text}))
        for call in delta.tool_calls or []:
            out += self._close()
            self.index += 1
            opened = {**_tool_use(call), "input": {}}  # the input follows as one JSON delta
            arguments = (call.get("function") or {}).get("arguments") or "{}"
            out.append(event("content_block_start", {"index": self.index, "content_block": opened}))
            json_delta = {"type": "input_json_delta", "partial_json": arguments}
            out.append(event("content_block_delta", {"index": self.index, "delta": json_delta}))
            out.append(event("content_block_stop", {"index": self.index}))
        return out

    def end(self) -> list[bytes]:
        return self._close()


class AnthropicRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def register(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/messages/count_tokens", self.count_tokens)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        def whole_response(req: ChatRequest, completion: Completion) -> web.StreamResponse:
            body = orjson.dumps(whole(req, completion))
            return web.Response(body=body, content_type="application/json", headers=req.placement.headers())

        return await answer_chat(
            self.gateway,
            request,
            API,
            lambda body: parse(body, request),
            lambda req: req,
            lambda req, started, stream: self._send_stream(request, req, started, stream),
            whole_response,
            error_response,
        )

    async def _send_stream(
        self, request: web.Request, req: ChatRequest, started: float, stream: AsyncIterator[Delta]
    ) -> web.StreamResponse:
        try:
            response, first = await start_event_stream(request, stream, req.placement.headers())
        except GatewayHTTPError as exc:
            return error_response(exc)
        message: dict[str, Any] = {
            "id": _message_id(),
            "type": "message",
            "role": "assistant",
            "model": req.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(first.usage or Usage()),
        }
        blocks = BlockWriter()
        await response.write(event("message_start", {"message": message}) + event("ping", {}))
        usage, finish, status = first.usage or Usage(), first.finish_reason, 200
        try:
            delta: Delta | None = first
            while delta is not None:
                usage, finish = delta.usage or usage, delta.finish_reason or finish
                for chunk in blocks.delta(delta):
                    await response.write(chunk)
                delta = await anext(stream, None)
            tail = blocks.end()
            stop = {"stop_reason": STOP_REASONS.get(finish or "stop", "end_turn"), "stop_sequence": None}
            tail.append(event("message_delta", {"delta": stop, "usage": _usage(usage)}))
            tail.append(event("message_stop", {}))
            await response.write(b"".join(tail))
        except GatewayHTTPError as exc:  # the engine died mid-stream: say so in the stream itself
            await response.write(event("error", {"error": error_body(exc)["error"]}))
            status = exc.status
        self.gateway.record_answer(API, req, usage, status, started)
        await response.write_eof()
        return response

    async def count_tokens(self, request: web.Request) -> web.Response:
        """The prompt's tokens as the model's engine counts them (an estimate where it cannot)."""
        try:
            body = await json_body(request)
            model = require(body, "model", str)
            messages, tools = conversation(body)
            count = await token_count.count_tokens(self.gateway, model, messages, tools)
        except GatewayHTTPError as exc:
            return error_response(exc)
        return web.Response(body=orjson.dumps({"input_tokens": count}), content_type="application/json")
