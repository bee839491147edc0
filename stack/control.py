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
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from sutazai.errors import Problem, UserError
from sutazai.files import atomic_write, open_private, private_dir
from sutazai.procs import ProcessRef, listener, pid_exists
from sutazai.stack.continue_env import share_token
from sutazai.stack.services import ServiceSpec, local_services, stack_dir
from sutazai.stack.state import ServiceState, read_states
from sutazai.workspace import Workspace

REQUEST_FILE = "reconfigure.request"  # {"id", "restart": null | "all" | [names]}, read by the supervisor
RESULT_FILE = "reconfigure.json"  # {"id", "done", "ok", "notes", "error"}, written as it goes
ALREADY_RUNNING = 3  # the supervisor's exit when another one holds the workspace (that one serves)
RECONFIGURE_TIMEOUT_S = 600.0  # drains wait for answers in flight (at most 120 s each)


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


def port_taken(spec: ServiceSpec, workspace: Workspace) -> Problem | None:
    """The service's port held by some program (named, with its pid and command line), or None."""
    port = urlsplit(spec.url).port
    holder = listener(port) if port else None
    if holder is None:
        return None
    pid, command = holder
    who = f"pid {pid}: {command[:120]}" if pid else command
    return Problem(
        f"port {port} ({spec.name}) is taken by {who}",
        workspace.config_file,
        hint="stop that program, or give the service another port in sutazai.toml "
        "([gateway] port, [stack] engine_port / embedder_port)",
    )


def _ports_free(workspace: Workspace, grace_s: float = 5.0) -> None:
    """Before starting: a port some other program holds is named, with that program, at once
    (instead of a service that never turns healthy)."""
    for spec in local_services(workspace):
        problem = port_taken(spec, workspace)
        deadline = time.monotonic() + grace_s  # a service of a stack just stopped may take a moment
        while problem is not None and time.monotonic() < deadline:
            if supervisor_pid(workspace) is not None:
                return  # another `stack up` of this workspace started it a moment ago: its services
            time.sleep(0.2)
            problem = port_taken(spec, workspace)
        if problem is not None:
            raise UserError(problem)


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
                + "): applying sutazai.toml's, one service at a time"
            )
            reconfigure(workspace, None, note)
    launched: subprocess.Popen[bytes] | None = None
    if supervisor_pid(workspace) is None:
        _ports_free(workspace)
        atomic_write(folder / "settings.json", json.dumps(wanted).encode())
        log = os.fdopen(open_private(folder / "supervisor.out"), "ab")
        launched = subprocess.Popen(
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
        if launched is not None and launched.poll() not in (None, ALREADY_RUNNING):
            _supervisor_died(folder / "supervisor.out", launched.returncode)
        time.sleep(0.2)
    bad = [r.name for r in rows if r.health != "healthy"]
    raise UserError(
        Problem(
            f"stack not healthy after {timeout_s:g} s: {', '.join(bad)}",
            hint=f"see `sutazai stack logs {bad[0] if bad else ''}` ({folder})",
        )
    )


def _supervisor_died(output: Path, code: int) -> None:
    """The supervisor left at once: its own last words are the cause, not a health timeout."""
    try:
        last = output.read_text(errors="replace").strip().splitlines()[-1]
    except (OSError, IndexError):
        last = "(no output)"
    raise UserError(
        Problem(f"the stack's supervisor exited with {code}: {last}", hint=f"its whole output: {output}")
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


def request_reconfigure(workspace: Workspace, restart: str | list[str] | None) -> str:
    """Ask the running supervisor to match the settings again (and restart ``restart``: "all" or
    names, even when unchanged); returns the request's id. It answers in ``reconfigure.json``."""
    if supervisor_pid(workspace) is None:
        raise UserError(Problem("the stack is not running", hint="sutazai stack up --detach"))
    names = [s.name for s in local_services(workspace)]
    for name in restart if isinstance(restart, list) else []:
        if name not in names:
            raise UserError(Problem(f"no service named {name!r}", hint=f"services: {', '.join(names)}"))
    request_id = uuid.uuid4().hex
    body = {"id": request_id, "restart": restart}
    atomic_write(stack_dir(workspace) / REQUEST_FILE, json.dumps(body).encode())
    return request_id


def reconfigure(
    workspace: Workspace,
    restart: str | list[str] | None,
    on_note: Callable[[str], None],
    timeout_s: float = RECONFIGURE_TIMEOUT_S,
) -> None:
    """Request a reconfigure and follow it, each step passed to ``on_note`` as it happens."""
    request_id = request_reconfigure(workspace, restart)
    result_file = stack_dir(workspace) / RESULT_FILE
    shown = 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            result = json.loads(result_file.read_text())
        except (OSError, ValueError):
            result = {}
        if result.get("id") == request_id:
            for line in result["notes"][shown:]:
                on_note(line)
            shown = len(result["notes"])
            if result["done"]:
                if result["error"]:
                    raise UserError(
                        Problem(
                            f"the stack could not be reconfigured: {result['error']}",
                            hint=f"what ran before still runs; see `sutazai stack logs supervisor` "
                            f"({stack_dir(workspace)})",
                        )
                    )
                return
        if supervisor_pid(workspace) is None:
            raise UserError(Problem("the stack stopped while it was being reconfigured"))
        time.sleep(0.2)
    raise UserError(
        Problem(
            f"the stack did not finish reconfiguring within {timeout_s:g} s",
            hint="see `sutazai stack logs supervisor`",
        )
    )


def restart(workspace: Workspace, service: str | None) -> str:
    """Restart one service (or all, one at a time) gracefully; returns the request's id."""
    return request_reconfigure(workspace, [service] if service else "all")


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
