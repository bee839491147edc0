"""The ``agent.yaml`` model. Its JSON Schema (``sutazai schema``) is what editors validate against."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sutazai.wire import Priority

Kind = Literal["document", "code", "conversation", "knowledge"]
ToolProtocol = Literal["auto", "native", "text"]
ToolChoice = Literal["auto", "required"]
SCHEMA_ID = "https://sutazai.dev/schema/agent.json"

# Chroma keeps one collection per kind, as in the fleet design.
KIND_COLLECTIONS: dict[str, str] = {
    "document": "documents",
    "code": "code",
    "conversation": "conversations",
    "knowledge": "knowledge",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromptSpec(_Strict):
    """The system prompt: inline ``text`` or a ``file`` relative to the agent folder."""

    text: str | None = Field(None, description="The system prompt, inline.")
    file: str | None = Field(None, description="A file in the agent folder holding the system prompt.")

    @model_validator(mode="after")
    def _exactly_one(self) -> PromptSpec:
        if (self.text is None) == (self.file is None):
            raise ValueError("give exactly one of `text` or `file`")
        return self


class MemorySpec(_Strict):
    enabled: bool = Field(True, description="Retrieve memories before each model call.")
    backend: Literal["faiss", "chroma", "qdrant"] | None = Field(
        None, description="Vector store; defaults to the workspace's `[memory] backend` (faiss)."
    )
    collection: str | None = Field(None, description="Collection name; defaults to one per agent kind.")
    top_k: int = Field(4, ge=0, le=50, description="How many memories to retrieve per call.")


class LimitsSpec(_Strict):
    max_iterations: int = Field(4, ge=1, le=50, description="Model calls per run, tool rounds included.")
    timeout_s: float = Field(120.0, gt=0, le=3600, description="Wall-clock limit for one run.")
    max_tokens: int = Field(256, ge=1, le=32768, description="Completion tokens per model call.")
    max_depth: int = Field(
        3, ge=1, le=8, description="How many levels of delegation may nest below a run of this agent."
    )
    max_delegations: int = Field(
        4, ge=1, le=64, description="Runs of other agents one run of this agent may start (fan-out)."
    )
    max_total_tokens: int | None = Field(
        None,
        ge=1,
        description="Tokens (prompt + completion) one run may use over all its model calls; the run "
        "ends with status `budget` before a call once they are spent. None: no limit.",
    )
    tool_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Wall-clock limit for one tool call; a tool that overruns fails its step.",
    )


AGENT_NAME = r"^[a-z][a-z0-9-]*$"


class RemoteDelegate(_Strict):
    """An agent in another process or workspace, called over A2A: the model sees it as ``ask_<name>``
    like a local delegate; its card (``URL/.well-known/agent-card.json``) describes it."""

    a2a: str = Field(
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="The agent's A2A endpoint, e.g. http://127.0.0.1:8100/agents/calc/.",
    )
    name: str | None = Field(
        None,
        pattern=AGENT_NAME,
        description="What it is called here (the tool is ask_<name>); default: the URL's last path part.",
    )
    description: str | None = Field(
        None, description="What it is for, offered to the model; default: its card's description."
    )
    token_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable holding the remote workspace's token: needed beyond "
        "loopback, and for the remote to honour this run's priority.",
    )

    @property
    def agent(self) -> str:
        if self.name:
            return self.name
        last = self.a2a.rstrip("/").rsplit("/", 1)[-1]
        cleaned = re.sub(r"[^a-z0-9-]+", "-", last.lower()).strip("-")
        return cleaned if cleaned and cleaned[0].isalpha() else "remote"


class AgentSpec(_Strict):
    """One agent: what it is, which model tier it uses, its prompt, tools, memory and limits."""

    name: Annotated[str, Field(pattern=AGENT_NAME, description="Unique name; the folder name.")]
    description: str = Field("", description="One line: what this agent is for.")
    kind: Kind = Field(description="document, code, conversation or knowledge.")
    tier: str | None = Field(
        "fast", description="Model tier (fast, quality, local or one from sutazai.toml [tiers])."
    )
    model: str | None = Field(None, description="An explicit model name; overrides `tier`.")
    priority: Priority = Field("normal", description="Scheduling class at the gateway.")
    temperature: float = Field(0.2, ge=0, le=2, description="Sampling temperature; 0 makes runs cacheable.")
    seed: int | None = Field(None, description="Fixed seed for reproducible sampling.")
    prompt: PromptSpec = Field(description="System prompt, inline (`text`) or from a file (`file`).")
    tools: list[str] = Field(default_factory=list, description="Built-in tools or functions in tools.py.")
    delegates: list[Annotated[str, Field(pattern=AGENT_NAME)] | RemoteDelegate] = Field(
        default_factory=list,
        description="Agents it may call: names of this workspace's agents, or `{a2a: URL}` for an "
        "A2A agent elsewhere. Each is offered to the model as a tool `ask_<agent>` with that agent's "
        "description, taking `input`; a local child run is recorded under this run's step, inherits "
        "its priority, deadline and token budget (a remote one gets them as the call's metadata).",
    )
    tool_protocol: ToolProtocol = Field(
        "auto", description="native tool calls, a text protocol small models follow, or auto (both)."
    )
    tool_choice: ToolChoice = Field(
        "auto",
        description="`required`: the first model call of a run must call one of its tools or "
        "delegates (the gateway constrains small models to a call), later calls choose freely; for "
        "agents whose job is to hand work on, like a planner. Needs native tool calls.",
    )
    memory: MemorySpec = Field(default_factory=lambda: MemorySpec.model_validate({}))
    limits: LimitsSpec = Field(default_factory=lambda: LimitsSpec.model_validate({}))
    smoke: str | None = Field("smoke.yaml", description="Smoke cases file, relative to the agent folder.")
    entrypoint: str | None = Field(
        None, description="`module:function` in the agent folder that runs a turn (framework agents)."
    )

    @model_validator(mode="before")
    @classmethod
    def _prompt_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("prompt"), str):
            data = {**data, "prompt": {"text": data["prompt"]}}
        return data

    @property
    def local_delegates(self) -> list[str]:
        return [d for d in self.delegates if isinstance(d, str)]

    @property
    def remote_delegates(self) -> list[RemoteDelegate]:
        return [d for d in self.delegates if isinstance(d, RemoteDelegate)]

    @property
    def delegate_names(self) -> list[str]:
        """Every delegate's name as the model knows it (``ask_<name>``), local or remote."""
        return [d if isinstance(d, str) else d.agent for d in self.delegates]

    @property
    def model_ref(self) -> str:
        """What the gateway is asked for: an explicit model, or the tier it resolves."""
        return self.model or self.tier or "fast"

    def collection_name(self) -> str:
        return self.memory.collection or KIND_COLLECTIONS[self.kind]


def delegate_name(entry: object) -> str:
    """A ``delegates`` entry's name as read from a raw tree (a name, or a remote's mapping)."""
    if isinstance(entry, dict) and "a2a" in entry:
        try:
            return RemoteDelegate.model_validate(dict(entry)).agent
        except ValueError:
            return str(entry.get("name") or "remote")
    return str(entry)


def json_schema() -> dict[str, Any]:
    schema = AgentSpec.model_json_schema()
    schema["$id"] = SCHEMA_ID
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "SutazAI agent.yaml"
    return schema
