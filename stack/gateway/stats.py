"""What the gateway reports: Prometheus metrics for scrapers, rolling figures for the TUI.

Rolling windows are small fixed-size deques, so recording a request costs a few appends. Per-agent
rows are kept for the ``max_agents`` most recently seen agents; older ones fold into one row,
``(other agents)``, so invented agent names cannot grow the report.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from statistics import quantiles
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from sutazai.gateway_report import (
    CacheReport,
    EmbeddingBatch,
    EngineReport,
    Latency,
    QueueDepth,
    StatsSnapshot,
)
from sutazai.stack.gateway.bounded import LRUDict

WINDOW = 512
RATE_WINDOW_S = 10.0
OTHER_AGENTS = "(other agents)"


def _pct(values: deque[float]) -> Latency:
    if not values:
        return Latency()
    if len(values) == 1:
        return Latency(p50_ms=values[0], p95_ms=values[0], count=1)
    q = quantiles(values, n=20, method="inclusive")
    return Latency(p50_ms=round(q[9], 3), p95_ms=round(q[18], 3), count=len(values))


@dataclass
class GatewayStats:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    by_model: dict[str, deque[float]] = field(
        default_factory=lambda: defaultdict(lambda: deque(maxlen=WINDOW))
    )
    max_agents: int = 1024
    by_agent: LRUDict[str, deque[float]] = field(init=False)
    other_agents: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    token_events: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=8192))
    embed_batch_sizes: deque[int] = field(default_factory=lambda: deque(maxlen=WINDOW))
    cached_prompt_tokens: int = 0
    by_priority: dict[str, int] = field(default_factory=lambda: {"interactive": 0, "normal": 0, "batch": 0})
    started: float = field(default_factory=time.time)
    _children: dict[tuple[Any, tuple[str, ...]], Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.by_agent = LRUDict(self.max_agents, on_evict=lambda _, window: self.other_agents.extend(window))
        r = self.registry
        self.requests = Counter(
            "sutazai_requests", "Requests answered", ["api", "model", "status"], registry=r
        )
        self.latency = Histogram(
            "sutazai_request_seconds",
            "Request latency",
            ["model"],
            registry=r,
            buckets=(0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.tokens = Counter("sutazai_tokens", "Tokens processed", ["model", "kind"], registry=r)
        self.cache_events = Counter("sutazai_cache", "Response cache lookups", ["result"], registry=r)
        self.retries = Counter(
            "sutazai_engine_retries",
            "Requests sent again after a connection dropped before any byte reached the client",
            ["engine"],
            registry=r,
        )
        self.embed_batches = Histogram(
            "sutazai_embed_batch_texts",
            "Texts per merged embedding call",
            registry=r,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
        )

    def record(
        self,
        api: str,
        model: str,
        agent: str,
        status: int,
        seconds: float,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cached_tokens: int = 0,
        priority: str | None = None,
    ) -> None:
        self._child(self.requests, api, model, str(status)).inc()
        if priority in self.by_priority:
            self.by_priority[priority] += 1
        self._child(self.latency, model).observe(seconds)
        ms = seconds * 1000
        self.by_model[model].append(ms)
        window = self.by_agent.touch(agent)
        if window is None:
            window = self.by_agent[agent] = deque(maxlen=WINDOW)
        window.append(ms)
        if completion_tokens or prompt_tokens:
            self._child(self.tokens, model, "prompt").inc(prompt_tokens)
            self._child(self.tokens, model, "completion").inc(completion_tokens)
            self.token_events.append((time.monotonic(), completion_tokens))
        if cached_tokens:
            self._child(self.tokens, model, "cached").inc(cached_tokens)
            self.cached_prompt_tokens += cached_tokens

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once: prometheus_client takes a lock and builds
        the key on every call, a cost paid per request. The labels are already bounded (models
        served here or "?", statuses the gateway sends), so the cache is too."""
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def record_embed_batch(self, size: int) -> None:
        self.embed_batches.observe(size)
        self.embed_batch_sizes.append(size)

    def tokens_per_second(self) -> float:
        cutoff = time.monotonic() - RATE_WINDOW_S
        return round(sum(n for t, n in self.token_events if t >= cutoff) / RATE_WINDOW_S, 2)

    def prometheus(self) -> bytes:
        return generate_latest(self.registry)

    def snapshot(
        self, engines: dict[str, EngineReport], cache: CacheReport, tool_calls: dict[str, str]
    ) -> StatsSnapshot:
        sizes = list(self.embed_batch_sizes)
        return StatsSnapshot(
            uptime_s=round(time.time() - self.started, 1),
            engines=engines,
            queue_depth=sum((e.queue_depth for e in engines.values()), QueueDepth()),
            tokens_per_s=self.tokens_per_second(),
            requests_by_priority=dict(self.by_priority),
            cached_prompt_tokens=self.cached_prompt_tokens,
            cache=cache,
            tool_calls=tool_calls,
            embedding_batch=EmbeddingBatch(
                last=sizes[-1] if sizes else 0,
                mean=round(sum(sizes) / len(sizes), 2) if sizes else 0.0,
            ),
            latency_by_model={m: _pct(v) for m, v in self.by_model.items()},
            latency_by_agent={
                **{a: _pct(v) for a, v in self.by_agent.items()},
                **({OTHER_AGENTS: _pct(self.other_agents)} if self.other_agents else {}),
            },
        )
