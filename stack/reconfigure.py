"""What a running stack must do to match ``sutazai.toml`` again, and the gateway calls it takes.

``stack up`` on a running stack with other settings (or ``stack restart``) asks the supervisor to
reconfigure; the supervisor (``supervisor.py``) works through a :class:`Change`: new services are
started and join the gateway's engine table once healthy, removed ones are drained and stopped,
changed ones are restarted one at a time, each drained first so its waiters move to another replica
(or wait for it when it is the only one) and what it is generating finishes. Only a change of the
gateway's own settings (port, queue, budgets...) restarts the gateway, and that is said.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from sutazai.config import Settings
from sutazai.stack.gateway.config import GatewayConfig, gateway_config
from sutazai.stack.services import ServiceSpec
from sutazai.wire import TOKEN_HEADER

DRAIN_TIMEOUT_S = 120.0  # then it is stopped anyway: a lost answer is re-run elsewhere by the gateway


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
