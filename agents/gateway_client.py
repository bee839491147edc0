"""The runtime's only way to a model: the gateway's OpenAI-compatible API over httpx.

httpx rather than LiteLLM on this path: LiteLLM costs ~8 ms a call and seconds to import, while
the gateway already speaks the one dialect we need (see docs/benchmarks.md).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from sutazai.errors import GatewayUnavailable, Problem, UserError


class GatewayError(UserError):
    """The gateway answered, with an error (overloaded, unknown model, engine down)."""

    exit_code = 3


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
    def __init__(
        self, base_url: str, timeout_s: float = 120.0, agent: str | None = None, token: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s, connect=5.0),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
            headers=auth_headers(token),
        )
        self.agent = agent

    async def aclose(self) -> None:
        await self._client.aclose()

    def _headers(self, agent: str | None, priority: str | None) -> dict[str, str]:
        headers = {}
        if agent or self.agent:
            headers["X-Sutazai-Agent"] = agent or self.agent or ""
        if priority:
            headers["X-Sutazai-Priority"] = priority
        return headers

    def _unreachable(self, exc: Exception) -> GatewayUnavailable:
        return GatewayUnavailable(
            Problem(
                f"gateway at {self.base_url} is not answering ({type(exc).__name__})",
                hint="start it with `sutazai stack up --detach`, or set [gateway] url in sutazai.toml",
            )
        )

    @staticmethod
    async def _raise_for_status(response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        body = (await response.aread()).decode("utf-8", "replace")
        try:
            detail = json.loads(body).get("error", body)
            detail = detail.get("message", detail) if isinstance(detail, dict) else detail
        except (ValueError, AttributeError):
            detail = body
        hint = "the gateway is busy; retry later" if response.status_code in (429, 503) else None
        raise GatewayError(Problem(f"gateway answered {response.status_code}: {detail}", hint=hint))

    async def chat_stream(
        self,
        messages: list[dict[str, Any]],
        model: str,
        *,
        max_tokens: int,
        temperature: float,
        seed: int | None = None,
        tools: list[dict[str, Any]] | None = None,
        agent: str | None = None,
        priority: str | None = None,
    ) -> AsyncIterator[ChatChunk]:
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
        if tools:
            body["tools"] = tools
        try:
            async with self._client.stream(
                "POST", "/v1/chat/completions", json=body, headers=self._headers(agent, priority)
            ) as response:
                await self._raise_for_status(response)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    event = json.loads(payload)
                    if "error" in event:
                        message = event["error"].get("message", str(event["error"]))
                        raise GatewayError(Problem(f"gateway stream failed: {message}"))
                    yield _parse_chunk(event)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None

    async def embed(self, texts: list[str], model: str, agent: str | None = None) -> list[list[float]]:
        try:
            response = await self._client.post(
                "/v1/embeddings", json={"model": model, "input": texts}, headers=self._headers(agent, None)
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        await self._raise_for_status(response)
        data = sorted(response.json()["data"], key=lambda d: d["index"])
        return [d["embedding"] for d in data]

    async def models(self) -> list[str]:
        try:
            response = await self._client.get("/v1/models")
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        await self._raise_for_status(response)
        return [m["id"] for m in response.json().get("data", [])]


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
