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


def _last_runs(workspace: Workspace) -> dict[str, RunRecord]:
    from sutazai.agents.runstore import RunStore

    if not workspace.runs_db.exists():
        return {}
    store = RunStore(workspace.runs_db)
    try:
        return store.last_runs_by_agent()
    finally:
        store.close()


def _row(name: str, kind: str, model: str, run: RunRecord | None) -> AgentRow:
    if run is None:
        return AgentRow(name, kind, model, "-", None, 0, "")
    tokens = run.prompt_tokens + run.completion_tokens
    return AgentRow(name, kind, model, run.status, run.started_at, tokens, (run.error or "")[:80])


def quick_rows(workspace: Workspace) -> list[AgentRow]:
    """Every agent folder as a row, read without checking: libyaml's C loader (:mod:`sutazai.yaml12`) and three keys.

    Checking an agent needs pydantic and the positioned YAML reader (~0.3 s to import, ~1 ms an
    agent); listing one needs its name, kind and model. These rows are on screen while the check
    runs, and :func:`load_rows` replaces them (a broken spec shows as broken then). A file the quick
    reader cannot take (too big, not a mapping, bad syntax) is listed by name with ``?``.
    """
    import yaml

    from sutazai import yaml12
    from sutazai.workspace import AGENT_FILE
    from sutazai.yamlsafe import MAX_YAML_BYTES

    last = _last_runs(workspace)
    rows = []
    for folder in workspace.agent_dirs():
        tree: object = None
        try:
            with open(folder / AGENT_FILE, "rb") as file:
                text = file.read(MAX_YAML_BYTES + 1)
            if len(text) <= MAX_YAML_BYTES:
                tree = yaml12.load(text)
        except (OSError, yaml.YAMLError, ValueError):
            pass
        fields = tree if isinstance(tree, dict) else {}
        kind, model = fields.get("kind"), fields.get("model") or fields.get("tier") or "fast"  # model_ref
        rows.append(
            _row(folder.name, kind if isinstance(kind, str) else "?", str(model), last.get(folder.name))
        )
    return rows


def load_rows(workspace: Workspace) -> list[AgentRow]:
    from sutazai.agents.loader import AgentCatalog

    catalog = AgentCatalog.scan(workspace)
    last = _last_runs(workspace)
    rows = [
        _row(name, agent.spec.kind, agent.spec.model_ref, last.get(name))
        for name, agent in catalog.agents.items()
    ]
    for name, error in catalog.broken.items():
        first = error.problems[0]
        where = f"{first.file.name if first.file else ''}:{first.line}" if first.line else ""
        rows.append(AgentRow(name, "?", "?", "broken", None, 0, f"{where} {first.message}"))
    return sorted(rows, key=lambda r: r.name)
