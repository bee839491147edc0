"""The gateway's engines and their slot pools, changed while it serves.

A reconfigure (``stack/reconfigure.py``, through ``/admin/engines`` and ``/admin/reload``) drains an
engine before its replica restarts, and makes the table what the settings say: new engines join,
changed ones take their new settings and resume, removed ones are drained and leave once idle. No
request is dropped: a drained pool hands its waiters back (``Rerouted``) to be placed again, first of
their class, and what an engine is generating finishes on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from sutazai.stack.gateway.config import GatewayConfig
from sutazai.stack.gateway.engines import Engine, build_engine
from sutazai.stack.gateway.scheduler import SlotPool


class EngineTable:
    def __init__(self, config: GatewayConfig, on_gone: Callable[[str], None] = lambda name: None) -> None:
        self.config = config
        self.on_gone = on_gone  # the gateway forgets what it kept per engine
        self.engines: dict[str, Engine] = {c.name: build_engine(c) for c in config.engines}
        self.pools: dict[str, SlotPool] = {name: self._pool_for(e) for name, e in self.engines.items()}
        self.retiring: dict[str, asyncio.Task[None]] = {}
        self._closing: set[asyncio.Task[None]] = set()  # replaced engines finishing their streams

    def _pool_for(self, engine: Engine) -> SlotPool:
        config = self.config
        pool = SlotPool(
            engine.config.slots,
            reserved_interactive=config.reserved_interactive,
            max_queue=config.max_queue,
            queue_timeout_s=config.queue_timeout_s,
            max_agent_share=config.max_agent_share,
            max_agents=config.max_agents,
        )
        if engine.resident() is not None:  # it loads and unloads models: prefer the loaded ones
            pool.resident = lambda: engine.resident() or set()
            pool.switch_after_s = config.model_switch_after_s
        return pool

    def close(self) -> None:
        for task in self.retiring.values():
            task.cancel()

    def drain(self, name: str) -> None:
        """Send ``name`` nothing new: its waiters move to another replica (or wait for this one to
        come back when it is the only one), what it is generating finishes."""
        pool = self.pools[name]
        pool.pause()
        pool.evict()

    def resume(self, name: str) -> None:
        self.pools[name].resume()

    async def apply(
        self, wanted_config: GatewayConfig, names: list[str] | None = None
    ) -> dict[str, list[str]]:
        """Make the table (``names`` of it, else all of it) what ``wanted_config`` says."""
        wanted = {c.name: c for c in wanted_config.engines}
        scope = set(names) if names is not None else {*wanted, *self.engines}
        done: dict[str, list[str]] = {"added": [], "changed": [], "resumed": [], "retiring": []}
        for name in sorted(scope):
            new, engine = wanted.get(name), self.engines.get(name)
            if new is None:
                if engine is not None and name not in self.retiring:
                    self.drain(name)
                    self.retiring[name] = asyncio.create_task(self._retire(name))
                    done["retiring"].append(name)
                continue
            if (task := self.retiring.pop(name, None)) is not None:  # wanted again: it stays
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if engine is None:
                self.engines[name] = engine = build_engine(new)
                self.pools[name] = self._pool_for(engine)
                done["added"].append(name)
            elif new != engine.config:
                old, self.engines[name] = engine, build_engine(new)
                self.pools[name].resize(new.slots)
                closing = asyncio.create_task(self._close_when_idle(old, self.pools[name]))
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
                done["changed"].append(name)
            elif self.pools[name].paused:
                done["resumed"].append(name)
            self.pools[name].resume()
        return done

    async def _retire(self, name: str) -> None:
        """Wait for a drained engine's answers in flight, then let it go."""
        pool = self.pools[name]
        while pool.in_flight or pool.waiting:
            pool.evict()  # a request that had nowhere else to go than here
            await asyncio.sleep(0.1)
        engine = self.engines.pop(name)
        del self.pools[name]
        self.retiring.pop(name, None)
        self.on_gone(name)
        await engine.close()

    @staticmethod
    async def _close_when_idle(engine: Engine, pool: SlotPool) -> None:
        """An engine object replaced by one with new settings: its streams in flight finish first."""
        while pool.in_flight:
            await asyncio.sleep(0.1)
        await engine.close()

    def rows(self) -> list[dict[str, Any]]:
        """Each engine with its pool's state, for ``/admin/engines`` (the supervisor drains by it)."""
        return [
            {
                "name": name,
                "url": engine.config.url,
                "slots": self.pools[name].slots,
                "in_flight": self.pools[name].in_flight,
                "waiting": self.pools[name].waiting,
                "paused": self.pools[name].paused,
                "retiring": name in self.retiring,
                "healthy": engine.healthy,
            }
            for name, engine in self.engines.items()
        ]
