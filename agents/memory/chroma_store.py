"""Chroma: one collection per agent kind (documents, code, conversations, knowledge).

Agents share their kind's collection; each record carries its agent's name and searches filter
on it. A server URL uses Chroma's HTTP client; otherwise a persistent client in the workspace.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np

from sutazai.agents.memory.base import MemoryHit, hold_exclusively

LOCAL_SERVER = "http://127.0.0.1:8000"  # where `sutazai stack up` runs Chroma when it is the backend


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/api/v2/heartbeat", timeout=0.3).status_code == 200
    except httpx.HTTPError:
        return False


class ChromaStore:
    def __init__(self, agent: str, collection: str, folder: Path, url: str | None = None) -> None:
        import chromadb

        url = url or (LOCAL_SERVER if _answers(LOCAL_SERVER) else None)
        if url:
            from urllib.parse import urlparse

            parsed = urlparse(url)
            client = chromadb.HttpClient(
                host=parsed.hostname or "127.0.0.1", port=parsed.port or 8000, settings=_quiet(chromadb)
            )
        else:
            path = folder.parent / "_chroma"
            self._lock = hold_exclusively(
                path,
                "this workspace's embedded Chroma memory",
                "start the stack (`sutazai stack up` runs a Chroma server every process can share) "
                "or set [memory] chroma_url",
            )
            client = chromadb.PersistentClient(path=str(path), settings=_quiet(chromadb))
        self.agent = agent
        self.collection = client.get_or_create_collection(collection, metadata={"hnsw:space": "cosine"})

    def count(self) -> int:
        return len(self.collection.get(where={"agent": self.agent}, include=[])["ids"])

    def add(self, vectors: list[list[float]], texts: list[str], metadata: list[dict[str, Any]]) -> None:
        self.collection.add(
            ids=[uuid.uuid4().hex for _ in texts],
            embeddings=np.asarray(vectors, dtype=np.float32),
            documents=texts,
            metadatas=[{**m, "agent": self.agent} for m in metadata],
        )

    def search(self, vector: list[float], top_k: int) -> list[MemoryHit]:
        result = self.collection.query(
            query_embeddings=np.asarray([vector], dtype=np.float32),
            n_results=top_k,
            where={"agent": self.agent},
        )
        docs = (result.get("documents") or [[]])[0]
        dists = (result.get("distances") or [[]])[0]
        metas = (result.get("metadatas") or [[]])[0]
        return [
            MemoryHit(str(d), 1.0 - float(dist), dict(m or {}))
            for d, dist, m in zip(docs, dists, metas, strict=False)
        ]


def _quiet(chromadb: Any) -> Any:
    """Chroma's client sends anonymous usage events unless told not to: never from here."""
    return chromadb.config.Settings(anonymized_telemetry=False)
