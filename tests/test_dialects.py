"""The Anthropic Messages and OpenAI Responses dialects, spoken to by the official ``anthropic`` and
``openai`` SDKs and by raw HTTP (the streaming event order, as the published specs give it).

The fast tests put the real gateway in front of a scripted engine (the edge's logic: shapes,
events, errors, conversation state); the slow ones use the embedded engine, where tool calls come
from the gateway's grammar path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from sutazai.scaffolds.generate import init_workspace
from sutazai.stack.gateway.api_responses import messages_of
from sutazai.stack.gateway.types import GatewayHTTPError
from sutazai.workspace import Workspace
from tests.conftest import scripted_gateway
from tests.scripted_engine import Reply, ScriptedEngine

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
WEATHER_FUNCTION = {"type": "function", "name": WEATHER["name"], "parameters": WEATHER["input_schema"]}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, str, ScriptedEngine]]:
    root = init_workspace(tmp_path / "ws")
    engine = ScriptedEngine(default="Blue is a colour.")
    with scripted_gateway(root, engine) as url:
        yield url, Workspace(root).gateway_token() or "", engine


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs of a raw event stream."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((fields.get("event", ""), json.loads(fields["data"])))
    return events


# --- Anthropic Messages -------------------------------------------------------------------------


def test_anthropic_sdk_messages_whole_and_streamed(gateway: tuple[str, str, ScriptedEngine]) -> None:
    url, token, engine = gateway
    client = anthropic.Anthropic(base_url=url, api_key=token)
    message = client.messages.create(
        model="fast",
        max_tokens=64,
        system="Be brief.",
        messages=[{"role": "user", "content": "Name one colour."}],
    )
    assert message.content[0].type == "text" and message.content[0].text == "Blue is a colour."
    assert message.stop_reason == "end_turn" and message.usage.output_tokens > 0
    sent = engine.requests[-1]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    with client.messages.stream(
        model="fast", max_tokens=64, messages=[{"role": "user", "content": "Another colour?"}]
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(pieces) == "Blue is a colour." and len(pieces) > 1
    assert final.content[0].text == "Blue is a colour." and final.stop_reason == "end_turn"


def test_anthropic_tool_round_trip(gateway: tuple[str, str, ScriptedEngine]) -> None:
    url, token, engine = gateway
    client = anthropic.Anthropic(base_url=url, api_key=token)
    engine.replies.append(Reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}]))
    asked = [{"role": "user", "content": "Weather in Oslo?"}]
    first = client.messages.create(
        model="fast", max_tokens=64, messages=asked, tools=[WEATHER], tool_choice={"type": "any"}
    )
    [use] = [b for b in first.content if b.type == "tool_use"]
    assert first.stop_reason == "tool_use" and use.name == "get_weather" and use.input == {"city": "Oslo"}
    assert engine.requests[-1]["tool_choice"] == "required"
    assert engine.requests[-1]["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]
    second = client.messages.create(
        model="fast",
        max_tokens=64,
        tools=[WEATHER],
        messages=[
            *asked,
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": use.id, "content": "Sunny, 21 C"},
                    {"type": "text", "text": "So?"},
                ],
            },
        ],
    )
    assert second.content[0].text == "Blue is a colour."
    messages = engine.requests[-1]["messages"]
    assert messages[1]["tool_calls"][0]["id"] == use.id
    assert json.loads(messages[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Oslo"}
    assert messages[2] == {"role": "tool", "tool_call_id": use.id, "content": "Sunny, 21 C"}
    assert messages[3] == {"role": "user", "content": "So?"}


def test_anthropic_stream_events_follow_the_published_order(gateway: tuple[str, str, ScriptedEngine]) -> None:
    """message_start, then each content block opened, filled and closed, message_delta, message_stop."""
    url, token, engine = gateway
    engine.replies.append(
        Reply(content="Let me look.", tool_calls=[{"name": "get_weather", "arguments": {"city": "Rome"}}])
    )
    body = {
        "model": "fast",
        "max_tokens": 64,
        "stream": True,
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": "Weather in Rome?"}],
    }
    headers = {"x-api-key": token, "anthropic-version": "2023-06-01"}
    response = httpx.post(f"{url}/v1/messages", json=body, headers=headers, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = [(name, data) for name, data in sse_events(response.text) if name != "ping"]
    assert all(name == data["type"] for name, data in events)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    blocks = names[1:-2]
    assert blocks[0] == "content_block_start" and blocks[-1] == "content_block_stop"
    starts = [d for n, d in events if n == "content_block_start"]
    assert [s["content_block"]["type"] for s in starts] == ["text", "tool_use"]
    assert [s["index"] for s in starts] == [0, 1]
    json_delta = next(d for n, d in events if n == "content_block_delta" and d["index"] == 1)
    assert json.loads(json_delta["delta"]["partial_json"]) == {"city": "Rome"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert response.headers["X-Sutazai-Queue-Position"] == "0"


def test_anthropic_errors_are_typed_and_name_the_field(gateway: tuple[str, str, ScriptedEngine]) -> None:
    url, token, _ = gateway
    client = anthropic.Anthropic(base_url=url, api_key=token, max_retries=0)
    raw = httpx.post(  # the SDK itself refuses this one, so it goes raw
        f"{url}/v1/messages",
        json={"model": "fast", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert raw.status_code == 400
    assert raw.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "`max_tokens` is required"},
    }
    with pytest.raises(anthropic.BadRequestError, match=r"messages\[0\]\.content\[0\]"):
        client.messages.create(
            model="fast",
            max_tokens=8,
            messages=[{"role": "user", "content": [{"type": "video"}]}],  # type: ignore[list-item]
        )
    with pytest.raises(anthropic.NotFoundError, match="not found"):
        client.messages.create(model="nope", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    stranger = anthropic.Anthropic(
        base_url=url,
        api_key="not-the-token",
        max_retries=0,
        default_headers={"X-Sutazai-Priority": "interactive"},
    )
    with pytest.raises(anthropic.PermissionDeniedError, match="interactive"):
        stranger.messages.create(model="fast", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    holder = anthropic.Anthropic(
        base_url=url, api_key=token, default_headers={"X-Sutazai-Priority": "interactive"}
    )
    assert holder.messages.create(
        model="fast", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
    ).content


def test_anthropic_count_tokens(gateway: tuple[str, str, ScriptedEngine]) -> None:
    url, token, _ = gateway
    client = anthropic.Anthropic(base_url=url, api_key=token)
    short = client.messages.count_tokens(model="fast", messages=[{"role": "user", "content": "hi"}])
    longer = client.messages.count_tokens(
        model="fast", messages=[{"role": "user", "content": "hi " * 200}], tools=[WEATHER]
    )
    assert 0 < short.input_tokens < longer.input_tokens


# --- OpenAI Responses ---------------------------------------------------------------------------


def test_openai_sdk_responses_whole_streamed_and_continued(gateway: tuple[str, str, ScriptedEngine]) -> None:
    url, token, engine = gateway
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=token)
    first = client.responses.create(model="fast", instructions="Be brief.", input="Name one colour.")
    assert first.output_text == "Blue is a colour." and first.status == "completed"
    assert first.usage is not None and first.usage.output_tokens > 0
    assert engine.requests[-1]["messages"][0] == {"role": "system", "content": "Be brief."}
    with client.responses.stream(model="fast", input="And another?", previous_response_id=first.id) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "Blue is a colour."
    sent = engine.requests[-1]["messages"]  # the first exchange carried over, its instructions not
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == "Blue is a colour." and sent[2]["content"] == "And another?"
    assert client.responses.retrieve(final.id).output_text == "Blue is a colour."
    unstored = client.responses.create(model="fast", input="hi", store=False)
    with pytest.raises(openai.NotFoundError, match="not found"):
        client.responses.retrieve(unstored.id)
    with pytest.raises(openai.NotFoundError, match="kept"):
        client.responses.create(model="fast", input="hi", previous_response_id="resp_missing")


def test_openai_responses_tool_round_trip(gateway: tuple[str, str, ScriptedEngine]) -> None:
    url, token, engine = gateway
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=token)
    engine.replies.append(Reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}]))
    first = client.responses.create(
        model="fast",
        input="Weather in Oslo?",
        tools=[WEATHER_FUNCTION, {"type": "web_search"}],  # type: ignore[list-item]
        tool_choice="required",
    )
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Oslo"}
    assert [t["function"]["name"] for t in engine.requests[-1]["tools"]] == ["get_weather"]
    client.responses.create(
        model="fast",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Sunny"}],
        tools=[WEATHER_FUNCTION],  # type: ignore[list-item]
    )
    messages = engine.requests[-1]["messages"]
    assert messages[1]["tool_calls"][0]["id"] == call.call_id
    assert messages[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "Sunny"}


def test_openai_responses_stream_events_follow_the_published_order(
    gateway: tuple[str, str, ScriptedEngine],
) -> None:
    url, token, engine = gateway
    engine.replies.append(
        Reply(content="Checking.", tool_calls=[{"name": "get_weather", "arguments": {"city": "Rome"}}])
    )
    body = {"model": "fast", "input": "Weather in Rome?", "stream": True, "tools": [WEATHER_FUNCTION]}
    response = httpx.post(
        f"{url}/v1/responses", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200
    events = sse_events(response.text)
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    names = [name for name, _ in events]
    text_deltas = names.count("response.output_text.delta")
    assert names == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * text_deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = events[-1][1]["response"]
    assert [item["type"] for item in final["output"]] == ["message", "function_call"]
    assert final["output"][0]["content"][0]["text"] == "Checking."


def test_a_tool_output_without_call_id_answers_the_call_of_its_name() -> None:
    """Codex answers some tools itself and sends their output with a name but no `call_id`
    (seen here: `request_user_input` in `codex exec` got a 400, and Codex printed nothing)."""
    asked = {"type": "function_call", "call_id": "c1", "name": "request_user_input", "arguments": "{}"}
    output = {"type": "function_call_output", "name": "request_user_input", "output": "no user here"}
    paired = messages_of([{"role": "user", "content": "hi"}, asked, output])
    assert paired[-1] == {"role": "tool", "tool_call_id": "c1", "content": "no user here"}
    standalone = messages_of([{"role": "user", "content": "hi"}, {**output, "id": "fco_1"}])
    assert standalone[1]["tool_calls"][0]["id"] == "fco_1" == standalone[2]["tool_call_id"]
    assert standalone[1]["tool_calls"][0]["function"]["name"] == "request_user_input"
    with pytest.raises(GatewayHTTPError, match=r"input\[1\] needs a `call_id`"):
        messages_of([{"role": "user", "content": "hi"}, {"type": "function_call_output", "output": "x"}])
    with pytest.raises(GatewayHTTPError, match=r"input\[0\]\.call_id must be a string"):
        messages_of([{"type": "function_call_output", "call_id": 7, "output": "x"}])


def test_openai_responses_bad_input_is_a_400_that_names_the_field(
    gateway: tuple[str, str, ScriptedEngine],
) -> None:
    url, token, _ = gateway
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="input"):
        client.responses.create(model="fast", input=42)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match=r"input\[0\]\.role"):
        client.responses.create(model="fast", input=[{"role": "robot", "content": "hi"}])  # type: ignore[list-item]
    with pytest.raises(openai.BadRequestError, match="max_output_tokens"):
        client.responses.create(model="fast", input="hi", max_output_tokens=-1)


# --- on the embedded engine: tool calls through the grammar path --------------------------------


@pytest.mark.slow
def test_both_dialects_get_valid_tool_calls_from_the_embedded_engine(
    real_stack: tuple[Workspace, str],
) -> None:
    workspace, url = real_stack
    token = workspace.gateway_token() or ""
    claude = anthropic.Anthropic(base_url=url, api_key=token)
    message = claude.messages.create(
        model="fast",
        max_tokens=96,
        messages=[{"role": "user", "content": "What is the weather in Oslo?"}],
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    [use] = [b for b in message.content if b.type == "tool_use"]
    assert (
        use.name == "get_weather" and isinstance(use.input, dict) and isinstance(use.input.get("city"), str)
    )
    answer = claude.messages.create(
        model="fast",
        max_tokens=48,
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "What is the weather in Oslo?"},
            {"role": "assistant", "content": [b.model_dump() for b in message.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "Sunny"}]},
        ],
    )
    assert answer.stop_reason in ("end_turn", "max_tokens", "tool_use")
    codex_like = openai.OpenAI(base_url=f"{url}/v1", api_key=token)
    response = codex_like.responses.create(
        model="fast",
        input="What is the weather in Rome?",
        tools=[WEATHER_FUNCTION],  # type: ignore[list-item]
        tool_choice="required",
        max_output_tokens=96,
    )
    [call] = [item for item in response.output if item.type == "function_call"]
    assert call.name == "get_weather" and isinstance(json.loads(call.arguments).get("city"), str)
    # A 16-token cap may cut the answer: then the stream ends in response.incomplete, as OpenAI's does.
    events = list(
        codex_like.responses.create(model="fast", input="Say hello.", max_output_tokens=16, stream=True)
    )
    last = events[-1]
    assert last.type in ("response.completed", "response.incomplete"), last
    assert last.response.output_text


# --- hostile and broken input: the edge refuses it in each dialect's own shape --------------------


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/responses"])
def test_new_dialects_refuse_what_the_others_refuse(
    gateway: tuple[str, str, ScriptedEngine], path: str
) -> None:
    url, _, _ = gateway
    body = {"model": "fast", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}], "input": "hi"}
    assert httpx.post(url + path, json=body, headers={"Host": "attacker.example"}).status_code == 403
    assert httpx.post(url + path, json=body, headers={"Origin": "https://evil.example"}).status_code == 403
    malformed = httpx.post(url + path, content=b"{not json")
    assert malformed.status_code == 400 and "malformed JSON" in malformed.text
    huge = httpx.post(url + path, content=b'{"x": "' + b"a" * (1 << 24) + b'"}')
    assert huge.status_code == 413
    odd_agent = httpx.post(url + path, json=body, headers={"X-Sutazai-Agent": "a" * 500})
    assert odd_agent.status_code == 400 and "agent name" in odd_agent.text
    self_granted = httpx.post(url + path, json=body, headers={"X-Sutazai-Priority": "interactive"})
    assert self_granted.status_code == 403 and "token" in self_granted.text


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/responses"])
def test_an_engine_that_dies_mid_stream_ends_the_stream_with_an_error_event(
    gateway: tuple[str, str, ScriptedEngine], path: str
) -> None:
    url, token, engine = gateway
    engine.replies += [Reply(content="one two three four five six", die_after=2)] * 4  # every retry dies too
    body = {
        "model": "fast",
        "max_tokens": 32,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    body |= {"input": "hi"} if path == "/v1/responses" else {}
    response = httpx.post(url + path, json=body, headers={"x-api-key": token}, timeout=30)
    last_name, last = sse_events(response.text)[-1]
    if path == "/v1/messages":
        assert last_name == "error" and last["error"]["type"] in ("api_error", "overloaded_error")
    else:
        assert last_name == "response.failed" and last["response"]["error"]["message"]


def test_stored_responses_are_bounded_in_number_and_time() -> None:
    from sutazai.stack.gateway.response_store import ResponseStore
    from sutazai.stack.gateway.types import GatewayHTTPError

    store = ResponseStore(limit=2, keep_s=60)
    for ident in ("resp_a", "resp_b", "resp_c"):
        store.put({"id": ident}, [])
    with pytest.raises(GatewayHTTPError, match="kept 60 s, the newest 2"):
        store.get("resp_a")  # pushed out by newer ones
    assert store.get("resp_c").response == {"id": "resp_c"}
    store.keep_s = 0.0
    with pytest.raises(GatewayHTTPError):
        store.get("resp_c")  # expired
    assert "resp_c" not in store.items
