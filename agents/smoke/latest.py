"""The latest live smoke verdict of every case, kept per agent, for the screens that show it (the
language server's lens on each case, the TUI's agent view).

``sutazai smoke`` (live or recording; a replay reproduces old answers and says nothing new) writes
``.sutazai/smoke/latest/AGENT.json`` (0600): for each case run, its passes of its samples, whether
it both passed and failed (flaky), when, and the run ids of the failed samples so a screen can open
their traces. Cases not run this time keep their last entry.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sutazai.agents.smoke.verdicts import COUNTED
from sutazai.files import atomic_write, private_dir
from sutazai.workspace import Workspace, check_name

if TYPE_CHECKING:
    from sutazai.agents.smoke.runner import CaseResult


@dataclass(frozen=True)
class LatestCase:
    passed: int
    ran: int
    at: float
    failed_runs: list[str] = field(default_factory=list)

    @property
    def flaky(self) -> bool:
        return 0 < self.passed < self.ran

    @property
    def mark(self) -> str:
        return "✓" if self.passed == self.ran else "✗"

    def label(self, now: float | None = None) -> str:
        """``3/3 passed · 5 min ago``, ``1/3 passed, flaky · 2 h ago``."""
        verdict = f"{self.passed}/{self.ran} passed" + (", flaky" if self.flaky else "")
        return f"{verdict} · {_ago((now or time.time()) - self.at)}"


def _ago(seconds: float) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def _file(workspace: Workspace, agent: str) -> Path:
    return workspace.data_dir / "smoke" / "latest" / f"{check_name(agent)}.json"


def read(workspace: Workspace, agent: str) -> dict[str, LatestCase]:
    """The agent's latest verdict per case; nothing when it never ran or the file is unreadable."""
    try:
        data = json.loads(_file(workspace, agent).read_text(encoding="utf-8"))
        return {name: LatestCase(**entry) for name, entry in data["cases"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def record(workspace: Workspace, results: list[CaseResult]) -> None:
    """Merge these results into each agent's file (one write per agent)."""
    now = time.time()
    by_agent: dict[str, dict[str, list[CaseResult]]] = {}
    for result in results:
        by_agent.setdefault(result.agent, {}).setdefault(result.case, []).append(result)
    for agent, cases in by_agent.items():
        merged = read(workspace, agent)
        for name, samples in cases.items():
            ran = [s for s in samples if s.status in COUNTED]
            if not ran:
                continue  # skipped only: the last verdict still stands
            merged[name] = LatestCase(
                passed=sum(s.status == "passed" for s in ran),
                ran=len(ran),
                at=now,
                failed_runs=[s.run_id for s in ran if s.status != "passed" and s.run_id],
            )
        path = _file(workspace, agent)
        body = {"agent": agent, "cases": {name: asdict(case) for name, case in merged.items()}}
        try:
            private_dir(path.parent)
            atomic_write(path, json.dumps(body, indent=1).encode())
        except OSError:
            pass  # a read-only workspace loses the lens, not the smoke run
