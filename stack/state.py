"""What the stack's services are doing, as one typed record from the supervisor to every reader.

The supervisor mutates a :class:`ServiceState` per service and writes them all to ``state.json``;
``control.status`` reads them back (adding live health), and the CLI, TUI and Docker stack show
the same record. Nothing in between turns it into a dict.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

from sutazai.files import atomic_write

RunState = Literal["starting", "running", "backoff", "stopped", "failed", "created", "absent", "removed"]
Health = Literal["healthy", "unhealthy", "unknown"]


@dataclass(kw_only=True)
class ServiceState:
    name: str
    url: str
    state: str = "stopped"  # a RunState; Docker reports its own container states too
    health: str = "unknown"  # a Health
    pid: int | None = None
    restarts: int = 0
    last_exit: int | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    def stopped(self) -> ServiceState:
        """How the service reads when no supervisor runs (a stale file names no live process)."""
        return replace(self, state="stopped", health="unknown", pid=None)


def write_states(path: Path, supervisor_pid: int, states: list[ServiceState]) -> None:
    payload = {"supervisor": supervisor_pid, "services": [s.to_json() for s in states]}
    atomic_write(path, json.dumps(payload).encode())


def read_states(path: Path) -> dict[str, ServiceState]:
    """The last states the supervisor wrote, by name; empty when there are none (or they are torn)."""
    try:
        saved = json.loads(path.read_text())["services"]
        return {s["name"]: ServiceState(**s) for s in saved}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
