"""Exact-match response cache for deterministic requests, plus sharing of identical in-flight calls.

Bounded in entries and bytes, entries expire after a TTL; least recently used go first.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

from sutazai.stack.gateway.types import Completion, GatewayHTTPError


class ResponseCache:
    def __init__(self, max_entries: int = 4096, max_bytes: int = 64 << 20, ttl_s: float = 600.0) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._items: OrderedDict[str, tuple[float, Completion]] = OrderedDict()
        self._bytes = 0
        self._in_flight: dict[str, asyncio.Future[Completion]] = {}
        self.hits = 0
        self.misses = 0
        self.shared = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def get(self, key: str) -> Completion | None:
        item = self._items.get(key)
        if item is None or time.monotonic() - item[0] > self.ttl_s:
            if item is not None:
                self._drop(key)
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return item[1]

    def put(self, key: str, value: Completion) -> None:
        if key in self._items:
            self._drop(key)
        size = value.size()
        if size > self.max_bytes:
            return
        self._items[key] = (time.monotonic(), value)
        self._bytes += size
        while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
            self._drop(next(iter(self._items)))

    def _drop(self, key: str) -> None:
        _, value = self._items.pop(key)
        self._bytes -= value.size()

    def pending(self, key: str) -> asyncio.Future[Completion] | None:
        """The in-flight call for an identical request, if one is running."""
        return self._in_flight.get(key)

    def lead(self, key: str) -> asyncio.Future[Completion]:
        """Register this request as the one engine call that identical requests will share."""
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        return future

    async def follow(self, key: str) -> Completion | None:
        """The answer of an identical call in flight; None when there is none (this request leads).

        A follower whose own client leaves just leaves: it never starts work. When the leader fails
        or leaves, the first follower to wake leads one retry and the others follow it; a client
        mistake (4xx) or a second failure reaches every follower.
        """
        for attempt in range(2):
            pending = self.pending(key)
            if pending is None:
                return None
            self.shared += 1
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not pending.cancelled() or (task is not None and task.cancelling()):
                    raise  # this follower's own client left
                failure: Exception = GatewayHTTPError(
                    503, "the identical request this one waited for was abandoned; retry", 1.0, "engine"
                )
            except GatewayHTTPError as exc:
                if exc.status < 500:
                    raise
                failure = exc
            except Exception as exc:
                failure = exc
            if attempt == 1:
                raise failure
        return None

    def settle(self, key: str, result: Completion | None, error: BaseException | None = None) -> None:
        future = self._in_flight.pop(key, None)
        if future is None or future.done():
            return
        if result is not None:
            future.set_result(result)
            self.put(key, result)
        elif isinstance(error, Exception):
            future.set_exception(error)
            future.exception()  # sharers fall back to their own call; nothing else retrieves it
        else:
            future.cancel()
