"""The OpenAI Responses dialect: ``POST /v1/responses`` and ``GET /v1/responses/{id}``, what Codex
CLI and the newer OpenAI SDK helpers speak.

Input items become the core's chat messages (``function_call`` items as an assistant's tool calls,
``function_call_output`` items as tool messages, ``instructions`` as the system prompt), so the
request is scheduled, budgeted, cached and given grammar-made tool calls like any other. Answers go
back as output items; a stream as ``response.created`` … ``response.completed`` with a sequence
number on every event. Stored responses (``store``, the default) are kept a bounded time and number,
so ``previous_response_id`` continues a conversation without the client sending it again.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from sutazai.stack.gateway.core import Gateway
from sutazai.stack.gateway.edge import answer_chat
from sutazai.stack.gateway.http_common import (
    error_headers,
    identity,
    require,
    start_event_stream,
)
from sutazai.stack.gateway.response_store import ResponseStore
from sutazai.stack.gateway.tool_calls import parse_tool_choice
from sutazai.stack.gateway.types import ChatRequest, Completion, Delta, GatewayHTTPError, Usage
from sutazai.stack.gateway.validate import bad, check_options, check_tools

API = "responses"
ROLES = frozenset({"user", "assistant", "system", "developer"})
TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text"})
IGNORED_ITEMS = frozenset({"reasoning"})  # nothing here reasons aloud; a client may send them back


def error_response(exc: GatewayHTTPError) -> web.Response:
    body = {"error": {"message": exc.message, "type": exc.kind, "code": exc.status, "param": None}}
    return web.Response(
        status=exc.status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers=error_headers(exc),
    )


# --- request: Responses in, the core's shape out ------------------------------------------------


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad(f"{where} must be a string or a list of content parts")
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in TEXT_PARTS and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("input_image", "input_file", "input_audio"):
            raise bad(f"{where}[{j}]: {kind} is not supported by the models this gateway serves")
        else:
            raise bad(f"{where}[{j}] must be {{'type': 'input_text', 'text': ...}}")
    return "\n".join(texts)


def _call(item: dict[str, Any], where: str) -> dict[str, Any]:
    for key in ("call_id", "name", "arguments"):
        if not isinstance(item.get(key), str):
            raise bad(f"{where}.{key} must be a string")
    return {
        "id": item["call_id"],
        "type": "function",
        "function": {"name": item["name"], "arguments": item["arguments"]},
    }


def _answered_call(messages: list[dict[str, Any]], item: dict[str, Any], where: str) -> str:
    """The call a ``function_call_output`` without ``call_id`` answers. Codex sends such outputs for
    tools it answers itself (``request_user_input`` in exec mode, openai/codex#42376): the latest
    call of that name still unanswered, else a call of that name made up so the history stays a
    valid chat (every tool message follows the assistant turn that called it)."""
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        raise bad(f"{where}.name must be a string")
    answered = {m["tool_call_id"] for m in messages if m["role"] == "tool"}
    for message in reversed(messages):
        for call in reversed(message.get("tool_calls") or []):
            if call["id"] not in answered and name in (None, call["function"]["name"]):
                return str(call["id"])
    if name is None:
        raise bad(f"{where} needs a `call_id` (or the `name` of the tool it answers)")
    call_id = str(item.get("id") or f"call_{secrets.token_hex(6)}")
    made_up = {"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}
    messages.append({"role": "assistant", "content": "", "tool_calls": [made_up]})
    return call_id


def messages_of(raw: Any) -> list[dict[str, Any]]:
    """``input`` as chat messages; consecutive ``function_call`` items join one assistant turn."""
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise bad("`input` is required: a string or a list of input items")
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise bad(f"{where} must be an object")
        kind = item.get("type", "message")
        if kind == "message":
            if item.get("role") not in ROLES:
                raise bad(f"{where}.role must be one of {', '.join(sorted(ROLES))}")
            role = "system" if item["role"] == "developer" else item["role"]
            messages.append({"role": role, "content": _text(item.get("content"), f"{where}.content")})
        elif kind == "function_call":
            call = _call(item, where)
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if call_id is None:
                call_id = _answered_call(messages, item, where)
            elif not isinstance(call_id, str):
                raise bad(f"{where}.call_id must be a string")
            output = _text(item.get("output", ""), f"{where}.output")
            messages.append({"role": "tool", "tool_call_id": call_id, "content": output})
        elif kind in IGNORED_ITEMS:
            continue
        else:
            raise bad(
                f"{where}: items of type {kind!r} are not supported "
                "(message, function_call, function_call_output)"
            )
    return messages


def _tools(raw: Any) -> tuple[list[dict[str, Any]] | None, list[str]]:
    """Function tools in the chat shape, and the names of hosted tools left out (none run here)."""
    if raw is None:
        return None, []
    if not isinstance(raw, list):
        raise bad("`tools` must be a list")
    tools, skipped = [], []
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict):
            raise bad(f"tools[{i}] must be an object")
        if tool.get("type") != "function":
            skipped.append(str(tool.get("name") or tool.get("type")))
            continue
        if not isinstance(tool.get("name"), str):
            raise bad(f"tools[{i}] must be {{'type': 'function', 'name': ..., 'parameters': {{...}}}}")
        function = {
            k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None
        }
        tools.append({"type": "function", "function": function})
    return check_tools(tools), skipped


def _tool_choice(raw: Any) -> Any:
    if isinstance(raw, dict) and raw.get("type") == "function":
        return {"type": "function", "function": {"name": raw.get("name")}}
    return raw


def _response_format(text: Any) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    if fmt["type"] == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    raise bad("`text.format.type` must be text, json_object or json_schema")


@dataclass
class Parsed:
    request: ChatRequest
    conversation: list[dict[str, Any]]  # what a later `previous_response_id` continues from
    skipped_tools: list[str]
    echo: dict[str, Any]  # request fields the response object repeats


def parse(body: dict[str, Any], request: web.Request, store: ResponseStore) -> Parsed:
    model = require(body, "model", str)
    agent, priority, bypass = identity(request, body)
    options: dict[str, Any] = {k: body[k] for k in ("temperature", "top_p") if body.get(k) is not None}
    if body.get("max_output_tokens") is not None:
        options["max_tokens"] = body["max_output_tokens"]
    if (response_format := _response_format(body.get("text"))) is not None:
        options["response_format"] = response_format
    check_options(options, "max_output_tokens")
    earlier: list[dict[str, Any]] = []
    if body.get("previous_response_id") is not None:
        earlier = list(store.get(str(body["previous_response_id"])).conversation)
    conversation = earlier + messages_of(body.get("input"))
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise bad("`instructions` must be a string")
    messages = ([{"role": "system", "content": instructions}] if instructions else []) + conversation
    tools, skipped = _tools(body.get("tools"))
    choice = _tool_choice(body.get("tool_choice"))
    parse_tool_choice(choice, tools)  # a bad choice is a 400 before any work
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise bad("`parallel_tool_calls` must be true or false")
    chat = ChatRequest(
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
    echo = {
        "instructions": instructions,
        "max_output_tokens": body.get("max_output_tokens"),
        "previous_response_id": body.get("previous_response_id"),
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "parallel_tool_calls": parallel if parallel is not None else True,
        "text": body.get("text") or {"format": {"type": "text"}},
        "store": body.get("store", True) is not False,
        "metadata": body.get("metadata") or {},
    }
    return Parsed(chat, conversation, skipped, echo)


# --- answer: the core's shape in, Responses out -------------------------------------------------


def _usage(u: Usage) -> dict[str, Any]:
    return {
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens},
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    }


def _message_item(ident: str, text: str, status: str) -> dict[str, Any]:
    content = (
        [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        if status == "completed"
        else []
    )
    return {"type": "message", "id": ident, "status": status, "role": "assistant", "content": content}


def _call_item(call: dict[str, Any], status: str) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "type": "function_call",
        "id": f"fc_{secrets.token_hex(12)}",
        "call_id": str(call.get("id") or f"call_{secrets.token_hex(6)}"),
        "name": function.get("name"),
        "arguments": function.get("arguments") if status == "completed" else "",
        "status": status,
    }


class ResponseShell:
    """The response object as it grows: one id and echo for every event of one request."""

    def __init__(self, parsed: Parsed) -> None:
        self.id = f"resp_{secrets.token_hex(12)}"
        self.created = int(time.time())
        self.parsed = parsed

    def body(
        self, status: str, output: list[dict[str, Any]], usage: Usage | None, finish: str | None = None
    ) -> dict[str, Any]:
        incomplete = status == "incomplete"
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "model": self.parsed.request.model,
            "output": output,
            "usage": _usage(usage) if usage is not None else None,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
            **self.parsed.echo,
        }

    def finished(self, completion: Completion, output: list[dict[str, Any]]) -> dict[str, Any]:
        status = "incomplete" if completion.finish_reason == "length" else "completed"
        return self.body(status, output, completion.usage)


def output_items(completion: Completion) -> list[dict[str, Any]]:
    items = (
        [_message_item(f"msg_{secrets.token_hex(12)}", completion.content, "completed")]
        if completion.content
        else []
    )
    return items + [_call_item(call, "completed") for call in completion.tool_calls or []]


def answered(parsed: Parsed, completion: Completion) -> list[dict[str, Any]]:
    """The conversation a later request continues: this one's and the answer, as chat messages."""
    message: dict[str, Any] = {"role": "assistant", "content": completion.content}
    if completion.tool_calls:
        message["tool_calls"] = completion.tool_calls
    return [*parsed.conversation, message]


class EventWriter:
    """Numbered SSE events, and the open text item while text streams in."""

    def __init__(self) -> None:
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self.text_item: dict[str, Any] | None = None
        self.text = ""

    def event(self, kind: str, **body: Any) -> bytes:
        data = {"type": kind, "sequence_number": self.sequence, **body}
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def _open_text(self) -> list[bytes]:
        self.text_item = _message_item(f"msg_{secrets.token_hex(12)}", "", "in_progress")
        self.output.append(self.text_item)
        index = len(self.output) - 1
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        return [
            self.event("response.output_item.added", output_index=index, item=self.text_item),
            self.event(
                "response.content_part.added",
                item_id=self.text_item["id"],
                output_index=index,
                content_index=0,
                part=part,
            ),
        ]

    def _close_text(self) -> list[bytes]:
        if self.text_item is None:
            return []
        index = self.output.index(self.text_item)
        done = _message_item(self.text_item["id"], self.text, "completed")
        self.output[index] = done
        ident, self.text_item, text, self.text = done["id"], None, self.text, ""
        return [
            self.event(
                "response.output_text.done",
                item_id=ident,
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
            ),
            self.event(
                "response.content_part.done",
                item_id=ident,
                output_index=index,
                content_index=0,
                part=done["content"][0],
            ),
            self.event("response.output_item.done", output_index=index, item=done),
        ]

    def delta(self, delta: Delta) -> list[bytes]:
        out: list[bytes] = []
        if delta.content:
            if self.text_item is None:
                out += self._open_text()
            assert self.text_item is not None
            self.text += delta.content
            index = len(self.output) - 1
            out.append(
                self.event(
                    "response.output_text.delta",
                    item_id=self.text_item["id"],
                    output_index=index,
                    content_index=0,
                    delta=delta.content,
                    logprobs=[],
                )
            )
        for call in delta.tool_calls or []:
            out += self._close_text()
            done = _call_item(call, "completed")
            pending = {**done, "arguments": "", "status": "in_progress"}
            self.output.append(done)
            index = len(self.output) - 1
            out += [
                self.event("response.output_item.added", output_index=index, item=pending),
                self.event(
                    "response.function_call_arguments.delta",
                    item_id=done["id"],
                    output_index=index,
                    delta=done["arguments"],
                ),
                self.event(
                    "response.function_call_arguments.done",
                    item_id=done["id"],
                    output_index=index,
                    arguments=done["arguments"],
                    name=done["name"],
                ),
                self.event("response.output_item.done", output_index=index, item=done),
            ]
        return out

    def end(self) -> list[bytes]:
        return self._close_text()


class ResponsesRoutes:
    def __init__(self, gateway: Gateway, store: ResponseStore | None = None) -> None:
        self.gateway = gateway
        self.store = store or ResponseStore()

    def register(self, app: web.Application) -> None:
        app.router.add_post("/v1/responses", self.create)
        app.router.add_get("/v1/responses/{id}", self.retrieve)

    async def retrieve(self, request: web.Request) -> web.Response:
        try:
            stored = self.store.get(request.match_info["id"])
        except GatewayHTTPError as exc:
            return error_response(exc)
        return web.Response(body=orjson.dumps(stored.response), content_type="application/json")

    async def create(self, request: web.Request) -> web.StreamResponse:
        def whole_response(parsed: Parsed, completion: Completion) -> web.StreamResponse:
            response = ResponseShell(parsed).finished(completion, output_items(completion))
            self._keep(parsed, response, completion)
            body = orjson.dumps(response)
            return web.Response(body=body, content_type="application/json", headers=self._headers(parsed))

        return await answer_chat(
            self.gateway,
            request,
            API,
            lambda body: parse(body, request, self.store),
            lambda parsed: parsed.request,
            lambda parsed, started, stream: self._send_stream(request, parsed, started, stream),
            whole_response,
            error_response,
        )

    def _keep(self, parsed: Parsed, response: dict[str, Any], completion: Completion) -> None:
        if parsed.echo["store"]:
            self.store.put(response, answered(parsed, completion))

    @staticmethod
    def _headers(parsed: Parsed) -> dict[str, str]:
        headers = parsed.request.placement.headers()
        if parsed.skipped_tools:  # hosted tools (web search, ...) run nowhere here: say which were left out
            headers["X-Sutazai-Tools-Ignored"] = ",".join(parsed.skipped_tools)[:512]
        return headers

    async def _send_stream(
        self, request: web.Request, parsed: Parsed, started: float, stream: AsyncIterator[Delta]
    ) -> web.StreamResponse:
        try:
            response, first = await start_event_stream(request, stream, self._headers(parsed))
        except GatewayHTTPError as exc:
            return error_response(exc)
        shell, events, req = ResponseShell(parsed), EventWriter(), parsed.request
        opening = shell.body("in_progress", [], None)
        await response.write(
            events.event("response.created", response=opening)
            + events.event("response.in_progress", response=opening)
        )
        deltas: list[Delta] = []
        status = 200
        try:
            delta: Delta | None = first
            while delta is not None:
                deltas.append(delta)
                await response.write(b"".join(events.delta(delta)))
                delta = await anext(stream, None)
            completion = Completion.from_deltas(deltas, req.model)
            tail = events.end()
            final = shell.finished(completion, events.output)
            tail.append(events.event(f"response.{final['status']}", response=final))
            await response.write(b"".join(tail))
            self._keep(parsed, final, completion)
            usage = completion.usage
        except GatewayHTTPError as exc:  # the engine died mid-stream: say so in the stream itself
            failed = shell.body("failed", events.output, None)
            failed["error"] = {"code": "server_error", "message": exc.message}
            await response.write(events.event("response.failed", response=failed))
            status, usage = exc.status, Usage()
        self.gateway.record_answer(API, req, usage, status, started)
        await response.write_eof()
        return response
