"""Embedding requests from many agents merged into one engine call, then split back.

A batch closes after ``window_s`` or at ``max_texts``, whichever comes first. While a merged call
is running, new texts gather for the next one (at most ``max_in_flight`` calls at once), so under
load batches grow to what the engine can take instead of fragmenting into many small calls.
At most ``max_pending`` texts wait; past that a request is refused with 429 at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sutazai.stack.gateway.types import Overloaded

EmbedCall = Callable[[list[str]], Awaitable[tuple[list[list[float]], int]]]


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future[list[list[float]]]


class EmbeddingBatcher:
    def __init__(
        self,
        call: EmbedCall,
        window_s: float = 0.004,
        max_texts: int = 128,
        max_in_flight: int = 1,
        max_pending: int = 4096,
    ) -> None:
        self.max_pending = max_pending
        self._call = call
        self.max_in_flight = max_in_flight
        self._in_flight = 0
        self.window_s = window_s
        self.max_texts = max_texts
        self._pending: list[_Pending] = []
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None
        self.batches = 0
        self.texts = 0

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if len(texts) >= self.max_texts:  # already a batch: send as is
            vectors, _ = await self._call(texts)
            return vectors
        if self._count + len(texts) > self.max_pending:
            raise Overloaded(f"embedding queue full ({self._count} texts waiting)", retry_after=1.0)
        loop = asyncio.get_running_loop()
        pending = _Pending(texts, loop.create_future())
        self._pending.append(pending)
        self._count += len(texts)
        if self._count >= self.max_texts:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.window_s, self._flush)
        return await pending.future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._in_flight >= self.max_in_flight or not self._pending:
            return  # the running call flushes when it ends
        taken: list[_Pending] = []
        count = 0
        while self._pending and (not taken or count + len(self._pending[0].texts) <= self.max_texts):
            item = self._pending.pop(0)
            taken.append(item)
            count += len(item.texts)
        self._count -= count
        self._in_flight += 1
        asyncio.get_running_loop().create_task(self._run(taken))

    async def _run(self, batch: list[_Pending]) -> None:
        merged = [t for p in batch for t in p.texts]
        self.batches += 1
        self.texts += len(merged)
        try:
            vectors, _ = await self._call(merged)
        except Exception as exc:
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        finally:
            self._in_flight -= 1
            self._flush()
        offset = 0
        for p in batch:
            if not p.future.done():
                p.future.set_result(vectors[offset : offset + len(p.texts)])
            offset += len(p.texts)
