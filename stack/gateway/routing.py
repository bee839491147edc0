"""Which replica of a model serves a request: prefix affinity with bounded load.

A replica holds the prompts it has seen in its cache (llama-server keeps each slot's tokens and,
since late 2025, up to ``--cache-ram`` MiB of older prompts), so the request whose agent it has
served before skips most of its prefill. ``prefix`` routing sends an agent's requests to the same
replica by consistent hashing of its stable prefix (the system prompt and the tool schemas; the
agent's name when there is none), bounded in load as in "Consistent Hashing with Bounded Loads"
(Mirrokni, Thorup, Zadimoghaddam, 2018) and KubeAI's ``PrefixHash``: a replica takes at most
``load_bound`` (1.25) times the mean load, per slot, before its keys spill to the next replica on
the ring. A replica whose breaker is open drops out and its keys move to the next one; when it
comes back they return, and no other key moves.

``least-loaded`` (the fewest requests per slot) and ``round-robin`` are kept as the controls
``bench/bench_replicas.py`` compares against.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Literal, Protocol, TypeVar

import orjson

from sutazai.stack.gateway.types import ChatRequest

RoutingPolicy = Literal["prefix", "least-loaded", "round-robin"]
ROUTING_POLICIES: tuple[RoutingPolicy, ...] = ("prefix", "least-loaded", "round-robin")
VIRTUAL_NODES = 64  # points per replica on the ring: spreads keys within a few percent of even


class Replica(Protocol):
    name: str


R = TypeVar("R", bound=Replica)


def _point(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def prefix_key(request: ChatRequest) -> str:
    """The part of a request that stays the same from call to call of one agent: its system
    messages and tool schemas (what the engine's prompt cache can reuse); else the agent's name."""
    system = [m.get("content") for m in request.messages or () if m.get("role") in ("system", "developer")]
    if not system and not request.tools:
        return f"agent:{request.agent}"
    stable = orjson.dumps([system, request.tools], option=orjson.OPT_SORT_KEYS)
    return "prefix:" + hashlib.blake2b(stable, digest_size=12).hexdigest()


class HashRing:
    """Replica names on a ring of :data:`VIRTUAL_NODES` points each; built once per replica set."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(sorted(names))
        points = sorted((_point(f"{name}#{i}"), name) for name in self.names for i in range(VIRTUAL_NODES))
        self._hashes = [h for h, _ in points]
        self._owners = [n for _, n in points]

    def walk(self, key: str) -> list[str]:
        """Every replica once, in ring order from the key's point: the first owns the key."""
        start = bisect.bisect(self._hashes, _point(key))
        seen: dict[str, None] = {}
        for i in range(len(self._owners)):
            seen.setdefault(self._owners[(start + i) % len(self._owners)])
            if len(seen) == len(self.names):
                break
        return list(seen)


class Router:
    """Orders the replicas of one model for a request, best first; the rest are fallbacks."""

    def __init__(self, policy: RoutingPolicy = "prefix", load_bound: float = 1.25) -> None:
        self.policy = policy
        self.load_bound = load_bound
        self._rings: dict[tuple[str, ...], HashRing] = {}
        self._turns: dict[tuple[str, ...], itertools.count[int]] = {}

    def order(
        self,
        key: str,
        replicas: Sequence[R],
        load: Callable[[R], int],
        slots: Callable[[R], int],
        usable: Callable[[R], bool],
    ) -> list[R]:
        """``load``: requests in flight or waiting; ``slots``: capacity; ``usable``: breaker closed.
        Unusable replicas always come last (still tried when nothing else is left)."""
        if len(replicas) <= 1:
            return list(replicas)
        up = [r for r in replicas if usable(r)]
        down = [r for r in replicas if not usable(r)]
        if self.policy == "round-robin":
            names = tuple(r.name for r in replicas)
            turn = next(self._turns.setdefault(names, itertools.count())) % max(len(up), 1)
            return up[turn:] + up[:turn] + down
        if self.policy == "least-loaded" or not up:
            return sorted(up, key=lambda r: load(r) / max(slots(r), 1)) + down
        return self._bounded(key, up, load, slots) + down

    def _bounded(self, key: str, up: list[R], load: Callable[[R], int], slots: Callable[[R], int]) -> list[R]:
        names = tuple(sorted(r.name for r in up))
        ring = self._rings.get(names)
        if ring is None:
            ring = self._rings[names] = HashRing(names)
        by_name = {r.name: r for r in up}
        walk = [by_name[name] for name in ring.walk(key)]
        total_load = sum(load(r) for r in up) + 1  # counting this request
        total_slots = sum(max(slots(r), 1) for r in up)
        for i, replica in enumerate(walk):
            bound = self.load_bound * total_load * max(slots(replica), 1) / total_slots
            if load(replica) + 1 <= max(math.ceil(bound), 1):
                return [replica, *walk[:i], *walk[i + 1 :]]
        return sorted(walk, key=lambda r: load(r) / max(slots(r), 1))
