"""The gateway's internal request and stream shapes, shared by both dialects and all engines."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from sutazai.wire import (
    ENGINE_HEADER,
    PRIORITIES,
    QUEUE_ESTIMATE_HEADER,
    QUEUE_POSITION_HEADER,
    QUEUE_WAIT_HEADER,
    Priority,
)

__all__ = ["PRIORITIES", "Priority"]  # re-exported for the gateway's modules


class GatewayHTTPError(Exception):
    """An error with an HTTP status; each dialect renders it in its own error shape."""

    def __init__(
        self, status: int, message: str, retry_after: float | None = None, kind: str = "error"
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.kind = kind


class Overloaded(GatewayHTTPError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(429, message, retry_after, "overloaded")


class Rerouted(Exception):
    """A waiter handed back by a pool whose engine is draining: place the request again elsewhere."""


class EngineFailure(Exception):
    """The engine failed (connection, 5xx, died mid-stream). ``started`` means bytes were sent;
    ``busy_for`` (seconds) means it is alive but pushing back (429/503 with ``Retry-After``)."""

    def __init__(
        self, message: str, started: bool = False, retryable: bool = False, busy_for: float | None = None
    ) -> None:
        super().__init__(message)
        self.started = started
        self.retryable = retryable  # a dropped or stale connection before any byte: safe to try again
        self.busy_for = busy_for


class EngineLost(GatewayHTTPError):
    """An engine failed after part of an answer was produced. A client that has received none of it
    (a non-streaming request) gets the whole answer from another replica instead (``Gateway.stream``)."""

    def __init__(self, engine: str, message: str) -> None:
        super().__init__(502, message, kind="engine")
        self.engine = engine


@dataclass(slots=True)
class Placement:
    """Where the gateway put a request and what it waited: filled while it is scheduled, read by
    the dialects for the ``X-SutazAI-Queue-*`` headers and by tracing."""

    key: str = ""  # the routing key (see routing.prefix_key)
    engine: str = ""
    slot: int | None = None
    position: int = 0  # requests ahead of it when it arrived; 0: served at once
    estimate_ms: float = 0.0  # the wait expected when it arrived
    waited_ms: float = 0.0

    def headers(self) -> dict[str, str]:
        return {
            ENGINE_HEADER: self.engine,
            QUEUE_POSITION_HEADER: str(self.position),
            QUEUE_ESTIMATE_HEADER: str(round(self.estimate_ms)),
            QUEUE_WAIT_HEADER: str(round(self.waited_ms)),
        }


@dataclass(slots=True)
class ChatRequest:
    """One chat (or plain completion) request, in OpenAI terms."""

    model: str
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None  # /v1/completions and /api/generate without a chat template
    stream: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # temperature, max_tokens, seed, stop, ...
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None  # "auto" | "none" | "required" | {"type": "function", ...}
    parallel_tool_calls: bool | None = None
    agent: str = "anonymous"
    priority: Priority = "normal"
    cache_bypass: bool = False
    run: str | None = None  # X-Sutazai-Run: usage counted for that run (see run_usage.py)
    run_budget: int | None = None  # X-Sutazai-Run-Budget: tokens the run may still use
    placement: Placement = field(default_factory=Placement, compare=False)
    rerun: bool = field(default=False, compare=False)  # its engine died: it waited its turn already
    trace: Any = field(default=None, compare=False, repr=False)  # the gateway's span (telemetry.py)

    @property
    def deterministic(self) -> bool:
        return self.options.get("temperature", 1.0) == 0 or self.options.get("seed") is not None

    def cache_key(self, resolved_model: str) -> str:
        body = {
            "m": resolved_model,
            "msg": self.messages,
            "p": self.prompt,
            "o": self.options,
            "t": self.tools,
            "tc": self.tool_choice,
            "ptc": self.parallel_tool_calls,
        }
        return hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    prompt_ms: float = 0.0
    completion_ms: float = 0.0


@dataclass(slots=True)
class Delta:
    """One streamed piece. The last one carries ``finish_reason`` and ``usage``."""

    content: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    usage: Usage | None = None


@dataclass
class Completion:
    """A whole answer: what the cache stores and non-streaming clients get."""

    content: str
    finish_reason: str
    usage: Usage
    tool_calls: list[dict[str, Any]] | None = None
    model: str = ""

    @classmethod
    def from_deltas(cls, deltas: list[Delta], model: str) -> Completion:
        content = "".join(d.content for d in deltas)
        calls = [c for d in deltas for c in (d.tool_calls or [])] or None
        last = deltas[-1] if deltas else Delta()
        return cls(content, last.finish_reason or "stop", last.usage or Usage(), calls, model)

    def deltas(self) -> list[Delta]:
        """The answer as a stream's pieces again (a cached answer replayed to a streaming client)."""
        return [
            Delta(content=self.content),
            Delta(tool_calls=self.tool_calls, finish_reason=self.finish_reason, usage=self.usage),
        ]

    def size(self) -> int:
        return len(self.content) + 256
