"""What every vector store offers, and the memory facade that embeds through the gateway."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

Embedder = Callable[[list[str]], Awaitable[list[list[float]]]]


@dataclass(frozen=True)
class MemoryHit:
    text: str
    score: float
    metadata: dict[str, Any]


class VectorStore(Protocol):
    def add(self, vectors: list[list[float]], texts: list[str], metadata: list[dict[str, Any]]) -> None: ...

    def search(self, vector: list[float], top_k: int) -> list[MemoryHit]: ...

    def count(self) -> int: ...


class Memory:
    """An agent's memory: text in, text out; vectors come from the gateway's embedding endpoint."""

    def __init__(self, store: VectorStore, embed: Embedder) -> None:
        self.store = store
        self._embed = embed

    async def remember(self, texts: list[str], metadata: list[dict[str, Any]] | None = None) -> int:
        if not texts:
            return 0
        vectors = await self._embed(texts)
        self.store.add(vectors, texts, metadata or [{} for _ in texts])
        return len(texts)

    async def recall(self, query: str, top_k: int) -> list[MemoryHit]:
        if top_k <= 0 or self.store.count() == 0:
            return []
        [vector] = await self._embed([query])
        return self.store.search(vector, top_k)


def open_store(
    backend: str, agent: str, collection: str, folder: Path, url: str | None = None
) -> VectorStore:
    """Open the agent's store; heavy clients are imported only when their backend is chosen."""
    if backend == "faiss":
        from sutazai.agents.memory.faiss_store import FaissStore

        return FaissStore(folder)
    if backend == "chroma":
        from sutazai.agents.memory.chroma_store import ChromaStore

        return ChromaStore(agent, collection, folder, url)
    if backend == "qdrant":
        from sutazai.agents.memory.qdrant_store import QdrantStore

        return QdrantStore(agent, collection, folder, url)
    raise ValueError(f"unknown memory backend {backend!r}")
