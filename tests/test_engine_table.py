"""The gateway's engine table changed while it serves: drained replicas hand their queue to another
one (first of its class), removed ones leave once idle, new ones join, a changed one takes its new
slot count. Scripted engines (the logic); the live stack going from one replica to two and back
under traffic is ``test_stack_supervisor``'s."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from sutazai.stack.gateway.app import build_app
from sutazai.stack.gateway.config import GatewayConfig
from sutazai.stack.gateway.core import Gateway
from sutazai.stack.gateway.engines import EngineConfig
from sutazai.stack.gateway.scheduler import SlotPool
from sutazai.stack.gateway.types import Rerouted
from tests.conftest import ADMIN_TOKEN, ServerThread
from tests.scripted_engine import Reply, ScriptedEngine

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_a_paused_pool_starts_nothing_and_evicts_its_waiters_who_learn_to_go_elsewhere() -> None:
    async def scenario() -> None:
        pool = SlotPool(1, reserved_interactive=0)
        first = await pool.acquire("a", "normal")
        waiting = asyncio.ensure_future(pool.acquire("b", "normal"))
        await asyncio.sleep(0)
        pool.pause()
        pool.release(first, "a")  # a slot is free, but a paused pool hands it to no one
        await asyncio.sleep(0)
        assert not waiting.done() and pool.waiting == 1
        assert pool.evict() == 1 and pool.waiting == 0
        with pytest.raises(Rerouted):
            await waiting
        pool.resize(3)
        pool.resume()
        assert {await pool.acquire(agent, "normal") for agent in "xyz"} == {0, 1, 2}

    asyncio.run(scenario())


def test_a_smaller_pool_drops_slots_beyond_its_size_as_they_come_back() -> None:
    async def scenario() -> None:
        pool = SlotPool(3, reserved_interactive=0)
        held = [await pool.acquire(agent, "normal") for agent in "abc"]
        pool.resize(1)
        for slot in held:
            pool.release(slot)
        assert pool.free == {0} and pool.in_flight == 0

    asyncio.run(scenario())


def _config(engines: dict[str, tuple[str, int]]) -> GatewayConfig:
    return GatewayConfig(
        engines=[
            EngineConfig(name, "openai", url, slots, ["smollm2"]) for name, (url, slots) in engines.items()
        ],
        tiers={"fast": ["smollm2"]},
        token=ADMIN_TOKEN,
        routing="round-robin",
        reserved_interactive=0,
    )


def _ask(url: str, agent: str) -> int:
    body = {"model": "fast", "messages": [{"role": "user", "content": agent}], "max_tokens": 4}
    answer = httpx.post(
        f"{url}/v1/chat/completions", json=body, headers={"X-Sutazai-Agent": agent}, timeout=60
    )
    return answer.status_code


def test_drain_moves_the_queue_to_the_other_replica_and_reload_retires_and_adds_engines() -> None:
    slow, fast, third = ScriptedEngine(), ScriptedEngine(), ScriptedEngine()
    slow.pick = lambda body: Reply("slow answer", delay_s=0.4)
    with ServerThread(slow.app()) as a, ServerThread(fast.app()) as b, ServerThread(third.app()) as c:
        wanted: dict[str, Any] = {"config": _config({"replica-1": (a.url, 1), "replica-2": (b.url, 1)})}
        gateway = Gateway(wanted["config"])
        gateway.pools["replica-2"].pause()  # everything queues on replica-1 at first
        with ServerThread(build_app(gateway, reread=lambda: wanted["config"])) as gw:
            statuses: list[int] = []
            agents = [
                threading.Thread(target=lambda i=i: statuses.append(_ask(gw.url, f"a{i}"))) for i in range(6)
            ]
            for agent in agents:
                agent.start()

            def table() -> dict[str, dict[str, Any]]:
                rows = httpx.get(f"{gw.url}/admin/engines", headers=ADMIN).json()["engines"]
                return {e["name"]: e for e in rows}

            for _ in range(100):
                if table()["replica-1"]["waiting"] >= 3:
                    break
                threading.Event().wait(0.05)
            assert table()["replica-1"]["waiting"] >= 3
            httpx.post(f"{gw.url}/admin/engines/replica-2/resume", headers=ADMIN).raise_for_status()
            drained = httpx.post(f"{gw.url}/admin/engines/replica-1/drain", headers=ADMIN).json()["engines"]
            assert {e["name"]: e["waiting"] for e in drained}["replica-1"] == 0  # the queue moved
            for agent in agents:
                agent.join(30)
            assert statuses == [200] * 6
            assert len(slow.requests) == 1 and len(fast.requests) == 5  # one was in flight there

            # replica-1 leaves the settings, replica-3 arrives, replica-2 gets two slots
            wanted["config"] = _config({"replica-2": (b.url, 2), "replica-3": (c.url, 1)})
            refused = httpx.post(f"{gw.url}/admin/reload", json={})
            assert refused.status_code == 403  # /admin needs the token
            done = httpx.post(f"{gw.url}/admin/reload", json={}, headers=ADMIN).json()
            assert done["retiring"] == ["replica-1"] and done["added"] == ["replica-3"]
            assert done["changed"] == ["replica-2"]
            for _ in range(100):
                if "replica-1" not in table():
                    break
                threading.Event().wait(0.05)
            assert set(table()) == {"replica-2", "replica-3"} and table()["replica-2"]["slots"] == 2
            assert [_ask(gw.url, f"b{i}") for i in range(4)] == [200] * 4
            assert len(third.requests) >= 1 and len(slow.requests) == 1

            bad = httpx.post(f"{gw.url}/admin/reload", json={"engines": "all"}, headers=ADMIN)
            assert bad.status_code == 400


def test_an_engine_wanted_again_while_it_retires_stays_as_it_is() -> None:
    from sutazai.stack.gateway.engine_table import EngineTable

    async def scenario() -> None:
        both = _config({"replica-1": ("http://127.0.0.1:9", 2), "replica-2": ("http://127.0.0.1:9", 2)})
        table = EngineTable(both)
        engine, pool = table.engines["replica-1"], table.pools["replica-1"]
        slot = await pool.acquire("a", "normal")  # an answer in flight keeps it retiring
        done = await table.apply(_config({"replica-2": ("http://127.0.0.1:9", 2)}))
        assert done["retiring"] == ["replica-1"] and pool.paused
        again = await table.apply(both)
        assert again["resumed"] == ["replica-1"] and not table.retiring
        assert table.engines["replica-1"] is engine and table.pools["replica-1"] is pool and not pool.paused
        pool.release(slot)
        await asyncio.sleep(0.2)
        assert "replica-1" in table.engines  # the cancelled retirement let nothing go
        for e in table.engines.values():
            await e.close()

    asyncio.run(scenario())
