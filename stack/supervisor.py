"""The process supervisor behind ``sutazai stack up``.

Starts each service in order once what it depends on is healthy, writes a log, a pid file and a
shared ``state.json`` under ``<workspace>/.sutazai/stack/``, restarts crashed services with
backoff, and on SIGINT/SIGTERM stops them all. Children get PDEATHSIG, so even a ``kill -9``
of the supervisor leaves no orphan behind.

A running stack changes without a full stop: ``reconfigure.request`` (written by ``stack up`` with
other settings, or ``stack restart``) is handed to :class:`~sutazai.stack.reconfigure.Reconfigure`,
which starts, drains and stops, or restarts one at a time what differs from ``sutazai.toml``,
reporting each step in ``reconfigure.json`` for the command that asked.

One supervisor per workspace: it holds ``supervisor.lock`` for its whole life. A second one (two
``stack up`` at once, two pytest workers) finds the lock taken and leaves without touching a
file, so the first one's state, pid file and services stay as they are. Pid files hold the pid and
the process's start time (:class:`sutazai.procs.ProcessRef`), so nothing signals a reused pid.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import httpx
from filelock import FileLock, Timeout

from sutazai.files import PRIVATE_FILE, atomic_write, open_private, private_dir
from sutazai.procs import ProcessRef
from sutazai.stack.control import ALREADY_RUNNING, REQUEST_FILE
from sutazai.stack.reconfigure import Reconfigure
from sutazai.stack.services import ServiceSpec, local_services, stack_dir
from sutazai.stack.state import ServiceState, write_states
from sutazai.workspace import Workspace

MAX_BACKOFF_S = 30.0
STOP_GRACE_S = 5.0


def _die_with_parent() -> None:
    """Linux: ask the kernel to SIGTERM this child when the supervisor dies, however it dies."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Supervisor:
    def __init__(self, workspace: Workspace, services: list[ServiceSpec] | None = None) -> None:
        self.workspace = workspace
        self.dir = private_dir(stack_dir(workspace))
        self.services = services if services is not None else local_services(workspace)
        self.states = {s.name: ServiceState(name=s.name, url=s.url) for s in self.services}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, IO[bytes]] = {}
        self.next_start: dict[str, float] = {}
        self.stopping = False
        self.http = httpx.Client(timeout=1.0)

    # --- files --------------------------------------------------------------------------------

    def _write_state(self) -> None:
        write_states(self.dir / "state.json", os.getpid(), list(self.states.values()))

    def log_line(self, text: str) -> None:
        with os.fdopen(open_private(self.dir / "supervisor.log"), "a") as fh:
            fh.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    # --- services -----------------------------------------------------------------------------

    def start(self, spec: ServiceSpec) -> None:
        log = self.logs.get(spec.name) or os.fdopen(open_private(self.dir / f"{spec.name}.log"), "ab")
        self.logs[spec.name] = log
        env = {**os.environ, **spec.env}
        proc = subprocess.Popen(
            spec.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self.workspace.root,
            preexec_fn=_die_with_parent,
        )
        self.procs[spec.name] = proc
        atomic_write(self.dir / f"{spec.name}.pid", ProcessRef.of(proc.pid).to_text().encode())
        state = self.states[spec.name]
        state.state, state.pid, state.health = "starting", proc.pid, "unknown"
        self.log_line(f"started {spec.name} pid {proc.pid}")

    def _healthy(self, spec: ServiceSpec) -> bool:
        try:
            return self.http.get(spec.health_url).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        (self.dir / f"{name}.pid").unlink(missing_ok=True)
        state = self.states[name]
        state.state, state.pid, state.health = "stopped", None, "unknown"
        self.log_line(f"stopped {name}")

    def tick(self) -> None:
        """One round: act on a request, then watch the services."""
        request = self.dir / REQUEST_FILE
        if request.exists():
            try:
                asked = json.loads(request.read_text())
            except (OSError, ValueError):
                asked = {}
            request.unlink(missing_ok=True)
            if isinstance(asked, dict):
                Reconfigure(self, str(asked.get("id", "")), asked.get("restart")).run()
        self.watch()

    def watch(self) -> None:
        """Start what is due, notice exits, check health."""
        now = time.monotonic()
        for spec in self.services:
            state = self.states[spec.name]
            proc = self.procs.get(spec.name)
            if proc is not None and proc.poll() is not None:
                state.last_exit, state.restarts = proc.returncode, state.restarts + 1
                self.procs.pop(spec.name)
                delay = min(MAX_BACKOFF_S, 2 ** min(state.restarts - 1, 5))
                self.next_start[spec.name] = now + delay
                state.state, state.health, state.pid = "backoff", "unhealthy", None
                self.log_line(f"{spec.name} exited with {proc.returncode}; restarting in {delay:g} s")
            if spec.name not in self.procs:
                ready = all(self.states[d].health == "healthy" for d in spec.after if d in self.states)
                if ready and now >= self.next_start.get(spec.name, 0):
                    self.start(spec)
                continue
            healthy = self._healthy(spec)
            state.health = "healthy" if healthy else "unhealthy"
            if healthy:
                state.state = "running"
        self._write_state()

    def run(self) -> int:
        lock = FileLock(str(self.dir / "supervisor.lock"), mode=PRIVATE_FILE)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            print("another supervisor already runs this workspace's stack; leaving it be", file=sys.stderr)
            return ALREADY_RUNNING
        try:
            return self._run()
        finally:
            lock.release()

    def _run(self) -> int:
        def on_signal(signum: int, frame: Any) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        atomic_write(self.dir / "supervisor.pid", ProcessRef.current().to_text().encode())
        self.log_line(f"supervisor {os.getpid()} up")
        try:
            while not self.stopping:
                self.tick()
                time.sleep(0.25)
        finally:
            for spec in reversed(self.services):
                self.stop(spec.name)
            self._write_state()
            (self.dir / "supervisor.pid").unlink(missing_ok=True)
            self.log_line("supervisor down")
        return 0


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="SutazAI stack supervisor")
    parser.add_argument("--workspace", type=Path, required=True)
    args = parser.parse_args(argv)
    from sutazai.offline import quiet_environment

    quiet_environment()  # inherited by every service it starts
    sys.exit(Supervisor(Workspace.discover(args.workspace)).run())


if __name__ == "__main__":
    main()
