"""Vector memory: FAISS in-process by default, Chroma or Qdrant as options.

Stores take vectors; embedding happens once, through the gateway, in :class:`Memory`.
"""

from __future__ import annotations

from sutazai.agents.memory.base import Memory, MemoryHit, VectorStore, open_store

__all__ = ["Memory", "MemoryHit", "VectorStore", "open_store"]
