"""The Responses API's stored responses: what ``previous_response_id`` continues and ``GET
/v1/responses/{id}`` returns, kept a bounded time and number (clients must not grow the gateway
without end)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sutazai.stack.gateway.bounded import LRUDict
from sutazai.stack.gateway.types import GatewayHTTPError

KEEP_S = 3600.0  # a stored response answers `previous_response_id` and GET this long
KEEP_COUNT = 2000  # and at most this many are kept


@dataclass
class Stored:
    at: float
    response: dict[str, Any]
    conversation: list[dict[str, Any]]  # in the core's shape, without the instructions


class ResponseStore:
    """Responses kept for ``previous_response_id`` and GET: the newest ``limit``, for ``keep_s``."""

    def __init__(self, limit: int = KEEP_COUNT, keep_s: float = KEEP_S) -> None:
        self.items: LRUDict[str, Stored] = LRUDict(limit)
        self.keep_s = keep_s

    def put(self, response: dict[str, Any], conversation: list[dict[str, Any]]) -> None:
        self.items[response["id"]] = Stored(time.monotonic(), response, conversation)

    def get(self, ident: str) -> Stored:
        stored = self.items.touch(ident)
        if stored is None or time.monotonic() - stored.at > self.keep_s:
            self.items.pop(ident, None)
            raise GatewayHTTPError(
                404,
                f"response {ident[:64]!r} not found: responses are kept {self.keep_s:g} s, "
                f"the newest {self.items.limit} (and only with `store` true)",
                kind="not_found",
            )
        return stored
