"""Engine adapters: how the gateway talks to llama-server, vLLM and any OpenAI-compatible
server, and to a router in front of a distributed fleet; a real Ollama (``engine_ollama.py``) and
anything LiteLLM can translate (``engine_litellm.py``, imported lazily) are adapters too.

Each adapter streams :class:`Delta` pieces and owns its health state and slot count.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from sutazai import sse
from sutazai.config import EngineSettings, GatewaySettings, StackSettings, default
from sutazai.stack.gateway.breaker import CircuitBreaker
from sutazai.stack.gateway.types import ChatRequest, Delta, EngineFailure, GatewayHTTPError, Usage


@dataclass(frozen=True)
class Capabilities:
    """What an engine kind can do, asked by the gateway instead of checking kinds where it acts."""

    slot_pinning: bool = False  # takes `id_slot` and `cache_prompt`: a request goes back to its warm slot
    health_path: str = "/v1/models"  # a cheap GET that answers 200 while the engine serves
    native_tools: bool = True  # applies a tool template when its models say nothing (else: grammar)
    tokenize: bool = False  # `/apply-template` and `/tokenize`: counts a prompt's tokens exactly


CAPABILITIES: dict[str, Capabilities] = {
    "llamacpp": Capabilities(slot_pinning=True, health_path="/health", native_tools=False, tokenize=True),
}
PLAIN = Capabilities()  # every other kind: asked on each request, so built once


@dataclass
class EngineConfig:
    name: str
    kind: str  # llamacpp | openai | vllm | router | ollama | litellm
    url: str
    slots: int = default(EngineSettings, "slots")
    models: list[str] = field(default_factory=list)  # served names; discovered when empty
    embedding_models: list[str] = field(default_factory=list)
    api_key: str | None = None
    litellm_params: dict[str, Any] = field(default_factory=dict)
    context: int = default(EngineSettings, "context")  # a llama-server slot's context; 0: unknown
    session_header: str = default(EngineSettings, "session_header")  # router: see routing.prefix_key
    keep_alive: str = default(EngineSettings, "keep_alive")  # ollama: a model stays loaded this long
    max_loaded: int = default(EngineSettings, "max_loaded")  # ollama: OLLAMA_MAX_LOADED_MODELS
    stall_timeout_s: float = default(StackSettings, "stall_timeout_s")  # no byte this long: it hung
    max_output: int = default(GatewaySettings, "max_output_tokens")  # one answer's tokens at most

    @property
    def capabilities(self) -> Capabilities:
        return CAPABILITIES.get(self.kind, PLAIN)


@dataclass
class ModelInfo:
    name: str
    size: int = 0
    context_length: int = 0
    family: str = ""
    embedding: bool = False
    tools: bool | None = None  # calls tools natively; None: the engine did not say


class Engine:
    """Common state: config, HTTP session, breaker, and the models it serves."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.name = config.name
        self.breaker = CircuitBreaker()
        self.models: dict[str, ModelInfo] = {m: ModelInfo(m) for m in config.models}
        for m in config.embedding_models:
            self.models[m] = ModelInfo(m, embedding=True)
        self.healthy = False
        self.busy_until = 0.0  # monotonic time before which it asked not to be sent work
        self._session: aiohttp.ClientSession | None = None
        self._fresh: aiohttp.ClientSession | None = None

    def _new_session(self, force_close: bool) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            # llama.cpp's HTTP server closes a connection idle for 5 s: reuse one for at most 2 s,
            # so a request is never written into a socket the server is closing.
            connector=aiohttp.TCPConnector(limit=0, force_close=True)
            if force_close
            else aiohttp.TCPConnector(limit=0, keepalive_timeout=2),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=self.config.stall_timeout_s),
            headers={"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else None,
            json_serialize=lambda o: orjson.dumps(o).decode(),
            cookie_jar=aiohttp.DummyCookieJar(),  # an engine sets no cookies worth keeping: none kept
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = self._new_session(force_close=False)
        return self._session

    @property
    def fresh_session(self) -> aiohttp.ClientSession:
        """A new connection for every request: the retry after a pooled connection dropped."""
        if self._fresh is None or self._fresh.closed:
            self._fresh = self._new_session(force_close=True)
        return self._fresh

    def session_for(self, attempt: int) -> aiohttp.ClientSession:
        return self.session if attempt == 0 else self.fresh_session

    def token_limit(self, requested: Any) -> int:
        """``max_tokens`` capped at the most one answer may generate and at the context: a larger
        (or absent) limit would let one client hold a slot until its context fills."""
        cap = min(self.config.max_output, self.config.context or self.config.max_output)
        return cap if requested is None or requested > cap else int(requested)

    def extra_headers(self, request: ChatRequest) -> dict[str, str]:
        return {}

    def resident(self) -> set[str] | None:
        """Models loaded now, for engines that load and unload them (Ollama); None: not tracked."""
        return None

    def using(self, model: str) -> None:
        """A request for ``model`` is about to go (Ollama keeps track of what it will hold)."""

    def context_for(self, model: str) -> int:
        """Tokens one request may use with ``model`` here (prompt and answer): a llama-server
        slot's share of the context when configured, else what the engine reported; 0: unknown."""
        info = self.models.get(model)
        trained = info.context_length if info else 0
        if self.config.context and trained:
            return min(self.config.context, trained)
        return self.config.context or trained

    async def get_json(self, url: str, timeout_s: float = 3.0) -> Any:
        """A listing the engine serves (models, tags): its JSON, read within ``timeout_s``."""
        async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            return await response.json(loads=orjson.loads)

    async def post_json(self, url: str, body: dict[str, Any], attempt: int) -> Any:
        """One JSON request and its JSON answer, failures sorted as every adapter sorts them."""
        try:
            async with self.session_for(attempt).post(url, json=body) as response:
                await _fail_on_status(self.name, response)
                return await response.json(loads=orjson.loads)
        except RETRYABLE as exc:
            raise _failure(self.name, exc, False) from exc
        except aiohttp.ClientError as exc:
            raise EngineFailure(f"{self.name}: {type(exc).__name__}: {exc}") from exc

    async def count_tokens(self, model: str, messages: list[dict[str, Any]]) -> int | None:
        """The prompt's tokens under the model's chat template; None where the engine cannot say."""
        return None

    async def close(self) -> None:
        for session in (self._session, self._fresh):
            if session is not None:
                await session.close()

    def serves(self, model: str) -> bool:
        return model in self.models

    async def health(self) -> bool:
        raise NotImplementedError

    async def discover(self) -> None:
        """Learn the served models from the engine itself (for engines configured without them)."""

    def stream(
        self, request: ChatRequest, model: str, slot: int | None, attempt: int = 0
    ) -> AsyncGenerator[Delta, None]:
        """The answer as deltas; ``attempt`` > 0 is a retry and must use a fresh connection."""
        raise NotImplementedError

    async def embed(self, texts: list[str], model: str, attempt: int = 0) -> tuple[list[list[float]], int]:
        raise NotImplementedError

    async def check(self) -> bool:
        try:
            ok = await self.health()
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
            ok = False
        self.healthy = ok
        if ok and self.breaker.state != "closed":
            self.breaker.record_success()
        elif not ok:
            self.breaker.record_failure()
        return ok


RETRYABLE = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    asyncio.IncompleteReadError,
    ConnectionError,
)
BUSY = (408, 429, 502, 503, 504)


def _failure(engine: str, exc: BaseException, started: bool) -> EngineFailure:
    """A broken connection before any content is safe to send again; after, it is a failure."""
    return EngineFailure(f"{engine}: {type(exc).__name__}: {exc}", started, retryable=not started)


async def _fail_on_status(engine: str, response: aiohttp.ClientResponse) -> None:
    """An engine that answers is alive. A 4xx is the request's fault (too long, bad option) and
    reaches the client as is; another 5xx (a bad grammar, say) reaches it as 502: neither trips the
    breaker nor moves to a fallback. Busy or loading (429, 503, ...) is an engine failure: try the next."""
    if response.status < 400:
        return
    text = await response.text()
    if response.status in BUSY:
        retry_after = response.headers.get("Retry-After", "")
        busy_for = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else None
        raise EngineFailure(f"{engine} answered {response.status}: {text[:300]}", busy_for=busy_for)
    try:
        detail = orjson.loads(text).get("error", text)
        detail = detail.get("message", detail) if isinstance(detail, dict) else detail
    except (orjson.JSONDecodeError, AttributeError):
        detail = text
    status, kind = (response.status, "invalid_request_error") if response.status < 500 else (502, "engine")
    raise GatewayHTTPError(status, f"{engine}: {str(detail)[:300]}", kind=kind)


class OpenAICompatEngine(Engine):
    """vLLM, llama.cpp and any server with ``/v1/chat/completions``; llama-server gets slot pinning."""

    @property
    def base(self) -> str:
        url = self.config.url.rstrip("/")
        return url if url.endswith("/v1") else url + "/v1"

    async def health(self) -> bool:
        path = self.base[: -len("/v1")] + self.config.capabilities.health_path
        async with self.session.get(path, timeout=aiohttp.ClientTimeout(total=2)) as response:
            return response.status == 200

    async def count_tokens(self, model: str, messages: list[dict[str, Any]]) -> int | None:
        if not self.config.capabilities.tokenize:
            return None
        root = self.base[: -len("/v1")]
        prompt = (await self.post_json(f"{root}/apply-template", {"messages": messages}, 0))["prompt"]
        return len((await self.post_json(f"{root}/tokenize", {"content": prompt}, 0))["tokens"])

    async def discover(self) -> None:
        data = await self.get_json(f"{self.base}/models")
        for item in data.get("data", []):
            meta = item.get("meta") or {}
            only_embeddings = bool(self.config.embedding_models) and not self.config.models
            info = self.models.get(item["id"]) or ModelInfo(item["id"], embedding=only_embeddings)
            info.size = int(meta.get("size", info.size) or 0)
            info.context_length = int(meta.get("n_ctx_train", info.context_length) or 0)
            self.models.setdefault(item["id"], info)

    def _body(self, request: ChatRequest, model: str, slot: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "stream": True, **request.options}
        body["max_tokens"] = self.token_limit(body.get("max_tokens"))
        if request.messages is not None:
            body["messages"] = request.messages
        else:
            body["prompt"] = request.prompt or ""
        if request.tools:
            body["tools"] = request.tools
            if request.tool_choice is not None:
                body["tool_choice"] = request.tool_choice
            if request.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = request.parallel_tool_calls
        body["stream_options"] = {"include_usage": True}
        if self.config.capabilities.slot_pinning:
            body["cache_prompt"] = True
            if slot is not None:
                body["id_slot"] = slot
        return body

    async def stream(
        self, request: ChatRequest, model: str, slot: int | None, attempt: int = 0
    ) -> AsyncGenerator[Delta, None]:
        path = "/chat/completions" if request.messages is not None else "/completions"
        started = False
        calls: dict[int, dict[str, Any]] = {}
        finish: str | None = None
        usage = Usage()
        session = self.session_for(attempt)
        try:
            async with session.post(
                self.base + path,
                data=orjson.dumps(self._body(request, model, slot)),  # bytes once, not str then bytes
                headers={"Content-Type": "application/json", **self.extra_headers(request)},
            ) as response:
                await _fail_on_status(self.name, response)
                async for event in sse.chunk_events(response.content.iter_any()):
                    if "error" in event:
                        raise EngineFailure(f"{self.name}: {event['error']}", started)
                    for choice in event.get("choices") or []:
                        delta = choice.get("delta") or {}
                        text = delta.get("content") or choice.get("text") or ""
                        for call in delta.get("tool_calls") or []:
                            slot_call = calls.setdefault(
                                call.get("index", 0), {"id": "", "name": "", "arguments": ""}
                            )
                            fn = call.get("function") or {}
                            slot_call["id"] = call.get("id") or slot_call["id"]
                            slot_call["name"] += fn.get("name") or ""
                            slot_call["arguments"] += fn.get("arguments") or ""
                        finish = choice.get("finish_reason") or finish
                        if text:
                            started = True
                            yield Delta(content=text)
                    if event.get("usage"):
                        u = event["usage"]
                        timings = event.get("timings") or {}
                        usage = Usage(
                            u.get("prompt_tokens", 0),
                            u.get("completion_tokens", 0),
                            (u.get("prompt_tokens_details") or {}).get(
                                "cached_tokens", timings.get("cache_n", 0)
                            )
                            or 0,
                            timings.get("prompt_ms", 0.0),
                            timings.get("predicted_ms", 0.0),
                        )
        except RETRYABLE as exc:
            raise _failure(self.name, exc, started) from exc
        except aiohttp.ClientError as exc:
            raise EngineFailure(f"{self.name}: {type(exc).__name__}: {exc}", started) from exc
        if finish is None:
            raise EngineFailure(f"{self.name} ended the stream without finishing", started)
        tool_calls = [
            {
                "id": c["id"] or f"call_{i}",
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for i, c in sorted(calls.items())
        ] or None
        yield Delta(tool_calls=tool_calls, finish_reason=finish, usage=usage)

    async def embed(self, texts: list[str], model: str, attempt: int = 0) -> tuple[list[list[float]], int]:
        data = await self.post_json(f"{self.base}/embeddings", {"model": model, "input": texts}, attempt)
        vectors = [d["embedding"] for d in sorted(data["data"], key=lambda d: d["index"])]
        return vectors, int((data.get("usage") or {}).get("prompt_tokens", 0))


class RouterEngine(OpenAICompatEngine):
    """An OpenAI-compatible router in front of a distributed fleet (llm-d's endpoint picker, vLLM
    production-stack's router, NVIDIA Dynamo's frontend, KubeAI): it picks the replica, so the
    gateway only sends the routing key in ``session_header`` (the agent's prefix stays on one
    replica where the router routes by session) and backs off for as long as a 429/503 with
    ``Retry-After`` asks (see ``Gateway._serve``)."""

    def _body(self, request: ChatRequest, model: str, slot: int | None) -> dict[str, Any]:
        body = super()._body(request, model, slot)
        body.pop("cache_prompt", None)
        body.pop("id_slot", None)
        return body

    def extra_headers(self, request: ChatRequest) -> dict[str, str]:
        return {self.config.session_header: request.placement.key} if request.placement.key else {}


def build_engine(config: EngineConfig) -> Engine:
    """The adapter for ``config.kind``; Ollama's and LiteLLM's load only when configured."""
    if config.kind == "ollama":
        from sutazai.stack.gateway.engine_ollama import OllamaEngine

        return OllamaEngine(config)
    if config.kind == "litellm":
        from sutazai.stack.gateway.engine_litellm import LiteLLMEngine

        return LiteLLMEngine(config)
    return (RouterEngine if config.kind == "router" else OpenAICompatEngine)(config)
