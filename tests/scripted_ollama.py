"""A scripted Ollama that charges for what makes a real one slow on CPU: loading a model.

It holds at most ``max_loaded`` models, each loaded with one ``num_ctx``. A request for another
model, or for a loaded model with another ``num_ctx``, waits until the model to unload has no
request running, then costs ``load_s`` (counted in ``reloads``), as Ollama's scheduler does.
Answers take ``answer_s`` and at most ``parallel`` run per model (OLLAMA_NUM_PARALLEL). Used by
the gateway tests and ``bench/bench_ollama_scheduling.py``; a double for Ollama's *scheduling*, not
for its answers (those are tested against the real gateway and engines).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

OLLAMA_DEFAULT_NUM_CTX = 2048


@dataclass
class ScriptedOllama:
    models: list[str]
    load_s: float = 0.5
    answer_s: float = 0.05
    max_loaded: int = 1
    parallel: int = 4
    reloads: int = 0
    reasons: Counter[str] = field(default_factory=Counter)  # "model" or "num_ctx"
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.loaded: OrderedDict[str, int] = OrderedDict()  # model -> num_ctx, oldest first
        self.running: Counter[str] = Counter()
        self._idle: dict[str, asyncio.Event] = {}
        self._switch: asyncio.Lock | None = None
        self._slots: dict[str, asyncio.Semaphore] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/version", self.version)
        app.router.add_get("/api/tags", self.tags)
        app.router.add_post("/api/show", self.show)
        app.router.add_get("/api/ps", self.ps)
        app.router.add_post("/api/chat", self.chat)
        return app

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "0.12.0"})

    async def tags(self, request: web.Request) -> web.Response:
        models = [
            {"name": m, "model": m, "size": 1 << 28, "details": {"family": "llama"}} for m in self.models
        ]
        return web.json_response({"models": models})

    async def show(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"capabilities": ["completion"], "model_info": {"llama.context_length": 8192}}
        )

    async def ps(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"models": [{"name": m, "model": m, "context_length": ctx} for m, ctx in self.loaded.items()]}
        )

    def _event(self, model: str) -> asyncio.Event:
        event = self._idle.setdefault(model, asyncio.Event())
        if not self.running[model]:
            event.set()
        return event

    async def _ensure(self, model: str, num_ctx: int) -> None:
        """Make ``model`` resident with ``num_ctx`` and count this request as running on it."""
        if self._switch is None:
            self._switch = asyncio.Lock()
        async with self._switch:
            if self.loaded.get(model) != num_ctx:
                reason = "num_ctx" if model in self.loaded else "model"
                while model in self.loaded or len(self.loaded) >= self.max_loaded:
                    victim = model if model in self.loaded else next(iter(self.loaded))
                    await self._event(victim).wait()
                    del self.loaded[victim]
                await asyncio.sleep(self.load_s)
                self.loaded[model] = num_ctx
                self.reloads += 1
                self.reasons[reason] += 1
            self.loaded.move_to_end(model)
            self.running[model] += 1
            self._event(model).clear()

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        model = body["model"]
        num_ctx = int((body.get("options") or {}).get("num_ctx") or OLLAMA_DEFAULT_NUM_CTX)
        await self._ensure(model, num_ctx)
        try:
            async with self._slots.setdefault(model, asyncio.Semaphore(self.parallel)):
                started = time.perf_counter()
                await asyncio.sleep(self.answer_s)
                took = int((time.perf_counter() - started) * 1e9)
        finally:
            self.running[model] -= 1
            self._event(model)
        done = {
            "model": model,
            "message": {"role": "assistant", "content": f"answer from {model}"},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 8,
            "eval_count": 4,
            "eval_duration": took,
        }
        if body.get("stream", True) is False:
            return web.json_response(done)
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        await response.write((json.dumps(done) + "\n").encode())
        await response.write_eof()
        return response
