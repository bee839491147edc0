"""Request parsing shared by every dialect: JSON bodies, agent identity, priority, cache bypass,
and the headers an error carries whatever its shape."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from aiohttp import web

from sutazai.stack.gateway.guard import GUARD, TOKEN_HINT
from sutazai.stack.gateway.types import PRIORITIES, Delta, GatewayHTTPError, Priority
from sutazai.stack.gateway.validate import agent_name, bad
from sutazai.wire import AGENT_HEADER, BUDGET_HEADER, CACHE_HEADER, PRIORITY_HEADER

MAX_BODY = web.AppKey("max_body", int)
BODY_TIMEOUT = web.AppKey("body_timeout_s", float)
_PRIORITY_NAMES: dict[str, Priority] = {p: p for p in PRIORITIES}  # a header's value -> its priority


async def json_body(request: web.Request) -> dict[str, Any]:
    """The whole body within the receipt deadline: a trickling client cannot hold a connection."""
    try:
        if request.content.is_eof():  # all of it arrived with the headers: no deadline to keep
            raw = await request.read()
        else:
            async with asyncio.timeout(request.app[BODY_TIMEOUT]):
                raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise GatewayHTTPError(
            413, f"request body too large (over {request.app[MAX_BODY]} bytes)", kind="too_large"
        ) from None
    except TimeoutError:
        raise GatewayHTTPError(
            408, f"request body not received within {request.app[BODY_TIMEOUT]:g} s", kind="timeout"
        ) from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise GatewayHTTPError(400, f"malformed JSON: {exc}", kind="invalid_request_error") from None
    if not isinstance(body, dict):
        raise GatewayHTTPError(400, "expected a JSON object", kind="invalid_request_error")
    return body


_ID_SALT = secrets.token_hex(6)  # per process: ids from two gateway runs never collide
_ID_COUNTER = itertools.count()


def answer_id(prefix: str) -> str:
    """A unique id for an answer (``chatcmpl-…``, ``msg_…``): opaque to clients and nothing to
    look up by, so a counter under a random per-process salt serves, without a syscall per answer
    (ids that fetch stored state, the Responses API's, stay random: ``secrets``)."""
    return f"{prefix}{_ID_SALT}{next(_ID_COUNTER):010x}"


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
    """Who asks, at which priority, and whether the cache may answer: checked before any work.
    ``interactive`` jumps every queue, so only holders of the workspace token may claim it."""
    raw_agent = request.headers.get(AGENT_HEADER) or body.get("user") or "anonymous"
    if not isinstance(raw_agent, str):
        raise bad("`user` must be a string")
    agent = agent_name(raw_agent)
    priority = _PRIORITY_NAMES.get(request.headers.get(PRIORITY_HEADER, "normal").lower())
    if priority is None:
        raise bad(f"{PRIORITY_HEADER} must be one of {', '.join(PRIORITIES)}")
    if priority == "interactive" and not request.app[GUARD].has_token(request):
        raise GatewayHTTPError(
            403, f"interactive priority needs the gateway token: {TOKEN_HINT}", kind="forbidden"
        )
    bypass = request.headers.get(CACHE_HEADER, "").lower() in ("bypass", "no-cache", "off")
    return agent, priority, bypass


def error_headers(exc: GatewayHTTPError) -> dict[str, str]:
    """When to come back (``Retry-After``) and why (an exhausted run budget), in every dialect."""
    headers = {"Retry-After": str(int(exc.retry_after))} if exc.retry_after else {}
    if exc.kind == "budget_exceeded":
        headers[BUDGET_HEADER] = "exceeded"
    return headers


async def start_event_stream(
    request: web.Request, stream: AsyncIterator[Delta], headers: Mapping[str, str]
) -> tuple[web.StreamResponse, Delta]:
    """The first piece, then the event stream opened: an error before the first token is raised,
    so the dialect answers it as a plain HTTP error. The queue headers go out once the wait is over."""
    first = await anext(stream)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **headers}
    )
    await response.prepare(request)
    return response, first
