"""What every vector store offers, and the memory facade that embeds through the gateway."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock, Timeout

from sutazai.errors import Problem, UserError
from sutazai.files import private_dir
from sutazai.redact import Redactor

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
    """An agent's memory: text in, text out; vectors come from the gateway's embedding endpoint.
    What is remembered passes the redactor first, whichever store keeps it."""

    def __init__(self, store: VectorStore, embed: Embedder, redactor: Redactor | None = None) -> None:
        self.store = store
        self._embed = embed
        self.redactor = redactor or Redactor()

    async def remember(self, texts: list[str], metadata: list[dict[str, Any]] | None = None) -> int:
        if not texts:
            return 0
        texts = [self.redactor.text(t) for t in texts]
        metadata = self.redactor.value(metadata or [{} for _ in texts])
        vectors = await self._embed(texts)
        self.store.add(vectors, texts, metadata)
        return len(texts)

    async def recall(self, query: str, top_k: int) -> list[MemoryHit]:
        if top_k <= 0 or self.store.count() == 0:
            return []
        [vector] = await self._embed([query])
        return self.store.search(vector, top_k)


def hold_exclusively(folder: Path, what: str, hint: str) -> FileLock:
    """Embedded Chroma and Qdrant's local mode keep their index in one process's memory: a second
    process writing the same files would corrupt or lose updates. This process holds the folder
    for the store's life; another one gets a clear error instead (FAISS needs none of this: it
    locks per write and reloads)."""
    lock = FileLock(str(private_dir(folder) / ".process.lock"), mode=0o600)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise UserError(
            Problem(f"another process is using {what} (its embedded mode allows one)", folder, hint=hint)
        ) from None
    return lock


def open_store(
    backend: str, agent: str, collection: str, folder: Path, url: str | None = None
) -> VectorStore:
    """Open the agent's store; heavy clients are imported only when their backend is chosen."""
    private_dir(folder)
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
