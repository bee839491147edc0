"""Scheduling, caching, batching and breaker logic (unit tests; the integration is in test_gateway_*)."""

from __future__ import annotations

import asyncio
import time

import pytest

from sutazai.stack.gateway.breaker import CircuitBreaker
from sutazai.stack.gateway.cache import ResponseCache
from sutazai.stack.gateway.embed_batcher import EmbeddingBatcher
from sutazai.stack.gateway.scheduler import SlotPool
from sutazai.stack.gateway.types import Completion, Overloaded, Usage


async def _order(pool: SlotPool, requests: list[tuple[str, str]]) -> list[str]:
    """Fill the pool, queue ``requests``, then release one slot at a time and record who ran."""
    held = [await pool.acquire("holder", "interactive") for _ in range(pool.slots)]
    served: list[str] = []

    async def one(agent: str, priority: str) -> None:
        slot = await pool.acquire(agent, priority)  # type: ignore[arg-type]
        served.append(f"{priority[0]}:{agent}")
        await asyncio.sleep(0)
        pool.release(slot)

    tasks = [asyncio.create_task(one(a, p)) for a, p in requests]
    await asyncio.sleep(0)
    for slot in held:
        pool.release(slot)
    await asyncio.gather(*tasks)
    return served


async def test_interactive_first_then_normal_with_batch_never_starved() -> None:
    pool = SlotPool(1, reserved_interactive=0, batch_every=2)
    requests = [("b", "batch"), ("n1", "normal"), ("n2", "normal"), ("n3", "normal"), ("i", "interactive")]
    served = await _order(pool, requests)
    assert served[0] == "i:i"
    assert served.index("b:b") < served.index("n:n3")  # batch got its turn before normal drained


async def test_fair_share_across_agents_inside_a_class() -> None:
    pool = SlotPool(1, reserved_interactive=0)
    greedy = [("greedy", "normal")] * 5
    served = await _order(pool, [*greedy, ("polite", "normal")])
    assert served.index("n:polite") <= 1


async def test_a_rerun_keeps_its_place_before_the_rest_of_its_class() -> None:
    """A request whose engine died mid-answer waited its turn already: on the next pool it goes
    before every waiter of its class (even agents served less), not behind them; a higher class
    still goes first, and a re-run whose client leaves gives its place back."""
    pool = SlotPool(1, reserved_interactive=0)
    pool.served["rerun"] = 10_000.0  # fairness alone would put it last
    held = await pool.acquire("holder", "normal")
    served: list[str] = []

    async def one(agent: str, priority: str, first: bool = False) -> None:
        slot = await pool.acquire(agent, priority, first=first)  # type: ignore[arg-type]
        served.append(agent)
        await asyncio.sleep(0)
        pool.release(slot)

    waiting = [asyncio.create_task(one(f"n{i}", "normal")) for i in range(3)]
    await asyncio.sleep(0)
    gone = asyncio.create_task(one("gone", "normal", first=True))
    await asyncio.sleep(0)
    gone.cancel()
    waiting.append(asyncio.create_task(one("rerun", "normal", first=True)))
    waiting.append(asyncio.create_task(one("dev", "interactive")))
    for _ in range(5):  # the cancelled waiter leaves its place
        await asyncio.sleep(0)
    assert [w.agent for w in pool.waiters()][:2] == ["dev", "rerun"]
    pool.release(held)
    await asyncio.gather(*waiting)
    assert served[:2] == ["dev", "rerun"] and "gone" not in served
    assert pool.waiting == 0 and pool.depth() == {"interactive": 0, "normal": 0, "batch": 0}


async def test_reserved_slot_is_kept_for_interactive() -> None:
    pool = SlotPool(2, reserved_interactive=1)
    first = await pool.acquire("a", "batch")
    waiting = asyncio.create_task(pool.acquire("b", "normal"))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    assert await asyncio.wait_for(pool.acquire("dev", "interactive"), 0.1) in (0, 1)
    pool.release(first)
    assert await asyncio.wait_for(waiting, 0.1) == first


async def test_bounded_queue_and_deadline() -> None:
    pool = SlotPool(1, reserved_interactive=0, max_queue=1, queue_timeout_s=0.05)
    await pool.acquire("a", "normal")
    waiter = asyncio.create_task(pool.acquire("b", "normal"))
    await asyncio.sleep(0)
    with pytest.raises(Overloaded, match="queue full"):
        await pool.acquire("c", "normal")
    with pytest.raises(Overloaded, match="waited"):
        await waiter
    assert pool.waiting == 0


async def test_cancelled_waiter_gives_back_its_place() -> None:
    pool = SlotPool(1, reserved_interactive=0)
    slot = await pool.acquire("a", "normal")
    waiter = asyncio.create_task(pool.acquire("b", "normal"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert pool.waiting == 0
    pool.release(slot)
    assert pool.in_flight == 0 and pool.free == {0}


async def test_agents_keep_their_slot() -> None:
    pool = SlotPool(4, reserved_interactive=0)
    a = await pool.acquire("a", "normal")
    b = await pool.acquire("b", "normal")
    pool.release(a)
    pool.release(b)
    assert await pool.acquire("b", "normal") == b and await pool.acquire("a", "normal") == a


def test_cache_ttl_entries_and_bytes() -> None:
    cache = ResponseCache(max_entries=2, max_bytes=10_000, ttl_s=0.05)
    done = Completion("x", "stop", Usage())
    cache.put("a", done)
    cache.put("b", done)
    assert cache.get("a") is done
    cache.put("c", done)  # evicts the least recently used: b
    assert cache.get("b") is None and cache.get("a") is done
    time.sleep(0.06)
    assert cache.get("a") is None and len(cache) == 1
    small = ResponseCache(max_bytes=300)
    small.put("big", Completion("y" * 1000, "stop", Usage()))
    assert small.get("big") is None


async def test_embedding_requests_are_merged_and_split_back() -> None:
    calls: list[list[str]] = []

    async def engine(texts: list[str]) -> tuple[list[list[float]], int]:
        calls.append(texts)
        return [[float(len(t))] for t in texts], len(texts)

    batcher = EmbeddingBatcher(engine, window_s=0.01, max_texts=64)
    results = await asyncio.gather(*(batcher.embed(["x" * i, "y"]) for i in range(1, 11)))
    assert len(calls) == 1 and len(calls[0]) == 20
    assert results[4] == [[5.0], [1.0]]


def test_breaker_opens_half_opens_and_closes() -> None:
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=0.05)
    breaker.record_failure()
    assert breaker.allows()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allows()
    time.sleep(0.06)
    assert breaker.state == "half-open" and breaker.allows()
    breaker.record_success()
    assert breaker.state == "closed"


async def test_agents_are_served_alike_in_tokens_not_in_requests() -> None:
    """A virtual token counter: an agent whose answers run 10x longer gets a tenth of the turns."""
    pool = SlotPool(1, reserved_interactive=0)
    cost = {"verbose-1": 100, "verbose-2": 100, "terse-1": 10, "terse-2": 10}
    tokens = dict.fromkeys(cost, 0)
    held = await pool.acquire("holder", "normal")

    async def agent(name: str) -> None:
        while sum(tokens.values()) < 4000:
            slot = await pool.acquire(name, "normal")
            tokens[name] += cost[name]
            await asyncio.sleep(0)
            pool.release(slot, name, cost[name])

    runners = [asyncio.create_task(agent(n)) for n in cost]
    await asyncio.sleep(0)
    pool.release(held)
    await asyncio.gather(*runners)
    assert max(tokens.values()) - min(tokens.values()) <= 200, tokens  # round-robin: 1000 vs 100
