"""Scale-out: prefix-affinity routing over replicas, routers as engines, Ollama-aware scheduling,
and the queue each request can see (scripted engines stand in for remote replicas and routers;
the 3-replica measurement on real llama-servers is ``bench/bench_replicas.py``)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import openai
import pytest

from sutazai.stack.gateway.app import build_app
from sutazai.stack.gateway.config import GatewayConfig
from sutazai.stack.gateway.core import Gateway
from sutazai.stack.gateway.engines import EngineConfig
from sutazai.stack.gateway.routing import HashRing, Router, prefix_key
from sutazai.stack.gateway.scheduler import SlotPool
from sutazai.stack.gateway.types import ChatRequest
from tests.conftest import ADMIN_TOKEN, ServerThread
from tests.scripted_engine import Reply, ScriptedEngine
from tests.scripted_ollama import ScriptedOllama

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _ask(agent: int, content: str = "hi") -> dict[str, Any]:
    return {
        "model": "m",
        "temperature": 0.5,
        "max_tokens": 4,
        "messages": [
            {"role": "system", "content": f"You are agent {agent}, with a prompt of your own."},
            {"role": "user", "content": content},
        ],
    }


@contextmanager
def replicas_behind_gateway(
    count: int, routing: str = "prefix", **config: Any
) -> Iterator[tuple[str, list[Any]]]:
    engines = [ScriptedEngine(default=f"from r{i}") for i in range(count)]
    with ExitStack() as stack:
        threads = [stack.enter_context(ServerThread(e.app())) for e in engines]
        gateway_config = GatewayConfig(
            engines=[EngineConfig(f"r{i}", "openai", t.url, 4, ["m"]) for i, t in enumerate(threads)],
            token=ADMIN_TOKEN,
            routing=routing,  # type: ignore[arg-type]
            health_interval_s=0.2,
            **config,
        )
        gw = stack.enter_context(ServerThread(build_app(Gateway(gateway_config))))
        yield gw.url, list(zip(engines, threads, strict=True))


def _replicas_by_agent(engines: list[Any]) -> dict[str, set[int]]:
    seen: dict[str, set[int]] = defaultdict(set)
    for index, (engine, _) in enumerate(engines):
        for body in engine.requests:
            seen[body["messages"][0]["content"]].add(index)
    return seen


# --- the ring and the load bound (logic) ------------------------------------------------------


class _R:
    def __init__(self, name: str) -> None:
        self.name = name


def test_the_ring_moves_only_the_keys_of_a_replica_that_leaves() -> None:
    keys = [f"agent-{i}" for i in range(600)]
    three, two = HashRing(["a", "b", "c"]), HashRing(["a", "c"])
    owners = {k: three.walk(k)[0] for k in keys}
    assert 150 <= Counter(owners.values())["b"] <= 250  # each about a third
    after = {k: two.walk(k)[0] for k in keys}
    moved = [k for k in keys if owners[k] != after[k]]
    assert moved and all(owners[k] == "b" for k in moved)  # only b's keys moved
    assert all(after[k] == three.walk(k)[1] for k in moved)  # to the next replica on the ring


def test_a_replica_past_its_load_bound_spills_to_the_next_on_the_ring() -> None:
    replicas = [_R("a"), _R("b"), _R("c")]
    router = Router("prefix", load_bound=1.25)
    key = next(k for k in (f"k{i}" for i in range(100)) if HashRing(["a", "b", "c"]).walk(k)[0] == "a")
    load = {"a": 0, "b": 0, "c": 0}

    def order() -> list[str]:
        return [
            r.name for r in router.order(key, replicas, lambda r: load[r.name], lambda r: 4, lambda r: True)
        ]

    assert order()[0] == "a"
    load.update(a=6, b=2, c=2)  # mean 3.67 with this request: bound 1.25 x 3.67 = 4.6 < 7
    assert order()[0] != "a" and order()[0] == HashRing(["a", "b", "c"]).walk(key)[1]
    load.update(a=4, b=4, c=4)  # balanced: the owner keeps its key
    assert order()[0] == "a"
    down = router.order(key, replicas, lambda r: 0, lambda r: 4, lambda r: r.name != "a")
    assert [r.name for r in down][-1] == "a"  # an open breaker goes last


def test_the_prefix_key_is_the_system_prompt_and_tools_else_the_agent() -> None:
    one = ChatRequest("m", messages=[{"role": "system", "content": "S"}, {"role": "user", "content": "a"}])
    two = ChatRequest("m", messages=[{"role": "system", "content": "S"}, {"role": "user", "content": "b"}])
    tools = [{"type": "function", "function": {"name": "clock", "parameters": {}}}]
    three = ChatRequest("m", messages=one.messages, tools=tools)
    plain = ChatRequest("m", messages=[{"role": "user", "content": "a"}], agent="writer")
    assert prefix_key(one) == prefix_key(two) != prefix_key(three)
    assert prefix_key(plain) == "agent:writer"


# --- replicas through the real gateway -------------------------------------------------------


def test_each_agent_stays_on_one_replica_and_a_failed_replicas_agents_move() -> None:
    with replicas_behind_gateway(3) as (url, engines):
        with httpx.Client(timeout=30) as client:
            for _ in range(3):
                for agent in range(30):
                    assert client.post(f"{url}/v1/chat/completions", json=_ask(agent)).status_code == 200
        placed = _replicas_by_agent(engines)
        assert len(placed) == 30 and all(len(r) == 1 for r in placed.values())  # sticky
        assert len({next(iter(r)) for r in placed.values()}) == 3  # and spread over all three
        home = {prompt: next(iter(r)) for prompt, r in placed.items()}
        for engine, _ in engines:
            engine.requests.clear()
        engines[1][1].__exit__(None, None, None)  # replica r1 stops answering
        with httpx.Client(timeout=30) as client:
            for agent in range(30):
                assert client.post(f"{url}/v1/chat/completions", json=_ask(agent)).status_code == 200
            time.sleep(0.6)  # the health check notices; r1's keys now live on the next replica
            for engine, _ in engines:
                engine.requests.clear()
            for agent in range(30):
                assert client.post(f"{url}/v1/chat/completions", json=_ask(agent)).status_code == 200
        after = {prompt: next(iter(r)) for prompt, r in _replicas_by_agent(engines).items()}
        assert all(after[p] == home[p] for p in home if home[p] != 1)  # nobody else moved
        assert all(after[p] != 1 for p in home)


def test_round_robin_spreads_an_agent_over_replicas() -> None:
    """The control the benchmark compares with: without affinity an agent's prompt is everywhere."""
    with replicas_behind_gateway(3, routing="round-robin") as (url, engines):
        with httpx.Client(timeout=30) as client:
            for _ in range(3):
                for agent in range(7):  # not a multiple of 3, or each agent meets one replica
                    client.post(f"{url}/v1/chat/completions", json=_ask(agent))
        assert any(len(r) > 1 for r in _replicas_by_agent(engines).values())


# --- a router as the engine ------------------------------------------------------------------


def test_a_router_gets_the_session_key_and_its_backpressure_is_honoured() -> None:
    router = ScriptedEngine(default="routed")
    router.replies = [Reply("slow down", status=429, retry_after="1")]
    with ServerThread(router.app()) as upstream:
        config = GatewayConfig(
            engines=[EngineConfig("fleet", "router", upstream.url, 8, ["m"], session_header="x-user-id")],
            token=ADMIN_TOKEN,
        )
        with ServerThread(build_app(Gateway(config))) as gw:
            started = time.monotonic()
            first = httpx.post(f"{gw.url}/v1/chat/completions", json=_ask(1), timeout=30)
            waited = time.monotonic() - started
            second = httpx.post(f"{gw.url}/v1/chat/completions", json=_ask(1, "again"), timeout=30)
            other = httpx.post(f"{gw.url}/v1/chat/completions", json=_ask(2), timeout=30)
    assert first.status_code == 200 and first.json()["choices"][0]["message"]["content"] == "routed"
    assert waited >= 0.9  # held for the second it asked, not sent again at once
    assert len(router.requests) == 4  # the refused one, then one each
    keys = [h.get("x-user-id") for h in router.headers]
    assert keys[0] == keys[1] == keys[2] != keys[3] and keys[0]
    assert second.status_code == other.status_code == 200
    assert "id_slot" not in router.requests[1]  # the router picks replicas and slots


def test_a_router_busy_past_the_queue_deadline_is_a_429_with_its_retry_after() -> None:
    router = ScriptedEngine()
    router.replies = [Reply("busy", status=429, retry_after="30")] * 3
    with ServerThread(router.app()) as upstream:
        config = GatewayConfig(
            engines=[EngineConfig("fleet", "router", upstream.url, 8, ["m"])], queue_timeout_s=2
        )
        with ServerThread(build_app(Gateway(config))) as gw:
            answer = httpx.post(f"{gw.url}/v1/chat/completions", json=_ask(1), timeout=30)
            again = httpx.post(f"{gw.url}/v1/chat/completions", json=_ask(1), timeout=30)
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) >= 29
    assert "busy" in answer.json()["error"]["message"]
    assert again.status_code == 429 and len(router.requests) == 1  # not sent while it asked to wait


# --- Ollama-aware scheduling -----------------------------------------------------------------


async def _batch(
    url: str, agents: int, each: int, headers: dict[str, str], models: tuple[str, ...] = ("alpha", "beta")
) -> float:
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=120) as client:

        async def agent(n: int) -> None:
            model = models[n % len(models)]
            for i in range(each):
                body = {
                    "model": model,
                    "stream": False,
                    "messages": [{"role": "user", "content": f"{n}/{i}"}],
                    "options": {"num_ctx": 2048 if n % 3 else 8192},  # as clients differ
                }
                h = {**headers, "X-Sutazai-Agent": f"agent-{n}"}
                response = await client.post(f"{url}/api/chat", json=body, headers=h)
                assert response.status_code == 200, response.text

        await asyncio.gather(*(agent(n) for n in range(agents)))
    return time.perf_counter() - started


@pytest.mark.parametrize("aware", [True, False])
def test_ollama_reloads_with_and_without_model_aware_scheduling(aware: bool) -> None:
    ollama = ScriptedOllama(["alpha", "beta"], load_s=0.3, answer_s=0.05, max_loaded=1, parallel=4)
    with ServerThread(ollama.app()) as upstream:
        config = GatewayConfig(
            engines=[EngineConfig("ollama", "ollama", upstream.url, 4, max_loaded=1)],
            token=ADMIN_TOKEN,
            model_switch_after_s=10.0 if aware else 0.0,
        )
        with ServerThread(build_app(Gateway(config))) as gw:
            asyncio.run(_batch(gw.url, 8, 4, {"X-Sutazai-Priority": "batch"}))
    assert all(r["options"]["num_ctx"] == 4096 for r in ollama.requests)  # pinned: never a reason
    assert ollama.reasons["num_ctx"] == 0 and all(r["keep_alive"] == "30m" for r in ollama.requests)
    print(f"reloads {'with' if aware else 'without'} model-aware scheduling: {ollama.reloads}")
    if aware:
        assert ollama.reloads <= 4, ollama.reloads  # runs of one model, a switch per run
    else:
        assert ollama.reloads >= 6, ollama.reloads  # the fair rotation alternates the models


def test_one_model_with_clients_num_ctx_values_reloads_only_without_the_gateway() -> None:
    """The control: clients that differ in num_ctx (2048, 8192) reload one model straight to
    Ollama; through the gateway its num_ctx is pinned and it loads once."""
    direct = ScriptedOllama(["alpha"], load_s=0.05, answer_s=0.01)
    pinned = ScriptedOllama(["alpha"], load_s=0.05, answer_s=0.01)
    with ServerThread(direct.app()) as upstream:
        asyncio.run(_batch(upstream.url, 6, 3, {}, models=("alpha",)))
    with ServerThread(pinned.app()) as upstream:
        config = GatewayConfig(engines=[EngineConfig("ollama", "ollama", upstream.url, 4)])
        with ServerThread(build_app(Gateway(config))) as gw:
            asyncio.run(_batch(gw.url, 6, 3, {}, models=("alpha",)))
    assert direct.reasons["num_ctx"] >= 2 and pinned.reloads == 1


def test_batch_work_for_another_model_waits_only_until_it_has_aged() -> None:
    async def scenario() -> list[str]:
        pool = SlotPool(2, reserved_interactive=0)
        pool.resident = lambda: {"alpha"}
        pool.switch_after_s = 0.3
        order: list[str] = []
        held = await pool.acquire("warm", "batch", "alpha")

        async def one(agent: str, model: str) -> None:
            slot = await pool.acquire(agent, "batch", model)
            order.append(model)
            await asyncio.sleep(0.05)
            pool.release(slot, agent, 1)

        waiting = asyncio.gather(one("cold", "beta"), one("warm2", "alpha"))
        await asyncio.sleep(0.1)
        assert order == ["alpha"]  # the resident model went; the other waits while one runs
        await asyncio.sleep(0.5)
        assert order == ["alpha", "beta"]  # aged past 0.3 s: it went although alpha still runs
        pool.release(held, "warm", 1)
        await waiting
        return order

    assert asyncio.run(scenario()) == ["alpha", "beta"]


# --- the queue a request can see -------------------------------------------------------------


def test_queue_position_and_wait_in_headers_of_both_dialects_and_in_admin_queue() -> None:
    slow = ScriptedEngine()
    slow.replies = [Reply(f"answer {i}", delay_s=0.15) for i in range(12)]
    with ServerThread(slow.app()) as upstream:
        config = GatewayConfig(
            engines=[EngineConfig("e", "openai", upstream.url, 2, ["m"])],
            token=ADMIN_TOKEN,
            reserved_interactive=0,
        )
        with ServerThread(build_app(Gateway(config))) as gw:

            async def crowd() -> tuple[list[httpx.Response], dict[str, Any]]:
                async with httpx.AsyncClient(timeout=60) as client:
                    sent = [
                        client.post(
                            f"{gw.url}/v1/chat/completions",
                            json=_ask(n),
                            headers={"X-Sutazai-Agent": f"agent-{n}", "X-Sutazai-Priority": "batch"},
                        )
                        for n in range(6)
                    ]
                    tasks = [asyncio.ensure_future(s) for s in sent]
                    await asyncio.sleep(0.3)
                    queue = (await client.get(f"{gw.url}/admin/queue", headers=ADMIN)).json()
                    return list(await asyncio.gather(*tasks)), queue

            answers, queue = asyncio.run(crowd())
            positions = sorted(int(r.headers["X-SutazAI-Queue-Position"]) for r in answers)
            waits = [int(r.headers["X-SutazAI-Queue-Wait-Ms"]) for r in answers]
            assert positions[:2] == [0, 0] and positions[-1] >= 2 and max(waits) >= 200
            assert all(r.headers["X-SutazAI-Engine"] == "e" for r in answers)
            engine = queue["engines"]["e"]
            assert engine["in_flight"] == 2 and len(engine["waiting"]) >= 2
            assert [w["position"] for w in engine["waiting"]] == list(range(len(engine["waiting"])))
            assert {w["priority"] for w in engine["waiting"]} == {"batch"}
            assert any(a["waiting"] for a in queue["agents"].values())

            client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused")
            raw = client.chat.completions.with_raw_response.create(
                model="m", messages=[{"role": "user", "content": "hi"}], temperature=0.5
            )
            assert raw.headers["x-sutazai-queue-position"] == "0" and raw.parse().choices[0].message.content
            ollama = httpx.post(
                f"{gw.url}/api/chat",
                json={"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True},
                timeout=30,
            )
            assert (
                ollama.headers["X-SutazAI-Queue-Position"] == "0"
                and "X-SutazAI-Queue-Wait-Ms" in ollama.headers
            )
            assert httpx.get(f"{gw.url}/admin/queue").status_code in (401, 403)  # admin only


def test_stack_queue_prints_who_waits_as_a_table_and_as_json(tmp_path: Any) -> None:
    from sutazai.scaffolds.generate import init_workspace
    from tests.conftest import scripted_gateway
    from tests.test_cli import cli

    root = init_workspace(tmp_path / "ws", demo=True)
    slow = ScriptedEngine()
    slow.replies = [Reply("slow", delay_s=1.0)] * 16
    with scripted_gateway(root, slow) as url:

        async def crowd() -> None:
            async with httpx.AsyncClient(timeout=60) as client:
                headers = {"X-Sutazai-Agent": "summarizer", "X-Sutazai-Priority": "batch"}
                await asyncio.gather(
                    *(
                        client.post(
                            f"{url}/v1/chat/completions", json={**_ask(n), "model": "fast"}, headers=headers
                        )
                        for n in range(16)
                    )
                )

        import threading

        load = threading.Thread(target=asyncio.run, args=(crowd(),))
        load.start()
        time.sleep(0.5)
        as_json = cli("stack", "queue", "--json", cwd=root)
        table = cli("stack", "queue", cwd=root)
        load.join()
    assert as_json.returncode == 0, as_json.stderr
    snapshot = json.loads(as_json.stdout)
    assert snapshot["agents"]["summarizer"]["waiting"] >= 1
    assert snapshot["agents"]["summarizer"]["by_priority"]["batch"] >= 1
    assert "summarizer" in table.stdout and "batch" in table.stdout
