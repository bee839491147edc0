"""The process supervisor behind ``sutazai stack up``.

Starts each service in order once what it depends on is healthy, writes a log, a pid file and a
shared ``state.json`` under ``<workspace>/.sutazai/stack/``, restarts crashed services with
backoff, and on SIGINT/SIGTERM stops them all. Children get PDEATHSIG, so even a ``kill -9``
of the supervisor leaves no orphan behind.

A running stack changes without a full stop: ``reconfigure.request`` (written by ``stack up`` with
other settings, or ``stack restart``) makes it start, drain and stop, or restart one at a time what
differs from ``sutazai.toml`` (``reconfigure.py`` says what and how), reporting each step in
``reconfigure.json`` for the command that asked.

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

from sutazai.errors import Problem, UserError
from sutazai.files import PRIVATE_FILE, atomic_write, open_private, private_dir
from sutazai.procs import ProcessRef
from sutazai.stack.control import (
    ALREADY_RUNNING,
    REQUEST_FILE,
    RESULT_FILE,
    port_taken,
    settings_fingerprint,
)
from sutazai.stack.reconfigure import DRAIN_TIMEOUT_S, GatewayAdmin, diff, wait_for
from sutazai.stack.services import ServiceSpec, local_services, stack_dir
from sutazai.stack.state import ServiceState, write_states
from sutazai.workspace import Workspace

MAX_BACKOFF_S = 30.0
STOP_GRACE_S = 5.0
HEALTHY_WITHIN_S = 120.0  # a service started by a reconfigure that is not healthy by then failed it


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

    def _log_line(self, text: str) -> None:
        with os.fdopen(open_private(self.dir / "supervisor.log"), "a") as fh:
            fh.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    # --- services -----------------------------------------------------------------------------

    def _start(self, spec: ServiceSpec) -> None:
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
        self._log_line(f"started {spec.name} pid {proc.pid}")

    def _healthy(self, spec: ServiceSpec) -> bool:
        try:
            return self.http.get(spec.health_url).status_code == 200
        except httpx.HTTPError:
            return False

    def _stop(self, name: str) -> None:
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
        self._log_line(f"stopped {name}")

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
                self._log_line(f"{spec.name} exited with {proc.returncode}; restarting in {delay:g} s")
            if spec.name not in self.procs:
                ready = all(self.states[d].health == "healthy" for d in spec.after if d in self.states)
                if ready and now >= self.next_start.get(spec.name, 0):
                    self._start(spec)
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
        self._log_line(f"supervisor {os.getpid()} up")
        try:
            while not self.stopping:
                self.tick()
                time.sleep(0.25)
        finally:
            for spec in reversed(self.services):
                self._stop(spec.name)
            self._write_state()
            (self.dir / "supervisor.pid").unlink(missing_ok=True)
            self._log_line("supervisor down")
        return 0


class Reconfigure:
    """One request worked through on a running stack; every step is a line in ``reconfigure.json``."""

    def __init__(self, supervisor: Supervisor, request_id: str, restart: object) -> None:
        self.sup = supervisor
        self.id = request_id
        self.restart = restart  # None, "all", or service names: restarted even when unchanged
        self.notes: list[str] = []
        self.started = time.monotonic()

    def note(self, text: str, done: bool = False, error: str | None = None) -> None:
        if text:
            self.notes.append(f"{time.monotonic() - self.started:5.1f} s  {text}")
            self.sup._log_line(f"reconfigure: {text}")
        body = {
            "id": self.id,
            "done": done,
            "ok": done and error is None,
            "notes": self.notes,
            "error": error,
        }
        atomic_write(self.sup.dir / RESULT_FILE, json.dumps(body).encode())

    def run(self) -> None:
        sup = self.sup
        gateway = next(s for s in sup.services if s.name == "gateway")
        admin = GatewayAdmin(gateway.url, sup.workspace.gateway_token())
        try:
            wanted_ws = Workspace.discover(sup.workspace.root)
            wanted = local_services(wanted_ws)
            change = diff(
                sup.services, wanted, sup.workspace.settings, wanted_ws.settings, sup.workspace.root
            )
            asked = [s.name for s in wanted] if self.restart == "all" else self.restart or []
            assert isinstance(asked, list)
            rolled = {new.name for _, new in change.changed}
            by_name = {s.name: s for s in sup.services}
            for spec in wanted:
                if spec.name in asked and spec.name not in rolled and spec.name in by_name:
                    if spec.name == "gateway":
                        change.gateway_restart = change.gateway_restart or "asked for"
                    else:
                        change.changed.append((by_name[spec.name], spec))
            self.note(change.summary())
            for spec in change.added:
                self._add(spec, admin)
            for spec in change.removed:
                self._remove(spec, admin)
            for old, new in change.changed:
                self._roll(old, new, admin)
            if change.gateway_restart:
                self._roll(gateway, wanted[-1], admin)
            elif admin.reload() is None:
                self.note("the gateway did not answer /admin/reload; it reads the settings when it starts")
            sup.services = wanted
            sup.workspace = wanted_ws
            atomic_write(sup.dir / "settings.json", json.dumps(settings_fingerprint(wanted_ws)).encode())
            self.note("done", done=True)
        except UserError as exc:
            self.note(f"stopped: {exc}", done=True, error=str(exc))
        except Exception as exc:  # the supervisor keeps running what it runs; the caller hears why
            sup._log_line(f"reconfigure failed: {exc!r}")
            self.note(f"failed: {exc}", done=True, error=str(exc))
        finally:
            admin.close()

    def _healthy_soon(self, spec: ServiceSpec) -> None:
        """Healthy, or a clear error as soon as it exits (its log's last line) or the time is up."""
        sup = self.sup
        state = sup.states[spec.name]
        restarts = state.restarts
        log = sup.dir / f"{spec.name}.log"
        wait_for(lambda: state.health == "healthy" or state.restarts > restarts, HEALTHY_WITHIN_S, sup.watch)
        if state.health == "healthy":
            return
        if state.restarts > restarts:
            try:
                last = log.read_text(errors="replace").strip().splitlines()[-1][:200]
            except (OSError, IndexError):
                last = "(nothing in its log)"
            message = f"{spec.name} exited with {state.last_exit} as it started: {last}"
        else:
            message = f"{spec.name} did not turn healthy within {HEALTHY_WITHIN_S:g} s"
        raise UserError(Problem(message, hint=f"see `sutazai stack logs {spec.name}` ({log})"))

    def _add(self, spec: ServiceSpec, admin: GatewayAdmin) -> None:
        taken = port_taken(spec, self.sup.workspace)
        if taken is not None:
            raise UserError(taken)
        self._start_new(spec, admin)

    def _start_new(self, spec: ServiceSpec, admin: GatewayAdmin) -> None:
        sup = self.sup
        sup.services.insert(len(sup.services) - 1, spec)  # the gateway stays last
        sup.states[spec.name] = ServiceState(name=spec.name, url=spec.url)
        sup._start(spec)
        try:
            self._healthy_soon(spec)
        except UserError:  # not kept: the running stack stays as it was, the next `stack up` retries
            sup.services = [s for s in sup.services if s.name != spec.name]
            sup._stop(spec.name)
            sup.states.pop(spec.name, None)
            raise
        if spec.gateway_engine:
            admin.reload([spec.gateway_engine])
        self.note(f"{spec.name} started" + (" and takes work" if spec.gateway_engine else ""))

    def _drain(self, spec: ServiceSpec, admin: GatewayAdmin, retire: bool) -> None:
        name = spec.gateway_engine
        if name is None:
            return
        if retire:
            admin.reload([name])  # not in the settings any more: the gateway drains it and lets go
            finished = wait_for(lambda: admin.gone(name), DRAIN_TIMEOUT_S, self.sup.watch)
        else:
            admin.drain(name)
            finished = wait_for(lambda: admin.idle(name), DRAIN_TIMEOUT_S, self.sup.watch)
        self.note(
            f"{spec.name} drained" if finished else f"{spec.name} still busy after {DRAIN_TIMEOUT_S:g} s"
        )

    def _remove(self, spec: ServiceSpec, admin: GatewayAdmin) -> None:
        self._drain(spec, admin, retire=True)
        self.sup.services = [s for s in self.sup.services if s.name != spec.name]
        self.sup._stop(spec.name)
        self.sup.states.pop(spec.name, None)
        self.note(f"{spec.name} stopped")

    def _roll(self, old: ServiceSpec, new: ServiceSpec, admin: GatewayAdmin) -> None:
        """One service restarted with its new command: drained first, back in the table after."""
        sup = self.sup
        self._drain(old, admin, retire=False)
        sup.services = [new if s.name == old.name else s for s in sup.services]
        sup._stop(old.name)
        sup._start(new)
        self._healthy_soon(new)
        if new.gateway_engine:
            admin.reload([new.gateway_engine])  # its new settings (slots), and work again
        self.note(f"{new.name} restarted")


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
