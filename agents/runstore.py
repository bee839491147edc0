"""The run store: every run and every step in SQLite (WAL), committed as it happens.

Each step is its own transaction, so a ``kill -9`` mid-run loses nothing already recorded, and
readers (TUI, language server) read while a run writes. Everything stored passes the redactor.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sutazai.redact import Redactor

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    input TEXT NOT NULL,
    status TEXT NOT NULL,           -- running | ok | error | cancelled | timeout
    model TEXT,
    output TEXT,
    error TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    started_at REAL NOT NULL,
    ended_at REAL
);
CREATE INDEX IF NOT EXISTS runs_agent_started ON runs(agent, started_at DESC);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,             -- memory | llm | tool | error
    started_at REAL NOT NULL,
    duration_ms REAL NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,             -- JSON: what was sent, what came back
    error TEXT,
    PRIMARY KEY (run_id, seq)
);
"""


@dataclass(frozen=True)
class RunRecord:
    id: str
    agent: str
    input: str
    status: str
    model: str | None
    output: str | None
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    started_at: float
    ended_at: float | None

    @property
    def duration_ms(self) -> float | None:
        return None if self.ended_at is None else (self.ended_at - self.started_at) * 1000


@dataclass(frozen=True)
class StepRecord:
    run_id: str
    seq: int
    kind: str
    started_at: float
    duration_ms: float
    prompt_tokens: int
    completion_tokens: int
    data: dict[str, Any]
    error: str | None


class RunStore:
    def __init__(self, path: Path, redactor: Redactor | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.redactor = redactor or Redactor()
        # isolation_level=None: autocommit; every statement below is its own durable transaction.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives process crashes
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def start_run(self, agent: str, user_input: str, model: str | None) -> str:
        run_id = uuid.uuid4().hex[:12]
        self._db.execute(
            "INSERT INTO runs (id, agent, input, status, model, started_at) VALUES (?, ?, ?, 'running', ?, ?)",
            (run_id, agent, self.redactor.text(user_input), model, time.time()),
        )
        return run_id

    def add_step(
        self,
        run_id: str,
        seq: int,
        kind: str,
        started_at: float,
        duration_ms: float,
        data: dict[str, Any],
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        error: str | None = None,
    ) -> None:
        payload = json.dumps(self.redactor.value(data), ensure_ascii=False, default=str)
        self._db.execute(
            "INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                seq,
                kind,
                started_at,
                duration_ms,
                prompt_tokens,
                completion_tokens,
                payload,
                self.redactor.text(error) if error else None,
            ),
        )

    def finish_run(
        self,
        run_id: str,
        status: str,
        output: str | None,
        error: str | None,
        prompt_tokens: int,
        completion_tokens: int,
    ) -> None:
        self._db.execute(
            "UPDATE runs SET status=?, output=?, error=?, prompt_tokens=?, completion_tokens=?, ended_at=? "
            "WHERE id=?",
            (
                status,
                self.redactor.text(output) if output is not None else None,
                self.redactor.text(error) if error else None,
                prompt_tokens,
                completion_tokens,
                time.time(),
                run_id,
            ),
        )

    def runs(self, agent: str | None = None, limit: int = 50) -> list[RunRecord]:
        query = "SELECT * FROM runs"
        args: tuple[Any, ...] = ()
        if agent:
            query += " WHERE agent = ?"
            args = (agent,)
        query += " ORDER BY started_at DESC LIMIT ?"
        return [RunRecord(*row) for row in self._db.execute(query, (*args, limit))]

    def run(self, run_id: str) -> RunRecord | None:
        rows = list(self._db.execute("SELECT * FROM runs WHERE id = ? OR id LIKE ?", (run_id, f"{run_id}%")))
        return RunRecord(*rows[0]) if len(rows) == 1 else None

    def steps(self, run_id: str) -> list[StepRecord]:
        rows = self._db.execute("SELECT * FROM steps WHERE run_id = ? ORDER BY seq", (run_id,))
        return [
            StepRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6], json.loads(row[7]), row[8])
            for row in rows
        ]

    def last_runs_by_agent(self) -> dict[str, RunRecord]:
        """The newest run of every agent, in one query (the TUI's agents table)."""
        rows = self._db.execute(
            "SELECT r.* FROM runs r JOIN (SELECT agent, MAX(started_at) m FROM runs GROUP BY agent) last "
            "ON r.agent = last.agent AND r.started_at = last.m"
        )
        return {row[1]: RunRecord(*row) for row in rows}
