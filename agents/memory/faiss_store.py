"""FAISS in-process: cosine similarity over normalised vectors, persisted with its texts.

Vectors and texts live in one file (``memory.npz``: the serialised index and the records as JSON),
replaced in one atomic rename, so they can never disagree: a crash leaves the old pair or the new
one. Writers hold a cross-process lock on the agent's folder and re-read the file first, so the TUI
and a CLI run writing one agent's memory both keep their records. Readers reload when the file changed.

Stores from before this layout (``index.faiss`` + ``meta.jsonl``) are migrated on open, cut to the
shorter of the two (what a crash between their two writes left).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from sutazai.agents.memory.base import MemoryHit
from sutazai.files import atomic_write, locked, private_dir

SNAPSHOT = "memory.npz"


class FaissStore:
    def __init__(self, folder: Path) -> None:
        import faiss

        self._faiss = faiss
        self.folder = folder
        self.path = folder / SNAPSHOT
        self.lock_path = folder / ".lock"
        self.index: Any = None
        self.records: list[dict[str, Any]] = []
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) of the snapshot loaded
        if (folder / "index.faiss").exists() or (folder / "meta.jsonl").exists():
            with locked(self.lock_path):
                self._migrate()
        self._refresh()

    # --- on disk ------------------------------------------------------------------------------

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

    def _refresh(self) -> None:
        """Load the snapshot if another writer (or process) replaced it since we last looked."""
        seen = self._stat()
        if seen == self._seen:
            return
        if seen is None:
            self.index, self.records = None, []
        else:
            with np.load(self.path, allow_pickle=False) as data:
                self.index = self._faiss.deserialize_index(data["index"]) if data["index"].size else None
                self.records = json.loads(bytes(data["records"]).decode("utf-8"))
        self._seen = seen

    def _write(self) -> None:
        buffer = io.BytesIO()
        index = self._faiss.serialize_index(self.index) if self.index is not None else np.zeros(0, np.uint8)
        records = np.frombuffer(json.dumps(self.records, ensure_ascii=False).encode("utf-8"), np.uint8)
        np.savez(buffer, index=index, records=records)
        atomic_write(self.path, buffer.getvalue())
        self._seen = self._stat()

    def _migrate(self) -> None:
        old_index, old_meta = self.folder / "index.faiss", self.folder / "meta.jsonl"
        index = self._faiss.read_index(str(old_index)) if old_index.exists() else None
        records: list[dict[str, Any]] = []
        if old_meta.exists():
            for line in old_meta.read_text(encoding="utf-8").splitlines():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # a line cut short by a crash: it and anything after it are lost
        keep = min(index.ntotal if index is not None else 0, len(records))
        if index is not None and index.ntotal > keep:
            index.remove_ids(self._faiss.IDSelectorRange(keep, index.ntotal))
        self.index, self.records = (index if keep else None), records[:keep]
        self._write()
        for path in (old_index, old_meta):
            path.unlink(missing_ok=True)

    # --- the store ------------------------------------------------------------------------------

    def count(self) -> int:
        self._refresh()
        return len(self.records)

    @staticmethod
    def _normalised(vectors: list[list[float]]) -> np.ndarray:
        array = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(array, axis=1, keepdims=True)
        return array / np.where(norms == 0, 1, norms)

    def add(self, vectors: list[list[float]], texts: list[str], metadata: list[dict[str, Any]]) -> None:
        array = self._normalised(vectors)
        private_dir(self.folder)
        with locked(self.lock_path):
            for leftover in self.folder.glob(f".{SNAPSHOT}.*.tmp"):  # a writer killed mid-write
                leftover.unlink(missing_ok=True)
            self._refresh()  # another process may have added since we last looked
            if self.index is None:
                self.index = self._faiss.IndexFlatIP(array.shape[1])
            self.index.add(array)
            self.records += [{"text": t, "metadata": m} for t, m in zip(texts, metadata, strict=True)]
            self._write()

    def search(self, vector: list[float], top_k: int) -> list[MemoryHit]:
        self._refresh()
        if self.index is None or not self.records:
            return []
        scores, ids = self.index.search(self._normalised([vector]), min(top_k, len(self.records)))
        return [
            MemoryHit(self.records[i]["text"], float(s), self.records[i]["metadata"])
            for s, i in zip(scores[0], ids[0], strict=True)
            if i >= 0
        ]
