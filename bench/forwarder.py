"""A bare aiohttp forwarder: the least a proxy can do. The gateway is measured against it."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

Handler = Callable[[web.Request, aiohttp.ClientSession], Awaitable[web.Response]]


def serve(port: int, handler: Handler) -> None:
    """``handler`` on ``/v1/chat/completions`` with one pooled client session, on uvloop."""
    import uvloop

    uvloop.install()
    app = web.Application()
    sessions: list[aiohttp.ClientSession] = []

    async def start(app: web.Application) -> None:
        sessions.append(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), cookie_jar=aiohttp.DummyCookieJar()
            )
        )

    async def stop(app: web.Application) -> None:
        await sessions[0].close()

    async def handle(request: web.Request) -> web.Response:
        return await handler(request, sessions[0])

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_post("/v1/chat/completions", handle)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def main() -> None:
    port, upstream = int(sys.argv[1]), sys.argv[2]

    async def forward(request: web.Request, session: aiohttp.ClientSession) -> web.Response:
        body = await request.read()
        async with session.post(
            upstream + request.path, data=body, headers={"Content-Type": "application/json"}
        ) as r:
            return web.Response(body=await r.read(), status=r.status, content_type=r.content_type)

    serve(port, forward)


if __name__ == "__main__":
    main()
