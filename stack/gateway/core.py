"""The gateway's core, independent of dialect: route, cache, schedule, stream, fall back.

Dialect handlers (``api_openai``, ``api_ollama``) turn HTTP into :class:`ChatRequest` and call
:meth:`Gateway.stream` / :meth:`Gateway.embed`; everything policy-shaped happens here. Which
replica serves a request is ``routing.py``'s call; when it waits and for how long, ``scheduler.py``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from sutazai.gateway_report import QueueSnapshot, StatsSnapshot
from sutazai.stack.gateway import reports, telemetry
from sutazai.stack.gateway.budgets import DailyBudgets
from sutazai.stack.gateway.cache import ResponseCache
from sutazai.stack.gateway.config import GatewayConfig
from sutazai.stack.gateway.embed_batcher import EmbeddingBatcher
from sutazai.stack.gateway.engine_table import EngineTable
from sutazai.stack.gateway.engines import Engine, ModelInfo
from sutazai.stack.gateway.routing import Router, prefix_key
from sutazai.stack.gateway.run_usage import RunUsage
from sutazai.stack.gateway.stats import GatewayStats
from sutazai.stack.gateway.tool_calls import engine_stream, tool_path
from sutazai.stack.gateway.types import (
    ChatRequest,
    Completion,
    Delta,
    EngineFailure,
    EngineLost,
    GatewayHTTPError,
    Overloaded,
    Rerouted,
    Usage,
)


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    name: str
    resolved: str
    engine: str
    info: ModelInfo
    context: int  # tokens for prompt and answer together; 0: unknown
    max_output: int
    tool_path: str | None  # native | grammar; None for embedding models

    @property
    def capabilities(self) -> list[str]:
        """Ollama's words: every chat model here calls tools, natively or through the grammar path."""
        return ["embedding"] if self.info.embedding else ["completion", "tools"]


@dataclass
class _Tried:
    """What trying the candidates has left so far: why the last one failed, the shortest wait an
    engine asked for, the tokens of the current attempt, and whether one served the request."""

    last_error: str | None = None
    busy_for: float | None = None  # every engine that answered pushed back: a 429, not a 503
    tokens: int = 0
    served: bool = False


class Gateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.table = EngineTable(config, on_gone=self._forget_engine)
        self.engines = self.table.engines  # the same dicts: the table changes them while serving
        self.pools = self.table.pools
        self.router = Router(config.routing, config.load_bound)
        self.runs = RunUsage()
        self.budgets = DailyBudgets(
            config.daily_tokens, config.agent_daily_tokens, config.budget_file, config.max_agents
        )
        self.cache = ResponseCache(config.cache_entries, config.cache_bytes, config.cache_ttl_s)
        self.stats = GatewayStats(max_agents=config.max_agents)
        self._batchers: dict[tuple[str, str], EmbeddingBatcher] = {}
        self._leaders: dict[str, Any] = {}  # single-flight key -> the leading request's span
        self._health_task: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.check_engines()
        self._health_task = asyncio.create_task(self._health_loop())

    async def close(self) -> None:
        self.table.close()
        if self._health_task:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        for engine in self.engines.values():
            await engine.close()
        self.budgets.save()

    async def check_engines(self) -> None:
        async def one(engine: Engine) -> None:
            was_healthy = engine.healthy
            if await engine.check() and (not was_healthy or not engine.models):
                with contextlib.suppress(Exception):
                    await engine.discover()

        # a drained engine is being restarted: its absence is expected and must not open its breaker
        await asyncio.gather(*(one(e) for n, e in self.engines.items() if not self.pools[n].paused))

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.health_interval_s)
            await self.check_engines()
            self.budgets.save()

    async def reload(self, config: GatewayConfig, names: list[str] | None = None) -> dict[str, list[str]]:
        """The engine table (``names`` of it, else all of it and the tiers) as ``config`` says, while
        serving (:class:`EngineTable`)."""
        done = await self.table.apply(config, names)
        if names is None:
            self.config.tiers = config.tiers
        await self.check_engines()
        return done

    def _forget_engine(self, name: str) -> None:
        """An engine the table let go: its embedding batchers go with it."""
        for key in [k for k in self._batchers if k[0] == name]:
            del self._batchers[key]

    # --- routing ------------------------------------------------------------------------------

    def models(self) -> dict[str, ModelInfo]:
        """Every model any engine serves, by its own name."""
        found: dict[str, ModelInfo] = {}
        for engine in self.engines.values():
            for name, info in engine.models.items():
                found.setdefault(name, info)
        return found

    def tiers(self) -> dict[str, list[str]]:
        return self.config.tiers

    # --- what was served: one path for both dialects ------------------------------------------

    def record_answer(self, api: str, req: ChatRequest, usage: Usage, status: int, started: float) -> None:
        self.stats.record(
            api,
            self._label(req.model),
            req.agent,
            status,
            time.perf_counter() - started,
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_tokens,
            req.priority,
        )

    def record_error(self, api: str, model: object, agent: str, status: int, started: float) -> None:
        """A request refused before it was understood, under the model it named."""
        self.stats.record(api, self._label(model), agent, status, time.perf_counter() - started)

    def _label(self, model: object) -> str:
        """A tier or model served here as itself; anything else "?": a name a client made up must
        not become a new metrics label."""
        if isinstance(model, str) and (
            model in self.config.tiers or any(e.serves(model) for e in self.engines.values())
        ):
            return model
        return "?"

    def candidates(self, name: str, embedding: bool = False, key: str = "") -> list[tuple[Engine, str]]:
        """Engines and models for a tier or model name, best first; later ones are fallbacks.
        The replicas of one model are ordered by the router for the request's routing ``key``."""
        out: list[tuple[Engine, str]] = []
        for model in self.config.tiers.get(name, [name]):
            serving = [
                e for e in self.engines.values() if e.serves(model) and e.name not in self.table.retiring
            ]
            # a replica being drained for a restart only when it is the only one (its queue waits)
            serving = [e for e in serving if not self.pools[e.name].paused] or serving
            if embedding:
                serving = [e for e in serving if e.models[model].embedding] or serving
                serving.sort(key=self._load)
            else:
                serving = [e for e in serving if not e.models[model].embedding]
                serving = self.router.order(
                    key or model, serving, self._queued, lambda e: self.pools[e.name].slots, self._usable
                )
            out += [(e, model) for e in serving]
        if not out:
            known = sorted({*self.models(), *self.config.tiers})
            raise GatewayHTTPError(
                404, f"model {name!r} not found; available: {', '.join(known)}", kind="not_found"
            )
        return out

    def model_card(self, name: str) -> ModelCard | None:
        """What clients need to know of a model or tier before they call it (None: not served)."""
        try:
            engine, resolved = self.candidates(name, embedding=name == "embed")[0]
        except GatewayHTTPError:
            return None
        info = engine.models[resolved]
        context = engine.context_for(resolved)
        return ModelCard(
            name=name,
            resolved=resolved,
            engine=engine.name,
            info=info,
            context=context,
            max_output=min(engine.config.max_output, context or engine.config.max_output),
            tool_path=None if info.embedding else tool_path(engine, resolved, self.config.tool_calls),
        )

    def _load(self, engine: Engine) -> tuple[int, float]:
        pool = self.pools[engine.name]
        healthy = 0 if self._usable(engine) else 1
        return healthy, (pool.in_flight + pool.waiting) / max(pool.slots, 1)

    def _queued(self, engine: Engine) -> int:
        pool = self.pools[engine.name]
        return pool.in_flight + pool.waiting

    @staticmethod
    def _usable(engine: Engine) -> bool:
        return engine.breaker.allows() and engine.busy_until <= time.monotonic()

    # --- generation ---------------------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Delta, None]:
        """The answer's deltas. A non-streaming client sees nothing before the end, so when the
        engine dies (or stalls) mid-answer its work is re-run whole on another replica or fallback
        (``restarts`` times, counted in ``sutazai_engine_retries_total``) instead of being lost; a
        stream that already sent bytes ends with an error event."""
        if request.stream:
            async with aclosing(self._answer(request)) as deltas:
                async for delta in deltas:
                    yield delta
            return
        for delta in await self._whole(request):
            yield delta

    async def _whole(self, request: ChatRequest) -> list[Delta]:
        """Every delta of the answer, re-run whole when its engine is lost (see :meth:`stream`)."""
        for _ in range(self.config.restarts):
            try:
                return await self._collect(request)
            except EngineLost as lost:
                self.stats.retries.labels(lost.engine).inc()
                request.rerun = True  # it waited its turn once: the next pool serves it first
        return await self._collect(request)  # the last try: a loss is the client's

    async def _collect(self, request: ChatRequest) -> list[Delta]:
        async with aclosing(self._answer(request)) as deltas:
            return [delta async for delta in deltas]

    def _answer(self, request: ChatRequest) -> AsyncGenerator[Delta, None]:
        """The answer, from the engines or shared with an identical deterministic call. Budgets and
        the model are checked here, before any generator starts: a refusal costs no machinery."""
        self.budgets.check(request.agent)
        self.runs.check(request.run, request.run_budget)
        request.placement.key = prefix_key(request)
        candidates = self.candidates(request.model, key=request.placement.key)
        if not request.deterministic or request.cache_bypass:
            return self._serve(request, candidates)
        return self._shared(request, candidates)

    async def _shared(
        self, request: ChatRequest, candidates: list[tuple[Engine, str]]
    ) -> AsyncGenerator[Delta, None]:
        """A deterministic request: the cached answer, that of an identical call in flight, or
        this one's, which then leads (the others follow it) and is cached."""
        key = request.cache_key(candidates[0][1])
        leader = self._leaders.get(key)
        answer = await self._shared_answer(key)
        if answer is not None:
            telemetry.link_to(request, leader)
            for delta in answer.deltas():
                yield delta
            return
        self.cache.lead(key)
        self._leaders[key] = request.trace
        collected: list[Delta] = []
        try:
            async with aclosing(self._serve(request, candidates)) as deltas:
                async for delta in deltas:
                    collected.append(delta)
                    yield delta
        except BaseException as exc:
            self.cache.settle(key, None, exc)
            raise
        finally:
            self._leaders.pop(key, None)
        self.cache.settle(key, Completion.from_deltas(collected, candidates[0][1]))

    async def _shared_answer(self, key: str) -> Completion | None:
        """A cached answer or that of an identical call in flight; None: this request leads."""
        cached = self.cache.get(key)
        self.stats.cache_events.labels("hit" if cached else "miss").inc()
        return cached if cached is not None else await self.cache.follow(key)

    async def _serve(
        self, request: ChatRequest, candidates: list[tuple[Engine, str]]
    ) -> AsyncGenerator[Delta, None]:
        """Each candidate in turn, in its pool's queue (a connection dropped before anything reached
        the client is retried: see :meth:`_on_engine`). A drained pool's waiters are placed again,
        first of their class; when every engine pushes back (a router's 429 with Retry-After), the
        request waits the time asked, inside the queue deadline, rather than pass it on."""
        deadline = time.monotonic() + self.config.queue_timeout_s
        while True:
            tried = _Tried()
            try:
                for engine, model in candidates:
                    if not self._open_to_work(engine, tried):
                        continue
                    pool = self.pools[engine.name]
                    slot = await self._wait_for_slot(request, engine, model, candidates)
                    try:
                        async with aclosing(self._on_engine(request, engine, model, slot, tried)) as deltas:
                            async for delta in deltas:
                                yield delta
                    except EngineLost:
                        if not request.stream:  # re-run whole: the lost answer is not the agent's to pay
                            tried.tokens = 0
                        raise
                    finally:
                        pool.release(slot, request.agent, tried.tokens)
                    if tried.served:
                        return
            except Rerouted:  # its engine is draining: placed again, first of its class
                request.rerun = True
                candidates = self.candidates(request.model, key=request.placement.key)
                continue
            failure = self._none_served(request, candidates, tried)
            wait = failure.retry_after or 1.0
            if not isinstance(failure, EnginesBusy) or time.monotonic() + wait > deadline:
                raise failure
            await asyncio.sleep(wait)

    async def _wait_for_slot(
        self, request: ChatRequest, engine: Engine, model: str, candidates: list[tuple[Engine, str]]
    ) -> int:
        """A slot of ``engine``, after the request's turn in its pool's queue."""
        with telemetry.queue_span(request, engine.name):
            slot = await self.pools[engine.name].acquire(
                request.agent, request.priority, model, request.placement, first=request.rerun
            )
        request.placement.engine = engine.name
        telemetry.route_span(request, self.router.policy, [e.name for e, _ in candidates])
        engine.using(model)
        return slot

    @staticmethod
    def _open_to_work(engine: Engine, tried: _Tried) -> bool:
        """False (and why, in ``tried``) for an engine with an open breaker or asking to wait."""
        if not engine.breaker.allows():
            tried.last_error = f"{engine.name} is unavailable (circuit open)"
            return False
        if (wait := engine.busy_until - time.monotonic()) > 0:
            tried.last_error = f"{engine.name} asked to wait {wait:.1f} s (Retry-After)"
            tried.busy_for = min(tried.busy_for or wait, wait)
            return False
        return True

    async def _on_engine(
        self, request: ChatRequest, engine: Engine, model: str, slot: int, tried: _Tried
    ) -> AsyncGenerator[Delta, None]:
        """One engine, up to ``connect_attempts`` connections; ``tried.served`` once it answered.
        Bytes already sent make a failure the client's (502); before that, the next candidate's."""
        pinned = slot if engine.config.capabilities.slot_pinning else None
        tried.tokens = 0
        for attempt in range(self.config.connect_attempts):
            sent = False
            try:
                answer = engine_stream(
                    engine, request, model, pinned, attempt, self.config.tool_calls, self.config.tool_rounds
                )
                with telemetry.engine_span(request, engine.name, engine.config.kind, model) as span:
                    async with aclosing(answer) as deltas:
                        async for delta in deltas:
                            sent = True
                            tried.tokens = delta.usage.completion_tokens if delta.usage else tried.tokens + 1
                            telemetry.record_usage(span, delta.usage)
                            self._charge(request, delta.usage)
                            yield delta
                engine.breaker.record_success()
                tried.served = True
                return
            except EngineFailure as exc:
                if sent:
                    engine.breaker.trip()
                    raise EngineLost(engine.name, f"engine {engine.name} failed mid-stream: {exc}") from exc
                tried.last_error = str(exc)
                if exc.started:  # bytes from the engine but none passed on: the next candidate answers
                    engine.breaker.trip()
                    return
                if exc.busy_for is not None:  # alive and pushing back: hold off, no breaker
                    engine.busy_until = time.monotonic() + exc.busy_for
                    tried.busy_for = min(tried.busy_for or exc.busy_for, exc.busy_for)
                    return
                if not exc.retryable:
                    engine.breaker.record_failure()
                    return
                self.stats.retries.labels(engine.name).inc()
        engine.breaker.record_failure()

    def _charge(self, request: ChatRequest, usage: Usage | None) -> None:
        """Tokens the engine counted, against the agent's daily budget and the request's run."""
        if usage is not None:
            self.budgets.charge(request.agent, usage.prompt_tokens + usage.completion_tokens)
            self.runs.charge(request.run, usage.prompt_tokens, usage.completion_tokens)

    @staticmethod
    def _none_served(
        request: ChatRequest, candidates: list[tuple[Engine, str]], tried: _Tried
    ) -> GatewayHTTPError:
        if tried.busy_for is not None and all(e.breaker.allows() for e, _ in candidates):
            return EnginesBusy(
                f"every engine for {request.model!r} is busy: {tried.last_error}", tried.busy_for
            )
        cooldown = min(e.breaker.cooldown_s for e, _ in candidates)
        return GatewayHTTPError(
            503, f"no engine could serve {request.model!r}: {tried.last_error}", cooldown, "engine"
        )

    async def complete(self, request: ChatRequest) -> Completion:
        """The whole answer of a request (one generator fewer than :meth:`stream` when not streamed)."""
        deltas = [d async for d in self.stream(request)] if request.stream else await self._whole(request)
        return Completion.from_deltas(deltas, request.model)

    # --- embeddings ---------------------------------------------------------------------------

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        last_error = "no engine"
        for engine, resolved in self.candidates(model, embedding=True):
            if not engine.breaker.allows():
                last_error = f"{engine.name} is unavailable (circuit open)"
                continue
            batcher = self._batchers.get((engine.name, resolved))
            if batcher is None:
                batcher = self._batchers[(engine.name, resolved)] = EmbeddingBatcher(
                    self._embed_call(engine, resolved),
                    self.config.embed_window_ms / 1000,
                    self.config.embed_max_texts,
                    max_pending=self.config.embed_max_pending,
                )
            try:
                return await batcher.embed(texts)
            except EngineFailure as exc:
                engine.breaker.record_failure()
                last_error = str(exc)
        raise GatewayHTTPError(503, f"no engine could embed with {model!r}: {last_error}", 5.0, "engine")

    def _embed_call(self, engine: Engine, model: str) -> Any:
        pool = self.pools[engine.name]

        async def call(texts: list[str]) -> tuple[list[list[float]], int]:
            try:
                slot = await pool.acquire("embeddings", "normal")
            except Rerouted:  # drained: the batch goes to the next engine (or waits for this one)
                raise EngineFailure(f"{engine.name} is being drained", retryable=False) from None
            try:
                self.stats.record_embed_batch(len(texts))
                attempt = 0
                while True:
                    try:
                        return await engine.embed(texts, model, attempt)
                    except EngineFailure as exc:
                        attempt += 1
                        if not exc.retryable or attempt == self.config.connect_attempts:
                            raise
                        self.stats.retries.labels(engine.name).inc()
            finally:
                pool.release(slot)

        return call

    # --- reporting (reports.py builds them) -----------------------------------------------------

    def snapshot(self) -> StatsSnapshot:
        return reports.stats(self)

    def queue(self) -> QueueSnapshot:
        return reports.queue(self)

    def tool_paths(self) -> dict[str, str]:
        return reports.tool_paths(self)


class EnginesBusy(Overloaded):
    """Every engine that could serve the request asked to be left alone for a while."""
