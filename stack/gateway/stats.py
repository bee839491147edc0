"""What the gateway reports: Prometheus metrics for scrapers, rolling figures for the TUI.

Rolling windows are small fixed-size deques, so recording a request costs a few appends. Per-agent
rows are kept for the ``max_agents`` most recently seen agents; older ones fold into one row,
``(other agents)``, so invented agent names cannot grow the report.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from statistics import quantiles

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

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


LATENCY_BUCKETS = (0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60)


class AnswerTally(Collector):
    """``sutazai_requests_total``, ``sutazai_request_seconds`` and ``sutazai_tokens_total`` as plain
    counts, turned into Prometheus families only when scraped: per answer that is a few dict
    updates, where prometheus_client's labelled metrics take a lock per increment. The labels are
    bounded already (models served here or "?", statuses the gateway sends)."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latency: dict[str, list[float]] = {}  # model -> a count per bucket (+Inf last), then the sum
        self.tokens: dict[tuple[str, str], int] = {}

    def add(
        self, api: str, model: str, status: int, seconds: float, prompt: int, completion: int, cached: int
    ) -> None:
        key = (api, model, str(status))
        self.requests[key] = self.requests.get(key, 0) + 1
        counts = self.latency.get(model)
        if counts is None:
            counts = self.latency[model] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        counts[-1] += seconds
        if prompt or completion:
            self._count_tokens(model, "prompt", prompt)
            self._count_tokens(model, "completion", completion)
        if cached:
            self._count_tokens(model, "cached", cached)

    def _count_tokens(self, model: str, kind: str, n: int) -> None:
        self.tokens[(model, kind)] = self.tokens.get((model, kind), 0) + n

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "sutazai_requests", "Requests answered", labels=["api", "model", "status"]
        )
        for labels, n in self.requests.items():
            requests.add_metric(labels, n)
        latency = HistogramMetricFamily("sutazai_request_seconds", "Request latency", labels=["model"])
        for model, counts in self.latency.items():
            cumulative = list(accumulate(counts[:-1]))
            bounds = [*(str(float(b)) for b in LATENCY_BUCKETS), "+Inf"]
            latency.add_metric([model], list(zip(bounds, cumulative, strict=True)), counts[-1])
        tokens = CounterMetricFamily("sutazai_tokens", "Tokens processed", labels=["model", "kind"])
        for (model, kind), n in self.tokens.items():
            tokens.add_metric([model, kind], n)
        yield from (requests, latency, tokens)


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

    def __post_init__(self) -> None:
        self.by_agent = LRUDict(self.max_agents, on_evict=lambda _, window: self.other_agents.extend(window))
        r = self.registry
        self.answers = AnswerTally()  # requests, latency, tokens: counted per request, read per scrape
        r.register(self.answers)
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
        self.answers.add(api, model, status, seconds, prompt_tokens, completion_tokens, cached_tokens)
        if priority in self.by_priority:
            self.by_priority[priority] += 1
        ms = seconds * 1000
        self.by_model[model].append(ms)
        window = self.by_agent.touch(agent)
        if window is None:
            window = self.by_agent[agent] = deque(maxlen=WINDOW)
        window.append(ms)
        if completion_tokens or prompt_tokens:
            self.token_events.append((time.monotonic(), completion_tokens))
        self.cached_prompt_tokens += cached_tokens

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
