"""The supervisor with real processes: crash restart, restart requests, no orphans, docker errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sutazai.scaffolds.generate import init_workspace
from sutazai.stack import control
from sutazai.workspace import Workspace
from tests.conftest import eventually, write_stack_config

pytestmark = pytest.mark.slow
SUTAZAI = str(Path(sys.executable).parent / "sutazai")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def _pids(ws: Workspace) -> dict[str, int]:
    return {r.name: r.pid for r in control.status(ws) if r.pid}


def test_crash_restart_and_kill_9_of_the_supervisor_leaves_no_orphan(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    write_stack_config(root, parallel=2)
    ws = Workspace(root)
    control.up(ws, detach=True, timeout_s=60)  # how fast: bench, not here (docs/benchmarks.md)
    try:
        pids = _pids(ws)
        os.kill(pids["engine"], signal.SIGKILL)  # a crash: the supervisor brings it back
        eventually(lambda: _pids(ws).get("engine") not in (None, pids["engine"]), timeout=30)
        eventually(lambda: all(r.health == "healthy" for r in control.status(ws)), timeout=30)
        assert [r.restarts for r in control.status(ws) if r.name == "engine"] == [1]

        before = _pids(ws)["embedder"]
        result = subprocess.run(
            [SUTAZAI, "stack", "restart", "embedder"], cwd=root, capture_output=True, text=True
        )
        assert result.returncode == 0
        eventually(lambda: _pids(ws).get("embedder") not in (None, before), timeout=30)

        children = list(_pids(ws).values())
        supervisor = control.supervisor_pid(ws)
        assert supervisor is not None
        os.kill(supervisor, signal.SIGKILL)
        eventually(lambda: not any(_alive(pid) for pid in children), timeout=15)
    finally:
        control.down(ws)


def test_stack_up_without_the_engine_installed_or_docker_is_one_clear_line(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    result = subprocess.run(
        [SUTAZAI, "stack", "up", "--docker"], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Docker" in result.stderr and len(result.stderr.strip().splitlines()) <= 2


def test_two_stack_ups_at_once_make_one_stack_that_status_and_down_find(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    write_stack_config(root, parallel=2)
    ws = Workspace(root)
    ups = [
        subprocess.Popen(
            [SUTAZAI, "stack", "up", "--detach"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    try:
        assert [p.wait(90) for p in ups] == [0, 0], [p.stderr.read() if p.stderr else b"" for p in ups]
        rows = control.status(ws)
        assert all(r.health == "healthy" for r in rows), rows
        supervisors = subprocess.run(
            ["pgrep", "-f", f"sutazai.stack.supervisor --workspace {root}"], capture_output=True, text=True
        ).stdout.split()
        assert len(supervisors) == 1, supervisors
        children = list(_pids(ws).values())
    finally:
        result = subprocess.run(
            [SUTAZAI, "stack", "down"], cwd=root, capture_output=True, text=True, timeout=60
        )
    assert "stack stopped" in result.stdout
    eventually(lambda: not any(_alive(pid) for pid in children), timeout=15)


def test_stack_down_never_signals_a_process_that_reused_a_stale_pid(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    ws = Workspace(root)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        folder = ws.data_dir / "stack"
        folder.mkdir(parents=True)
        (folder / "supervisor.pid").write_text(f"{bystander.pid} 1")  # the pid, but another start time
        assert control.down(ws) is False
        time.sleep(0.2)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_pytest_xdist_workers_share_one_stack_and_the_last_stops_it(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", demo=True)
    write_stack_config(root, parallel=4)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "agents", "-m", "fast", "-n", "2", "-p", "no:cacheprovider", "-q"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0 and " passed" in result.stdout, result.stdout + result.stderr
    log = (root / ".sutazai" / "stack" / "supervisor.log").read_text()
    assert log.count("supervisor ") == 2 and log.count(" up\n") == 1, log  # one started, then down
    assert control.supervisor_pid(Workspace(root)) is None
    assert not list((root / ".sutazai" / "stack" / "pytest-users").iterdir())


def test_a_port_held_by_another_program_is_named_at_once(tmp_path: Path) -> None:
    import socket

    root = init_workspace(tmp_path / "ws")
    ports = write_stack_config(root, parallel=2)
    holder = socket.socket()
    holder.bind(("127.0.0.1", ports["gateway"]))
    holder.listen()
    try:
        started = time.monotonic()
        up = subprocess.run(
            [SUTAZAI, "stack", "up", "--detach"], cwd=root, capture_output=True, text=True, timeout=60
        )
        assert up.returncode == 2 and time.monotonic() - started < 15, up.stderr
        assert f"port {ports['gateway']} (gateway) is taken by pid {os.getpid()}" in up.stderr
        assert "Traceback" not in up.stderr
    finally:
        holder.close()


def test_stack_up_again_same_settings_returns_at_once_other_settings_are_applied(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    write_stack_config(root, parallel=2)
    try:
        first = subprocess.run(
            [SUTAZAI, "stack", "up", "--detach"], cwd=root, capture_output=True, text=True, timeout=120
        )
        assert first.returncode == 0, first.stderr
        started = time.monotonic()
        again = subprocess.run(
            [SUTAZAI, "stack", "up", "--detach"], cwd=root, capture_output=True, text=True, timeout=60
        )
        assert again.returncode == 0 and "already running, same settings" in again.stderr
        assert time.monotonic() - started < 10
        (root / "sutazai.toml").write_text((root / "sutazai.toml").read_text() + "replicas = 2\n")
        changed = subprocess.run(
            [SUTAZAI, "stack", "up", "--detach", "--json"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert changed.returncode == 0, changed.stderr
        assert "running with other settings ([stack])" in changed.stderr
        rows = {r["name"]: r for r in json.loads(changed.stdout)}
        assert {"engine-1", "engine-2"} <= set(rows) and all(r["health"] == "healthy" for r in rows.values())
        status = subprocess.run(
            [SUTAZAI, "stack", "status", "--json"], cwd=root, capture_output=True, text=True
        )
        assert {"engine-1", "engine-2"} <= {r["name"] for r in json.loads(status.stdout)}
    finally:
        subprocess.run([SUTAZAI, "stack", "down"], cwd=root, capture_output=True, text=True, timeout=60)
