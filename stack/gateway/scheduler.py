"""Per-engine admission: never more in flight than the engine has slots; the rest wait here.

Order: interactive before normal before batch, with batch served at least one dispatch in
``batch_every`` so it is never starved. Inside a class, the waiting agent that has been served the
fewest tokens goes next (a virtual token counter, as in "Fairness in Serving Large Language
Models", OSDI '24): plain round-robin counted requests, so agents whose answers ran long took more
of the engine (Jain's index 0.80-0.88 over 150 agents; see docs/benchmarks.md for the figure now).
An agent that arrives starts no lower than the last agent served in its class, so idling earns no
credit; each class keeps its own level, so batch agents' history is not wiped by normal traffic.

One slot is held back for interactive work, so a developer is served at once even while
background agents fill the engine. Waiting is bounded in count, in time, and per agent: no agent
may hold more than ``max_agent_share`` of the queue, so one client cannot fill it for everyone.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass

from sutazai.stack.gateway.bounded import LRUDict
from sutazai.stack.gateway.types import PRIORITIES, Overloaded, Priority


@dataclass(eq=False)
class _Waiter:
    agent: str
    priority: Priority
    future: asyncio.Future[int]


class SlotPool:
    def __init__(
        self,
        slots: int,
        *,
        reserved_interactive: int = 1,
        max_queue: int = 2048,
        queue_timeout_s: float = 60.0,
        batch_every: int = 4,
        max_agent_share: float = 0.25,
        max_agents: int = 1024,
    ) -> None:
        self.slots = slots
        self.free: set[int] = set(range(slots))
        self.reserved = min(reserved_interactive, max(slots - 1, 0))
        self.max_queue = max_queue
        self.max_per_agent = max(1, int(max_queue * max_agent_share))
        self.queue_timeout_s = queue_timeout_s
        self.batch_every = batch_every
        self._queues: dict[Priority, OrderedDict[str, deque[_Waiter]]] = {
            p: OrderedDict() for p in PRIORITIES
        }
        self._waiting = 0
        self._waiting_by_agent: dict[str, int] = {}  # only agents with a waiter: bounded by max_queue
        self._since_batch = 0
        self.affinity: LRUDict[str, int] = LRUDict(max_agents)
        self.served: LRUDict[str, float] = LRUDict(max_agents)  # tokens served: the fairness counter
        self._level: dict[Priority, float] = dict.fromkeys(PRIORITIES, 0.0)  # per class
        self.in_flight = 0
        self._background: set[int] = set()  # slots held by normal and batch work

    def depth(self) -> dict[str, int]:
        return {p: sum(len(d) for d in q.values()) for p, q in self._queues.items()}

    @property
    def waiting(self) -> int:
        return self._waiting

    def _usable(self, priority: Priority) -> bool:
        """Background work may hold at most ``slots - reserved`` slots; interactive any free one."""
        if not self.free:
            return False
        return priority == "interactive" or len(self._background) < self.slots - self.reserved

    def _take_slot(self, agent: str, priority: Priority) -> int:
        preferred = self.affinity.touch(agent)
        slot = preferred if preferred in self.free else min(self.free)
        assert slot is not None
        self.free.discard(slot)
        if priority != "interactive":
            self._background.add(slot)
        self.affinity[agent] = slot
        self.in_flight += 1
        self._level[priority] = max(self._level[priority], self.served.get(agent, 0.0))
        return slot

    async def acquire(self, agent: str, priority: Priority) -> int:
        """Wait for a slot; its id keeps an agent on the same llama-server slot (prompt cache)."""
        self.served[agent] = max(self.served.get(agent, 0.0), self._level[priority])
        if self._waiting == 0 and self._usable(priority):
            return self._take_slot(agent, priority)
        if self._waiting >= self.max_queue:
            raise Overloaded(f"queue full ({self._waiting} waiting)", retry_after=self._retry_after())
        mine = self._waiting_by_agent.get(agent, 0)
        if mine >= self.max_per_agent:
            raise Overloaded(
                f"agent {agent!r} already has {mine} requests waiting, its share of the queue",
                retry_after=self._retry_after(),
            )
        waiter = _Waiter(agent, priority, asyncio.get_running_loop().create_future())
        self._queues[priority].setdefault(agent, deque()).append(waiter)
        self._waiting += 1
        self._waiting_by_agent[agent] = mine + 1
        self._dispatch()
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future), self.queue_timeout_s)
        except TimeoutError:
            self._forget(waiter)
            raise Overloaded(
                f"waited {self.queue_timeout_s:g} s for a slot", retry_after=self._retry_after()
            ) from None
        except asyncio.CancelledError:  # the client went away: give back the place or the slot
            self._forget(waiter)
            raise

    def _unqueue(self, agent: str) -> None:
        self._waiting -= 1
        left = self._waiting_by_agent[agent] - 1
        if left:
            self._waiting_by_agent[agent] = left
        else:
            del self._waiting_by_agent[agent]

    def _forget(self, waiter: _Waiter) -> None:
        if waiter.future.done() and not waiter.future.cancelled():
            self.release(waiter.future.result())
            return
        waiter.future.cancel()
        queue = self._queues[waiter.priority].get(waiter.agent)
        if queue and waiter in queue:
            queue.remove(waiter)
            self._unqueue(waiter.agent)
            if not queue:
                del self._queues[waiter.priority][waiter.agent]

    def release(self, slot: int, agent: str | None = None, tokens: int = 0) -> None:
        """Give the slot back, charging ``agent`` for the tokens its request was served."""
        if agent is not None and tokens:
            self.served[agent] = self.served.get(agent, 0.0) + tokens
        self.free.add(slot)
        self._background.discard(slot)
        self.in_flight -= 1
        self._dispatch()

    def _next_class(self) -> Priority | None:
        ready = [p for p in PRIORITIES if self._queues[p] and self._usable(p)]
        if not ready:
            return None
        if ready[0] == "interactive":
            return "interactive"
        if "batch" in ready and (ready == ["batch"] or self._since_batch >= self.batch_every):
            return "batch"
        return ready[0]

    def _next_agent(self, priority: Priority) -> str:
        """The least-served waiting agent; ties go to the one waiting longest (insertion order)."""
        level = self._level[priority]
        return min(self._queues[priority], key=lambda a: self.served.get(a, level))

    def _dispatch(self) -> None:
        while (priority := self._next_class()) is not None:
            agents = self._queues[priority]
            agent = self._next_agent(priority)
            queue = agents[agent]
            waiter = queue.popleft()
            self._unqueue(agent)
            if queue:
                agents.move_to_end(agent)  # equal counters: this agent goes behind the others
            else:
                del agents[agent]
            self._since_batch = 0 if priority == "batch" else self._since_batch + 1
            if waiter.future.done():
                continue
            waiter.future.set_result(self._take_slot(agent, priority))

    def _retry_after(self) -> float:
        return max(1.0, round(self._waiting / max(self.slots, 1)))
