"""Request parsing shared by both dialects: JSON bodies, agent identity, priority, cache bypass."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from sutazai.stack.gateway.types import PRIORITIES, GatewayHTTPError, Priority

AGENT_HEADER = "X-Sutazai-Agent"
PRIORITY_HEADER = "X-Sutazai-Priority"
CACHE_HEADER = "X-Sutazai-Cache"
MAX_BODY = web.AppKey("max_body", int)


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise GatewayHTTPError(
            413, f"request body too large (over {request.app[MAX_BODY]} bytes)", kind="too_large"
        ) from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise GatewayHTTPError(400, f"malformed JSON: {exc}", kind="invalid_request_error") from None
    if not isinstance(body, dict):
        raise GatewayHTTPError(400, "expected a JSON object", kind="invalid_request_error")
    return body


def require(body: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(key)
    if not isinstance(value, kind):
        raise GatewayHTTPError(
            400, f"`{key}` is required and must be {_name(kind)}", kind="invalid_request_error"
        )
    return value


def input_texts(body: dict[str, Any]) -> list[str]:
    """The texts of an embedding request: ``input`` as one string or a list (both dialects)."""
    raw = require(body, "input", (str, list))
    return [raw] if isinstance(raw, str) else [str(t) for t in raw]


def _name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names: dict[type, str] = {str: "a string", list: "a list", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def identity(request: web.Request, body: dict[str, Any]) -> tuple[str, Priority, bool]:
    agent = request.headers.get(AGENT_HEADER) or str(body.get("user") or "") or "anonymous"
    raw = request.headers.get(PRIORITY_HEADER, "normal").lower()
    priority = next((p for p in PRIORITIES if p == raw), None)
    if priority is None:
        raise GatewayHTTPError(
            400, f"{PRIORITY_HEADER} must be one of {', '.join(PRIORITIES)}", kind="invalid_request_error"
        )
    bypass = request.headers.get(CACHE_HEADER, "").lower() in ("bypass", "no-cache", "off")
    return agent[:128], priority, bypass
