"""No request lost when an engine dies or hangs mid-answer: a client that has received nothing
(every non-streaming request) gets the whole answer from another replica; a stream that already
sent bytes ends with an error event. Scripted engines here (the logic); the kill -9 of a real
llama-server replica under load is in ``test_engine_death_under_load``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sutazai.stack.gateway.app import build_app
from sutazai.stack.gateway.config import GatewayConfig
from sutazai.stack.gateway.core import Gateway
from sutazai.stack.gateway.engines import EngineConfig
from tests.conftest import ADMIN_TOKEN, ServerThread
from tests.scripted_engine import Reply, ScriptedEngine

ANSWER = "one two three four five six seven eight"


def _gateway(urls: list[str], stall_timeout_s: float = 60.0, max_output: int = 2048) -> Gateway:
    engines = [
        EngineConfig(
            f"replica-{i + 1}",
            "openai",
            url,
            4,
            ["smollm2"],
            stall_timeout_s=stall_timeout_s,
            max_output=max_output,
        )
        for i, url in enumerate(urls)
    ]
    return Gateway(
        GatewayConfig(engines=engines, tiers={"fast": ["smollm2"]}, token=ADMIN_TOKEN, routing="round-robin")
    )


@pytest.fixture
def two_replicas() -> Iterator[tuple[ScriptedEngine, ScriptedEngine, str, str]]:
    first, second = ScriptedEngine(default=ANSWER), ScriptedEngine(default=ANSWER)
    with ServerThread(first.app()) as a, ServerThread(second.app()) as b:
        yield first, second, a.url, b.url


def _ask(url: str, stream: bool = False) -> httpx.Response:
    body: dict[str, Any] = {
        "model": "fast",
        "messages": [{"role": "user", "content": "count"}],
        "stream": stream,
    }
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30)


def _one_death() -> Any:
    """A pick for both replicas: whichever gets the first request dies mid-answer, the rest are answered."""
    deaths: list[int] = []

    def pick(body: dict[str, Any]) -> Reply:
        if not deaths:
            deaths.append(1)
            return Reply(ANSWER, die_after=3)
        return Reply(ANSWER)

    return pick


@pytest.mark.parametrize("dialect", ["openai", "ollama"])
def test_a_replica_that_dies_mid_answer_costs_a_rerun_not_the_request(
    two_replicas: tuple[ScriptedEngine, ScriptedEngine, str, str], dialect: str
) -> None:
    first, second, a, b = two_replicas
    first.pick = second.pick = _one_death()
    with ServerThread(build_app(_gateway([a, b]))) as gw:
        messages = [{"role": "user", "content": "count"}]
        if dialect == "openai":  # the official clients, as agents and tools call the gateway
            import openai

            client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
            answer = client.chat.completions.create(model="fast", messages=messages)  # type: ignore[arg-type]
            assert answer.choices[0].message.content == ANSWER  # whole, not spliced
        else:
            import ollama

            reply = ollama.Client(host=gw.url).chat(model="fast", messages=messages, stream=False)
            assert reply.message.content == ANSWER
        metrics = httpx.get(f"{gw.url}/metrics").text
        retries = [line for line in metrics.splitlines() if line.startswith("sutazai_engine_retries_total{")]
        assert sum(float(line.rsplit(" ", 1)[1]) for line in retries) == 1, retries
        assert len(first.requests) + len(second.requests) == 2


def test_a_stream_that_already_sent_bytes_ends_with_an_error_event(
    two_replicas: tuple[ScriptedEngine, ScriptedEngine, str, str],
) -> None:
    first, second, a, b = two_replicas
    first.pick = second.pick = _one_death()
    with ServerThread(build_app(_gateway([a, b]))) as gw:
        events = [line for line in _ask(gw.url, stream=True).text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "data: [DONE]"
        error = json.loads(events[-2].removeprefix("data: "))
        assert "failed mid-stream" in error["error"]["message"]


def test_a_replica_that_hangs_is_given_up_after_the_stall_timeout(
    two_replicas: tuple[ScriptedEngine, ScriptedEngine, str, str],
) -> None:
    first, second, a, b = two_replicas
    asked: list[int] = []

    def first_asked_hangs(body: dict[str, Any]) -> Reply:
        asked.append(1)
        return Reply(ANSWER, delay_s=30.0) if len(asked) == 1 else Reply(ANSWER)

    first.pick = second.pick = first_asked_hangs
    with ServerThread(build_app(_gateway([a, b], stall_timeout_s=1.0))) as gw:
        started = time.monotonic()
        answer = _ask(gw.url)
        assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == ANSWER
        assert time.monotonic() - started < 10 and len(asked) == 2


def test_no_client_holds_a_slot_past_the_output_cap(
    two_replicas: tuple[ScriptedEngine, ScriptedEngine, str, str],
) -> None:
    """``max_tokens: 1e12`` (or none at all) reaches the engine as ``[stack] max_output_tokens``; the
    model card publishes the cap so clients like Aider plan for it."""
    first, _, a, _ = two_replicas
    with ServerThread(build_app(_gateway([a], max_output=256))) as gw:
        for asked in (10**12, None, 100):
            body: dict[str, Any] = {"model": "fast", "messages": [{"role": "user", "content": "x"}]}
            if asked is not None:
                body["max_tokens"] = asked
            assert httpx.post(f"{gw.url}/v1/chat/completions", json=body, timeout=30).status_code == 200
        assert [r["max_tokens"] for r in first.requests] == [256, 256, 100]
        shown = httpx.post(f"{gw.url}/api/show", json={"model": "fast"}, timeout=10).json()
        assert shown["sutazai"]["max_output_tokens"] == 256
        listed = httpx.get(f"{gw.url}/v1/models", timeout=10).json()["data"]
        assert {m["id"]: m.get("max_output_tokens") for m in listed}["fast"] == 256


@pytest.mark.slow
def test_engine_death_under_load_loses_no_request() -> None:
    """Two real llama-server replicas behind the gateway, 12 agents asking at once (non-streaming,
    120 tokens each); one replica is killed with SIGKILL mid-generation. Every request is answered
    in full, by the survivor."""
    import asyncio

    from tests.engine_process import LlamaServer

    with LlamaServer(parallel=4) as one, LlamaServer(parallel=4) as two:
        config = GatewayConfig(
            engines=[
                EngineConfig("embedded-1", "llamacpp", one.url, 4, ["smollm2"]),
                EngineConfig("embedded-2", "llamacpp", two.url, 4, ["smollm2"]),
            ],
            tiers={"fast": ["smollm2"]},
            token=ADMIN_TOKEN,
            reserved_interactive=0,
            routing="least-loaded",
            health_interval_s=0.2,
        )
        with ServerThread(build_app(Gateway(config))) as gw:

            async def agent(client: httpx.AsyncClient, index: int) -> httpx.Response:
                body = {
                    "model": "fast",
                    "messages": [{"role": "user", "content": f"Agent {index}: count to one hundred."}],
                    "max_tokens": 120,
                    "ignore_eos": True,
                    "temperature": 0.7,
                }
                headers = {"X-Sutazai-Agent": f"agent-{index}"}
                return await client.post(f"{gw.url}/v1/chat/completions", json=body, headers=headers)

            async def fleet() -> list[httpx.Response]:
                async with httpx.AsyncClient(timeout=180) as client:
                    tasks = [asyncio.create_task(agent(client, i)) for i in range(12)]
                    await asyncio.sleep(2.0)  # every replica is generating
                    one.kill()
                    return await asyncio.gather(*tasks)

            answers = asyncio.run(fleet())
            assert [a.status_code for a in answers] == [200] * 12, [
                a.text for a in answers if a.status_code != 200
            ]
            assert all(a.json()["usage"]["completion_tokens"] == 120 for a in answers)
            assert {a.headers.get("X-SutazAI-Engine") for a in answers} >= {"embedded-2"}
            metrics = httpx.get(f"{gw.url}/metrics").text
            retried = [
                line
                for line in metrics.splitlines()
                if line.startswith('sutazai_engine_retries_total{engine="embedded-1"}')
            ]
            assert retried and float(retried[0].rsplit(" ", 1)[1]) >= 1, retried
