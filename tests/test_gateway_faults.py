"""Faults against a real llama-server: dying engines, floods, disconnects, slow readers, bad input.
Every accepted request must end in an answer or an error, and the gateway must keep serving."""

from __future__ import annotations

import asyncio
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
from tests.conftest import ADMIN_TOKEN, ServerThread, admin_stats, eventually
from tests.engine_process import LlamaServer

pytestmark = pytest.mark.slow
LONG = {
    "model": "smollm2",
    "messages": [{"role": "user", "content": "Count from 1 to 500."}],
    "max_tokens": 400,
    "ignore_eos": True,
    "stream": True,
}


def _gateway(engine_url: str, slots: int = 2, **kw: Any) -> Gateway:
    config = GatewayConfig(
        engines=[EngineConfig("embedded", "llamacpp", engine_url, slots, ["smollm2"])],
        tiers={"fast": ["smollm2"]},
        health_interval_s=0.2,
        reserved_interactive=0,
        token=ADMIN_TOKEN,
        **kw,
    )
    return Gateway(config)


@pytest.fixture(scope="module")
def engine() -> Iterator[LlamaServer]:
    with LlamaServer(parallel=2) as server:
        yield server


def _stats(url: str) -> dict[str, Any]:
    return admin_stats(url)["engines"]["embedded"]  # type: ignore[no-any-return]


def test_bad_input_gets_clear_4xx_and_the_gateway_keeps_serving(engine: LlamaServer) -> None:
    with ServerThread(build_app(_gateway(engine.url, max_body_bytes=1 << 16))) as gw:
        url = gw.url
        malformed = httpx.post(f"{url}/v1/chat/completions", content=b"{not json")
        assert malformed.status_code == 400 and "malformed JSON" in malformed.json()["error"]["message"]
        assert httpx.post(f"{url}/api/chat", content=b"[1,2").json()["error"].startswith("malformed JSON")
        huge = httpx.post(f"{url}/v1/chat/completions", content=b'{"x": "' + b"a" * (1 << 17) + b'"}')
        assert huge.status_code == 413 and "too large" in huge.json()["error"]["message"]
        missing = httpx.post(f"{url}/v1/chat/completions", json={"model": "fast"})
        assert missing.status_code == 400 and "messages" in missing.json()["error"]["message"]
        unknown = httpx.post(f"{url}/api/chat", json={"model": "nope", "messages": []})
        assert unknown.status_code == 404 and "available: fast, smollm2" in unknown.json()["error"]
        priority = httpx.post(
            f"{url}/v1/chat/completions",
            headers={"X-Sutazai-Priority": "urgent"},
            json={"model": "fast", "messages": []},
        )
        assert priority.status_code == 400
        assert httpx.get(f"{url}/no/such/route").status_code == 404
        ok = httpx.post(
            f"{url}/v1/chat/completions",
            timeout=60,
            json={"model": "fast", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3},
        )
        assert ok.status_code == 200


def test_flood_past_the_queue_bound_gets_429_and_503_with_retry_after(engine: LlamaServer) -> None:
    gateway = _gateway(engine.url, slots=1, max_queue=2, queue_timeout_s=30, max_agent_share=1.0)
    with ServerThread(build_app(gateway)) as gw:

        async def flood() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=120) as client:
                body = {
                    "model": "fast",
                    "messages": [{"role": "user", "content": "Say hello."}],
                    "max_tokens": 64,
                    "ignore_eos": True,
                }

                async def ollama_later() -> httpx.Response:
                    await asyncio.sleep(0.2)  # the OpenAI requests fill the queue first
                    ollama_body = {**body, "stream": False, "options": {"num_predict": 64}}
                    return await client.post(f"{gw.url}/api/chat", json=ollama_body)

                jobs = [client.post(f"{gw.url}/v1/chat/completions", json=body) for _ in range(6)]
                return list(await asyncio.gather(*jobs, *(ollama_later() for _ in range(4))))

        responses = asyncio.run(flood())
        codes = [r.status_code for r in responses]
        assert codes.count(200) >= 3 and set(codes) <= {200, 429, 503}, codes
        assert 429 in codes[:6] and all(
            r.headers.get("Retry-After") for r in responses if r.status_code != 200
        )
        assert 503 in codes[6:]


def test_queue_deadline_answers_instead_of_waiting_forever(engine: LlamaServer) -> None:
    with ServerThread(build_app(_gateway(engine.url, slots=1, queue_timeout_s=0.5))) as gw:
        with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=LONG, timeout=60) as first:
            lines = first.iter_lines()  # keep the iterator: dropping it closes the connection
            next(lines)
            started = time.monotonic()
            second = httpx.post(f"{gw.url}/v1/chat/completions", json={**LONG, "stream": False}, timeout=60)
            assert second.status_code == 429 and time.monotonic() - started < 5
            assert "waited" in second.json()["error"]["message"]


def test_disconnects_free_the_place_and_the_slot(engine: LlamaServer) -> None:
    with ServerThread(build_app(_gateway(engine.url, slots=1))) as gw:
        with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=LONG, timeout=60) as holder:
            lines = holder.iter_lines()
            next(lines)

            async def queued_then_gone() -> None:
                async with httpx.AsyncClient(timeout=60) as client:
                    task = asyncio.create_task(client.post(f"{gw.url}/v1/chat/completions", json=LONG))
                    await asyncio.sleep(0.5)
                    assert sum(_stats(gw.url)["queue_depth"].values()) == 1
                    task.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await task

            asyncio.run(queued_then_gone())
            eventually(lambda: sum(_stats(gw.url)["queue_depth"].values()) == 0)
            assert _stats(gw.url)["in_flight"] == 1
        eventually(lambda: _stats(gw.url)["in_flight"] == 0)  # mid-stream disconnect freed the slot
        ok = httpx.post(
            f"{gw.url}/v1/chat/completions",
            timeout=60,
            json={"model": "fast", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3},
        )
        assert ok.status_code == 200


def test_a_slow_reader_does_not_hold_up_others(engine: LlamaServer) -> None:
    with (
        ServerThread(build_app(_gateway(engine.url, slots=2))) as gw,
        httpx.stream(
            "POST", f"{gw.url}/v1/chat/completions", json={**LONG, "max_tokens": 60}, timeout=60
        ) as slow,
    ):
        lines = slow.iter_lines()
        next(lines)
        time.sleep(0.5)
        quick = httpx.post(
            f"{gw.url}/api/generate",
            timeout=60,
            json={"model": "fast", "prompt": "hi", "stream": False, "options": {"num_predict": 3}},
        )
        assert quick.status_code == 200 and quick.json()["done"]
        rest = [line for line in lines if line]
        assert rest[-1] == "data: [DONE]" and '"usage"' in rest[-2]


def test_engine_killed_mid_stream_ends_the_stream_opens_the_breaker_and_recovers() -> None:
    server = LlamaServer(parallel=2).start()
    gateway = _gateway(server.url)
    try:
        with ServerThread(build_app(gateway)) as gw:
            events: list[str] = []
            with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=LONG, timeout=60) as stream:
                for line in stream.iter_lines():
                    if line:
                        events.append(line)
                    if len(events) == 5:
                        server.kill()
            error = json.loads(events[-2].removeprefix("data: "))
            assert events[-1] == "data: [DONE]" and "failed mid-stream" in error["error"]["message"]
            assert gateway.engines["embedded"].breaker.state in ("open", "half-open")
            started = time.monotonic()
            down = httpx.post(f"{gw.url}/api/chat", timeout=60, json={**LONG, "stream": False})
            assert down.status_code == 503 and time.monotonic() - started < 2 and down.headers["Retry-After"]
            server = LlamaServer(parallel=2, port=server.port).start()
            eventually(lambda: httpx.get(f"{gw.url}/healthz").json()["engines"]["embedded"], timeout=15)
            eventually(lambda: gateway.engines["embedded"].breaker.state == "closed", timeout=15)
            again = httpx.post(
                f"{gw.url}/v1/chat/completions",
                timeout=60,
                json={"model": "fast", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3},
            )
            assert again.status_code == 200
    finally:
        server.kill()
