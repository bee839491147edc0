"""What the gateway reports about itself: ``/admin/stats`` and ``/admin/queue`` as typed records
(``core/gateway_report.py``), built from the gateway's live state."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from sutazai.gateway_report import (
    AgentQueue,
    CacheReport,
    EngineQueue,
    EngineReport,
    QueueDepth,
    QueuedRequest,
    QueueSnapshot,
    StatsSnapshot,
)
from sutazai.stack.gateway.tool_calls import tool_path

if TYPE_CHECKING:
    from sutazai.stack.gateway.core import Gateway


def stats(gateway: Gateway) -> StatsSnapshot:
    engines = {
        name: EngineReport(
            kind=e.config.kind,
            url=e.config.url,
            healthy=e.healthy,
            breaker=e.breaker.state,
            slots=gateway.pools[name].slots,
            in_flight=gateway.pools[name].in_flight,
            queue_depth=QueueDepth(**gateway.pools[name].depth()),
            models=sorted(e.models),
        )
        for name, e in gateway.engines.items()
    }
    cache = gateway.cache
    report = CacheReport(
        entries=len(cache),
        hits=cache.hits,
        misses=cache.misses,
        shared=cache.shared,
        hit_rate=round(cache.hit_rate, 4),
    )
    snapshot = gateway.stats.snapshot(engines, report, tool_paths(gateway))
    return snapshot.model_copy(update={"budgets": gateway.budgets.report()})


def queue(gateway: Gateway) -> QueueSnapshot:
    """Who waits for which engine, in order, and each agent's share: ``/admin/queue``."""
    engines: dict[str, EngineQueue] = {}
    in_flight: Counter[str] = Counter()
    for name, engine in gateway.engines.items():
        pool = gateway.pools[name]
        resident = engine.resident()
        engines[name] = EngineQueue(
            slots=pool.slots,
            in_flight=pool.in_flight,
            mean_hold_s=None if pool.mean_hold_s is None else round(pool.mean_hold_s, 3),
            resident_models=None if resident is None else sorted(resident),
            waiting=[QueuedRequest(**vars(w)) for w in pool.waiters()],
        )
        in_flight.update(pool.in_flight_by_agent)
    waiting = [w for e in engines.values() for w in e.waiting]
    agents = {
        agent: AgentQueue(
            waiting=sum(1 for w in waiting if w.agent == agent),
            in_flight=in_flight[agent],
            by_priority=dict(Counter(w.priority for w in waiting if w.agent == agent)),
            oldest_wait_s=max((w.waited_s for w in waiting if w.agent == agent), default=0.0),
        )
        for agent in sorted({*in_flight, *(w.agent for w in waiting)})
    }
    return QueueSnapshot(routing=gateway.router.policy, engines=engines, agents=agents)


def tool_paths(gateway: Gateway) -> dict[str, str]:
    """How each chat model calls tools: ``native`` or ``grammar`` (see ``tool_calls.py``)."""
    return {
        name: tool_path(engine, name, gateway.config.tool_calls)
        for engine in gateway.engines.values()
        for name, info in engine.models.items()
        if not info.embedding
    }
