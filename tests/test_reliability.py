"""Runs, memory and tools that survive crashes, concurrency and hostile files: real processes
killed with SIGKILL, two writers at once, two framework agents in one process, hanging tools,
alias bombs, tokens that must never be stored."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sutazai.agents.loader import load_agent
from sutazai.agents.memory.faiss_store import SNAPSHOT, FaissStore
from sutazai.agents.runstore import SCHEMA_VERSION, RunStore
from sutazai.agents.tools import Tool, ToolTimeout, calculator
from sutazai.errors import SpecError
from sutazai.procs import ProcessRef
from sutazai.redact import REDACTED, Redactor
from sutazai.workspace import Workspace
from tests.conftest import eventually
from tests.scripted_engine import Reply, ScriptedEngine, embed

SUTAZAI = str(Path(sys.executable).parent / "sutazai")
BOMB = textwrap.dedent(
    """\
    name: bomb
    kind: document
    a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
    h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
    i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
    """
)


# --- the run store ------------------------------------------------------------------------------


def test_a_run_killed_with_sigkill_is_marked_interrupted(
    workspace: Workspace, engine: tuple[ScriptedEngine, str]
) -> None:
    engine[0].replies = [Reply("slow " * 200, delay_s=0.05)]
    proc = subprocess.Popen(
        [SUTAZAI, "run", "summarizer", "Summarise: a long story."],
        cwd=workspace.root,
        env={**os.environ, "SUTAZAI_GATEWAY_URL": engine[1]},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = workspace.runs_db

    def running() -> bool:
        if not db.exists():
            return False
        try:
            with sqlite3.connect(db) as conn:
                return bool(conn.execute("SELECT 1 FROM runs WHERE status = 'running'").fetchall())
        except sqlite3.OperationalError:  # the file exists, its tables do not yet
            return False

    eventually(running, timeout=30)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    shown = subprocess.run(
        [SUTAZAI, "runs", "--json"], cwd=workspace.root, capture_output=True, text=True, timeout=60
    )
    [run] = json.loads(shown.stdout)
    assert run["status"] == "interrupted" and f"process {proc.pid}" in run["error"], run


def test_the_run_store_migrates_an_old_file_and_keeps_its_runs(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with sqlite3.connect(db) as conn:  # a store from before schema versions: no owner column
        conn.executescript(
            "CREATE TABLE runs (id TEXT PRIMARY KEY, agent TEXT NOT NULL, input TEXT NOT NULL, status TEXT NOT NULL,"
            " model TEXT, output TEXT, error TEXT, prompt_tokens INTEGER NOT NULL DEFAULT 0,"
            " completion_tokens INTEGER NOT NULL DEFAULT 0, started_at REAL NOT NULL, ended_at REAL);"
            "CREATE TABLE steps (run_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,"
            " started_at REAL NOT NULL, duration_ms REAL NOT NULL, prompt_tokens INTEGER NOT NULL DEFAULT 0,"
            " completion_tokens INTEGER NOT NULL DEFAULT 0, data TEXT NOT NULL, error TEXT,"
            " PRIMARY KEY (run_id, seq));"
            "INSERT INTO runs (id, agent, input, status, started_at) VALUES ('old', 'a', 'x', 'ok', 1.0);"
            "INSERT INTO runs (id, agent, input, status, started_at) VALUES ('stuck', 'a', 'y', 'running', 2.0);"
        )
    store = RunStore(db)
    try:
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.run("old").status == "ok"  # type: ignore[union-attr]
        assert store.run("stuck").status == "interrupted"  # type: ignore[union-attr]
        mine = store.start_run("a", "z", None)
        assert RunStore(db).run(mine).status == "running"  # type: ignore[union-attr]  # this process lives
    finally:
        store.close()


def test_a_new_store_and_its_folder_are_private(tmp_path: Path) -> None:
    store = RunStore(tmp_path / ".sutazai" / "runs.db")
    store.start_run("a", "x", None)
    store.close()
    assert stat.S_IMODE((tmp_path / ".sutazai").stat().st_mode) == 0o700
    for path in (tmp_path / ".sutazai").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_pid_is_known_again_only_with_its_start_time() -> None:
    me = ProcessRef.current()
    assert me.alive() and ProcessRef.from_text(me.to_text()) == me
    assert not ProcessRef(pid=me.pid, started=(me.started or 0) + 1).alive()  # a reused pid


def test_a_child_that_exited_is_gone_before_its_parent_reaps_it() -> None:
    """`stack down` from a process that started the supervisor itself (a test, a script) waited
    20 s for a zombie and then killed it; an exited child is gone at once."""
    import subprocess
    import sys
    import time

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    ref = ProcessRef.of(child.pid)
    deadline = time.monotonic() + 10
    while ref.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not ref.alive() and child.poll() is not None  # gone, though reaped only now


# --- memory -----------------------------------------------------------------------------------


WRITER = textwrap.dedent(
    """\
    import sys
    from pathlib import Path
    from sutazai.agents.memory.faiss_store import SNAPSHOT, FaissStore
    from tests.scripted_engine import embed

    folder, tag, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    store = FaissStore(folder)
    for i in range(count):
        text = f"{tag} fact number {i} about topic {tag}{i}"
        store.add([embed(text, 64)], [text], [{"i": i}])
    """
)


def _consistent(folder: Path) -> int:
    """Every stored text still finds itself: vectors and texts were never paired wrongly."""
    store = FaissStore(folder)
    assert store.index is None or store.index.ntotal == len(store.records)
    for record in store.records:
        [best] = store.search(embed(record["text"], 64), 1)
        assert best.text == record["text"] or best.score > 0.999
    return store.count()


def _writer(folder: Path, tag: str, count: int) -> subprocess.Popen[bytes]:
    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen([sys.executable, "-c", WRITER, str(folder), tag, str(count)], cwd=root)


def test_two_processes_writing_one_faiss_memory_lose_nothing(tmp_path: Path) -> None:
    writers = [_writer(tmp_path / "mem", tag, 40) for tag in ("alpha", "beta")]
    assert [w.wait(120) for w in writers] == [0, 0]
    assert _consistent(tmp_path / "mem") == 80


def _writing(folder: Path, writer: subprocess.Popen[bytes]) -> None:
    """Back once ``writer`` has saved the store at least once (its start-up, importing FAISS, takes
    0.5 s on a quiet machine and several under load: a fixed delay killed it before any write)."""
    snapshot = folder / SNAPSHOT
    before = snapshot.stat().st_mtime_ns if snapshot.exists() else None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and writer.poll() is None:
        if snapshot.exists() and snapshot.stat().st_mtime_ns != before:
            return
        time.sleep(0.01)
    raise AssertionError("the writer saved nothing within 60 s")


def test_a_faiss_writer_killed_mid_write_leaves_a_consistent_store(tmp_path: Path) -> None:
    folder = tmp_path / "mem"
    for delay in (0.05, 0.2, 0.5):  # after its first save: killed somewhere in the middle of a later one
        writer = _writer(folder, f"k{delay}", 100_000)
        _writing(folder, writer)
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        count = _consistent(folder)
    assert count > 0
    FaissStore(folder).add([embed("after the crashes", 64)], ["after the crashes"], [{}])
    assert _consistent(folder) == count + 1
    assert not list(folder.glob(".*.tmp"))  # what killed writers left half-written is cleared


def test_an_old_faiss_store_with_orphan_lines_is_repaired_on_disk(tmp_path: Path) -> None:
    import faiss
    import numpy as np

    folder = tmp_path / "mem"
    folder.mkdir()
    index = faiss.IndexFlatIP(64)
    index.add(np.asarray([embed("one", 64), embed("two", 64)], dtype=np.float32))
    faiss.write_index(index, str(folder / "index.faiss"))
    lines = [json.dumps({"text": t, "metadata": {}}) for t in ("one", "two", "orphan")]
    (folder / "meta.jsonl").write_text("\n".join(lines) + '\n{"text": "cut sh')
    assert FaissStore(folder).count() == 2
    assert not (folder / "meta.jsonl").exists() and FaissStore(folder).count() == 2


async def test_memory_texts_are_redacted_before_any_store_sees_them(tmp_path: Path) -> None:
    from sutazai.agents.memory import Memory

    store = FaissStore(tmp_path / "mem")

    async def embedder(texts: list[str]) -> list[list[float]]:
        return [embed(t, 64) for t in texts]

    memory = Memory(store, embedder, Redactor(environ={}))
    await memory.remember(
        ["the key is sk-proj-abcdefghijklmnop1234"], [{"from": "ghp_abcdefghijklmnopqrstuvwx12"}]
    )
    raw = (tmp_path / "mem" / "memory.npz").read_bytes()
    assert b"sk-proj" not in raw and b"ghp_" not in raw and REDACTED.encode() in raw


# --- framework agents and tools -------------------------------------------------------------------


def _framework_agent(root: Path, name: str, answer: str) -> Path:
    folder = root / "agents" / name
    folder.mkdir(parents=True)
    (folder / "agent.yaml").write_text(
        f"name: {name}\nkind: document\nprompt: {{text: hi}}\nentrypoint: agent_main:run\n"
    )
    (folder / "agent_main.py").write_text(f"def run(text, context):\n    return {answer!r} + ' ' + text\n")
    return folder


def test_two_framework_agents_in_one_process_run_their_own_code(tmp_path: Path) -> None:
    from sutazai.agents.entrypoint import resolve

    first = load_agent(_framework_agent(tmp_path, "first", "I am first"))
    second = load_agent(_framework_agent(tmp_path, "second", "I am second"))
    assert resolve(first)("x", None) == "I am first x"
    assert resolve(second)("x", None) == "I am second x"
    (second.folder / "agent_main.py").write_text("def run(text, context):\n    return 'edited'\n")
    os.utime(second.folder / "agent_main.py", ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert resolve(second)("x", None) == "edited" and resolve(first)("x", None) == "I am first x"


async def test_a_hanging_tool_fails_its_step_and_does_not_block_the_loop() -> None:
    def hang(seconds: float) -> str:
        """Sleep."""
        time.sleep(seconds)
        return "woke"

    tool = Tool.from_function("hang", hang)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(ticker())
    started = time.monotonic()
    with pytest.raises(ToolTimeout, match=r"within 0\.3 s"):
        await tool.call({"seconds": 3}, timeout_s=0.3)
    beat.cancel()
    assert time.monotonic() - started < 1.0 and ticks > 10  # the event loop kept running
    assert await tool.call({"seconds": 0}, timeout_s=1) == "woke"


def test_the_calculator_refuses_what_would_take_long() -> None:
    started = time.monotonic()
    for expression in (
        "((9**99)**99)**99",
        "9**99**99",
        "99999999999999999999**50*99999999999999**50",
        "1+" * 150 + "1",
    ):
        assert calculator(expression).startswith("error"), expression
    assert time.monotonic() - started < 0.5
    assert calculator("2 * (3 + 4)") == "14" and calculator("7/2") == "3.5"


# --- hostile files ----------------------------------------------------------------------------------


def test_an_alias_bomb_is_refused_with_its_location(tmp_path: Path) -> None:
    folder = tmp_path / "agents" / "bomb"
    folder.mkdir(parents=True)
    (folder / "agent.yaml").write_text(BOMB)
    started = time.monotonic()
    with pytest.raises(SpecError) as refused:
        load_agent(folder)
    problem = refused.value.problems[0]
    assert "alias *a" in problem.message and (problem.line, problem.column) == (4, 8)
    assert time.monotonic() - started < 1.0


def test_an_oversized_spec_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    folder = tmp_path / "agents" / "huge"
    folder.mkdir(parents=True)
    (folder / "agent.yaml").write_text("name: huge\nkind: document\n# " + "x" * (2 << 20) + "\n")
    with pytest.raises(SpecError, match="limited to"):
        load_agent(folder)


def test_the_redactor_covers_common_token_formats_and_nested_data() -> None:
    redactor = Redactor(environ={})
    secrets = [
        "sk-proj-abcdefghijklmnopqrstuvwx",
        "sk-ant-api03-abcdefghijklmnopqrstuv",
        "ghp_abcdefghijklmnopqrstuvwx12",
        "github_pat_11ABCDEFG0123456789abcdefghij",
        "AKIAABCDEFGHIJKLMNOP",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
        "Bearer abcdefghijklmnop",
        "postgres://app:hunter2secret@db.internal/prod",
        "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    ]
    data = {"list": secrets, "set": {secrets[0]}, "bytes": secrets[2].encode(), secrets[4]: "as a key"}
    cleaned = json.dumps(redactor.value(data), default=lambda b: b.decode())
    for secret in secrets:
        assert secret not in cleaned, secret
    assert "hunter2secret" not in cleaned and "db.internal" in cleaned
    assert redactor.text("a skit about sk- and tokens") == "a skit about sk- and tokens"


STORE_WRITER = textwrap.dedent(
    """\
    import sys
    from pathlib import Path
    from sutazai.agents.memory import open_store
    from tests.scripted_engine import embed

    backend, folder = sys.argv[1], Path(sys.argv[2])
    store = open_store(backend, "writer", "documents", folder)
    for i in range(100_000):
        text = f"fact number {i} about topic t{i}"
        store.add([embed(text, 64)], [text], [{"i": i}])
        if i == 2:
            print("ready", flush=True)
    """
)


@pytest.mark.parametrize("backend", ["qdrant", "chroma"])
def test_embedded_stores_allow_one_process_and_survive_a_kill(tmp_path: Path, backend: str) -> None:
    from sutazai.agents.memory import open_store
    from sutazai.errors import UserError

    folder = tmp_path / ".sutazai" / "memory" / "writer"
    root = Path(__file__).resolve().parents[1]
    writer = subprocess.Popen(
        [sys.executable, "-c", STORE_WRITER, backend, str(folder)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        with pytest.raises(UserError, match="another process is using"):
            open_store(backend, "writer", "documents", folder)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    store = open_store(backend, "writer", "documents", folder)  # the killed holder's lock went with it
    count = store.count()
    assert count >= 3
    query = "fact number 1 about topic t1"
    [hit] = store.search(embed(query, 64), 1)
    assert hit.score > 0.999 and embed(hit.text, 64) == embed(query, 64)  # texts still match their vectors
