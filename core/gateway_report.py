"""The shape of what the gateway reports at ``/admin/stats``, shared by the gateway that writes it
and the front ends that read it (TUI, language server, CLI) through ``GatewayClient.stats()``.

It lives in the bottom layer because both sides need it and neither may import the other. Readers
ignore fields they do not know, so an older TUI keeps working against a newer gateway.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

PRIORITIES = ("interactive", "normal", "batch")


class _Report(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class QueueDepth(_Report):
    interactive: int = 0
    normal: int = 0
    batch: int = 0

    @property
    def total(self) -> int:
        return self.interactive + self.normal + self.batch

    def __add__(self, other: QueueDepth) -> QueueDepth:
        return QueueDepth(
            interactive=self.interactive + other.interactive,
            normal=self.normal + other.normal,
            batch=self.batch + other.batch,
        )


class Latency(_Report):
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    count: int = 0


class EngineReport(_Report):
    kind: str
    url: str
    healthy: bool
    breaker: str
    slots: int
    in_flight: int
    queue_depth: QueueDepth = Field(default_factory=QueueDepth)
    models: list[str] = Field(default_factory=list)


class CacheReport(_Report):
    entries: int = 0
    hits: int = 0
    misses: int = 0
    shared: int = 0
    hit_rate: float = 0.0


class EmbeddingBatch(_Report):
    last: int = 0
    mean: float = 0.0


class BudgetUse(_Report):
    used: int = 0
    limit: int = 0


class StatsSnapshot(_Report):
    """One reading of ``/admin/stats``."""

    uptime_s: float = 0.0
    engines: dict[str, EngineReport] = Field(default_factory=dict)
    queue_depth: QueueDepth = Field(default_factory=QueueDepth)
    tokens_per_s: float = 0.0
    requests_by_priority: dict[str, int] = Field(default_factory=dict)
    cached_prompt_tokens: int = 0
    cache: CacheReport = Field(default_factory=CacheReport)
    tool_calls: dict[str, str] = Field(
        default_factory=dict, description="Per chat model: native, or grammar (constrained by the gateway)."
    )
    embedding_batch: EmbeddingBatch = Field(default_factory=EmbeddingBatch)
    budgets: dict[str, BudgetUse] = Field(
        default_factory=dict, description="Daily token budgets ([budgets]): used today and the limit."
    )
    latency_by_model: dict[str, Latency] = Field(default_factory=dict)
    latency_by_agent: dict[str, Latency] = Field(default_factory=dict)

    def engine_serving(self, model: str) -> EngineReport | None:
        """The first engine that lists ``model`` (or any engine, if the model has been answered)."""
        for engine in self.engines.values():
            if model in engine.models or model in self.latency_by_model:
                return engine
        return None


class QueuedRequest(_Report):
    """One request waiting for a slot, in the order the scheduler would serve it now."""

    agent: str
    priority: str
    model: str = ""
    position: int = 0
    waited_s: float = 0.0


class EngineQueue(_Report):
    slots: int
    in_flight: int
    mean_hold_s: float | None = Field(default=None, description="Mean time a request holds a slot.")
    resident_models: list[str] | None = Field(
        default=None, description="Ollama: the models it holds now (preferred by the scheduler)."
    )
    waiting: list[QueuedRequest] = Field(default_factory=list)


class AgentQueue(_Report):
    waiting: int = 0
    in_flight: int = 0
    by_priority: dict[str, int] = Field(default_factory=dict)
    oldest_wait_s: float = 0.0


class QueueSnapshot(_Report):
    """``/admin/queue``: who waits where, per engine and per agent."""

    routing: str = "prefix"
    engines: dict[str, EngineQueue] = Field(default_factory=dict)
    agents: dict[str, AgentQueue] = Field(default_factory=dict)

    @property
    def by_priority(self) -> dict[str, int]:
        counts = dict.fromkeys(PRIORITIES, 0)
        for engine in self.engines.values():
            for waiting in engine.waiting:
                counts[waiting.priority] = counts.get(waiting.priority, 0) + 1
        return counts


class ModelEntry(_Report):
    """A model or tier as ``/v1/models`` lists it, with what the gateway adds: its limits and how
    it calls tools (``native``, or ``grammar``: the gateway constrains decoding)."""

    id: str
    context_length: int = 0
    max_output_tokens: int = 0
    capabilities: list[str] = Field(default_factory=list)
    tool_calls: str | None = None


class ServedModel(_Report):
    """A model as ``/api/tags`` lists it."""

    name: str
    size: int = 0
