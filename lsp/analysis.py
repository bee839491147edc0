"""Diagnostics for agent files, computed from the editor's text (not the disk), with exact ranges.

Each finding has a ``code`` and ``data`` that code actions use to offer a fix.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from sutazai.agents.spec import AgentSpec
from sutazai.agents.tools import BUILTINS, RUNTIME_TOOLS, tool_functions_in
from sutazai.agents.yamlpos import describe, position_of, to_plain
from sutazai.config import Settings
from sutazai.errors import SpecError
from sutazai.lsp.gateway_models import GatewayModels
from sutazai.lsp.schema_docs import keys_of
from sutazai.lsp.workspace_index import WorkspaceIndex
from sutazai.yamlsafe import check_yaml, safe_load_yaml

Severity = Literal["error", "warning", "info"]
MAX_ANALYSED_BYTES = 1 << 20
FileKind = Literal["agent", "smoke", "workspace"]


@dataclass
class Finding:
    line: int  # 0-based
    start: int
    end: int
    message: str
    severity: Severity = "error"
    code: str = "schema"
    data: dict[str, Any] = field(default_factory=dict)


def file_kind(path: Path) -> FileKind | None:
    if path.name == "sutazai.toml":
        return "workspace"
    if path.name == "agent.yaml":
        return "agent"
    if path.suffix in (".yaml", ".yml") and (path.parent / "agent.yaml").exists() and "smoke" in path.name:
        return "smoke"
    return None


def _token_end(lines: list[str], line: int, column: int) -> int:
    text = lines[line] if line < len(lines) else ""
    match = re.match(r"[^\s:,\]\}#]+", text[column:])
    return column + (len(match.group(0)) if match else max(1, len(text) - column))


def _at(lines: list[str], pos: tuple[int, int] | None, message: str, **kw: Any) -> Finding:
    line, col = (pos[0] - 1, pos[1] - 1) if pos else (0, 0)
    return Finding(line, col, _token_end(lines, line, col), message, **kw)


def _load(text: str, lines: list[str]) -> tuple[Any, Finding | None]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    try:
        check_yaml(text, None)
        return YAML(typ="rt").load(text), None
    except SpecError as exc:
        problem = exc.problems[0]
        return None, _at(lines, (problem.line or 1, problem.column or 1), problem.message, code="syntax")
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = (mark.line + 1, mark.column + 1) if mark else None
        return None, _at(lines, pos, f"YAML syntax: {exc.problem or exc.context}", code="syntax")
    except Exception as exc:  # ruamel raises a few unmarked errors on odd input
        return None, Finding(0, 0, 1, f"YAML: {exc}", code="syntax")


def _closest(word: str, options: list[str] | tuple[str, ...]) -> str | None:
    found = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return found[0] if found else None


def _schema_findings(model: type[BaseModel], tree: Any, lines: list[str]) -> list[Finding]:
    try:
        model.model_validate(to_plain(tree))
        return []
    except ValidationError as exc:
        errors = exc.errors()
    findings: list[Finding] = []
    for err in errors:
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "function" in p))
        pos = position_of(tree, loc, at_value=err["type"] != "extra_forbidden")
        data: dict[str, Any] = {}
        if err["type"] == "extra_forbidden" and loc:
            parent = _model_for(model, loc[:-1])
            suggestion = _closest(str(loc[-1]), list(keys_of(parent)) if parent else [])
            if suggestion:
                data = {"replace": suggestion}
        elif err["type"] == "literal_error":
            options = re.findall(r"'([^']+)'", str(err.get("ctx", {}).get("expected", "")))
            suggestion = _closest(str(err.get("input", "")), options)
            if suggestion:
                data = {"replace": suggestion}
        message = describe(err) + (f" (did you mean {data['replace']!r}?)" if data else "")
        findings.append(_at(lines, pos, message, code="schema", data=data))
    return findings


def _model_for(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        doc = keys_of(current).get(str(part))
        current = doc.child if doc else None
    return current


def _agent_findings(
    path: Path, tree: Any, lines: list[str], index: WorkspaceIndex, models: GatewayModels
) -> list[Finding]:
    findings = _schema_findings(AgentSpec, tree, lines)
    folder = path.parent
    name = tree.get("name")
    if isinstance(name, str):
        others = [p for p in index.paths_named(name) if p != path]
        if others:
            findings.append(
                _at(
                    lines,
                    position_of(tree, ("name",), True),
                    f"agent name {name!r} is also used by {others[0].parent.name}/agent.yaml",
                    code="duplicate-name",
                )
            )
    defined = tool_functions_in(folder / "tools.py")
    tools = tree.get("tools")
    if isinstance(tools, list):
        for i, tool in enumerate(tools):
            if (
                isinstance(tool, str)
                and tool not in BUILTINS
                and tool not in RUNTIME_TOOLS
                and tool not in defined
            ):
                known = sorted({*BUILTINS, *RUNTIME_TOOLS, *defined})
                suggestion = _closest(tool, known)
                data: dict[str, Any] = {"tool": tool, **({"replace": suggestion} if suggestion else {})}
                findings.append(
                    _at(
                        lines,
                        position_of(tree, ("tools", i), True),
                        f"tool {tool!r} is neither built in nor defined in tools.py",
                        code="unknown-tool",
                        data=data,
                    )
                )
    prompt = tree.get("prompt")
    if isinstance(prompt, dict) and isinstance(prompt.get("file"), str):
        target = (folder / prompt["file"]).resolve()
        if not target.is_relative_to(folder.resolve()):
            findings.append(
                _at(
                    lines,
                    position_of(tree, ("prompt", "file"), True),
                    "prompt file must stay inside the agent folder",
                    code="prompt-escape",
                )
            )
        elif not target.exists():
            findings.append(
                _at(
                    lines,
                    position_of(tree, ("prompt", "file"), True),
                    f"prompt file {prompt['file']!r} does not exist",
                    code="missing-prompt",
                    data={"file": prompt["file"]},
                )
            )
    for key in ("model", "tier"):
        value = tree.get(key)
        if isinstance(value, str) and value not in index.tiers and models.knows(value) is False:
            options = sorted({*index.tiers, *(models.models or set())})
            suggestion = _closest(value, options)
            findings.append(
                _at(
                    lines,
                    position_of(tree, (key,), True),
                    f"{key} {value!r} is not served by the gateway"
                    + (f" (did you mean {suggestion!r}?)" if suggestion else ""),
                    severity="warning",
                    code="unknown-model",
                    data={"replace": suggestion} if suggestion else {},
                )
            )
        elif key == "tier" and isinstance(value, str) and value not in index.tiers and models.models is None:
            suggestion = _closest(value, sorted(index.tiers))
            if suggestion:
                findings.append(
                    _at(
                        lines,
                        position_of(tree, (key,), True),
                        f"tier {value!r} is not in sutazai.toml [tiers] (did you mean {suggestion!r}?)",
                        severity="warning",
                        code="unknown-model",
                        data={"replace": suggestion},
                    )
                )
    return findings


def _smoke_findings(path: Path, tree: Any, lines: list[str]) -> list[Finding]:
    from sutazai.agents.smoke.spec import SmokeFile

    findings = _schema_findings(SmokeFile, tree, lines)
    agent_tools: set[str] = set()
    try:
        spec = safe_load_yaml((path.parent / "agent.yaml").read_text(encoding="utf-8")) or {}
        agent_tools = set(spec.get("tools") or [])
    except Exception:
        return findings
    cases = tree.get("cases") if isinstance(tree, dict) else None
    for i, case in enumerate(cases if isinstance(cases, list) else []):
        expect = case.get("expect") if isinstance(case, dict) else None
        called = expect.get("tool_called") if isinstance(expect, dict) else None
        name = called.get("name") if isinstance(called, dict) else called
        if isinstance(name, str) and name not in agent_tools:
            loc: tuple[Any, ...] = ("cases", i, "expect", "tool_called") + (
                ("name",) if isinstance(called, dict) else ()
            )
            findings.append(
                _at(
                    lines,
                    position_of(tree, loc, True),
                    f"tool {name!r} is not among this agent's tools ({', '.join(sorted(agent_tools)) or 'none'})",
                    code="smoke-unknown-tool",
                )
            )
    return findings


def _toml_findings(text: str, lines: list[str], models: GatewayModels) -> list[Finding]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+), column (\d+)", str(exc))
        line, col = (int(match.group(1)) - 1, int(match.group(2)) - 1) if match else (0, 0)
        return [Finding(line, col, col + 1, f"TOML: {str(exc).split(' (at')[0]}", code="syntax")]
    findings: list[Finding] = []
    try:
        Settings.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            key = str(err["loc"][-1]) if err["loc"] else ""
            line = next(
                (i for i, text_line in enumerate(lines) if re.match(rf"\s*{re.escape(key)}\s*=", text_line)),
                0,
            )
            findings.append(
                Finding(
                    line,
                    0,
                    len(lines[line]) if lines else 1,
                    f"{'.'.join(map(str, err['loc']))}: {err['msg']}",
                )
            )
    for tier, value in (data.get("tiers") or {}).items():
        for model in [value] if isinstance(value, str) else list(value):
            if models.knows(str(model)) is False:
                line = next((i for i, t in enumerate(lines) if re.match(rf"\s*{re.escape(tier)}\s*=", t)), 0)
                col = lines[line].find(str(model)) if lines else 0
                findings.append(
                    Finding(
                        line,
                        max(col, 0),
                        max(col, 0) + len(str(model)),
                        f"model {model!r} (tier {tier}) is not served by the gateway",
                        severity="warning",
                        code="unknown-model",
                    )
                )
    return findings


def analyse(path: Path, text: str, index: WorkspaceIndex, models: GatewayModels) -> list[Finding]:
    """Every finding for one document; never raises."""
    kind = file_kind(path)
    if kind is None:
        return []
    if len(text.encode("utf-8", "replace")) > MAX_ANALYSED_BYTES:
        return [
            Finding(
                0,
                0,
                1,
                f"file is larger than {MAX_ANALYSED_BYTES >> 20} MB; not analysed",
                severity="info",
                code="too-large",
            )
        ]
    lines = text.split("\n")
    if kind == "workspace":
        return _toml_findings(text, lines, models)
    tree, syntax = _load(text, lines)
    if syntax:
        return [syntax]
    if not isinstance(tree, dict):
        return [Finding(0, 0, max(1, len(lines[0])), "expected a mapping of keys at the top level")]
    if kind == "agent":
        return _agent_findings(path, tree, lines, index, models)
    return _smoke_findings(path, tree, lines)
