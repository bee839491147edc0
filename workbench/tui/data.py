"""What the Agents pane shows, loaded off the UI thread: agents (broken ones too) with their last run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the loader pulls in pydantic and ruamel: imported in the worker, after first paint
    from sutazai.agents.runstore import RunRecord
    from sutazai.workspace import Workspace


@dataclass(frozen=True)
class AgentRow:
    name: str
    kind: str
    model: str
    status: str  # last run status, "broken" or "-"
    last_run: float | None
    tokens: int
    errors: str  # first problem of a broken spec, or last run's error

    def search_text(self) -> str:
        return f"{self.name} {self.kind} {self.model}"


def load_rows(workspace: Workspace) -> list[AgentRow]:
    from sutazai.agents.loader import AgentCatalog
    from sutazai.agents.runstore import RunStore

    catalog = AgentCatalog.scan(workspace)
    last: dict[str, RunRecord] = {}
    if workspace.runs_db.exists():
        store = RunStore(workspace.runs_db)
        last = store.last_runs_by_agent()
        store.close()
    rows = []
    for name, agent in catalog.agents.items():
        run = last.get(name)
        rows.append(
            AgentRow(
                name,
                agent.spec.kind,
                agent.spec.model_ref,
                run.status if run else "-",
                run.started_at if run else None,
                run.prompt_tokens + run.completion_tokens if run else 0,
                (run.error or "")[:80] if run else "",
            )
        )
    for name, error in catalog.broken.items():
        first = error.problems[0]
        where = f"{first.file.name if first.file else ''}:{first.line}" if first.line else ""
        rows.append(AgentRow(name, "?", "?", "broken", None, 0, f"{where} {first.message}"))
    return sorted(rows, key=lambda r: r.name)
