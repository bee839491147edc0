"""A bare aiohttp forwarder: the least a proxy can do. The gateway is measured against it."""

from __future__ import annotations

import sys

import aiohttp
from aiohttp import web


def main() -> None:
    import uvloop

    uvloop.install()
    port, upstream = int(sys.argv[1]), sys.argv[2]
    app = web.Application()

    async def start(app: web.Application) -> None:
        app["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def stop(app: web.Application) -> None:
        await app["session"].close()

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        async with request.app["session"].post(
            upstream + request.path, data=body, headers={"Content-Type": "application/json"}
        ) as r:
            return web.Response(body=await r.read(), status=r.status, content_type=r.content_type)

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_post("/v1/chat/completions", forward)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
