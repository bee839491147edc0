"""Who may use the gateway: Host and Origin checks, and the workspace token.

A gateway on loopback is still reachable from every web page the user opens: a page can POST
``text/plain`` cross-origin without a preflight, and DNS rebinding makes ``attacker.example``
resolve to 127.0.0.1. So, like Ollama (``OLLAMA_ORIGINS``), requests whose ``Host`` is not a
loopback name (or an allowed one) and browser requests from foreign origins get 403.

The token (``.sutazai/gateway.token``, written by ``stack up``) is what separates the workspace's
own front ends from any process on the machine: it is required for ``/admin/*`` and to claim
``interactive`` priority. Plain inference on loopback stays open, so every Ollama and OpenAI
client works unchanged.
"""

from __future__ import annotations

import fnmatch
import hmac
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from sutazai.wire import TOKEN_HEADER

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# What Ollama accepts by default, plus editor webviews (Continue runs inside VS Code's).
DEFAULT_ORIGINS = (
    "http://localhost",
    "https://localhost",
    "http://localhost:*",
    "https://localhost:*",
    "http://127.0.0.1",
    "https://127.0.0.1",
    "http://127.0.0.1:*",
    "https://127.0.0.1:*",
    "http://[::1]",
    "http://[::1]:*",
    "app://*",
    "file://*",
    "tauri://*",
    "vscode-webview://*",
    "vscode-file://*",
)
TOKEN_HINT = (
    "send the workspace token (`.sutazai/gateway.token`, written by `sutazai stack up`) as "
    f"`Authorization: Bearer <token>` or `{TOKEN_HEADER}`"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HOSTS_KEPT = 64


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(header: str) -> str:
    """``Host`` without its port: ``[::1]:11435`` → ``::1``, ``localhost:80`` → ``localhost``."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


@dataclass(kw_only=True)
class Guard:
    bind_host: str = "127.0.0.1"
    token: str | None = None
    allowed_hosts: list[str] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)

    _hosts: dict[str, bool] = field(default_factory=dict, init=False, repr=False)  # Host -> verdict

    def host_allowed(self, header: str) -> bool:
        """Remembered per header (clients send the same one on every request); at most
        ``HOSTS_KEPT`` of them, so a stranger inventing names cannot grow it."""
        verdict = self._hosts.get(header)
        if verdict is None:
            if len(self._hosts) >= HOSTS_KEPT:
                self._hosts.clear()
            verdict = self._hosts[header] = self._host_allowed(header)
        return verdict

    def _host_allowed(self, header: str) -> bool:
        name = _host_name(header.strip()).lower()
        if not name or is_loopback(name) or any(fnmatch.fnmatch(name, h.lower()) for h in self.allowed_hosts):
            return True
        if is_loopback(self.bind_host):
            return False  # loopback-bound: only loopback names (DNS rebinding)
        # Bound to the network on purpose: its own addresses and names, and .local/.internal names.
        if name in (self.bind_host.lower(), socket.gethostname().lower()):
            return True
        if name.endswith((".local", ".internal")):
            return True
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            return False

    def origin_allowed(self, origin: str) -> bool:
        parts = urlsplit(origin)
        if not parts.scheme:
            return False  # "null" (sandboxed frames, file pages) and garbage
        patterns = (*DEFAULT_ORIGINS, *self.origins)
        return any(fnmatch.fnmatchcase(origin.lower(), p.lower()) for p in patterns)

    def has_token(self, request: web.Request) -> bool:
        if not self.token:
            return False
        offered = request.headers.get(TOKEN_HEADER, "") or request.headers.get("x-api-key", "")
        if not offered:  # x-api-key: how Anthropic clients send it
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            offered = value.strip() if scheme.lower() == "bearer" else ""
        return hmac.compare_digest(offered.encode("utf-8", "replace"), self.token.encode())


GUARD = web.AppKey("guard", Guard)


def _forbidden(message: str) -> web.Response:
    return web.Response(
        status=403,
        body=orjson.dumps({"error": {"message": message, "type": "forbidden", "code": 403}}),
        content_type="application/json",
    )


def _cors(response: web.StreamResponse, origin: str) -> None:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"


@web.middleware
async def guard_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    guard = request.app[GUARD]
    if not guard.host_allowed(request.headers.get("Host", "")):
        return _forbidden(
            f"host {request.headers.get('Host', '')!r} is not allowed; "
            "add it to [gateway] allowed_hosts in sutazai.toml if you meant it"
        )
    origin = request.headers.get("Origin")
    if origin is not None and not guard.origin_allowed(origin):
        return _forbidden(
            f"origin {origin!r} is not allowed; add it to [gateway] origins in sutazai.toml if you trust it"
        )
    if request.path.startswith("/admin/") and not guard.has_token(request):
        return _forbidden(f"/admin needs the gateway token: {TOKEN_HINT}")
    if request.method == "OPTIONS" and origin is not None:  # a CORS preflight from an allowed origin
        response = web.Response(status=204)  # cors_headers adds Allow-Origin as it is sent
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "Content-Type, Authorization"
        )
        return response
    return await handler(request)


async def cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: allowed origins may read answers, streamed ones included."""
    origin = request.headers.get("Origin")
    if origin is not None and request.app[GUARD].origin_allowed(origin):
        _cors(response, origin)
