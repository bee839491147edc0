"""Settings, merged in one place with a fixed precedence.

flags > ``SUTAZAI_*`` environment > ``sutazai.toml`` > user config (platformdirs) > defaults.

Environment variables name a section and a key: ``SUTAZAI_GATEWAY_URL`` sets ``[gateway] url``,
``SUTAZAI_TIERS_FAST`` sets ``[tiers] fast``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sutazai.errors import SpecError
from sutazai.tomlpos import syntax_problem, validation_problem
from sutazai.wire import DEFAULT_PORT, DEFAULT_URL

ENV_PREFIX = "SUTAZAI_"
MemoryBackend = Literal["faiss", "chroma", "qdrant"]
DEFAULT_TIERS: dict[str, str | list[str]] = {
    "fast": "smollm2",
    "quality": "smollm2",
    "local": "smollm2",
    "embed": "e5-small",
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GatewaySettings(_Section):
    """Where clients find the gateway, where ``stack up`` makes it listen, and who may use it.

    ``token`` is normally left unset: ``stack up`` writes one to ``.sutazai/gateway.token`` and every
    front end reads it from there (``SUTAZAI_GATEWAY_TOKEN`` overrides, e.g. for a remote gateway).
    """

    url: str = DEFAULT_URL
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    timeout_s: float = 120.0
    token: str | None = Field(default=None, repr=False)
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Host names accepted besides loopback (DNS-rebinding guard)."
    )
    origins: list[str] = Field(
        default_factory=list,
        description="Browser origins accepted besides loopback ones, like OLLAMA_ORIGINS ('*' wildcards).",
    )
    max_output_tokens: int = Field(
        default=2048,
        ge=1,
        description="Most tokens one answer may generate: a larger (or absent) max_tokens is capped "
        "here, so no client holds a slot until its context fills.",
    )

    @field_validator("allowed_hosts", "origins", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        """``SUTAZAI_GATEWAY_ORIGINS=a,b`` arrives as one string."""
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value


class MemorySettings(_Section):
    backend: MemoryBackend = "faiss"
    embedding_model: str = "embed"
    chroma_url: str | None = None
    qdrant_url: str | None = None


class PathSettings(_Section):
    data: str = ".sutazai"


class SecretSettings(_Section):
    """Names of environment variables whose values must never be stored or logged."""

    env: list[str] = Field(default_factory=list)


class EngineSettings(_Section):
    """One ``[[stack.engines]]`` entry: a real Ollama, vLLM, or any OpenAI-compatible server."""

    name: str
    kind: Literal["ollama", "openai", "vllm", "llamacpp", "router", "litellm"] = "openai"
    url: str = ""
    urls: list[str] = Field(
        default_factory=list,
        description="Replicas of this engine (other machines too): one engine each, named NAME-1, "
        "NAME-2, ...; the gateway routes between them by prompt prefix.",
    )
    slots: int = Field(default=4, ge=1)
    models: list[str] = Field(default_factory=list)
    embedding_models: list[str] = Field(default_factory=list)
    api_key: str | None = Field(default=None, repr=False)
    context: int = Field(
        default=0, ge=0, description="Tokens a request may use; 0: unknown. Ollama: the pinned num_ctx."
    )
    session_header: str = Field(
        default="x-session-id",
        description="router: the header that carries each request's routing key (agent prefix).",
    )
    keep_alive: str = Field(default="30m", description="ollama: how long a model stays loaded when idle.")
    max_loaded: int = Field(default=3, ge=1, description="ollama: OLLAMA_MAX_LOADED_MODELS of that server.")


class StackSettings(_Section):
    """What ``stack up`` runs and how the gateway schedules: validated once, typos are errors."""

    embedded: bool = True
    engine: Literal["xllamacpp", "llama-server"] = "xllamacpp"
    parallel: int | None = Field(default=None, ge=1, description="Engine slots; default: 12 per core.")
    threads: int | None = Field(default=None, ge=1)
    engine_port: int = 11436
    embedder_port: int = 11437
    max_queue: int = Field(default=2048, ge=1)
    queue_timeout_s: float = Field(default=60.0, gt=0)
    cache_ttl_s: float = Field(default=600.0, ge=0)
    max_agent_share: float = Field(default=0.25, gt=0, le=1)
    reserved_interactive: int = Field(default=1, ge=0, description="Slots background work leaves free.")
    embed_max_texts: int = Field(
        default=128, ge=1, description="Texts merged into one embedding call; 1: off."
    )
    litellm_config: str | None = None
    tool_calls: dict[str, Literal["native", "grammar"]] = Field(
        default_factory=dict,
        description="Per model: native (the engine calls tools) or grammar (the gateway constrains "
        "decoding to the tools' schemas). Unset: the engine decides (llama-server: grammar).",
    )
    tool_rounds: int = Field(
        default=1,
        ge=1,
        le=32,
        description="Grammar path: rounds of tool calls per user message before `auto` answers "
        "(small models call tool after tool otherwise; raise it for larger ones).",
    )
    ollama_url: str | None = Field(default=None, description="A real Ollama to front, models discovered.")
    replicas: int = Field(
        default=1, ge=1, le=16, description="Embedded engine processes (the cores are split between them)."
    )
    routing: Literal["prefix", "least-loaded", "round-robin"] = Field(
        default="prefix",
        description="Across the replicas of a model: prefix (an agent's prompt stays where it is "
        "cached, load bounded), least-loaded, or round-robin.",
    )
    load_bound: float = Field(
        default=1.25, ge=1.0, description="prefix routing: a replica's load before its keys spill."
    )
    model_switch_after_s: float = Field(
        default=15.0, gt=0, description="Ollama: how long batch work waits for another model's turn."
    )
    stall_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="An engine that sends no byte this long is taken as hung: a non-streaming request "
        "is re-run on another replica, a stream ends with an error.",
    )
    engines: list[EngineSettings] = Field(default_factory=list)


class BudgetSettings(_Section):
    """Tokens (prompt + completion) an agent may use a day at the gateway; 0: no limit."""

    daily_tokens: int = Field(default=0, ge=0, description="Any agent's daily token budget; 0: none.")
    agents: dict[str, int] = Field(
        default_factory=dict, description="Per agent: its own daily token budget (0: none)."
    )


class Settings(_Section):
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    tiers: dict[str, str | list[str]] = Field(
        default_factory=DEFAULT_TIERS.copy,
        description="Model tiers: a tier name maps to a concrete model the gateway serves.",
    )
    memory: MemorySettings = Field(default_factory=MemorySettings)
    paths: PathSettings = Field(default_factory=PathSettings)
    secrets: SecretSettings = Field(default_factory=SecretSettings)
    stack: StackSettings = Field(default_factory=StackSettings)
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)


def default(section: type[BaseModel], key: str) -> Any:
    """A setting's default as declared above: what the gateway's own config starts from, so a
    default is written once."""
    return section.model_fields[key].get_default(call_default_factory=True)


def user_config_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("sutazai")) / "config.toml"


def read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(syntax_problem(exc, path)) from None


def _holds(data: Any, loc: tuple[Any, ...]) -> bool:
    """Whether ``data`` sets the key at ``loc`` (so an error there came from this file)."""
    for part in loc:
        if (isinstance(data, dict) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and part < len(data)
        ):
            data = data[part]
        else:
            return False
    return True


def env_overrides(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Turn ``SUTAZAI_SECTION_KEY=value`` into ``{"section": {"key": value}}``."""
    env = os.environ if environ is None else environ
    sections = set(Settings.model_fields)
    out: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if section in sections and key:
            out.setdefault(section, {})[key] = value
    return out


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    workspace_toml: Path | None = None,
    flags: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    user_toml: Path | None = None,
) -> Settings:
    """Merge every source, lowest precedence first, then validate once."""
    user_toml = user_toml or user_config_path()
    layers: list[tuple[dict[str, Any], Path | None]] = [
        (read_toml(user_toml), user_toml),
        (read_toml(workspace_toml) if workspace_toml else {}, workspace_toml),
        (env_overrides(environ), None),
        (flags or {}, None),
    ]
    merged: dict[str, Any] = {}
    for data, _ in layers:
        merged = deep_merge(merged, data)
    # A gateway host/port set without a URL moves the URL with it.
    gw = merged.get("gateway", {})
    if ("host" in gw or "port" in gw) and "url" not in gw:
        host = gw.get("host", "127.0.0.1")
        gw["url"] = (
            f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{gw.get('port', DEFAULT_PORT)}"
        )
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            # Blame the highest-precedence file that sets the key; flags and environment have no file.
            source = next(
                (path for data, path in reversed(layers) if _holds(data, tuple(err["loc"]))),
                workspace_toml,
            )
            text = source.read_text(encoding="utf-8") if source and source.is_file() else None
            problems.append(validation_problem(Settings, err, source, text))
        raise SpecError(problems) from None
