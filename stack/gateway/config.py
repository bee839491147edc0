"""Which engines the gateway fronts and how it behaves, read from ``sutazai.toml``.

The embedded default (llama-server + the offline embedder) comes first; ``[[stack.engines]]``
adds a real Ollama, vLLM or any OpenAI-compatible server; ``[stack] litellm_config`` reads a
LiteLLM ``model_list`` users already have.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sutazai.config import BudgetSettings, GatewaySettings, Settings, StackSettings, default
from sutazai.stack.gateway.engines import EngineConfig
from sutazai.stack.gateway.routing import RoutingPolicy

MODEL_ALIAS = "smollm2"  # the embedded model's name at the gateway
CTX_PER_SLOT = 4096  # room for tools like Aider; the KV cache costs ~23 KB a token for SmolLM2-135M
EMBEDDED_MODEL = MODEL_ALIAS
EMBEDDING_MODEL = "e5-small"


def default_parallel() -> int:
    """24 slots on 2 cores: measured best balance of fleet throughput and interactive latency
    (16: 1.46x the one-at-a-time rate; 24: 1.61x with TTFT p95 1.4x idle; 32: TTFT p95 2.3x idle)."""
    return max(8, min(32, 12 * (os.cpu_count() or 2)))


@dataclass
class GatewayConfig:
    """What the gateway runs with. Fields that a user can set take their defaults from the settings
    (``sutazai.config``), so each default is written once; the rest are the gateway's own."""

    host: str = default(GatewaySettings, "host")
    port: int = default(GatewaySettings, "port")
    engines: list[EngineConfig] = field(default_factory=list)
    tiers: dict[str, list[str]] = field(default_factory=dict)
    max_queue: int = default(StackSettings, "max_queue")
    queue_timeout_s: float = default(StackSettings, "queue_timeout_s")
    reserved_interactive: int = default(StackSettings, "reserved_interactive")
    cache_entries: int = 4096
    cache_bytes: int = 64 << 20
    cache_ttl_s: float = default(StackSettings, "cache_ttl_s")
    embed_window_ms: float = 4.0
    embed_max_texts: int = default(StackSettings, "embed_max_texts")
    max_body_bytes: int = 8 << 20
    health_interval_s: float = 2.0
    connect_attempts: int = 3  # pooled connection, then fresh ones, before the next engine
    restarts: int = 2  # a non-streaming answer lost mid-generation is re-run this often elsewhere
    max_agent_share: float = default(StackSettings, "max_agent_share")  # of max_queue, for one agent
    max_agents: int = 1024  # per-agent stats, slot affinity and fairness counters (LRU)
    embed_max_pending: int = 4096  # texts waiting to be merged
    body_timeout_s: float = 30.0  # receipt deadline for a request body
    header_timeout_s: float = 10.0  # and for the request line and headers
    token: str | None = field(default=None, repr=False)
    allowed_hosts: list[str] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    tool_calls: dict[str, str] = field(default_factory=dict)  # model -> "native" | "grammar"
    tool_rounds: int = default(StackSettings, "tool_rounds")
    routing: RoutingPolicy = default(StackSettings, "routing")  # noqa: RUF009 (a str, immutable)
    load_bound: float = default(StackSettings, "load_bound")
    model_switch_after_s: float = default(StackSettings, "model_switch_after_s")
    daily_tokens: int = default(BudgetSettings, "daily_tokens")
    agent_daily_tokens: dict[str, int] = field(default_factory=dict)
    budget_file: Path | None = None  # where the day's counts survive a restart


def replica_port(first: int, index: int) -> int:
    """Embedded replicas after the first listen above the embedder's port: 11436, 11440, 11441..."""
    return first if index == 0 else first + 3 + index


def replica_name(name: str, index: int) -> str:
    """The first replica keeps the plain name and each one keeps its name whatever the count, so
    going from one replica to two adds ``engine-2`` and touches nothing that runs."""
    return name if index == 0 else f"{name}-{index + 1}"


def _tier_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]


def engines_from_litellm(path: Path) -> list[EngineConfig]:
    """Read a LiteLLM proxy ``model_list``: Ollama and OpenAI-compatible entries get native
    adapters (no LiteLLM on the hot path); other providers go through LiteLLM."""
    from sutazai.yamlsafe import safe_load_yaml

    data = safe_load_yaml(path.read_text(encoding="utf-8"), path) or {}
    engines: list[EngineConfig] = []
    for index, entry in enumerate(data.get("model_list", [])):
        name = entry["model_name"]
        params = dict(entry.get("litellm_params", {}))
        target = str(params.get("model", ""))
        provider = target.partition("/")[0]
        base = params.get("api_base")
        if provider in ("ollama", "ollama_chat") and base:
            engines.append(EngineConfig(f"litellm-{index}", "ollama", base, 4, [name]))
        elif provider in ("openai", "hosted_vllm") and base:
            engines.append(
                EngineConfig(f"litellm-{index}", "openai", base, 4, [name], api_key=params.get("api_key"))
            )
        else:
            engines.append(EngineConfig(f"litellm-{index}", "litellm", "", 4, [name], litellm_params=params))
    return engines


def gateway_config(settings: Settings, root: Path | None = None) -> GatewayConfig:
    """Build from workspace settings; the token comes from the workspace (``stack up`` wrote it)."""
    stack = settings.stack
    engines: list[EngineConfig] = []
    if stack.embedded:
        parallel = stack.parallel or default_parallel()
        for index in range(stack.replicas):
            url = f"http://127.0.0.1:{replica_port(stack.engine_port, index)}"
            engines.append(
                EngineConfig(
                    replica_name("embedded", index),
                    "llamacpp",
                    url,
                    parallel,
                    [EMBEDDED_MODEL],
                    context=CTX_PER_SLOT,
                )
            )
        engines.append(
            EngineConfig(
                "embedder", "openai", f"http://127.0.0.1:{stack.embedder_port}", 4, [], [EMBEDDING_MODEL]
            )
        )
    for raw in stack.engines:  # the same fields, typed; `urls` makes one engine per replica
        fields = raw.model_dump(exclude={"urls"})
        urls = raw.urls or [raw.url]
        for index, url in enumerate(urls):
            engines.append(EngineConfig(**{**fields, "name": replica_name(raw.name, index), "url": url}))
    if stack.ollama_url:
        engines.append(EngineConfig("ollama", "ollama", stack.ollama_url, 4))
    if stack.litellm_config:
        path = Path(stack.litellm_config)
        engines += engines_from_litellm(path if path.is_absolute() or root is None else root / path)
    for engine in engines:  # the stack's limits hold for every engine, whoever runs it
        engine.stall_timeout_s = stack.stall_timeout_s
        engine.max_output = settings.gateway.max_output_tokens
    tiers = {name: _tier_list(v) for name, v in settings.tiers.items()}
    tiers.setdefault("embed", [EMBEDDING_MODEL])
    gateway = settings.gateway
    return GatewayConfig(
        host=gateway.host,
        port=gateway.port,
        engines=engines,
        tiers=tiers,
        max_queue=stack.max_queue,
        queue_timeout_s=stack.queue_timeout_s,
        cache_ttl_s=stack.cache_ttl_s,
        max_agent_share=stack.max_agent_share,
        reserved_interactive=stack.reserved_interactive,
        embed_max_texts=stack.embed_max_texts,
        allowed_hosts=list(gateway.allowed_hosts),
        origins=list(gateway.origins),
        tool_calls=dict(stack.tool_calls),
        tool_rounds=stack.tool_rounds,
        routing=stack.routing,
        load_bound=stack.load_bound,
        model_switch_after_s=stack.model_switch_after_s,
        daily_tokens=settings.budgets.daily_tokens,
        agent_daily_tokens=dict(settings.budgets.agents),
    )
