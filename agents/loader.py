"""Loading agents from their folders: spec, prompt and tools, with every problem located."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from sutazai.agents.checks import check_agent
from sutazai.agents.spec import AgentSpec
from sutazai.agents.tools import BUILTINS, RUNTIME_TOOLS, Tool, import_tools_module
from sutazai.errors import Problem, SpecError
from sutazai.workspace import AGENT_FILE, Workspace


@dataclass
class AgentDefinition:
    """An agent as it sits on disk. Cheap to hold: tools import lazily on first use."""

    spec: AgentSpec
    folder: Path
    system_prompt: str
    tool_lines: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def spec_file(self) -> Path:
        return self.folder / AGENT_FILE

    @property
    def tools_file(self) -> Path:
        return self.folder / "tools.py"

    # Shared by every copy of this definition (dataclasses.replace passes the same dict on), so
    # a smoke sample's seeded copy does not import tools.py again: that was most of a replay's time.
    _imported: dict[str, dict[str, Tool]] = field(default_factory=dict, repr=False, compare=False)

    def with_seed(self, seed: int) -> AgentDefinition:
        """The same agent drawing with another seed (a smoke sample)."""
        return dataclasses.replace(self, spec=self.spec.model_copy(update={"seed": seed}))

    @property
    def tools(self) -> dict[str, Tool]:
        """Built-ins and ``tools.py`` functions named in the spec (runtime tools are bound later),
        imported on first use."""
        if "tools" not in self._imported:
            self._imported["tools"] = self._import_tools()
        return self._imported["tools"]

    def _import_tools(self) -> dict[str, Tool]:
        wanted = [t for t in self.spec.tools if t not in RUNTIME_TOOLS]
        custom = [t for t in wanted if t not in BUILTINS]
        module = import_tools_module(self.name, self.tools_file) if custom else None
        found: dict[str, Tool] = {}
        for name in wanted:
            fn = getattr(module, name) if name in custom else BUILTINS[name]
            found[name] = Tool.from_function(name, fn)
        return found


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            Problem(f"not UTF-8 text (byte {exc.start})", path, hint="save it as UTF-8")
        ) from None
    except OSError as exc:
        raise SpecError(Problem(f"cannot read: {exc.strerror}", path)) from None


def load_agent(folder: Path) -> AgentDefinition:
    """Validate ``agent.yaml`` and everything it points at; raise one SpecError with all problems."""
    spec_file = folder / AGENT_FILE
    checked = check_agent(folder, _read_text(spec_file))
    if checked.errors or checked.spec is None:
        raise SpecError(checked.errors)
    spec = checked.spec
    prompt = spec.prompt.text or ""
    if spec.prompt.file is not None:
        prompt = _read_text(folder / spec.prompt.file)
    return AgentDefinition(spec, folder, prompt, checked.defined_tools)


@dataclass
class AgentCatalog:
    """Every agent of a workspace, with the broken ones kept as problems instead of crashing."""

    agents: dict[str, AgentDefinition]
    broken: dict[str, SpecError]

    @classmethod
    def scan(cls, workspace: Workspace) -> AgentCatalog:
        agents: dict[str, AgentDefinition] = {}
        broken: dict[str, SpecError] = {}
        for folder in workspace.agent_dirs():
            try:
                agents[folder.name] = load_agent(folder)
            except SpecError as exc:
                broken[folder.name] = exc
        from sutazai.agents.delegation import local_graph_entries

        graph = {
            name: local_graph_entries(a.spec.delegates) for name, a in agents.items() if a.spec.delegates
        }
        if graph:  # delegation is checked across agents: an unknown callee or a loop breaks the caller
            from sutazai.agents.delegation import delegation_problems

            found = delegation_problems(
                graph,
                {name: a.spec.description for name, a in agents.items()},
                {*agents, *broken},
                {name: agents[name].spec_file for name in graph},
            )
            for name, problems in found.items():
                errors = [p for p in problems if p.severity == "error"]
                if errors:
                    broken[name] = SpecError(errors)
                    del agents[name]
        return cls(agents, broken)

    def get(self, name: str) -> AgentDefinition:
        if name in self.broken:
            raise self.broken[name]
        if name not in self.agents:
            available = ", ".join(sorted(self.agents)) or "none yet"
            raise SpecError(
                Problem(
                    f"no agent named {name!r}", hint=f"agents here: {available}; `sutazai list` shows all"
                )
            )
        return self.agents[name]
