"""Tool calls and JSON answers on models without native tool calling (the gateway's grammar path).

Unit tests pin the schema, the prompt and the parsing; the rest drive the real embedded engine
(SmolLM2-135M) through the real gateway with the official ``openai`` and ``ollama`` clients."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from sutazai.stack.gateway.tool_calls import (
    MIN_CALL_TOKENS,
    ToolChoice,
    answer_from_envelope,
    call_schema,
    constrain,
    parse_tool_choice,
)
from sutazai.stack.gateway.types import ChatRequest, Delta, GatewayHTTPError, Usage
from sutazai.workspace import Workspace

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
        },
    },
}
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two numbers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
    },
}
TOOLS = [WEATHER, ADD]
ADDED_2_AND_3: list[dict[str, Any]] = [  # a call and its result, as a client sends them back
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "5"},
]


# --- the schema, the prompt, the parsing ---------------------------------------------------------


def test_required_schema_accepts_only_calls_whose_arguments_fit_the_named_tool() -> None:
    schema = Draft202012Validator(call_schema(TOOLS, ToolChoice("required"), parallel=False))
    good = {"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]}
    assert schema.is_valid(good)
    assert not schema.is_valid(
        {"tool_calls": [{"name": "add", "arguments": {"city": "Oslo", "unit": "celsius"}}]}
    )
    assert not schema.is_valid(
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "kelvin"}}]}
    )
    assert not schema.is_valid({"content": "hello"})  # required: no plain answer
    assert not schema.is_valid({"tool_calls": [good["tool_calls"][0]] * 2})  # one call unless parallel
    assert Draft202012Validator(call_schema(TOOLS, ToolChoice("required"), parallel=True)).is_valid(
        {"tool_calls": [good["tool_calls"][0]] * 2}
    )


def test_auto_allows_an_answer_and_a_named_choice_allows_one_tool() -> None:
    auto = Draft202012Validator(call_schema(TOOLS, ToolChoice("auto"), parallel=False, content_chars=10))
    assert auto.is_valid({"content": "Hi there."}) and not auto.is_valid({"content": "x" * 11})
    named = Draft202012Validator(call_schema(TOOLS, ToolChoice("function", "add"), parallel=False))
    assert not named.is_valid(
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "a", "unit": "celsius"}}]}
    )


def test_tool_choice_is_checked_before_any_work() -> None:
    assert parse_tool_choice(None, TOOLS) == ToolChoice("auto")
    assert parse_tool_choice({"type": "function", "function": {"name": "add"}}, TOOLS) == ToolChoice(
        "function", "add"
    )
    for bad in ("sometimes", {"type": "function", "function": {"name": "nope"}}, 3):
        with pytest.raises(GatewayHTTPError) as info:
            parse_tool_choice(bad, TOOLS)
        assert info.value.status == 400


def test_constrain_rewrites_tools_history_and_limits() -> None:
    history = [
        {"role": "system", "content": "You help."},
        {"role": "user", "content": "Add 2 and 3"},
        *ADDED_2_AND_3,
    ]
    request = ChatRequest(
        "m", messages=history, tools=TOOLS, tool_choice="required", options={"max_tokens": 20}
    )
    rewritten, envelope = constrain(request)
    assert envelope and rewritten.tools is None and rewritten.tool_choice is None
    roles = [m["role"] for m in rewritten.messages or []]
    assert roles == ["system", "user", "assistant", "user"]  # no tool turns left for the template
    system = (rewritten.messages or [])[0]["content"]
    assert "get_weather: Get the current weather in a city. (city, unit)" in system
    assert "- add:" not in system  # called since the user spoke: not offered again (no loops)
    assert json.loads((rewritten.messages or [])[2]["content"]) == {
        "tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]
    }
    assert (rewritten.messages or [])[3]["content"] == "Result of add: 5"
    assert rewritten.options["max_tokens"] == MIN_CALL_TOKENS
    assert rewritten.options["response_format"]["type"] == "json_schema"
    plain, envelope = constrain(ChatRequest("m", messages=history, tools=TOOLS, tool_choice="none"))
    assert not envelope and plain.tools is None and "response_format" not in plain.options


def test_a_tool_the_user_names_is_chosen_and_a_called_one_is_not_offered_again() -> None:
    from sutazai.stack.gateway.tool_calls import for_this_turn

    asked = [{"role": "user", "content": "Use the add tool on 2 and 3."}]
    assert for_this_turn(asked, TOOLS, ToolChoice("auto"))[1] == ToolChoice("function", "add")
    vague = [{"role": "user", "content": "Do something useful."}]
    assert for_this_turn(vague, TOOLS, ToolChoice("auto")) == (TOOLS, ToolChoice("auto"))
    both_called = [
        *asked,
        {"role": "assistant", "tool_calls": [{"id": "1", "function": {"name": "add", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "1", "content": "5"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "2", "function": {"name": "get_weather", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "2", "content": "sunny"},
    ]
    assert for_this_turn(both_called, TOOLS, ToolChoice("auto"), rounds=5) == ([], ToolChoice("none"))
    assert for_this_turn(both_called, TOOLS, ToolChoice("required"))[0] == TOOLS
    one_round = both_called[:3]
    assert for_this_turn(one_round, TOOLS, ToolChoice("auto")) == ([], ToolChoice("none"))  # 1 round: answer
    assert for_this_turn(one_round, TOOLS, ToolChoice("auto"), rounds=2) == ([WEATHER], ToolChoice("auto"))


async def _deltas(*pieces: Delta) -> AsyncGenerator[Delta, None]:
    for piece in pieces:
        yield piece


async def test_envelopes_become_standard_calls_or_content() -> None:
    usage = Usage(10, 5)
    calls = [
        d
        async for d in answer_from_envelope(
            _deltas(
                Delta('{"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]}'),
                Delta(finish_reason="stop", usage=usage),
            )
        )
    ]
    assert calls[-1].finish_reason == "tool_calls" and calls[-1].usage == usage
    [call] = calls[-1].tool_calls or []
    assert call["function"]["name"] == "add" and json.loads(call["function"]["arguments"]) == {"a": 1, "b": 2}
    assert call["id"].startswith("call_")
    text = [
        d
        async for d in answer_from_envelope(_deltas(Delta('{"content": "Hi"}'), Delta(finish_reason="stop")))
    ]
    assert text[0].content == "Hi" and text[-1].finish_reason == "stop"
    cut = [
        d
        async for d in answer_from_envelope(
            _deltas(Delta('{"tool_calls": [{"na'), Delta(finish_reason="length"))
        )
    ]
    assert cut[-1].finish_reason == "length" and cut[0].content.startswith("{")


# --- the real embedded engine, through the gateway -------------------------------------------


@pytest.fixture(scope="module")
def url(real_stack: tuple[Workspace, str]) -> str:
    return real_stack[1]


def _valid(call: Any) -> bool:
    schema = next(t for t in TOOLS if t["function"]["name"] == call.function.name)["function"]["parameters"]
    return Draft202012Validator(schema).is_valid(json.loads(call.function.arguments))


@pytest.mark.slow
def test_openai_client_gets_schema_valid_calls_from_smollm2(url: str) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    questions = [
        "What is the weather in Paris, in celsius?",
        "What is 2 plus 40?",
        "Weather in Oslo, fahrenheit.",
    ]
    for question in questions:
        reply = client.chat.completions.create(
            model="fast",
            messages=[{"role": "user", "content": question}],
            tools=TOOLS,
            tool_choice="required",
            max_tokens=64,
            temperature=0,  # type: ignore[arg-type]
        )
        choice = reply.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.tool_calls, choice
        assert all(_valid(c) for c in choice.message.tool_calls)
    named = client.chat.completions.create(
        model="fast",
        messages=[{"role": "user", "content": "Add 19 and 23."}],
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "add"}},
        temperature=0,
    )
    [call] = named.choices[0].message.tool_calls or []
    assert call.function.name == "add" and _valid(call)
    none = client.chat.completions.create(
        model="fast",
        messages=[{"role": "user", "content": "Say hello."}],
        tools=TOOLS,
        tool_choice="none",
        max_tokens=16,  # type: ignore[arg-type]
    )
    assert none.choices[0].message.content and not none.choices[0].message.tool_calls


@pytest.mark.slow
def test_streaming_calls_history_and_json_schema_answers(url: str) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    streamed = list(
        client.chat.completions.create(
            model="fast",
            messages=[{"role": "user", "content": "Weather in Rome, celsius."}],
            tools=TOOLS,  # type: ignore[arg-type]
            tool_choice="required",
            stream=True,
            temperature=0,
        )
    )
    calls = [c for chunk in streamed for choice in chunk.choices for c in choice.delta.tool_calls or []]
    assert calls and calls[0].function and calls[0].function.name in {"get_weather", "add"}
    assert [c.finish_reason for chunk in streamed for c in chunk.choices if c.finish_reason] == ["tool_calls"]

    history: list[Any] = [
        {"role": "user", "content": "What is 2 plus 3?"},
        *ADDED_2_AND_3,
    ]
    final = client.chat.completions.create(
        model="fast", messages=history, tools=TOOLS, tool_choice="none", max_tokens=24
    )  # type: ignore[arg-type]
    assert final.choices[0].message.content

    person = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    answer = client.chat.completions.create(
        model="fast",
        messages=[{"role": "user", "content": "Invent a person with a name and an age."}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": person}},  # type: ignore[typeddict-item]
        max_tokens=60,
        temperature=0,
    )
    assert Draft202012Validator(person).is_valid(json.loads(answer.choices[0].message.content or ""))


@pytest.mark.slow
def test_ollama_client_tools_format_and_capabilities(url: str) -> None:
    import ollama

    client = ollama.Client(host=url)
    reply = client.chat(
        model="fast",
        messages=[{"role": "user", "content": "What is the weather in Lima, celsius?"}],
        tools=TOOLS,
        options={"temperature": 0},
    )
    calls = reply.message.tool_calls or []
    if calls:  # auto: the model may answer instead; a call, when made, fits its tool
        schema = next(t for t in TOOLS if t["function"]["name"] == calls[0].function.name)["function"][
            "parameters"
        ]
        assert Draft202012Validator(schema).is_valid(dict(calls[0].function.arguments))
    else:
        assert reply.message.content
    person = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    shaped = client.chat(
        model="fast",
        messages=[{"role": "user", "content": "A person, as JSON."}],
        format=person,
        options={"temperature": 0, "num_predict": 60},
    )
    assert Draft202012Validator(person).is_valid(json.loads(shaped.message.content or ""))
    shown = client.show("fast")
    assert "tools" in (shown.capabilities or [])
    assert any(k.endswith(".context_length") and v for k, v in (shown.modelinfo or {}).items())


@pytest.mark.slow
def test_models_list_publishes_limits_and_the_tool_path(url: str, real_stack: tuple[Workspace, str]) -> None:
    import httpx

    from tests.conftest import admin_stats

    models = {m["id"]: m for m in httpx.get(f"{url}/v1/models", timeout=5).json()["data"]}
    assert models["fast"]["context_length"] > 0 and models["fast"]["max_output_tokens"] > 0
    assert models["fast"]["tool_calls"] == "grammar" and "tools" in models["fast"]["capabilities"]
    stats = admin_stats(url, real_stack[0].gateway_token() or "")
    assert stats["tool_calls"]["smollm2"] == "grammar"


@pytest.mark.slow
def test_langchain_bind_tools_gets_calls_it_can_run(url: str) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def add(a: float, b: float) -> float:
        """Add two numbers."""
        return a + b

    llm = ChatOpenAI(model="fast", base_url=f"{url}/v1", api_key="unused", temperature=0, max_tokens=64)  # type: ignore[arg-type]
    messages: list[Any] = [HumanMessage("What is 19 plus 23?")]
    reply = llm.bind_tools([add], tool_choice="required").invoke(messages)
    [call] = reply.tool_calls
    assert call["name"] == "add" and set(call["args"]) == {"a", "b"}
    result = add.invoke(call["args"])
    messages += [reply, ToolMessage(str(result), tool_call_id=call["id"])]
    final = llm.bind_tools([add]).invoke(messages)
    assert final.content or final.tool_calls  # the history with a tool turn is accepted


@pytest.mark.parametrize("path", ["native", "grammar"])
def test_the_configured_path_decides_what_the_engine_gets(path: str) -> None:
    """`native`: tools and tool_choice reach the engine untouched; `grammar`: the engine gets a
    schema and no tools, and its JSON comes back to the client as a standard call."""
    import openai

    from sutazai.stack.gateway.app import build_app
    from sutazai.stack.gateway.config import GatewayConfig
    from sutazai.stack.gateway.core import Gateway
    from sutazai.stack.gateway.engines import EngineConfig
    from tests.conftest import ServerThread
    from tests.scripted_engine import Reply, ScriptedEngine

    native_call = [{"name": "add", "arguments": {"a": 1, "b": 2}}]
    reply = (
        Reply(tool_calls=native_call)
        if path == "native"
        else Reply('{"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]}')
    )
    engine = ScriptedEngine(replies=[reply])
    with ServerThread(engine.app()) as scripted:
        config = GatewayConfig(
            engines=[EngineConfig("e", "openai", scripted.url, 2, ["m"])], tiers={}, tool_calls={"m": path}
        )
        with ServerThread(build_app(Gateway(config))) as gw:
            client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused")
            answer = client.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "1+2?"}],
                tools=TOOLS,
                tool_choice="required",  # type: ignore[arg-type]
            )
    [sent] = engine.requests
    [call] = answer.choices[0].message.tool_calls or []
    assert call.function.name == "add" and json.loads(call.function.arguments) == {"a": 1, "b": 2}
    if path == "native":
        assert sent["tools"] == TOOLS and sent["tool_choice"] == "required" and "response_format" not in sent
    else:
        assert "tools" not in sent and sent["response_format"]["type"] == "json_schema"
        assert "- add: Add two numbers. (a, b)" in sent["messages"][0]["content"]
