"""The runtime's only way to a model: the gateway's OpenAI-compatible API over httpx.

httpx rather than LiteLLM on this path: LiteLLM costs ~8 ms a call and seconds to import, while
the gateway already speaks the one dialect we need (see docs/benchmarks.md).

A busy gateway (429 or 503, with ``Retry-After``) makes a run slower, not failed: the client waits
what the gateway asks, jittered so a fleet does not return in one wave and doubled each time,
until the run's deadline; every wait is reported to ``on_backoff`` (the runtime records it as a
step of the run).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

import httpx

from sutazai import sse
from sutazai.agents import tracing
from sutazai.errors import GatewayUnavailable, Problem, UserError
from sutazai.gateway_report import ModelEntry, QueueSnapshot, ServedModel, StatsSnapshot
from sutazai.wire import AGENT_HEADER, BUDGET_HEADER, PRIORITY_HEADER, error_message

if TYPE_CHECKING:
    from sutazai.workspace import Workspace


class GatewayError(UserError):
    """The gateway answered, with an error (overloaded, unknown model, engine down)."""

    exit_code = 3


BackoffHook = Callable[[int, float, str], None]  # status, seconds about to be waited, the gateway's message
BUSY = (429, 503)
MAX_WAIT_S = 30.0
ATTEMPTS_WITHOUT_DEADLINE = 5


def backoff_seconds(retry_after: str | None, attempt: int) -> float:
    """What the gateway asked (or 1 s), doubled each attempt, with ±25% jitter."""
    try:
        base = float(retry_after) if retry_after else 1.0
    except ValueError:
        base = 1.0
    wait: float = min(MAX_WAIT_S, max(base, 0.1) * 2**attempt) * random.uniform(0.75, 1.25)
    return wait


@dataclass
class ToolCallDelta:
    index: int
    id: str | None = None
    name: str = ""
    arguments: str = ""


@dataclass
class ChatChunk:
    """One streamed piece: some content, tool-call fragments, and (last) the usage."""

    content: str = ""
    tool_calls: list[ToolCallDelta] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    finish_reason: str | None = None


def auth_headers(token: str | None) -> dict[str, str]:
    """The workspace token, as every gateway client sends it (``/admin/*``, interactive priority)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


class GatewayClient:
    """One HTTP client for the gateway, used by every front end (runtime, TUI, language server,
    doctor, pytest plugin): the same token, headers, timeouts and errors everywhere."""

    def __init__(
        self, base_url: str, timeout_s: float = 120.0, agent: str | None = None, token: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
            headers=auth_headers(token),
        )
        self.agent = agent
        self._capabilities: dict[str, frozenset[str]] | None = None

    @classmethod
    def for_workspace(
        cls, workspace: Workspace, *, timeout_s: float | None = None, agent: str | None = None
    ) -> Self:
        """The workspace's gateway with its token: how every front end gets a client, so none
        forgets the token (without it, /admin and interactive priority are refused)."""
        gateway = workspace.settings.gateway
        return cls(
            gateway.url,
            gateway.timeout_s if timeout_s is None else timeout_s,
            agent=agent,
            token=workspace.gateway_token(),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _headers(self, agent: str | None, priority: str | None) -> dict[str, str]:
        headers = {}
        if agent or self.agent:
            headers[AGENT_HEADER] = agent or self.agent or ""
        if priority:
            headers[PRIORITY_HEADER] = priority
        return headers

    def _unreachable(self, exc: Exception) -> GatewayUnavailable:
        return GatewayUnavailable(
            Problem(
                f"gateway at {self.base_url} is not answering ({type(exc).__name__})",
                hint="start it with `sutazai stack up --detach`, or set [gateway] url in sutazai.toml",
            )
        )

    @staticmethod
    async def _detail(response: httpx.Response) -> str:
        body = (await response.aread()).decode("utf-8", "replace")
        try:
            return error_message(json.loads(body)) or body
        except ValueError:
            return body

    async def _raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        detail = await self._detail(response)
        hint = "the gateway is busy; retry later" if response.status_code in BUSY else None
        if response.headers.get(BUDGET_HEADER) == "exceeded":
            hint = "raise the agent's budget in sutazai.toml [budgets], or wait for 00:00 UTC"
        raise GatewayError(Problem(f"gateway answered {response.status_code}: {detail}", hint=hint))

    async def _wait_if_busy(
        self, response: httpx.Response, attempt: int, deadline: float | None, on_backoff: BackoffHook | None
    ) -> float | None:
        """Seconds to wait before trying again, or None when this answer is final."""
        if response.status_code not in BUSY or response.headers.get(BUDGET_HEADER) == "exceeded":
            return None  # a spent budget does not come back by waiting
        wait = backoff_seconds(response.headers.get("Retry-After"), attempt)
        loop_time = asyncio.get_running_loop().time()
        if deadline is None and attempt + 1 >= ATTEMPTS_WITHOUT_DEADLINE:
            return None
        if deadline is not None and loop_time + wait >= deadline:
            return None  # no time left: the error reaches the run
        if on_backoff is not None:
            on_backoff(response.status_code, wait, await self._detail(response))
        return wait

    async def chat_stream(
        self,
        messages: list[dict[str, Any]],
        model: str,
        *,
        max_tokens: int,
        temperature: float,
        seed: int | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | None = None,
        agent: str | None = None,
        priority: str | None = None,
        deadline: float | None = None,
        on_backoff: BackoffHook | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> AsyncIterator[ChatChunk]:
        """Stream one answer; ``deadline`` (event-loop time) bounds waiting on a busy gateway;
        ``tool_choice`` (with ``tools``) is OpenAI's: "required" makes the model call one;
        ``response_format`` is OpenAI's too (a JSON schema the engine's grammar holds it to)."""
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if seed is not None:
            body["seed"] = seed
        if response_format is not None:
            body["response_format"] = response_format
        if tools:
            body["tools"] = tools
            if tool_choice is not None:
                body["tool_choice"] = tool_choice
        headers = {**self._headers(agent, priority), **tracing.propagation_headers()}
        try:
            for attempt in itertools.count():
                async with self._client.stream(
                    "POST", "/v1/chat/completions", json=body, headers=headers
                ) as response:
                    wait = await self._wait_if_busy(response, attempt, deadline, on_backoff)
                    if wait is None:
                        await self._raise_for_status(response)
                        async for chunk in self._chunks(response):
                            yield chunk
                        return
                await asyncio.sleep(wait)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None

    async def _chunks(self, response: httpx.Response) -> AsyncIterator[ChatChunk]:
        async for event in sse.events(response.aiter_lines()):
            if "error" in event:
                message = event["error"].get("message", str(event["error"]))
                raise GatewayError(Problem(f"gateway stream failed: {message}"))
            yield _parse_chunk(event)

    async def embed(self, texts: list[str], model: str, agent: str | None = None) -> list[list[float]]:
        try:
            for attempt in range(ATTEMPTS_WITHOUT_DEADLINE):
                response = await self._client.post(
                    "/v1/embeddings",
                    json={"model": model, "input": texts},
                    headers=self._headers(agent, None),
                )
                wait = await self._wait_if_busy(response, attempt, None, None)
                if wait is None:
                    break
                await asyncio.sleep(wait)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        await self._raise_for_status(response)
        data = sorted(response.json()["data"], key=lambda d: d["index"])
        return [d["embedding"] for d in data]

    # Cassette hooks: a recording client keeps tool results, a replaying one answers with them, so
    # that a replayed run sees what the recorded one saw even from tools that read the clock.

    offline = False  # a replaying client: nothing may reach the network

    async def replayed_tool(self, name: str, arguments: dict[str, Any]) -> str | None:
        return None

    def recorded_tool(self, name: str, arguments: dict[str, Any], result: str) -> None:
        return None

    async def _get_json(self, path: str) -> Any:
        try:
            response = await self._client.get(path)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        await self._raise_for_status(response)
        try:
            return response.json()
        except ValueError:
            raise GatewayError(Problem(f"gateway answered {path} with something other than JSON")) from None

    async def models(self) -> list[str]:
        return [m.id for m in await self.model_entries()]

    async def model_entries(self) -> list[ModelEntry]:
        """``/v1/models``, with the limits and tool path our gateway adds (absent elsewhere)."""
        entries = (await self._get_json("/v1/models")).get("data", [])
        return [ModelEntry.model_validate(m) for m in entries if isinstance(m, dict) and "id" in m]

    async def capabilities(self, model: str) -> frozenset[str]:
        """What the gateway says ``model`` can do (``tools``, ...), asked once per client. A server
        that says nothing (another OpenAI-compatible server) gets an empty set."""
        if self._capabilities is None:
            self._capabilities = {m.id: frozenset(m.capabilities) for m in await self.model_entries()}
        return self._capabilities.get(model, frozenset())

    async def served_models(self) -> list[ServedModel]:
        """Models with their sizes, as Ollama's ``/api/tags`` lists them."""
        return [ServedModel.model_validate(m) for m in (await self._get_json("/api/tags")).get("models", [])]

    async def stats(self) -> StatsSnapshot:
        """What the gateway reports (needs the workspace token: ``/admin/*``)."""
        return StatsSnapshot.model_validate(await self._get_json("/admin/stats"))

    async def queue(self) -> QueueSnapshot:
        """Who waits for which engine, in order, per agent and priority (``/admin/queue``)."""
        return QueueSnapshot.model_validate(await self._get_json("/admin/queue"))

    async def run_usage(self, run_id: str) -> tuple[int, int]:
        """Prompt and completion tokens the gateway counted for requests tagged with ``run_id``
        (``X-Sutazai-Run``): a framework agent's own model calls (needs the workspace token)."""
        usage = await self._get_json(f"/admin/runs/{run_id}/usage")
        return int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))


def _parse_chunk(event: dict[str, Any]) -> ChatChunk:
    chunk = ChatChunk()
    for choice in event.get("choices") or []:
        delta = choice.get("delta") or {}
        chunk.content += delta.get("content") or ""
        for call in delta.get("tool_calls") or []:
            fn = call.get("function") or {}
            chunk.tool_calls.append(
                ToolCallDelta(
                    call.get("index", 0), call.get("id"), fn.get("name") or "", fn.get("arguments") or ""
                )
            )
        chunk.finish_reason = choice.get("finish_reason") or chunk.finish_reason
    usage = event.get("usage") or {}
    chunk.prompt_tokens = usage.get("prompt_tokens") or 0
    chunk.completion_tokens = usage.get("completion_tokens") or 0
    chunk.cached_tokens = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return chunk
