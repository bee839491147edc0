"""FAISS in-process: cosine similarity over normalised vectors, persisted beside its metadata.

The index is written atomically (temp file, then rename) after each add, and reloaded on start.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from sutazai.agents.memory.base import MemoryHit


class FaissStore:
    def __init__(self, folder: Path) -> None:
        import faiss

        self._faiss = faiss
        self.folder = folder
        self.index_path = folder / "index.faiss"
        self.meta_path = folder / "meta.jsonl"
        self.index: Any = faiss.read_index(str(self.index_path)) if self.index_path.exists() else None
        self.records: list[dict[str, Any]] = []
        if self.meta_path.exists():
            with self.meta_path.open(encoding="utf-8") as fh:
                self.records = [json.loads(line) for line in fh if line.strip()]
        if self.index is not None and self.index.ntotal != len(self.records):
            # A crash between the two writes: trust the shorter one.
            keep = min(self.index.ntotal, len(self.records))
            self.records = self.records[:keep]
            if self.index.ntotal > keep:
                self.index.remove_ids(self._faiss.IDSelectorRange(keep, self.index.ntotal))

    def count(self) -> int:
        return len(self.records)

    @staticmethod
    def _normalised(vectors: list[list[float]]) -> np.ndarray:
        array = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(array, axis=1, keepdims=True)
        return array / np.where(norms == 0, 1, norms)

    def add(self, vectors: list[list[float]], texts: list[str], metadata: list[dict[str, Any]]) -> None:
        array = self._normalised(vectors)
        if self.index is None:
            self.index = self._faiss.IndexFlatIP(array.shape[1])
        self.index.add(array)
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.meta_path.open("a", encoding="utf-8") as fh:
            for text, meta in zip(texts, metadata, strict=True):
                record = {"text": text, "metadata": meta}
                self.records.append(record)
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        tmp = self.index_path.with_suffix(".tmp")
        self._faiss.write_index(self.index, str(tmp))
        os.replace(tmp, self.index_path)

    def search(self, vector: list[float], top_k: int) -> list[MemoryHit]:
        if self.index is None or not self.records:
            return []
        scores, ids = self.index.search(self._normalised([vector]), min(top_k, len(self.records)))
        return [
            MemoryHit(self.records[i]["text"], float(s), self.records[i]["metadata"])
            for s, i in zip(scores[0], ids[0], strict=True)
            if i >= 0
        ]
