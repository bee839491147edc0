"""Tool calls and JSON answers for models that have no tool calling of their own.

SmolLM2-135M behind llama-server returns no ``tool_calls`` for an OpenAI ``tools`` request (0/5
measured). For such models (the ``grammar`` path) the gateway:

1. renders the tools into the system prompt and rewrites the tool history (assistant ``tool_calls``,
   ``tool`` results) as plain turns the chat template understands;
2. builds one JSON Schema from the tools' parameter schemas and the ``tool_choice``, and has the
   engine constrain decoding with it (llama.cpp turns ``json_schema`` into a grammar; Ollama takes it
   as ``format``), so the model can only write ``{"tool_calls": [{"name": ..., "arguments": ...}]}``
   with arguments valid for the named tool, or, under ``auto``, ``{"content": "..."}``;
3. parses that JSON back into standard ``tool_calls`` (or content) for either dialect.

Models that call tools natively (the ``native`` path) get the request as it came. Which path a model
takes is :func:`tool_path`: ``[stack] tool_calls`` in ``sutazai.toml`` first, then what the engine
says (Ollama's ``capabilities``), then the engine kind (llama-server: grammar).

The answer is buffered until the JSON is complete, then streamed as one call or one content piece:
clients see standard deltas, a moment later than unconstrained tokens would arrive.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import Any, Literal

import orjson

from sutazai.stack.gateway.engines import Engine
from sutazai.stack.gateway.types import ChatRequest, Delta, GatewayHTTPError, Usage

ToolPath = Literal["native", "grammar"]
MAX_PARALLEL_CALLS = 4
ANY_OBJECT: dict[str, Any] = {"type": "object"}
# A call cut off by the token limit is no call at all: constrained answers may use at least this
# many tokens, and strings and lists in arguments are bounded so that a small model that starts
# repeating itself inside a string still closes the JSON in time.
MIN_CALL_TOKENS = 384
MAX_STRING = 200
MAX_LIST = 16
CHARS_PER_TOKEN = 3  # a plain answer under `auto` keeps to about the client's token limit


def tool_path(engine: Engine, model: str, configured: dict[str, str]) -> ToolPath:
    """How ``model`` on ``engine`` calls tools: configured, else as the engine says, else by kind
    (llama-server applies no tool template unless started with one: grammar)."""
    if configured.get(model) in ("native", "grammar"):
        return "native" if configured[model] == "native" else "grammar"
    info = engine.models.get(model)
    if info is not None and info.tools is not None:
        return "native" if info.tools else "grammar"
    return "native" if engine.config.capabilities.native_tools else "grammar"


def engine_stream(
    engine: Engine,
    request: ChatRequest,
    model: str,
    slot: int | None,
    attempt: int,
    configured: dict[str, str],
    rounds: int = 1,
) -> AsyncGenerator[Delta, None]:
    """The engine's answer to ``request``, through the grammar path when the model needs it."""
    if tool_path(engine, model, configured) == "grammar" and needs_rewrite(request):
        constrained, envelope = constrain(request, rounds)
        deltas = engine.stream(constrained, model, slot, attempt)
        return answer_from_envelope(deltas) if envelope else deltas
    return engine.stream(request, model, slot, attempt)


@dataclass(frozen=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "function"]
    name: str | None = None


def parse_tool_choice(value: Any, tools: list[dict[str, Any]] | None) -> ToolChoice:
    """OpenAI's ``tool_choice``: "auto" (the default with tools), "none", "required", or
    ``{"type": "function", "function": {"name": ...}}`` naming one of the tools."""
    if value is None:
        return ToolChoice("auto" if tools else "none")
    if value in ("auto", "none", "required"):
        return ToolChoice(value)
    name = value.get("function", {}).get("name") if isinstance(value, dict) else None
    if not isinstance(name, str):
        raise _bad(
            '`tool_choice` must be "auto", "none", "required" or {"type": "function", "function": {"name": ...}}'
        )
    if name not in tool_names(tools):
        raise _bad(
            f"`tool_choice` names {name!r}, which is not among `tools` ({', '.join(tool_names(tools))})"
        )
    return ToolChoice("function", name)


def _bad(message: str) -> GatewayHTTPError:
    return GatewayHTTPError(400, message, kind="invalid_request_error")


def tool_names(tools: list[dict[str, Any]] | None) -> list[str]:
    return [t["function"]["name"] for t in tools or []]


# --- the schema ---------------------------------------------------------------------------------


def bounded(schema: Any) -> Any:
    """``schema`` with a length limit on every string and list that has none."""
    if isinstance(schema, list):
        return [bounded(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: bounded(v) for k, v in schema.items()}
    kinds = out.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "string" in kinds and "enum" not in out and "const" not in out:
        out.setdefault("maxLength", MAX_STRING)
    if "array" in kinds:
        out.setdefault("maxItems", MAX_LIST)
    return out


def _one_call(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool["function"]
    parameters = bounded(function.get("parameters") or ANY_OBJECT)
    return {
        "type": "object",
        "properties": {"name": {"const": function["name"]}, "arguments": parameters},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def call_schema(
    tools: list[dict[str, Any]], choice: ToolChoice, parallel: bool, content_chars: int | None = None
) -> dict[str, Any]:
    """The JSON Schema every answer must satisfy under this ``tool_choice``; under ``auto`` a plain
    answer is kept to ``content_chars`` (about what the client's token limit allows)."""
    offered = [t for t in tools if choice.mode != "function" or t["function"]["name"] == choice.name]
    calls = [_one_call(t) for t in offered]
    item = calls[0] if len(calls) == 1 else {"anyOf": calls}
    array = {"type": "array", "items": item, "minItems": 1, "maxItems": MAX_PARALLEL_CALLS if parallel else 1}
    with_calls = {
        "type": "object",
        "properties": {"tool_calls": array},
        "required": ["tool_calls"],
        "additionalProperties": False,
    }
    if choice.mode != "auto":
        return with_calls
    content: dict[str, Any] = {"type": "string"}
    if content_chars:
        content["maxLength"] = content_chars
    answer = {
        "type": "object",
        "properties": {"content": content},
        "required": ["content"],
        "additionalProperties": False,
    }
    return {"anyOf": [with_calls, answer]}


# --- the prompt ---------------------------------------------------------------------------------


def _line(tool: dict[str, Any]) -> str:
    """``- name: description (argument names)``: for SmolLM2-135M this picked the right tool 27
    times in 40 where full typed signatures did 17 times (``bench.bench_tool_calls``)."""
    function = tool["function"]
    properties = (function.get("parameters") or {}).get("properties") or {}
    description = function.get("description") or function["name"].replace("_", " ")
    return f"- {function['name']}: {description} ({', '.join(properties)})"


def instructions(tools: list[dict[str, Any]], choice: ToolChoice) -> str:
    offered = [t for t in tools if choice.mode != "function" or t["function"]["name"] == choice.name]
    lines = ["Tools:", *(_line(t) for t in offered)]
    call = '{"tool_calls": [{"name": "<tool>", "arguments": {...}}]}'
    if choice.mode == "auto":
        lines.append(
            "If one of the tools does what the user asks, choose it and fill in its arguments from the "
            f'request: answer {call}. Otherwise answer {{"content": "<your answer>"}}.'
        )
    else:
        lines.append(
            "Choose the one tool that does what the user asks, and fill in its arguments from the "
            f"request. Answer {call}."
        )
    return "\n".join(lines)


def _history(messages: list[dict[str, Any]], as_json: bool) -> list[dict[str, Any]]:
    """Tool turns as plain turns: templates without tool support drop or refuse them otherwise.
    Earlier calls read as the JSON the model is constrained to when it may call again, and as a
    sentence when it must answer (a small model otherwise answers with a call written out)."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "assistant" and message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                function = call.get("function") or {}
                names[str(call.get("id"))] = str(function.get("name"))
                arguments = function.get("arguments")
                parsed = _loads(arguments) if isinstance(arguments, str) else arguments
                calls.append(
                    {"name": function.get("name"), "arguments": parsed if parsed is not None else {}}
                )
            if as_json:
                text = orjson.dumps({"tool_calls": calls}).decode()
            else:
                text = " ".join(
                    f"I called {c['name']} with {orjson.dumps(c['arguments']).decode()}." for c in calls
                )
            out.append({"role": "assistant", "content": text})
        elif role == "tool":
            name = message.get("name") or names.get(str(message.get("tool_call_id")), "the tool")
            out.append({"role": "user", "content": f"Result of {name}: {_text(message.get('content'))}"})
        else:
            out.append(message)
    return out


def _text(content: Any) -> str:
    """A message's text, whether a string or a list of parts (as MCP tool results come)."""
    if isinstance(content, str) and content.startswith('[{"type"'):
        content = _loads(content) or content  # parts sent as a JSON string (Continue's CLI does)
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def for_this_turn(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]], choice: ToolChoice, rounds: int = 1
) -> tuple[list[dict[str, Any]], ToolChoice]:
    """What a small model is offered for its next answer (the grammar path only).

    Measured with Continue's CLI and SmolLM2-135M: told "use the list_agents tool", the model called
    another tool, then the same call again and again until the context overflowed; kept from
    repeating, it walked through every other tool instead of answering. So, since the last user
    message: a tool the user names is the one offered for the first answer; after ``rounds`` rounds
    of calls (``[stack] tool_rounds``, 1 by default) ``auto`` answers; and a tool already called is
    not offered again. Native models get the request as it came.
    """
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    since = messages[last_user + 1 :]
    called = {
        str((c.get("function") or {}).get("name"))
        for m in since
        if m.get("role") == "assistant"
        for c in m.get("tool_calls") or []
    }
    if choice.mode == "function":
        return tools, choice
    if not since and last_user >= 0:
        said = _text(messages[last_user].get("content"))
        named = [n for n in tool_names(tools) if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", said)]
        if len(named) == 1:
            return tools, ToolChoice("function", named[0])
    done = sum(1 for m in since if m.get("role") == "assistant" and m.get("tool_calls"))
    fresh = [t for t in tools if t["function"]["name"] not in called]
    if choice.mode == "required":
        return fresh or tools, choice
    if not fresh or done >= rounds:
        return [], ToolChoice("none")
    return fresh, choice


def _answer_from_results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history for an answer; when tool results came after the user's last message, the
    request is asked again after them, so that a small model answers it from the results."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    since = messages[last_user + 1 :]
    if last_user < 0 or not any(m.get("role") == "tool" for m in since):
        return _history(messages, as_json=False)
    names = {
        str(c.get("id")): str((c.get("function") or {}).get("name"))
        for m in since
        for c in m.get("tool_calls") or []
    }
    results = "\n\n".join(
        f"{m.get('name') or names.get(str(m.get('tool_call_id')), 'A tool')} returned:\n{_text(m.get('content'))}"
        for m in since
        if m.get("role") == "tool"
    )
    asked = _text(messages[last_user].get("content"))
    turn = {"role": "user", "content": f"{asked}\n\n{results}\n\nAnswer from these results."}
    return [*_history(messages[:last_user], as_json=False), turn]


def _with_system(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    if messages and messages[0].get("role") == "system":
        first = {**messages[0], "content": f"{messages[0].get('content') or ''}\n\n{text}".strip()}
        return [first, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


# --- requests and answers -----------------------------------------------------------------------


def needs_rewrite(request: ChatRequest) -> bool:
    """Whether the grammar path changes this request at all."""
    has_tool_turns = any(m.get("role") == "tool" or m.get("tool_calls") for m in request.messages or [])
    return bool(request.tools) or has_tool_turns


def constrain(request: ChatRequest, rounds: int = 1) -> tuple[ChatRequest, bool]:
    """The request the engine gets on the grammar path, and whether its answer is a call envelope
    (False: tools were not offered, ``tool_choice: none``, and the answer is plain text)."""
    choice = parse_tool_choice(request.tool_choice, request.tools)
    tools, choice = for_this_turn(request.messages or [], request.tools or [], choice, rounds)
    if not tools or choice.mode == "none":
        messages = _answer_from_results(request.messages or [])
        return replace(request, messages=messages, tools=None, tool_choice=None), False
    messages = _history(request.messages or [], as_json=True)
    limit = request.options.get("max_tokens")
    content_chars = CHARS_PER_TOKEN * limit if isinstance(limit, int) and limit > 0 else None
    schema = call_schema(tools, choice, bool(request.parallel_tool_calls), content_chars)
    options = {**request.options, "response_format": json_schema_format(schema, "tool_calls")}
    if isinstance(limit, int) and limit < MIN_CALL_TOKENS:
        options["max_tokens"] = MIN_CALL_TOKENS
    messages = _with_system(messages, instructions(tools, choice))
    return replace(request, messages=messages, tools=None, tool_choice=None, options=options), True


def json_schema_format(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


async def answer_from_envelope(deltas: AsyncGenerator[Delta, None]) -> AsyncGenerator[Delta, None]:
    """Collect the constrained answer, then yield it as standard deltas: one content piece or the
    tool calls, and the last delta with ``finish_reason`` and usage. An answer cut short (the token
    limit) cannot be parsed: it comes back as text with ``finish_reason: length``."""
    text: list[str] = []
    last = Delta()
    async with aclosing(deltas):
        async for delta in deltas:
            text.append(delta.content)
            if delta.finish_reason is not None:
                last = delta
    raw = "".join(text)
    envelope = _loads(raw)
    usage = last.usage or Usage()
    if isinstance(envelope, dict) and isinstance(envelope.get("tool_calls"), list):
        calls = [
            {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {
                    "name": str(call.get("name", "")),
                    "arguments": orjson.dumps(call.get("arguments", {})).decode(),
                },
            }
            for call in envelope["tool_calls"]
            if isinstance(call, dict)
        ]
        yield Delta(tool_calls=calls, finish_reason="tool_calls", usage=usage)
        return
    if isinstance(envelope, dict) and isinstance(envelope.get("content"), str):
        yield Delta(content=envelope["content"])
        yield Delta(finish_reason=last.finish_reason or "stop", usage=usage)
        return
    yield Delta(content=raw)
    yield Delta(finish_reason="length", usage=usage)
