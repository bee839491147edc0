"""The real ``sutazai`` entry point, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.scripted_engine import Reply, ScriptedEngine

SUTAZAI = str(Path(sys.executable).parent / "sutazai")


def cli(*args: str, cwd: Path, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SUTAZAI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)


def test_init_list_run_runs_show(tmp_path: Path, engine: tuple[ScriptedEngine, str]) -> None:
    assert cli("init", "ws", "--demo", cwd=tmp_path).returncode == 0
    ws = tmp_path / "ws"
    listed = json.loads(cli("list", "--json", cwd=ws).stdout)
    assert [a["name"] for a in listed] == [
        "chat-buddy",
        "code-helper",
        "fact-finder",
        "planner",
        "summarizer",
    ]
    assert {a["kind"] for a in listed} == {"document", "code", "conversation", "knowledge"}

    engine[0].replies = [Reply("Short summary.")]
    result = cli("--gateway", engine[1], "run", "summarizer", "Summarise: x", cwd=ws / "agents")
    assert result.returncode == 0, result.stderr
    assert "Short summary." in result.stdout and "run " in result.stderr

    runs = json.loads(cli("runs", "--json", cwd=ws).stdout)
    assert runs[0]["agent"] == "summarizer" and runs[0]["status"] == "ok"
    shown = json.loads(cli("show", runs[0]["id"][:6], "--json", cwd=ws).stdout)
    assert shown["steps"][0]["kind"] == "llm" and shown["steps"][0]["data"]["response"] == "Short summary."
    human = cli("show", runs[0]["id"], cwd=ws)
    assert "#1 llm" in human.stdout and "Short summary." in human.stdout


def test_fleet_run_of_named_agents_runs_only_those(
    tmp_path: Path, engine: tuple[ScriptedEngine, str]
) -> None:
    assert cli("init", "ws", "--demo", cwd=tmp_path).returncode == 0
    ws = tmp_path / "ws"
    engine[0].replies = [Reply("Short summary.")]
    gw = ("--gateway", engine[1])
    fleet = cli(*gw, "fleet", "run", "--agent", "summarizer", "--agent", "summarizer", "--json", cwd=ws)
    assert fleet.returncode == 0, fleet.stderr
    assert [r["agent"] for r in json.loads(fleet.stdout)["runs"]] == ["summarizer"]  # named twice, run once
    assert len(engine[0].requests) == 1
    unknown = cli(*gw, "fleet", "run", "--agent", "nope", cwd=ws)
    assert unknown.returncode == 2 and "no agent named 'nope'" in unknown.stderr
    assert "planner" in unknown.stderr and "Traceback" not in unknown.stderr
    assert len(engine[0].requests) == 1  # refused before anything ran


def test_exit_codes_mean_something(tmp_path: Path) -> None:
    cli("init", "ws", "--demo", cwd=tmp_path)
    ws = tmp_path / "ws"
    down = cli("--gateway", "http://127.0.0.1:9", "run", "summarizer", "x", cwd=ws)
    assert down.returncode == 3 and "stack up" in down.stderr and "Traceback" not in down.stderr
    missing = cli("run", "nope", "x", cwd=ws)
    assert missing.returncode == 2 and "no agent named 'nope'" in missing.stderr
    nowhere = cli("list", cwd=tmp_path)
    assert nowhere.returncode == 2 and "sutazai init" in nowhere.stderr
    (ws / "agents" / "summarizer" / "agent.yaml").write_text("name: summarizer\nkind: novel\nprompt: hi\n")
    broken = cli("run", "summarizer", "x", cwd=ws)
    assert broken.returncode == 2 and "agent.yaml:2:7" in broken.stderr and "Traceback" not in broken.stderr
    assert "broken" in cli("list", cwd=ws).stdout
    again = cli("init", "ws", cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    unknown = cli("no-such-command", cwd=ws)
    assert (
        unknown.returncode == 2 and "No such command" in unknown.stderr and "Traceback" not in unknown.stderr
    )


def test_schema_and_doctor(tmp_path: Path, engine: tuple[ScriptedEngine, str]) -> None:
    schema = json.loads(cli("schema", cwd=tmp_path).stdout)
    assert schema["title"] == "SutazAI agent.yaml" and "kind" in schema["properties"]
    cli("init", "ws", cwd=tmp_path)
    checks = {
        c["name"]: c
        for c in json.loads(cli("--gateway", engine[1], "doctor", "--json", cwd=tmp_path / "ws").stdout)
    }
    assert checks["workspace"]["ok"] and checks["gateway"]["ok"] and checks["models"]["detail"] == "fast"
    down = cli("--gateway", "http://127.0.0.1:9", "doctor", cwd=tmp_path / "ws")
    assert down.returncode == 1 and "sutazai stack up" in down.stdout


def test_kill_9_mid_run_loses_no_recorded_step(tmp_path: Path, engine: tuple[ScriptedEngine, str]) -> None:
    cli("init", "ws", "--demo", cwd=tmp_path)
    ws = tmp_path / "ws"
    engine[0].replies = [Reply('TOOL: calculator {"expression": "2+2"}'), Reply("slow " * 400, delay_s=0.02)]
    proc = subprocess.Popen(
        [SUTAZAI, "--gateway", engine[1], "run", "code-helper", "2+2?"],
        cwd=ws,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    db = ws / ".sutazai" / "runs.db"
    deadline = time.time() + 30
    while time.time() < deadline:
        if db.exists() and len(engine[0].requests) >= 2:
            break
        time.sleep(0.05)
    time.sleep(0.3)  # well into the slow second answer
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as conn:
        status = conn.execute("SELECT status FROM runs").fetchone()[0]
        kinds = [r[0] for r in conn.execute("SELECT kind FROM steps ORDER BY seq")]
    assert status == "running" and kinds == ["llm", "tool"]


def test_chat_keeps_the_conversation(tmp_path: Path, engine: tuple[ScriptedEngine, str]) -> None:
    cli("init", "ws", "--demo", cwd=tmp_path)
    engine[0].replies = [Reply("Hi Ada."), Reply("Your name is Ada.")]
    result = cli(
        "--gateway",
        engine[1],
        "chat",
        "chat-buddy",
        cwd=tmp_path / "ws",
        input="My name is Ada.\nWhat is my name?\n/exit\n",
    )
    assert result.returncode == 0 and "Your name is Ada." in result.stdout
    second = engine[0].requests[1]["messages"]
    assert [m["role"] for m in second[1:]] == ["user", "assistant", "user"]
    assert second[1]["content"] == "My name is Ada." and second[2]["content"] == "Hi Ada."
    assert engine[0].headers[0]["X-Sutazai-Priority"] == "interactive"
