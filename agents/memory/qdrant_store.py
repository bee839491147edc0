"""Qdrant through qdrant-client: its local mode (a folder) needs no server; a URL uses one."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sutazai.agents.memory.base import MemoryHit, hold_exclusively


class QdrantStore:
    def __init__(self, agent: str, collection: str, folder: Path, url: str | None = None) -> None:
        from qdrant_client import QdrantClient, models

        self._models = models
        if url:
            self.client = QdrantClient(url=url)
        else:
            self._lock = hold_exclusively(
                folder / "qdrant",
                f"{agent}'s Qdrant memory in local mode",
                "run a Qdrant server and set [memory] qdrant_url, or use the faiss backend",
            )
            self.client = QdrantClient(path=str(folder / "qdrant"))
        self.agent = agent
        self.collection = collection
        self._ready = self.client.collection_exists(collection)

    def _ensure(self, size: int) -> None:
        if not self._ready:
            params = self._models.VectorParams(size=size, distance=self._models.Distance.COSINE)
            self.client.create_collection(self.collection, vectors_config=params)
            self._ready = True

    def _agent_filter(self) -> Any:
        m = self._models
        return m.Filter(must=[m.FieldCondition(key="agent", match=m.MatchValue(value=self.agent))])

    def count(self) -> int:
        if not self._ready:
            return 0
        return int(self.client.count(self.collection, count_filter=self._agent_filter()).count)

    def add(self, vectors: list[list[float]], texts: list[str], metadata: list[dict[str, Any]]) -> None:
        self._ensure(len(vectors[0]))
        points = [
            self._models.PointStruct(
                id=uuid.uuid4().hex, vector=v, payload={"text": t, "agent": self.agent, "metadata": m}
            )
            for v, t, m in zip(vectors, texts, metadata, strict=True)
        ]
        self.client.upsert(self.collection, points=points)

    def search(self, vector: list[float], top_k: int) -> list[MemoryHit]:
        if not self._ready:
            return []
        result = self.client.query_points(
            self.collection, query=vector, limit=top_k, query_filter=self._agent_filter()
        )
        return [
            MemoryHit(
                str((p.payload or {}).get("text", "")), float(p.score), (p.payload or {}).get("metadata", {})
            )
            for p in result.points
        ]
