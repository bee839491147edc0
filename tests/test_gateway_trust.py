"""A gateway a team can trust: safe on a shared machine, bounded per client, never a 500 for a
client's mistake, and single-flight sharing that never leaks work. The real gateway (aiohttp app)
in front of a scripted OpenAI-compatible engine; clients are the official ``openai`` and
``ollama`` packages where they can send the request, raw sockets where only bad HTTP will do."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import openai
import pytest

from sutazai.stack.gateway.app import UnsafeBind, build_app, runner_options, serve
from sutazai.stack.gateway.config import GatewayConfig
from sutazai.stack.gateway.core import Gateway
from sutazai.stack.gateway.engines import EngineConfig
from sutazai.stack.gateway.guard import HOSTS_KEPT, Guard
from tests.conftest import ServerThread
from tests.scripted_engine import Reply, ScriptedEngine

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HI = [{"role": "user", "content": "hi"}]


def _gateway(engine_url: str, **kw: Any) -> Gateway:
    options: dict[str, Any] = {"token": TOKEN, "health_interval_s": 0.2, "reserved_interactive": 0, **kw}
    slots = options.pop("slots", 2)
    context = options.pop("context", 0)
    config = GatewayConfig(
        engines=[
            EngineConfig("scripted", "openai", engine_url, slots, ["m"], context=context),
            EngineConfig("embedder", "openai", engine_url, 1, [], ["e"]),
        ],
        tiers={"fast": ["m"]},
        **options,
    )
    return Gateway(config)


@pytest.fixture
def scripted() -> Iterator[tuple[ScriptedEngine, str]]:
    engine = ScriptedEngine(default="hello there")
    with ServerThread(engine.app()) as server:
        yield engine, server.url


@pytest.fixture
def gw(scripted: tuple[ScriptedEngine, str]) -> Iterator[str]:
    with ServerThread(build_app(_gateway(scripted[1]))) as server:
        yield server.url


def _raw(port: int, request: bytes, read_s: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=read_s) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and b"}" in chunk:
                    break
        except TimeoutError:
            pass
        return b"".join(chunks)


# --- who may use it -----------------------------------------------------------------------------


def test_foreign_host_and_origin_are_refused_loopback_ones_served(gw: str) -> None:
    rebinding = httpx.post(f"{gw}/api/chat", headers={"Host": "attacker.example"}, json={})
    assert rebinding.status_code == 403 and "allowed_hosts" in rebinding.json()["error"]["message"]
    page = httpx.post(  # what a web page's fetch() sends cross-origin without a preflight
        f"{gw}/v1/chat/completions",
        headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
        content=b'{"model": "fast", "messages": [{"role": "user", "content": "hi"}]}',
    )
    assert page.status_code == 403 and "origin" in page.json()["error"]["message"]
    local_app = httpx.post(
        f"{gw}/v1/chat/completions",
        headers={"Origin": "http://localhost:5173", "Host": "localhost"},
        json={"model": "fast", "messages": HI},
    )
    assert local_app.status_code == 200
    assert local_app.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    preflight = httpx.options(f"{gw}/v1/chat/completions", headers={"Origin": "vscode-webview://abc"})
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"]


def test_remembered_host_verdicts_stay_bounded_and_right(gw: str) -> None:
    """The guard remembers its verdict per Host header; strangers inventing names neither grow
    that memory past its bound nor get in once it has been cleared."""
    guard = Guard()
    with httpx.Client(base_url=gw) as client:
        for n in range(3 * HOSTS_KEPT):
            invented = client.post("/api/chat", headers={"Host": f"name-{n}.example"}, json={})
            assert invented.status_code == 403
        assert client.post("/v1/chat/completions", json={"model": "fast", "messages": HI}).status_code == 200
    for n in range(3 * HOSTS_KEPT):
        assert not guard.host_allowed(f"name-{n}.example") and guard.host_allowed("localhost:8080")
        assert len(guard._hosts) <= HOSTS_KEPT


def test_configured_origins_and_hosts_are_accepted(scripted: tuple[ScriptedEngine, str]) -> None:
    gateway = _gateway(scripted[1], origins=["https://*.team.example"], allowed_hosts=["gpu-box"])
    with ServerThread(build_app(gateway)) as server:
        ok = httpx.get(
            f"{server.url}/api/tags", headers={"Origin": "https://ui.team.example", "Host": "gpu-box"}
        )
        assert ok.status_code == 200


def test_admin_and_interactive_need_the_token_plain_inference_does_not(gw: str) -> None:
    denied = httpx.get(f"{gw}/admin/stats")
    assert denied.status_code == 403 and "gateway.token" in denied.json()["error"]["message"]
    assert httpx.get(f"{gw}/admin/stats", headers=AUTH).status_code == 200
    assert httpx.get(f"{gw}/admin/stats", headers={"X-Sutazai-Token": TOKEN}).status_code == 200
    assert httpx.get(f"{gw}/admin/stats", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert httpx.get(f"{gw}/metrics").status_code == 200

    stranger = openai.OpenAI(base_url=f"{gw}/v1", api_key="sk-anything")
    assert stranger.chat.completions.create(model="fast", messages=HI).choices[0].message.content  # type: ignore[arg-type]
    with pytest.raises(openai.PermissionDeniedError, match="interactive priority needs the gateway token"):
        stranger.chat.completions.create(
            model="fast",
            messages=HI,  # type: ignore[arg-type]
            extra_headers={"X-Sutazai-Priority": "interactive"},
        )
    workspace_client = openai.OpenAI(base_url=f"{gw}/v1", api_key=TOKEN)
    answer = workspace_client.chat.completions.create(
        model="fast",
        messages=HI,  # type: ignore[arg-type]
        extra_headers={"X-Sutazai-Priority": "interactive"},
    )
    assert answer.choices[0].message.content == "hello there"
    stats = httpx.get(f"{gw}/admin/stats", headers=AUTH).json()
    assert stats["requests_by_priority"]["interactive"] == 1
    with pytest.raises(ollama.ResponseError) as refused:
        ollama.Client(host=gw, headers={"X-Sutazai-Priority": "interactive"}).chat(model="fast", messages=HI)
    assert refused.value.status_code == 403


def test_listening_beyond_loopback_needs_a_token() -> None:
    with pytest.raises(UnsafeBind, match="without a gateway token"):
        serve(GatewayConfig(host="0.0.0.0", port=1))


# --- bounded per-client state ------------------------------------------------------------------


def test_undecodable_agent_header_is_refused_and_stats_keep_working(gw: str) -> None:
    port = int(gw.rsplit(":", 1)[1])
    body = b'{"model": "fast", "messages": [{"role": "user", "content": "hi"}]}'
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"X-Sutazai-Agent: bad\xff\xfename\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    )
    answer = _raw(port, request)
    assert answer.startswith(b"HTTP/1.1 400") and b"agent name" in answer
    for name in ("x" * 129, "tab\there", ""):
        reply = httpx.post(
            f"{gw}/v1/chat/completions",
            headers={"X-Sutazai-Agent": name},
            json={"model": "fast", "messages": HI},
        )
        assert reply.status_code == (200 if name == "" else 400), name  # empty: anonymous
    assert httpx.get(f"{gw}/admin/stats", headers=AUTH).status_code == 200


def test_per_agent_stats_and_affinity_stay_bounded(scripted: tuple[ScriptedEngine, str]) -> None:
    gateway = _gateway(scripted[1], max_agents=8)
    with ServerThread(build_app(gateway)) as server:
        with httpx.Client(base_url=server.url) as client:
            for n in range(40):
                body = {"model": "fast", "messages": HI, "user": f"agent-{n}"}
                assert client.post("/v1/chat/completions", json=body).status_code == 200
            stats = client.get("/admin/stats", headers=AUTH).json()
    rows = stats["latency_by_agent"]
    assert len(rows) == 9 and rows["(other agents)"]["count"] == 32 and "agent-39" in rows
    assert len(gateway.pools["scripted"].affinity) <= 8 and len(gateway.pools["scripted"].served) <= 8


def test_one_agent_cannot_fill_the_queue_for_everyone(scripted: tuple[ScriptedEngine, str]) -> None:
    engine, url = scripted
    engine.replies = [Reply("slow " * 20, delay_s=0.05)]
    gateway = _gateway(url, slots=1, max_queue=8, max_agent_share=0.25)  # 2 places per agent

    async def flood(base: str) -> tuple[list[int], int]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:

            async def ask(agent: str) -> int:
                body = {"model": "fast", "messages": HI}
                reply = await client.post(
                    "/v1/chat/completions", json=body, headers={"X-Sutazai-Agent": agent}
                )
                return reply.status_code

            holder = asyncio.create_task(ask("holder"))
            await asyncio.sleep(0.2)
            greedy = await asyncio.gather(*(ask("greedy") for _ in range(5)))
            polite = await ask("polite")
            await holder
            return list(greedy), polite

    with ServerThread(build_app(gateway)) as server:
        greedy, polite = asyncio.run(flood(server.url))
    assert sorted(greedy) == [200, 200, 429, 429, 429] and polite == 200


def test_the_embedding_queue_is_bounded(scripted: tuple[ScriptedEngine, str]) -> None:
    gateway = _gateway(scripted[1], embed_max_pending=4)
    with ServerThread(build_app(gateway)) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x")
        with pytest.raises(openai.RateLimitError, match="embedding queue full"):
            client.embeddings.create(model="e", input=[f"text {i}" for i in range(6)])
        assert len(client.embeddings.create(model="e", input=["one", "two"]).data) == 2


# --- validation at the edge ----------------------------------------------------------------------


def test_client_mistakes_are_400s_in_each_dialect_before_any_work(
    gw: str, scripted: tuple[ScriptedEngine, str]
) -> None:
    engine = scripted[0]
    bad_calls = {
        "model": "fast",
        "messages": [{"role": "assistant", "content": "", "tool_calls": [{"function": "calculator"}]}],
    }
    reply = httpx.post(f"{gw}/api/chat", json=bad_calls)
    assert reply.status_code == 400 and "messages[0].tool_calls[0]" in reply.json()["error"]
    wrong_args = {
        "model": "fast",
        "messages": [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "f", "arguments": [1]}}],
            }
        ],
    }
    assert "arguments must be an object" in httpx.post(f"{gw}/api/chat", json=wrong_args).json()["error"]
    assert (
        httpx.post(f"{gw}/api/chat", json={"model": "fast", "messages": [{"role": "wizard"}]}).status_code
        == 400
    )
    before = len(engine.embedding_requests)
    priority = httpx.post(
        f"{gw}/v1/embeddings", headers={"X-Sutazai-Priority": "urgent"}, json={"model": "e", "input": "x"}
    )
    assert priority.status_code == 400 and len(engine.embedding_requests) == before

    client = openai.OpenAI(base_url=f"{gw}/v1", api_key="x")
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.chat.completions.create(model="fast", messages=HI, max_tokens=-1)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.chat.completions.create(model="fast", messages=HI, extra_body={"temperature": "hot"})  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match=r"tools\[0\]"):
        client.chat.completions.create(model="fast", messages=HI, tools=[{"type": "function"}])  # type: ignore[arg-type, list-item]
    with pytest.raises(ollama.ResponseError) as negative:
        ollama.Client(host=gw).generate(model="fast", prompt="hi", options={"num_predict": -1})
    assert negative.value.status_code == 400 and "num_predict" in str(negative.value)
    with pytest.raises(ollama.ResponseError) as unknown:
        ollama.Client(host=gw).generate(model="no-such-model")  # Ollama's "load the model" call
    assert unknown.value.status_code == 404
    assert engine.requests == []  # none of the above reached the engine


def test_max_tokens_is_capped_at_the_context(scripted: tuple[ScriptedEngine, str]) -> None:
    engine, url = scripted
    with ServerThread(build_app(_gateway(url, context=512))) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x")
        client.chat.completions.create(model="fast", messages=HI, max_tokens=100_000)  # type: ignore[arg-type]
        client.chat.completions.create(model="fast", messages=HI)  # type: ignore[arg-type]
        client.chat.completions.create(model="fast", messages=HI, max_tokens=7)  # type: ignore[arg-type]
    assert [r["max_tokens"] for r in engine.requests] == [512, 512, 7]


def test_bodies_and_headers_that_trickle_in_are_cut_off(scripted: tuple[ScriptedEngine, str]) -> None:
    gateway = _gateway(scripted[1], body_timeout_s=0.5, header_timeout_s=1.0)
    with ServerThread(build_app(gateway), **runner_options(gateway.config)) as server:
        port = server.port
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{")
            started = time.monotonic()
            answer = sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 3
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            started = time.monotonic()
            with pytest.raises(OSError):  # one header line a second: the server hangs up
                sock.sendall(b"POST /api/chat HTTP/1.1\r\n")
                for _ in range(8):
                    time.sleep(1)
                    sock.sendall(b"X-Slow: yes\r\n")
            assert time.monotonic() - started < 6
        ok = httpx.post(f"{server.url}/api/chat", json={"model": "fast", "messages": HI, "stream": False})
        assert ok.status_code == 200


# --- single-flight and the breaker ----------------------------------------------------------------


DETERMINISTIC = {"model": "fast", "messages": HI, "temperature": 0, "stream": False}


def test_a_cancelled_follower_never_starts_work(scripted: tuple[ScriptedEngine, str]) -> None:
    engine, url = scripted
    engine.replies = [Reply("a b c d e f g h", delay_s=0.1)]

    async def scenario(base: str) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            leader = asyncio.create_task(client.post("/v1/chat/completions", json=DETERMINISTIC))
            await asyncio.sleep(0.2)
            follower = asyncio.create_task(client.post("/v1/chat/completions", json=DETERMINISTIC))
            await asyncio.sleep(0.2)
            follower.cancel()  # the follower's client leaves first ...
            leader.cancel()  # ... then the leader's: nobody is left to serve
            await asyncio.gather(leader, follower, return_exceptions=True)
            await asyncio.sleep(0.5)

    with ServerThread(build_app(_gateway(url))) as server:
        asyncio.run(scenario(server.url))
    assert len(engine.requests) == 1


def test_a_failed_leader_hands_its_followers_one_retry(scripted: tuple[ScriptedEngine, str]) -> None:
    engine, url = scripted
    engine.replies = [Reply("engine busy", status=503, delay_s=0.3)]

    async def scenario(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            leader = asyncio.create_task(client.post("/v1/chat/completions", json=DETERMINISTIC))
            await asyncio.sleep(0.1)
            followers = [client.post("/v1/chat/completions", json=DETERMINISTIC) for _ in range(6)]
            return list(await asyncio.gather(leader, *followers))

    with ServerThread(build_app(_gateway(url))) as server:
        replies = asyncio.run(scenario(server.url))
    assert replies[0].status_code == 503 and all(r.status_code == 200 for r in replies[1:])
    assert len(engine.requests) == 2  # the failed call and one retry, not a stampede of six


def test_client_caused_engine_errors_never_open_the_breaker(scripted: tuple[ScriptedEngine, str]) -> None:
    engine, url = scripted
    engine.replies = [Reply("context too long", status=400)] * 4 + [Reply("bad grammar", status=500)] * 4
    gateway = _gateway(url)
    with ServerThread(build_app(gateway)) as server:
        codes = [
            httpx.post(
                f"{server.url}/v1/chat/completions", json={"model": "fast", "messages": HI}
            ).status_code
            for _ in range(8)
        ]
        assert codes == [400] * 4 + [502] * 4
        assert gateway.engines["scripted"].breaker.state == "closed"
        assert (
            httpx.post(
                f"{server.url}/v1/chat/completions", json={"model": "fast", "messages": HI}
            ).status_code
            == 200
        )


def test_dropped_connections_are_sent_again_not_surfaced(scripted: tuple[ScriptedEngine, str]) -> None:
    engine, url = scripted
    engine.replies = [Reply(drop=True), Reply(drop=True), Reply("third time lucky")]
    gateway = _gateway(url)
    with ServerThread(build_app(gateway)) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0)
        answer = client.chat.completions.create(model="fast", messages=HI)  # type: ignore[arg-type]
        assert answer.choices[0].message.content == "third time lucky"
        assert gateway.engines["scripted"].breaker.state == "closed"
        metrics = httpx.get(f"{server.url}/metrics").text
    assert 'sutazai_engine_retries_total{engine="scripted"} 2.0' in metrics
