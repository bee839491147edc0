"""What a running stack must do to match ``sutazai.toml`` again, and the gateway calls it takes.

``stack up`` on a running stack with other settings (or ``stack restart``) asks the supervisor to
reconfigure; :class:`Reconfigure`, run by the supervisor, works through a :class:`Change`: new services are
started and join the gateway's engine table once healthy, removed ones are drained and stopped,
changed ones are restarted one at a time, each drained first so its waiters move to another replica
(or wait for it when it is the only one) and what it is generating finishes. Only a change of the
gateway's own settings (port, queue, budgets...) restarts the gateway, and that is said.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from sutazai.config import Settings
from sutazai.errors import Problem, UserError
from sutazai.files import atomic_write
from sutazai.stack.control import RESULT_FILE, port_taken, settings_fingerprint
from sutazai.stack.gateway.config import GatewayConfig, gateway_config
from sutazai.stack.services import ServiceSpec, local_services
from sutazai.stack.state import ServiceState
from sutazai.wire import TOKEN_HEADER
from sutazai.workspace import Workspace

if TYPE_CHECKING:
    from sutazai.stack.supervisor import Supervisor

DRAIN_TIMEOUT_S = 120.0  # then it is stopped anyway: a lost answer is re-run elsewhere by the gateway
HEALTHY_WITHIN_S = 120.0  # a service started by a reconfigure that is not healthy by then failed it


@dataclass
class Change:
    """Services to start, stop and restart; whether the gateway itself must restart."""

    added: list[ServiceSpec] = field(default_factory=list)
    removed: list[ServiceSpec] = field(default_factory=list)
    changed: list[tuple[ServiceSpec, ServiceSpec]] = field(default_factory=list)  # (running, wanted)
    gateway_restart: str = ""  # why, when it must

    @property
    def services_touched(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.gateway_restart)

    def summary(self) -> str:
        parts = [f"start {s.name}" for s in self.added]  # in the order the supervisor does them
        parts += [f"drain and stop {s.name}" for s in self.removed]
        parts += [f"restart {new.name}" for _, new in self.changed]
        if self.gateway_restart:
            parts.append(f"restart the gateway ({self.gateway_restart})")
        return ", ".join(parts) if parts else "no service changes; the gateway reloads its tiers and engines"


def _gateway_own(settings: Settings, root: Path) -> GatewayConfig:
    """The gateway's settings but for its engine table and tiers, which it reloads while serving."""
    return replace(gateway_config(settings, root), engines=[], tiers={})


def diff(
    running: list[ServiceSpec],
    wanted: list[ServiceSpec],
    running_settings: Settings,
    wanted_settings: Settings,
    root: Path,
) -> Change:
    change = Change()
    now = {s.name: s for s in running}
    then = {s.name: s for s in wanted}
    change.added = [s for s in wanted if s.name not in now and s.name != "gateway"]
    change.removed = [s for s in running if s.name not in then and s.name != "gateway"]
    change.changed = [
        (now[s.name], s)
        for s in wanted
        if s.name in now and s.name != "gateway" and not now[s.name].same_process(s)
    ]
    if not now["gateway"].same_process(then["gateway"]):
        change.gateway_restart = "its address changed"
    elif _gateway_own(running_settings, root) != _gateway_own(wanted_settings, root):
        change.gateway_restart = "its own settings changed"
    return change


class GatewayAdmin:
    """The few ``/admin`` calls a reconfigure needs; an unreachable gateway answers None (the
    supervisor then restarts without draining, which is all that is left to do)."""

    def __init__(self, url: str, token: str | None) -> None:
        headers = {TOKEN_HEADER: token} if token else {}
        self.http = httpx.Client(base_url=url.replace("0.0.0.0", "127.0.0.1"), headers=headers, timeout=10.0)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self.http.request(method, path, json=body)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def engines(self) -> dict[str, dict[str, Any]] | None:
        table = self._call("GET", "/admin/engines")
        return {e["name"]: e for e in table["engines"]} if table else None

    def drain(self, name: str) -> bool:
        return self._call("POST", f"/admin/engines/{name}/drain") is not None

    def resume(self, name: str) -> bool:
        return self._call("POST", f"/admin/engines/{name}/resume") is not None

    def reload(self, names: list[str] | None = None) -> dict[str, list[str]] | None:
        answer: dict[str, list[str]] | None = self._call(
            "POST", "/admin/reload", {"engines": names} if names is not None else {}
        )
        return answer

    def idle(self, name: str) -> bool:
        """Nothing generating on ``name`` (or it is gone, or the gateway cannot tell). Waiters may
        remain: on the only replica they wait for it to come back."""
        table = self.engines()
        row = table.get(name) if table is not None else None
        return row is None or row["in_flight"] == 0

    def gone(self, name: str) -> bool:
        table = self.engines()
        return table is None or name not in table


def wait_for(
    check: Callable[[], bool], timeout_s: float, tick: Callable[[], None], every_s: float = 0.25
) -> bool:
    """``check()`` true within ``timeout_s``, calling ``tick()`` (the supervisor's watch) meanwhile."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        tick()
        time.sleep(every_s)
    return bool(check())


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
            self.sup.log_line(f"reconfigure: {text}")
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
            asked = [s.name for s in wanted] if self.restart == "all" else self.restart
            asked = asked if isinstance(asked, list) else []
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
            self.note("stopped", done=True, error=str(exc))
        except Exception as exc:  # the supervisor keeps running what it runs; the caller hears why
            sup.log_line(f"reconfigure failed: {exc!r}")
            self.note("failed", done=True, error=str(exc))
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
        sup = self.sup
        taken = port_taken(spec, sup.workspace)
        if taken is not None:
            raise UserError(taken)
        sup.services.insert(len(sup.services) - 1, spec)  # the gateway stays last
        sup.states[spec.name] = ServiceState(name=spec.name, url=spec.url)
        sup.start(spec)
        try:
            self._healthy_soon(spec)
        except UserError:  # not kept: the running stack stays as it was, the next `stack up` retries
            sup.services = [s for s in sup.services if s.name != spec.name]
            sup.stop(spec.name)
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
        self.sup.stop(spec.name)
        self.sup.states.pop(spec.name, None)
        self.note(f"{spec.name} stopped")

    def _swap(self, running: ServiceSpec, wanted: ServiceSpec) -> None:
        sup = self.sup
        sup.services = [wanted if s.name == running.name else s for s in sup.services]
        sup.stop(running.name)
        sup.start(wanted)

    def _roll(self, old: ServiceSpec, new: ServiceSpec, admin: GatewayAdmin) -> None:
        """One service restarted with its new command: drained first, back in the table after."""
        self._drain(old, admin, retire=False)
        self._swap(old, new)
        try:
            self._healthy_soon(new)
        except UserError:  # put back as it ran, so a bad setting costs no replica
            self._swap(new, old)
            state = self.sup.states[old.name]
            wait_for(lambda: state.health == "healthy", HEALTHY_WITHIN_S, self.sup.watch)
            if old.gateway_engine:
                admin.resume(old.gateway_engine)
            self.note(f"{old.name} put back as it was")
            raise
        if new.gateway_engine:
            admin.reload([new.gateway_engine])  # its new settings (slots), and work again
        self.note(f"{new.name} restarted")
