"""What the gateway serves, fetched in the background with a short timeout and cached.

The language server never waits on the network: answers use the last known list, and when the
gateway has never answered, model diagnostics stay silent (offline editing is normal).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from sutazai.agents.gateway_client import GatewayClient
from sutazai.errors import UserError
from sutazai.gateway_report import ServedModel, StatsSnapshot


class GatewayModels:
    def __init__(
        self, url: str, token: str | None = None, ttl_s: float = 30.0, timeout_s: float = 0.5
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.models: set[str] | None = None  # None: never reached
        self.details: dict[str, ServedModel] = {}
        self.stats: StatsSnapshot | None = None
        self._fetched = 0.0
        self._task: asyncio.Task[None] | None = None

    def refresh_soon(self) -> None:
        """Start a background refresh if the cache is old; returns at once."""
        if time.monotonic() - self._fetched < self.ttl_s or (self._task and not self._task.done()):
            return
        with contextlib.suppress(RuntimeError):
            self._task = asyncio.get_running_loop().create_task(self.refresh())

    async def refresh(self) -> None:
        self._fetched = time.monotonic()
        async with GatewayClient(self.url, timeout_s=self.timeout_s, token=self.token) as client:
            try:
                served = await client.served_models()
            except UserError:
                return
            self.details = {m.name: m for m in served}
            self.models = set(self.details)
            with contextlib.suppress(UserError):  # without the token, sizes still show
                self.stats = await client.stats()

    def knows(self, name: str) -> bool | None:
        """True/False when the gateway has answered; None when it is unknown (offline)."""
        return None if self.models is None else name in self.models

    def describe(self, name: str) -> str:
        if self.models is None:
            return "the gateway has not answered yet (offline?)"
        info = self.details.get(name)
        if info is None:
            return f"not served by the gateway at {self.url}"
        lines = [f"served by the gateway at {self.url}"]
        if info.size:
            lines.append(f"size: {info.size / 1e6:.0f} MB")
        engine = self.stats.engine_serving(name) if self.stats else None
        if engine is not None:
            lines.append(
                f"engine {engine.kind}: {engine.in_flight} in flight, {engine.queue_depth.total} queued, "
                f"{engine.slots} slots"
            )
        return "\n".join(lines)
