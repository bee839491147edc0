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


class _Traffic:
    """Agents asking the gateway without pause while the stack changes under them."""

    def __init__(self, url: str, agents: int = 6) -> None:
        import threading

        self.url, self.statuses, self.errors = url, [], []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._agent, args=(i,)) for i in range(agents)]
        for thread in self.threads:
            thread.start()

    def _agent(self, index: int) -> None:
        import httpx

        body = {"model": "smollm2", "messages": [{"role": "user", "content": f"Say hi {index}"}],
                "max_tokens": 8, "temperature": 0.7}  # fmt: skip
        with httpx.Client(timeout=300) as client:
            while not self.stop.is_set():
                try:
                    answer = client.post(f"{self.url}/v1/chat/completions", json=body,
                                         headers={"X-Sutazai-Agent": f"agent-{index}"})  # fmt: skip
                    self.statuses.append(answer.status_code)
                    if answer.status_code != 200:
                        self.errors.append(answer.text[:200])
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))

    def finish(self) -> list[str]:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)
        return self.errors


def _up(root: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SUTAZAI, "stack", "up", "--detach", *flags], cwd=root, capture_output=True, text=True, timeout=400
    )


def test_stack_up_again_same_settings_returns_at_once_other_settings_are_applied_losing_nothing(
    tmp_path: Path,
) -> None:
    root = init_workspace(tmp_path / "ws")
    ports = write_stack_config(root, parallel=4)
    config = (root / "sutazai.toml").read_text()
    traffic = None
    try:
        first = _up(root)
        assert first.returncode == 0, first.stderr
        started = time.monotonic()
        again = _up(root)
        assert again.returncode == 0 and "already running, same settings" in again.stderr
        assert time.monotonic() - started < 10
        pids = _pids(Workspace(root))
        traffic = _Traffic(f"http://127.0.0.1:{ports['gateway']}")
        eventually(lambda: len(traffic.statuses) >= 6, timeout=60)

        (root / "sutazai.toml").write_text(config + "replicas = 2\n")
        import socket

        with socket.socket() as holder:  # the new replica's port, taken by someone else: named at once
            holder.bind(("127.0.0.1", ports["engine"] + 4))
            holder.listen()
            started = time.monotonic()
            refused = _up(root)
            assert refused.returncode == 2 and time.monotonic() - started < 15, refused.stderr
            assert f"port {ports['engine'] + 4} (engine-2) is taken by pid {os.getpid()}" in refused.stderr
            assert _pids(Workspace(root))["engine"] == pids["engine"]  # the running stack as it was
        wider = _up(root, "--json")
        assert wider.returncode == 0, wider.stderr
        assert "running with other settings ([stack])" in wider.stderr
        assert "engine-2 started and takes work" in wider.stderr and "engine restarted" in wider.stderr
        rows = {r["name"]: r for r in json.loads(wider.stdout)}
        assert {"engine", "engine-2"} <= set(rows) and all(r["health"] == "healthy" for r in rows.values())
        now = _pids(Workspace(root))
        assert now["gateway"] == pids["gateway"] and now["embedder"] == pids["embedder"]  # left be
        assert now["engine"] != pids["engine"]  # its threads changed: restarted, drained first
        served_before = len(traffic.statuses)
        eventually(lambda: len(traffic.statuses) >= served_before + 6, timeout=60)

        (root / "sutazai.toml").write_text(config)
        narrower = _up(root)
        assert narrower.returncode == 0, narrower.stderr
        assert "engine-2 drained" in narrower.stderr and "engine-2 stopped" in narrower.stderr
        status = subprocess.run(
            [SUTAZAI, "stack", "status", "--json"], cwd=root, capture_output=True, text=True
        )
        assert {r["name"] for r in json.loads(status.stdout)} == {"engine", "embedder", "gateway"}
        assert _pids(Workspace(root))["gateway"] == pids["gateway"]
        served_before = len(traffic.statuses)
        eventually(lambda: len(traffic.statuses) >= served_before + 6, timeout=60)

        restart = subprocess.run(
            [SUTAZAI, "stack", "restart", "engine"], cwd=root, capture_output=True, text=True, timeout=300
        )
        assert restart.returncode == 0 and "engine restarted" in restart.stderr, restart.stderr
        errors = traffic.finish()
        assert errors == [] and len(traffic.statuses) > 18, (errors[:3], len(traffic.statuses))
    finally:
        if traffic is not None:
            traffic.finish()
        subprocess.run([SUTAZAI, "stack", "down"], cwd=root, capture_output=True, text=True, timeout=60)


def test_a_change_the_engine_cannot_start_with_is_put_back_and_said_at_once(tmp_path: Path) -> None:
    import httpx

    root = init_workspace(tmp_path / "ws")
    ports = write_stack_config(root, parallel=2)
    config = (root / "sutazai.toml").read_text()
    try:
        assert _up(root).returncode == 0
        (root / "sutazai.toml").write_text(
            config.replace("parallel = 2", "parallel = 400000")
        )  # no RAM holds it
        started = time.monotonic()
        refused = _up(root)
        assert refused.returncode == 2 and time.monotonic() - started < 60, refused.stderr
        assert "engine exited with" in refused.stderr and "engine put back as it was" in refused.stderr
        assert refused.stderr.count("exited with") == 1  # said once, not in the note and again
        rows = {r.name: r for r in control.status(Workspace(root))}
        assert rows["engine"].health == "healthy"  # the engine it had, back before the command returned
        body = {"model": "smollm2", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
        answer = httpx.post(f"http://127.0.0.1:{ports['gateway']}/v1/chat/completions", json=body, timeout=60)
        assert answer.status_code == 200
    finally:
        subprocess.run([SUTAZAI, "stack", "down"], cwd=root, capture_output=True, text=True, timeout=60)
