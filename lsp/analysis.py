"""Diagnostics for agent files, computed from the editor's text (not the disk), with exact ranges.

Each problem has a ``code`` and ``data`` that code actions use to offer a fix.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from sutazai.agents.checks import agent_tools_of, check_agent, check_smoke
from sutazai.agents.smoke.spec import SmokeFile
from sutazai.agents.spec import AgentSpec
from sutazai.agents.yamlpos import at_key
from sutazai.config import Settings
from sutazai.errors import Problem
from sutazai.lsp.gateway_models import GatewayModels
from sutazai.lsp.workspace_index import WorkspaceIndex
from sutazai.schema_keys import closest, model_under
from sutazai.tomlpos import locate, syntax_problem, validation_problem

MAX_ANALYSED_BYTES = 1 << 20
FileKind = Literal["agent", "smoke", "workspace"]
ROOTS: dict[str, type[BaseModel]] = {"agent": AgentSpec, "smoke": SmokeFile}


def model_at(kind: str, path: list[str]) -> type[BaseModel] | None:
    """The model whose keys are valid at ``path`` (a list of parent keys) in a file of ``kind``."""
    return model_under(ROOTS.get(kind), path)


def file_kind(path: Path) -> FileKind | None:
    if path.name == "sutazai.toml":
        return "workspace"
    if path.name == "agent.yaml":
        return "agent"
    if path.suffix in (".yaml", ".yml") and (path.parent / "agent.yaml").exists() and "smoke" in path.name:
        return "smoke"
    return None


def _duplicate_name(path: Path, tree: Any, lines: list[str], index: WorkspaceIndex) -> list[Problem]:
    name = tree.get("name")
    others = [p for p in index.paths_named(name) if p != path] if isinstance(name, str) else []
    if not others:
        return []
    message = f"agent name {name!r} is also used by {others[0].parent.name}/agent.yaml"
    return [at_key(tree, ("name",), message, path, lines, code="duplicate-name")]


def _unknown_models(
    path: Path, tree: Any, lines: list[str], index: WorkspaceIndex, models: GatewayModels
) -> list[Problem]:
    """A model or tier the live gateway does not serve (a warning: the gateway may be elsewhere)."""
    found: list[Problem] = []
    for key in ("model", "tier"):
        value = tree.get(key)
        if not isinstance(value, str) or value in index.tiers:
            continue
        if models.knows(value) is False:
            suggestion = closest(value, sorted({*index.tiers, *(models.models or set())}))
            message = f"{key} {value!r} is not served by the gateway"
        elif key == "tier" and models.models is None:
            suggestion = closest(value, sorted(index.tiers))
            if not suggestion:
                continue
            message = f"tier {value!r} is not in sutazai.toml [tiers]"
        else:
            continue
        found.append(
            at_key(
                tree,
                (key,),
                message + (f" (did you mean {suggestion!r}?)" if suggestion else ""),
                path,
                lines,
                severity="warning",
                code="unknown-model",
                data={"replace": suggestion} if suggestion else {},
            )
        )
    return found


def _workspace_problems(path: Path, text: str, models: GatewayModels) -> list[Problem]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [syntax_problem(exc, path)]
    try:
        Settings.model_validate(data)
        problems: list[Problem] = []
    except ValidationError as exc:
        problems = [validation_problem(Settings, err, path, text) for err in exc.errors()]
    for tier, value in (data.get("tiers") or {}).items():
        for model in [value] if isinstance(value, str) else list(value):
            if models.knows(str(model)) is False:
                line, _, _ = locate(text, ("tiers", tier)) or (1, 1, 2)
                column = max(text.split("\n")[line - 1].find(str(model)), 0) + 1
                problems.append(
                    Problem(
                        f"model {model!r} (tier {tier}) is not served by the gateway",
                        path,
                        line,
                        column,
                        severity="warning",
                        code="unknown-model",
                        end_column=column + len(str(model)),
                    )
                )
    return problems


def analyse(path: Path, text: str, index: WorkspaceIndex, models: GatewayModels) -> list[Problem]:
    """Every problem in one document, as the editor holds it; never raises.

    The rules are the loader's (:mod:`sutazai.agents.checks`); only what needs the rest of the
    workspace or the live gateway is added here."""
    kind = file_kind(path)
    if kind is None:
        return []
    if len(text.encode("utf-8", "replace")) > MAX_ANALYSED_BYTES:
        message = f"file is larger than {MAX_ANALYSED_BYTES >> 20} MB; not analysed"
        return [Problem(message, path, 1, 1, severity="info", code="too-large", end_column=2)]
    if kind == "workspace":
        return _workspace_problems(path, text, models)
    if kind == "smoke":
        return check_smoke(path, text, agent_tools_of(path.parent), positions=True)[1]
    checked = check_agent(path.parent, text, positions=True)
    if checked.tree is None:
        return checked.problems
    lines = text.split("\n")
    return [
        *checked.problems,
        *_duplicate_name(path, checked.tree, lines, index),
        *_unknown_models(path, checked.tree, lines, index, models),
        *_delegation(path, checked.tree, lines, index),
        *_remote_agents(path, checked.tree, lines),
    ]


_CARDS: dict[str, tuple[float, str | None]] = {}
CARD_RECHECK_S = 30.0


def _remote_agents(path: Path, tree: Any, lines: list[str]) -> list[Problem]:
    """Each ``{a2a: URL}`` delegate's card, fetched (and kept half a minute): a remote that is down
    or is not an A2A agent is a warning at its entry, before a run finds out."""
    import time

    from sutazai.agents.a2a_remote import card_problem_sync
    from sutazai.agents.yamlpos import at_key

    delegates = tree.get("delegates")
    if not isinstance(delegates, list):
        return []
    problems = []
    for i, entry in enumerate(delegates):
        url = entry.get("a2a") if isinstance(entry, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            continue
        checked = _CARDS.get(url)
        if checked is None or time.monotonic() - checked[0] > CARD_RECHECK_S:
            checked = _CARDS[url] = (time.monotonic(), card_problem_sync(url))
        if checked[1] is not None:
            problems.append(
                at_key(
                    tree, ("delegates", i), checked[1], path, lines, code="remote-agent", severity="warning"
                )
            )
    return problems


def _delegation(path: Path, tree: Any, lines: list[str], index: WorkspaceIndex) -> list[Problem]:
    """The loader's delegation rules over the workspace, with this buffer as it is now."""
    from sutazai.agents.delegation import delegation_findings, local_graph_entries, locate

    name, delegates = tree.get("name"), tree.get("delegates")
    if not isinstance(name, str) or not isinstance(delegates, list) or not delegates:
        return []
    graph = {**index.delegates, name: local_graph_entries(delegates)}
    findings = delegation_findings(graph, index.descriptions, set(index.agent_names()) | {name})
    return locate(tree, lines, path, findings.get(name, []))
