"""What the gateway serves, fetched in the background with a short timeout and cached.

The language server never waits on the network: answers use the last known list, and when the
gateway has never answered, model diagnostics stay silent (offline editing is normal).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx

from sutazai.agents.gateway_client import auth_headers


class GatewayModels:
    def __init__(
        self, url: str, token: str | None = None, ttl_s: float = 30.0, timeout_s: float = 0.5
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.models: set[str] | None = None  # None: never reached
        self.details: dict[str, dict[str, Any]] = {}
        self.stats: dict[str, Any] = {}
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
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, headers=auth_headers(self.token)) as client:
                tags = (await client.get(f"{self.url}/api/tags")).json()
                stats = await client.get(f"{self.url}/admin/stats")
                self.stats = stats.json() if stats.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return
        self.details = {m["name"]: m for m in tags.get("models", [])}
        self.models = set(self.details)

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
        if info.get("size"):
            lines.append(f"size: {info['size'] / 1e6:.0f} MB")
        for engine in self.stats.get("engines", {}).values():
            if name in engine.get("models", []) or name in self.stats.get("latency_by_model", {}):
                depth = sum(engine.get("queue_depth", {}).values())
                lines.append(
                    f"engine {engine.get('kind')}: {engine.get('in_flight', 0)} in flight, {depth} queued, "
                    f"{engine.get('slots', '?')} slots"
                )
                break
        return "\n".join(lines)
