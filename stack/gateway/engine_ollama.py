"""A real Ollama, spoken to in its own API, without reload storms.

Ollama reloads a model whenever a request names another model than the ones it holds or another
``num_ctx`` than it was loaded with (seconds on CPU; users of Aider and of fleets report reload
storms from it). This adapter therefore pins ``num_ctx`` per model, sets ``keep_alive`` so fleet
models stay resident, and tracks what Ollama has loaded (``/api/ps``) for the scheduler, which
prefers those models (``scheduler.py``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import orjson

from sutazai.stack.gateway.engines import (
    RETRYABLE,
    Engine,
    EngineConfig,
    ModelInfo,
    _fail_on_status,
    _failure,
)
from sutazai.stack.gateway.types import ChatRequest, Delta, EngineFailure, Usage

OLLAMA_DEFAULT_CTX = 4096  # what num_ctx is pinned to when the engine has no `context`


class OllamaEngine(Engine):
    """A real Ollama (the production backend), spoken to in its own API."""

    def __init__(self, config: EngineConfig) -> None:
        super().__init__(config)
        self.loaded: dict[str, float] = {}  # model -> when it was last asked for (LRU order)

    def resident(self) -> set[str] | None:
        return set(self.loaded)

    def using(self, model: str) -> None:
        """A request for ``model`` is about to go: Ollama will hold it, evicting its oldest."""
        self.loaded.pop(model, None)
        self.loaded[model] = time.monotonic()
        while len(self.loaded) > max(self.config.max_loaded, 1):
            self.loaded.pop(next(iter(self.loaded)))

    def num_ctx(self, model: str) -> int:
        """Pinned: ``context`` when configured, else Ollama's own default; clients' values never
        reach Ollama (the dialects do not pass ``num_ctx`` on)."""
        return self.config.context or OLLAMA_DEFAULT_CTX

    def context_for(self, model: str) -> int:
        return self.num_ctx(model)

    async def check(self) -> bool:
        ok = await super().check()
        if ok:
            await self._refresh_loaded()
        return ok

    async def _refresh_loaded(self) -> None:
        """What Ollama itself says it holds (``/api/ps``) corrects what the gateway assumed."""
        try:
            async with self.session.get(
                f"{self.config.url}/api/ps", timeout=aiohttp.ClientTimeout(total=2)
            ) as r:
                data = await r.json(loads=orjson.loads) if r.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return
        if data is None:
            return
        names = [m.get("name") or m.get("model") for m in data.get("models") or []]
        self.loaded = {n: self.loaded.get(n, 0.0) for n in names if n}

    async def health(self) -> bool:
        async with self.session.get(
            f"{self.config.url}/api/version", timeout=aiohttp.ClientTimeout(total=2)
        ) as r:
            return r.status == 200

    async def discover(self) -> None:
        data = await self.get_json(f"{self.config.url}/api/tags")
        for item in data.get("models", []):
            details = item.get("details") or {}
            info = ModelInfo(item["name"], int(item.get("size", 0)), 0, details.get("family", ""))
            self.models.setdefault(item["name"], info)
        for name, info in self.models.items():
            await self._show(name, info)

    async def _show(self, name: str, info: ModelInfo) -> None:
        """What Ollama says of a model: whether it calls tools (``capabilities``), its context."""
        try:
            async with self.session.post(
                f"{self.config.url}/api/show", json={"model": name}, timeout=aiohttp.ClientTimeout(total=3)
            ) as r:
                shown = await r.json(loads=orjson.loads) if r.status == 200 else {}
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return
        capabilities = shown.get("capabilities")
        if isinstance(capabilities, list):
            info.tools = "tools" in capabilities
            info.embedding = info.embedding or capabilities == ["embedding"]
        for key, value in (shown.get("model_info") or {}).items():
            if key.endswith(".context_length") and isinstance(value, int):
                info.context_length = value

    async def stream(
        self, request: ChatRequest, model: str, slot: int | None, attempt: int = 0
    ) -> AsyncGenerator[Delta, None]:
        options = dict(request.options)
        body: dict[str, Any] = {"model": model, "stream": True}
        response_format = options.pop("response_format", None)
        if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
            body["format"] = (response_format.get("json_schema") or {}).get("schema") or "json"
        elif isinstance(response_format, dict) and response_format.get("type") == "json_object":
            body["format"] = response_format.get("schema") or "json"
        options["num_predict"] = self.token_limit(options.pop("max_tokens", None))
        options["num_ctx"] = self.num_ctx(model)  # one value per model: another reloads it
        body["options"] = options
        body["keep_alive"] = self.config.keep_alive
        if request.messages is not None:
            path = "/api/chat"
            body["messages"] = request.messages
            if request.tools:
                body["tools"] = request.tools
        else:
            path = "/api/generate"
            body["prompt"] = request.prompt or ""
        started = False
        try:
            async with self.session_for(attempt).post(self.config.url + path, json=body) as response:
                await _fail_on_status(self.name, response)
                async for line in response.content:
                    if not line.strip():
                        continue
                    event = orjson.loads(line)
                    if "error" in event:
                        raise EngineFailure(f"{self.name}: {event['error']}", started)
                    message = event.get("message") or {}
                    text = message.get("content") or event.get("response") or ""
                    if text:
                        started = True
                        yield Delta(content=text)
                    if event.get("done"):
                        calls = [
                            {
                                "id": f"call_{i}",
                                "type": "function",
                                "function": {
                                    "name": c["function"]["name"],
                                    "arguments": orjson.dumps(c["function"].get("arguments", {})).decode(),
                                },
                            }
                            for i, c in enumerate(message.get("tool_calls") or [])
                        ] or None
                        usage = Usage(
                            event.get("prompt_eval_count", 0),
                            event.get("eval_count", 0),
                            0,
                            event.get("prompt_eval_duration", 0) / 1e6,
                            event.get("eval_duration", 0) / 1e6,
                        )
                        yield Delta(
                            tool_calls=calls, finish_reason=event.get("done_reason") or "stop", usage=usage
                        )
                        return
        except RETRYABLE as exc:
            raise _failure(self.name, exc, started) from exc
        except aiohttp.ClientError as exc:
            raise EngineFailure(f"{self.name}: {type(exc).__name__}: {exc}", started) from exc
        raise EngineFailure(f"{self.name} ended the stream without finishing", started)

    async def embed(self, texts: list[str], model: str, attempt: int = 0) -> tuple[list[list[float]], int]:
        data = await self.post_json(f"{self.config.url}/api/embed", {"model": model, "input": texts}, attempt)
        return data["embeddings"], int(data.get("prompt_eval_count", 0))
