"""A dict that keeps only its most recently used keys: per-agent state with a ceiling.

Agent names come from clients, so anything keyed by them must be bounded: 10,000 invented names
once grew ``/admin/stats`` from 1.2 KB to 915 KB.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRUDict(OrderedDict[K, V], Generic[K, V]):
    """At most ``limit`` keys; the least recently set or read go first, through ``on_evict``."""

    def __init__(self, limit: int, on_evict: Callable[[K, V], None] | None = None) -> None:
        super().__init__()
        self.limit = limit
        self.on_evict = on_evict

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            old_key, old_value = self.popitem(last=False)
            if self.on_evict is not None:
                self.on_evict(old_key, old_value)

    def touch(self, key: K) -> V | None:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value
