"""What a run streams to its caller, in order: started, then tokens/memories/tools, then finished."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sutazai.agents.memory import MemoryHit


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    agent: str
    model: str


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class MemoriesRetrieved:
    hits: list[MemoryHit]


@dataclass(frozen=True)
class ToolCalled:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolReturned:
    name: str
    result: str
    error: bool = False


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    status: str  # ok | error | timeout | cancelled | unavailable | budget | interrupted
    output: str
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    steps: int = 0


RunEvent = RunStarted | Token | MemoriesRetrieved | ToolCalled | ToolReturned | RunFinished
