"""Loading agents from their folders: spec, prompt and tools, with every problem located."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sutazai.agents.spec import AgentSpec
from sutazai.agents.tools import BUILTINS, RUNTIME_TOOLS, Tool, import_tools_module, tool_functions_in
from sutazai.agents.yamlpos import position_of, validate_model
from sutazai.errors import Problem, ProblemList, SpecError
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

    @cached_property
    def tools(self) -> dict[str, Tool]:
        """Built-ins and ``tools.py`` functions named in the spec (runtime tools are bound later)."""
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
    spec, tree = validate_model(AgentSpec, _read_text(spec_file), spec_file)
    problems = ProblemList()

    def where(*loc: str | int) -> tuple[int | None, int | None]:
        pos = position_of(tree, loc)
        return (pos[0], pos[1]) if pos else (None, None)

    if spec.name != folder.name:
        problems.add(
            Problem(
                f"name {spec.name!r} does not match its folder {folder.name!r}",
                spec_file,
                *where("name"),
                hint=f"set `name: {folder.name}` or rename the folder",
            )
        )
    prompt = spec.prompt.text or ""
    if spec.prompt.file is not None:
        prompt_path = (folder / spec.prompt.file).resolve()
        if not prompt_path.is_relative_to(folder.resolve()):
            problems.add(
                Problem("prompt file must stay inside the agent folder", spec_file, *where("prompt", "file"))
            )
        elif not prompt_path.is_file():
            problems.add(
                Problem(
                    f"prompt file {spec.prompt.file!r} does not exist",
                    spec_file,
                    *where("prompt", "file"),
                    hint=f"create {folder.name}/{spec.prompt.file}",
                )
            )
        else:
            prompt = _read_text(prompt_path)
    defined = tool_functions_in(folder / "tools.py")
    for index, tool in enumerate(spec.tools):
        if tool not in BUILTINS and tool not in RUNTIME_TOOLS and tool not in defined:
            known = sorted({*BUILTINS, *RUNTIME_TOOLS, *defined})
            problems.add(
                Problem(
                    f"unknown tool {tool!r}",
                    spec_file,
                    *where("tools", index),
                    hint=f"define `def {tool}(...)` in tools.py, or use one of: {', '.join(known)}",
                )
            )
    problems.raise_if_any()
    return AgentDefinition(spec, folder, prompt, defined)


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
