"""Controlling the local stack from the CLI: up, down, status, logs, restart.

The supervisor runs as its own process (detached or not); these functions talk to it through
the files it keeps under ``<workspace>/.sutazai/stack/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from sutazai.errors import Problem, UserError
from sutazai.files import atomic_write, open_private, private_dir
from sutazai.procs import ProcessRef, listener, pid_exists
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


def settings_fingerprint(workspace: Workspace) -> dict[str, str]:
    """A digest per settings section a running stack was started with (the token left out)."""
    data = workspace.settings.model_dump(mode="json")
    data.get("gateway", {}).pop("token", None)
    return {section: hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]
            for section, value in data.items()}  # fmt: skip


def _started_with(workspace: Workspace) -> dict[str, str] | None:
    try:
        saved = json.loads((stack_dir(workspace) / "settings.json").read_text())
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


def _ports_free(workspace: Workspace, grace_s: float = 5.0) -> None:
    """Before starting: a port some other program holds is named, with that program, at once
    (instead of a service that never turns healthy)."""
    for spec in local_services(workspace):
        port = urlsplit(spec.url).port
        holder = listener(port) if port else None
        deadline = time.monotonic() + grace_s  # a service of a stack just stopped may take a moment
        while holder is not None and time.monotonic() < deadline:
            if supervisor_pid(workspace) is not None:
                return  # another `stack up` of this workspace started it a moment ago: its services
            time.sleep(0.2)
            holder = listener(port) if port else None
        if holder is not None:
            pid, command = holder
            who = f"pid {pid}: {command[:120]}" if pid else command
            raise UserError(
                Problem(
                    f"port {port} ({spec.name}) is taken by {who}",
                    workspace.config_file,
                    hint="stop that program, or give the service another port in sutazai.toml "
                    "([gateway] port, [stack] engine_port / embedder_port)",
                )
            )


def up(
    workspace: Workspace,
    detach: bool,
    timeout_s: float = 120.0,
    on_note: Callable[[str], None] | None = None,
) -> list[ServiceState]:
    """Start the supervisor (unless running) and wait until every service is healthy. A stack that
    is running with the same settings is left alone; one running with other settings is restarted
    with the new ones, saying which sections changed."""
    folder = private_dir(stack_dir(workspace))
    local_services(workspace)  # fail here, clearly, if the engine is not installed
    token = workspace.ensure_gateway_token()  # the workspace's front ends read it; strangers do not
    share_token(workspace.root, token)  # and Continue.dev, from .continue/.env
    note = on_note or (lambda text: None)
    wanted = settings_fingerprint(workspace)
    if supervisor_pid(workspace) is not None:
        running = _started_with(workspace)
        if running == wanted:
            note("already running, same settings")
        else:
            changed = sorted(
                k for k in {*wanted, *(running or {})} if (running or {}).get(k) != wanted.get(k)
            )
            note(
                "a stack is running with other settings ("
                + (
                    ", ".join(f"[{k}]" for k in changed)
                    if running
                    else "unknown: started by an older version"
                )
                + "): restarting it with sutazai.toml's"
            )
            down(workspace)
    if supervisor_pid(workspace) is None:
        _ports_free(workspace)
        atomic_write(folder / "settings.json", json.dumps(wanted).encode())
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
