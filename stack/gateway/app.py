"""The aiohttp application: every dialect (OpenAI chat and Responses, Ollama, Anthropic Messages),
health, metrics, stats, and a safety net.

aiohttp was chosen by measurement (docs/benchmarks.md): with uvloop it forwards at the bare
forwarder's rate, and handler cancellation frees a disconnected client's place or slot at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import orjson
from aiohttp import web

from sutazai.stack.gateway.api_anthropic import AnthropicRoutes
from sutazai.stack.gateway.api_ollama import OllamaRoutes
from sutazai.stack.gateway.api_openai import OpenAIRoutes
from sutazai.stack.gateway.api_responses import ResponsesRoutes
from sutazai.stack.gateway.config import GatewayConfig
from sutazai.stack.gateway.core import Gateway
from sutazai.stack.gateway.guard import GUARD, Guard, cors_headers, guard_middleware, is_loopback
from sutazai.stack.gateway.http_common import BODY_TIMEOUT, MAX_BODY

log = logging.getLogger("sutazai.gateway")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def safety_net(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request gets an answer: unknown routes and bugs become JSON errors, never a hang."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status == 413:
            message = f"request body too large (limit {request.app[MAX_BODY]} bytes)"
        else:
            message = exc.reason
        return web.Response(
            status=exc.status,
            body=orjson.dumps({"error": {"message": message, "code": exc.status}}),
            content_type="application/json",
        )
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.Response(
            status=500,
            body=orjson.dumps({"error": {"message": "internal gateway error"}}),
            content_type="application/json",
        )


def build_app(gateway: Gateway, reread: Callable[[], GatewayConfig] | None = None) -> web.Application:
    """``reread``: the configuration as the workspace says now, for ``POST /admin/reload``."""
    config = gateway.config
    app = web.Application(middlewares=[safety_net, guard_middleware], client_max_size=config.max_body_bytes)
    app[MAX_BODY] = config.max_body_bytes
    app[BODY_TIMEOUT] = config.body_timeout_s
    app[GUARD] = Guard(
        bind_host=config.host, token=config.token, allowed_hosts=config.allowed_hosts, origins=config.origins
    )
    app.on_response_prepare.append(cors_headers)
    OpenAIRoutes(gateway).register(app)
    OllamaRoutes(gateway).register(app)
    AnthropicRoutes(gateway).register(app)
    ResponsesRoutes(gateway).register(app)

    async def healthz(request: web.Request) -> web.Response:
        engines = {n: e.healthy for n, e in gateway.engines.items()}
        return web.Response(
            body=orjson.dumps({"status": "ok", "engines": engines}), content_type="application/json"
        )

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=gateway.stats.prometheus(), content_type="text/plain", charset="utf-8")

    async def stats(request: web.Request) -> web.Response:
        return web.Response(body=gateway.snapshot().model_dump_json(), content_type="application/json")

    async def queue(request: web.Request) -> web.Response:
        return web.Response(body=gateway.queue().model_dump_json(), content_type="application/json")

    async def root(request: web.Request) -> web.Response:
        return web.Response(text="Ollama is running")  # what Ollama clients probe for

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/admin/stats", stats)
    app.router.add_get("/admin/queue", queue)

    async def run_usage(request: web.Request) -> web.Response:
        run = request.match_info["run"]
        count = gateway.runs.get(run)
        body = {"run": run, **asdict(count)}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    app.router.add_get("/admin/runs/{run}/usage", run_usage)
    EngineAdmin(gateway, reread).register(app)
    app.router.add_get("/", root)

    async def lifecycle(app: web.Application):  # type: ignore[no-untyped-def]
        await gateway.start()
        yield
        await gateway.close()

    app.cleanup_ctx.append(lifecycle)
    return app


class EngineAdmin:
    """``/admin/engines``: the engine table, and the moves a graceful reconfigure is made of (the
    supervisor's ``reconfigure.py`` calls them; the guard asks for the token on all of ``/admin``)."""

    def __init__(self, gateway: Gateway, reread: Callable[[], GatewayConfig] | None) -> None:
        self.gateway = gateway
        self.reread = reread

    def register(self, app: web.Application) -> None:
        app.router.add_get("/admin/engines", self.table)
        app.router.add_post("/admin/engines/{name}/drain", self.drain)
        app.router.add_post("/admin/engines/{name}/resume", self.resume)
        app.router.add_post("/admin/reload", self.reload)

    @staticmethod
    def _json(body: Any, status: int = 200) -> web.Response:
        return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")

    async def table(self, request: web.Request) -> web.Response:
        return self._json({"engines": self.gateway.table.rows()})

    def _known(self, request: web.Request) -> str | None:
        name = request.match_info["name"]
        return name if name in self.gateway.pools else None

    async def drain(self, request: web.Request) -> web.Response:
        if (name := self._known(request)) is None:
            return self._json({"error": {"message": "no such engine", "code": 404}}, 404)
        self.gateway.table.drain(name)
        return await self.table(request)

    async def resume(self, request: web.Request) -> web.Response:
        if (name := self._known(request)) is None:
            return self._json({"error": {"message": "no such engine", "code": 404}}, 404)
        self.gateway.table.resume(name)
        return await self.table(request)

    async def reload(self, request: web.Request) -> web.Response:
        """Body ``{"engines": [names]}`` applies only those (absent: everything, tiers too)."""
        if self.reread is None:
            return self._json({"error": {"message": "this gateway has no workspace to reload"}}, 409)
        try:
            body = orjson.loads(await request.read() or b"{}")
        except orjson.JSONDecodeError:
            return self._json({"error": {"message": "body is not JSON", "code": 400}}, 400)
        names = body.get("engines") if isinstance(body, dict) else None
        if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            return self._json({"error": {"message": "engines: a list of names", "code": 400}}, 400)
        try:
            config = self.reread()
        except Exception as exc:  # a sutazai.toml the user broke: say so, keep serving as before
            return self._json({"error": {"message": f"cannot read the settings: {exc}", "code": 422}}, 422)
        return self._json(await self.gateway.reload(config, names))


def runner_options(config: GatewayConfig) -> dict[str, Any]:
    """How the server runs connections: a client that leaves cancels its handler (its place or slot
    is freed at once), and aiohttp's idle timer also ends a request line or headers that trickle in."""
    return {"handler_cancellation": True, "access_log": None, "keepalive_timeout": config.header_timeout_s}


class UnsafeBind(SystemExit):
    """Listening beyond loopback without a token would hand the admin API to the network."""


def serve(config: GatewayConfig, reread: Callable[[], GatewayConfig] | None = None) -> None:
    """Run until SIGINT/SIGTERM, on uvloop when available."""
    if not is_loopback(config.host) and not config.token:
        raise UnsafeBind(
            f"refusing to listen on {config.host} without a gateway token: run `sutazai stack up` "
            "(it writes .sutazai/gateway.token) or set SUTAZAI_GATEWAY_TOKEN"
        )
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    app = build_app(Gateway(config), reread)
    web.run_app(
        app,
        host=config.host,
        port=config.port,
        **runner_options(config),
        print=lambda *_: log.info("gateway listening on http://%s:%s", config.host, config.port),
    )
