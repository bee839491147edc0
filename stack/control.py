"""Controlling the local stack from the CLI: up, down, status, logs, restart.

The supervisor runs as its own process (detached or not); these functions talk to it through
the files it keeps under ``<workspace>/.sutazai/stack/``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx

from sutazai.errors import Problem, UserError
from sutazai.files import open_private, private_dir
from sutazai.procs import ProcessRef, pid_exists
from sutazai.stack.continue_env import share_token
from sutazai.stack.services import local_services, stack_dir
from sutazai.stack.state import ServiceState, read_states
from sutazai.workspace import Workspace


def _supervisor(workspace: Workspace) -> ProcessRef | None:
    """The running supervisor, recognised by pid and start time (a stale file names nobody)."""
    try:
        process = ProcessRef.from_text((stack_dir(workspace) / "supervisor.pid").read_text())
    except OSError:
        return None
    return process if process is not None and process.alive() else None


def supervisor_pid(workspace: Workspace) -> int | None:
    process = _supervisor(workspace)
    return process.pid if process else None


def status(workspace: Workspace) -> list[ServiceState]:
    """Every service with state, health, pid and url, checked live."""
    running = supervisor_pid(workspace) is not None
    saved = read_states(stack_dir(workspace) / "state.json")
    rows = []
    for spec in local_services(workspace):
        row = saved.get(spec.name) or ServiceState(name=spec.name, url=spec.url)
        row.url = spec.url
        if not running or row.pid is None or not pid_exists(row.pid):
            row = row.stopped() if not running else replace(row, pid=None, health="unknown")
        else:
            try:
                ok = httpx.get(spec.health_url, timeout=1.0).status_code == 200
            except httpx.HTTPError:
                ok = False
            row.health = "healthy" if ok else "unhealthy"
        rows.append(row)
    return rows


def up(workspace: Workspace, detach: bool, timeout_s: float = 120.0) -> list[ServiceState]:
    """Start the supervisor (unless running) and wait until every service is healthy."""
    folder = private_dir(stack_dir(workspace))
    local_services(workspace)  # fail here, clearly, if the engine is not installed
    token = workspace.ensure_gateway_token()  # the workspace's front ends read it; strangers do not
    share_token(workspace.root, token)  # and Continue.dev, from .continue/.env
    if supervisor_pid(workspace) is None:
        log = os.fdopen(open_private(folder / "supervisor.out"), "ab")
        subprocess.Popen(
            [sys.executable, "-m", "sutazai.stack.supervisor", "--workspace", str(workspace.root)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=detach,
            cwd=workspace.root,
        )
    deadline = time.monotonic() + timeout_s
    rows: list[ServiceState] = []
    while time.monotonic() < deadline:
        rows = status(workspace)
        if rows and all(r.health == "healthy" for r in rows):
            return rows
        time.sleep(0.2)
    bad = [r.name for r in rows if r.health != "healthy"]
    raise UserError(
        Problem(
            f"stack not healthy after {timeout_s:g} s: {', '.join(bad)}",
            hint=f"see `sutazai stack logs {bad[0] if bad else ''}` ({folder})",
        )
    )


def down(workspace: Workspace, timeout_s: float = 20.0) -> bool:
    process = _supervisor(workspace)
    if process is None:
        return False
    os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while process.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    if process.alive():
        os.kill(process.pid, signal.SIGKILL)  # its children follow through PDEATHSIG
    return True


def restart(workspace: Workspace, service: str) -> None:
    names = [s.name for s in local_services(workspace)]
    if service not in names:
        raise UserError(Problem(f"no service named {service!r}", hint=f"services: {', '.join(names)}"))
    if supervisor_pid(workspace) is None:
        raise UserError(Problem("the stack is not running", hint="sutazai stack up --detach"))
    (stack_dir(workspace) / f"restart-{service}").touch()


def log_files(workspace: Workspace, service: str | None) -> list[Path]:
    folder = stack_dir(workspace)
    names = [service] if service else [s.name for s in local_services(workspace)] + ["supervisor"]
    return [folder / f"{n}.log" for n in names]


def follow(paths: list[Path], lines: int = 40, forever: bool = False) -> Iterator[str]:
    """The last ``lines`` of each log, then (with ``forever``) whatever is appended."""
    positions: dict[Path, int] = {}
    for path in paths:
        if not path.exists():
            continue
        data = path.read_bytes()
        positions[path] = len(data)
        prefix = f"{path.stem} | " if len(paths) > 1 else ""
        for line in data.decode("utf-8", "replace").splitlines()[-lines:]:
            yield prefix + line
    while forever:
        time.sleep(0.25)
        for path in paths:
            if not path.exists():
                continue
            size = path.stat().st_size
            start = positions.get(path, 0)
            if size > start:
                with path.open("rb") as fh:
                    fh.seek(start)
                    chunk = fh.read()
                positions[path] = size
                prefix = f"{path.stem} | " if len(paths) > 1 else ""
                for line in chunk.decode("utf-8", "replace").splitlines():
                    yield prefix + line
