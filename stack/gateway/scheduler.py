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

In front of a real Ollama, switching models costs a load (seconds on CPU), so the pool is told
which models the engine has resident (``resident``): waiting work for a resident model goes first,
and batch work for another model waits while the engine is busy with a resident one, until it has
waited ``switch_after_s`` (aging: nothing starves). Interactive work never waits for this.

Every waiter knows its place: ``acquire`` fills a :class:`Placement` (requests ahead at arrival,
the wait expected from the mean time a slot is held, the wait it made) and :meth:`SlotPool.waiters`
lists the queue for ``/admin/queue``.

A request re-run because its engine died mid-answer (``first=True``) already waited its turn: it
goes before every other waiter of its class, not to the back of the line.

A pool can be **paused** (its engine is being drained for a restart or removal): it starts nothing
new, lets what is in flight finish, and :meth:`SlotPool.evict` hands every waiter back with
:class:`Rerouted`, so the gateway places it on another replica, still first of its class.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from sutazai.stack.gateway.bounded import LRUDict
from sutazai.stack.gateway.types import PRIORITIES, Overloaded, Placement, Priority, Rerouted

SERVICE_SMOOTHING = 0.2  # weight of the newest slot hold in the running mean behind estimates


@dataclass(eq=False)
class _Waiter:
    agent: str
    priority: Priority
    future: asyncio.Future[int]
    model: str = ""
    since: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, kw_only=True)
class WaitingRequest:
    """One request in line, as ``/admin/queue`` shows it."""

    agent: str
    priority: Priority
    model: str
    position: int
    waited_s: float


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
        self._free_order: list[int] = sorted(self.free)  # a heap: the lowest free slot without a scan
        self.reserved_wanted = reserved_interactive
        self.reserved = min(reserved_interactive, max(slots - 1, 0))
        self.max_queue = max_queue
        self.max_per_agent = max(1, int(max_queue * max_agent_share))
        self.queue_timeout_s = queue_timeout_s
        self.batch_every = batch_every
        self._queues: dict[Priority, OrderedDict[str, deque[_Waiter]]] = {
            p: OrderedDict() for p in PRIORITIES
        }
        self._reruns: dict[Priority, deque[_Waiter]] = {p: deque() for p in PRIORITIES}
        self._waiting = 0
        self._waiting_by_agent: dict[str, int] = {}  # only agents with a waiter: bounded by max_queue
        self._since_batch = 0
        self.affinity: LRUDict[str, int] = LRUDict(max_agents)
        self.served: LRUDict[str, float] = LRUDict(max_agents)  # tokens served: the fairness counter
        self._level: dict[Priority, float] = dict.fromkeys(PRIORITIES, 0.0)  # per class
        self.in_flight = 0
        self._background: set[int] = set()  # slots held by normal and batch work
        self._held_since: dict[int, float] = {}
        self.mean_hold_s: float | None = None  # how long a request holds a slot, smoothed
        self.resident: Callable[[], set[str]] | None = None  # models the engine has loaded
        self.switch_after_s = 15.0
        self._wake: asyncio.TimerHandle | None = None
        self.in_flight_by_agent: dict[str, int] = {}
        self.paused = False

    def depth(self) -> dict[str, int]:
        return {p: sum(len(d) for d in q.values()) + len(self._reruns[p]) for p, q in self._queues.items()}

    @property
    def waiting(self) -> int:
        return self._waiting

    def _usable(self, priority: Priority) -> bool:
        """Background work may hold at most ``slots - reserved`` slots; interactive any free one."""
        if not self.free or self.paused:
            return False
        return priority == "interactive" or len(self._background) < self.slots - self.reserved

    def _take_slot(self, agent: str, priority: Priority) -> int:
        preferred = self.affinity.touch(agent)
        slot = preferred if preferred is not None and preferred in self.free else self._lowest_free()
        self.free.discard(slot)
        if priority != "interactive":
            self._background.add(slot)
        if slot != preferred:  # touch() already made a kept slot the most recent
            self.affinity[agent] = slot
        self.in_flight += 1
        self.in_flight_by_agent[agent] = self.in_flight_by_agent.get(agent, 0) + 1
        self._held_since[slot] = time.monotonic()
        self._level[priority] = max(self._level[priority], self.served.get(agent, 0.0))
        return slot

    def _lowest_free(self) -> int:
        """The lowest free slot (the heap keeps slots taken since they were pushed: skipped here,
        and the heap rebuilt when they pile up)."""
        order = self._free_order
        if len(order) > 4 * max(self.slots, 1):
            order[:] = sorted(self.free)
        while order[0] not in self.free:
            heapq.heappop(order)
        return order[0]

    def ahead_of(self, agent: str, priority: Priority) -> int:
        """Requests that go before a new one from ``agent``: every waiter of a higher class, and in
        its class those of agents served no more than it (one each per turn of fair rotation)."""
        ahead = 0
        mine = self.served.get(agent, self._level[priority])
        own = len(self._queues[priority].get(agent, ()))
        for p in PRIORITIES:
            if p == priority:
                break
            ahead += sum(len(q) for q in self._queues[p].values())
        for other, queue in self._queues[priority].items():
            if other != agent:
                turns = own + 1 if self.served.get(other, 0.0) <= mine else own
                ahead += min(len(queue), turns)
        return ahead + own

    def expected_wait_s(self, ahead: int) -> float:
        """The wait of a request with ``ahead`` before it: turns of the whole pool at the mean hold."""
        if self.mean_hold_s is None or (ahead == 0 and self.free):
            return 0.0
        return (ahead // max(self.slots, 1) + 1) * self.mean_hold_s

    async def acquire(
        self,
        agent: str,
        priority: Priority,
        model: str = "",
        placement: Placement | None = None,
        first: bool = False,
    ) -> int:
        """Wait for a slot; its id keeps an agent on the same llama-server slot (prompt cache).
        ``first``: a re-run that waited already, served before the rest of its class."""
        self.served[agent] = max(self.served.get(agent, 0.0), self._level[priority])
        placement = placement if placement is not None else Placement()
        placement.position = placement.waited_ms = placement.estimate_ms = 0
        if self._waiting == 0 and self._usable(priority) and self._welcome(model, priority):
            placement.slot = self._take_slot(agent, priority)
            return placement.slot
        if self._waiting >= self.max_queue:
            raise Overloaded(f"queue full ({self._waiting} waiting)", retry_after=self._retry_after())
        mine = self._waiting_by_agent.get(agent, 0)
        if mine >= self.max_per_agent:
            raise Overloaded(
                f"agent {agent!r} already has {mine} requests waiting, its share of the queue",
                retry_after=self._retry_after(),
            )
        waiter = _Waiter(agent, priority, asyncio.get_running_loop().create_future(), model)
        if first:
            placement.position = len(self._reruns[priority]) + sum(
                self.depth()[p] for p in PRIORITIES[: PRIORITIES.index(priority)]
            )
            self._reruns[priority].append(waiter)
        else:
            placement.position = self.ahead_of(agent, priority)
            self._queues[priority].setdefault(agent, deque()).append(waiter)
        placement.estimate_ms = self.expected_wait_s(placement.position) * 1000
        self._waiting += 1
        self._waiting_by_agent[agent] = mine + 1
        self._dispatch()
        try:
            placement.slot = await asyncio.wait_for(asyncio.shield(waiter.future), self.queue_timeout_s)
            placement.waited_ms = (time.monotonic() - waiter.since) * 1000
            return placement.slot
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
        if waiter in self._reruns[waiter.priority]:
            self._reruns[waiter.priority].remove(waiter)
            self._unqueue(waiter.agent)
            return
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
        held = time.monotonic() - self._held_since.pop(slot, time.monotonic())
        self.mean_hold_s = (
            held
            if self.mean_hold_s is None
            else (1 - SERVICE_SMOOTHING) * self.mean_hold_s + SERVICE_SMOOTHING * held
        )
        if agent is not None:
            left = self.in_flight_by_agent.get(agent, 1) - 1
            if left > 0:
                self.in_flight_by_agent[agent] = left
            else:
                self.in_flight_by_agent.pop(agent, None)
        if slot < self.slots:  # a slot beyond a smaller size (see resize) is gone
            self.free.add(slot)
            heapq.heappush(self._free_order, slot)
        self._background.discard(slot)
        self.in_flight -= 1
        self._dispatch()

    # --- draining (a replica restarted or removed) --------------------------------------------

    def pause(self) -> None:
        """Start nothing new; what is in flight finishes. Waiters stay until :meth:`evict`."""
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self._dispatch()

    def evict(self) -> int:
        """Hand every waiter back with :class:`Rerouted` (it goes first of its class elsewhere);
        returns how many there were."""
        waiters = [w for p in PRIORITIES for w in self._reruns[p]]
        waiters += [w for p in PRIORITIES for queue in self._queues[p].values() for w in queue]
        for priority in PRIORITIES:
            self._reruns[priority].clear()
            self._queues[priority].clear()
        self._waiting = 0
        self._waiting_by_agent.clear()
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_exception(Rerouted())
        return len(waiters)

    def resize(self, slots: int) -> None:
        """The engine came back with another slot count: slots held now are released as usual, and
        those beyond the new size are dropped when they are."""
        held = set(self._held_since)
        self.slots = slots
        self.free = {s for s in range(slots) if s not in held}
        self._free_order = sorted(self.free)
        self.reserved = min(self.reserved_wanted, max(slots - 1, 0))
        self._dispatch()

    # --- resident models (Ollama) -------------------------------------------------------------

    def _welcome(self, model: str, priority: Priority) -> bool:
        """May a request for ``model`` start now? Batch work for a model the engine has not loaded
        waits while it is busy with one it has (each switch is a reload), until it has aged."""
        if self.resident is None or priority != "batch" or self.in_flight == 0:
            return True
        loaded = self.resident()
        return not loaded or model in loaded

    def _eligible(self, priority: Priority) -> Collection[str]:
        """Agents whose next request may go now: those that waited ``switch_after_s`` for another
        model, else those for a resident model; batch work for another model once the engine is idle.
        Engines that do not load models (every one but Ollama) get the queue itself: no copy on the
        dispatch path."""
        queues = self._queues[priority]
        if self.resident is None or priority == "interactive":
            return queues.keys()
        loaded = self.resident()
        if not loaded:
            return queues.keys()
        now = time.monotonic()
        warm = [a for a in queues if queues[a][0].model in loaded]
        stale = [
            a
            for a in queues
            if queues[a][0].model not in loaded and now - queues[a][0].since >= self.switch_after_s
        ]
        if stale:
            return stale  # waited long enough for another model: it goes now, nothing starves
        if warm:
            return warm
        if priority == "batch" and self.in_flight:
            self._wake_later()
            return []
        return queues.keys()

    def _wake_later(self) -> None:
        if self._wake is None or self._wake.cancelled():
            loop = asyncio.get_running_loop()
            self._wake = loop.call_later(self.switch_after_s / 4, self._rewake)

    def _rewake(self) -> None:
        self._wake = None
        self._dispatch()

    # --- dispatch -----------------------------------------------------------------------------

    def _next_class(self) -> Priority | None:
        ready = [
            p
            for p in PRIORITIES
            if self._usable(p) and (self._reruns[p] or (self._queues[p] and self._eligible(p)))
        ]
        if not ready:
            return None
        if ready[0] == "interactive":
            return "interactive"
        if "batch" in ready and (ready == ["batch"] or self._since_batch >= self.batch_every):
            return "batch"
        return ready[0]

    def _next_agent(self, priority: Priority) -> str:
        """The least-served eligible agent; ties go to the one waiting longest (insertion order)."""
        level = self._level[priority]
        return min(self._eligible(priority), key=lambda a: self.served.get(a, level))

    def _dispatch(self) -> None:
        if not self._waiting:  # the usual case under capacity: nobody to hand a slot to
            return
        while (priority := self._next_class()) is not None:
            if self._reruns[priority]:
                rerun = self._reruns[priority].popleft()
                self._unqueue(rerun.agent)
                if not rerun.future.done():
                    rerun.future.set_result(self._take_slot(rerun.agent, priority))
                continue
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

    def waiters(self) -> list[WaitingRequest]:
        """The queue in dispatch order as far as it can be told now (class, then fairness)."""
        now = time.monotonic()
        out: list[WaitingRequest] = []
        for priority in PRIORITIES:
            level = self._level[priority]
            ordered = sorted(self._queues[priority].items(), key=lambda kv: self.served.get(kv[0], level))
            reruns = [(w.agent, [w]) for w in self._reruns[priority]]
            for agent, queue in [*reruns, *ordered]:
                for waiter in queue:
                    out.append(
                        WaitingRequest(
                            agent=agent,
                            priority=priority,
                            model=waiter.model,
                            position=len(out),
                            waited_s=round(now - waiter.since, 3),
                        )
                    )
        return out

    def _retry_after(self) -> float:
        return max(1.0, round(self._waiting / max(self.slots, 1)))
