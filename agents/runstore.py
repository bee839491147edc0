"""The run store: every run and every step in SQLite (WAL), committed as it happens.

Each step is its own transaction, so a ``kill -9`` mid-run loses nothing already recorded, and
readers (TUI, language server) read while a run writes. Everything stored passes the redactor.

A run records the process that runs it (pid and start time). When the store is opened, runs still
``running`` whose process is gone are marked ``interrupted``, with when that was noticed and why:
a killed CLI never leaves a run that looks live forever. The schema version is ``PRAGMA
user_version``; :data:`MIGRATIONS` brings older files up to date, one step a version.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sutazai.files import PRIVATE_FILE, private_dir
from sutazai.procs import ProcessRef
from sutazai.redact import Redactor

MIGRATIONS: list[str] = [
    # 1: runs and steps
    """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    input TEXT NOT NULL,
    status TEXT NOT NULL,           -- running | ok | error | cancelled | timeout | interrupted
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
    kind TEXT NOT NULL,             -- memory | llm | tool | backoff | entrypoint | error
    started_at REAL NOT NULL,
    duration_ms REAL NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,             -- JSON: what was sent, what came back
    error TEXT,
    PRIMARY KEY (run_id, seq)
);
""",
    # 2: the process that runs a run ("pid start-time"), to notice runs whose process died
    "ALTER TABLE runs ADD COLUMN owner TEXT;",
    # 3: delegation: a child run knows its parent run and the parent's step that called it
    """
ALTER TABLE runs ADD COLUMN parent_run TEXT;
ALTER TABLE runs ADD COLUMN parent_step INTEGER;
CREATE INDEX IF NOT EXISTS runs_parent ON runs(parent_run);
""",
    # 4: where a run came from when not this machine's own front ends ("a2a", "mcp")
    "ALTER TABLE runs ADD COLUMN source TEXT;",
]
SCHEMA_VERSION = len(MIGRATIONS)
RUN_COLUMNS = (
    "id, agent, input, status, model, output, error, prompt_tokens, completion_tokens, started_at, ended_at, "
    "parent_run, parent_step, source"
)
STEP_COLUMNS = "run_id, seq, kind, started_at, duration_ms, prompt_tokens, completion_tokens, data, error"


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
    parent_run: str | None = None  # a delegated run: the run that called it
    parent_step: int | None = None  # and the step (a tool call) it answers
    source: str | None = None  # "a2a" or "mcp": a run another tool asked for (None: a front end here)

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
    def __init__(self, path: Path | None, redactor: Redactor | None = None) -> None:
        """``path=None``: a store in memory that touches no folder (smoke replays are not runs)."""
        if path is not None:
            private_dir(path.parent)
            if not path.exists():  # SQLite gives its -wal and -shm files the database file's mode
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE))
        self.path = path
        self.redactor = redactor or Redactor()
        self.owner = ProcessRef.current().to_text()
        # isolation_level=None: autocommit; every statement below is its own durable transaction.
        self._db = sqlite3.connect(
            ":memory:" if path is None else path, isolation_level=None, check_same_thread=False, timeout=10
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives process crashes
        self._migrate()
        self.mark_interrupted()

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} was written by a newer SutazAI (schema {version} > {SCHEMA_VERSION}); upgrade"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            self._db.execute("BEGIN IMMEDIATE")  # one writer migrates; the others wait, then see it done
            try:
                if int(self._db.execute("PRAGMA user_version").fetchone()[0]) < number:
                    for statement in filter(str.strip, script.split(";")):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {number}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def mark_interrupted(self) -> int:
        """Runs left ``running`` by a process that is gone become ``interrupted``; returns how many."""
        rows = self._db.execute("SELECT id, owner FROM runs WHERE status = 'running'").fetchall()
        now = time.time()
        gone = 0
        for run_id, owner in rows:
            process = ProcessRef.from_text(owner or "")
            if process is not None and process.alive():
                continue
            who = f"process {process.pid}" if process else "its process"
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
            self._db.execute(
                "UPDATE runs SET status = 'interrupted', ended_at = :now, error = :why "
                "WHERE id = :id AND status = 'running'",
                {
                    "now": now,
                    "id": run_id,
                    "why": f"interrupted: {who} ended without finishing the run (noticed {when})",
                },
            )
            gone += 1
        return gone

    def close(self) -> None:
        self._db.close()

    def start_run(
        self,
        agent: str,
        user_input: str,
        model: str | None,
        parent_run: str | None = None,
        parent_step: int | None = None,
        source: str | None = None,
    ) -> str:
        run_id = uuid.uuid4().hex[:12]
        self._db.execute(
            "INSERT INTO runs (id, agent, input, status, model, started_at, owner, parent_run, parent_step, "
            "source) VALUES (:id, :agent, :input, 'running', :model, :started, :owner, :parent_run, "
            ":parent_step, :source)",
            {
                "id": run_id,
                "agent": agent,
                "input": self.redactor.text(user_input),
                "model": model,
                "started": time.time(),
                "owner": self.owner,
                "parent_run": parent_run,
                "parent_step": parent_step,
                "source": source,
            },
        )
        return run_id

    def children(self, run_id: str) -> list[RunRecord]:
        """Runs this run delegated to, in the order they started."""
        rows = self._db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE parent_run = ? ORDER BY started_at", (run_id,)
        )
        return [RunRecord(*row) for row in rows]

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
            f"INSERT INTO steps ({STEP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        query = f"SELECT {RUN_COLUMNS} FROM runs"
        args: tuple[Any, ...] = ()
        if agent:
            query += " WHERE agent = ?"
            args = (agent,)
        query += " ORDER BY started_at DESC LIMIT ?"
        return [RunRecord(*row) for row in self._db.execute(query, (*args, limit))]

    def run(self, run_id: str) -> RunRecord | None:
        """The run with this id, or the only one it is a prefix of (ids typed by hand are short).
        Both lookups use the primary key's index (``OR id LIKE`` scanned the table)."""
        exact = self._db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if exact is not None:
            return RunRecord(*exact)
        if not run_id:
            return None
        rows = self._db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE id >= ? AND id < ? LIMIT 2",
            (run_id.lower(), run_id.lower() + "\U0010ffff"),
        ).fetchall()
        return RunRecord(*rows[0]) if len(rows) == 1 else None

    def steps(self, run_id: str) -> list[StepRecord]:
        rows = self._db.execute(f"SELECT {STEP_COLUMNS} FROM steps WHERE run_id = ? ORDER BY seq", (run_id,))
        return [
            StepRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6], json.loads(row[7]), row[8])
            for row in rows
        ]

    def last_runs_by_agent(self) -> dict[str, RunRecord]:
        """The newest run of every agent, in one query (the TUI's agents table)."""
        rows = self._db.execute(
            f"SELECT {', '.join('r.' + c.strip() for c in RUN_COLUMNS.split(','))} FROM runs r "
            "JOIN (SELECT agent, MAX(started_at) m FROM runs GROUP BY agent) last "
            "ON r.agent = last.agent AND r.started_at = last.m"
        )
        return {row[1]: RunRecord(*row) for row in rows}
