"""Render templates into a temporary folder, validate, then move into place in one step.

A generator that fails leaves nothing half-written; nothing existing is replaced without force.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import jinja2

from sutazai.agents.spec import SCHEMA_ID
from sutazai.errors import Problem, UserError
from sutazai.scaffolds.kinds import DEMO_AGENTS, DEMO_PLANNER, KIND_DEFAULTS
from sutazai.workspace import MARKER, check_name

TEMPLATES = Path(__file__).parent / "templates"
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
    autoescape=False,
)
AGENT_FILES = {
    "agent.yaml.j2": "agent.yaml",
    "prompt.md.j2": "prompt.md",
    "tools.py.j2": "tools.py",
    "smoke.yaml.j2": "smoke.yaml",
    "README.md.j2": "README.md",
}
FRAMEWORKS: dict[str, str] = {
    "langchain": "langchain-openai>=0.2",
    "crewai": "crewai>=0.80",
    "autogen": "autogen-agentchat>=0.4\nautogen-ext[openai]>=0.4",
    "semantic-kernel": "semantic-kernel>=1.0",
}


def _render_tree(mapping: dict[str, str], folder: str, target: Path, context: dict[str, Any]) -> None:
    for template, filename in mapping.items():
        text = _env.get_template(f"{folder}/{template}").render(**context)
        (target / filename).write_text(text, encoding="utf-8")


def free_destination(agents_dir: Path, name: str, force: bool) -> Path:
    """``agents/NAME`` for a valid name, refused when it exists and ``force`` is not given."""
    check_name(name)
    destination = agents_dir / name
    if destination.exists() and not force:
        raise UserError(Problem(f"{destination} already exists", hint="choose another name, or pass --force"))
    return destination


def _place(staging: Path, destination: Path, force: bool) -> None:
    """Move the finished folder into place; with ``force`` the old one goes only after success."""
    if destination.exists():
        if not force:
            raise UserError(
                Problem(f"{destination} already exists", hint="choose another name, or pass --force")
            )
        backup = destination.with_name(f".{destination.name}.old")
        os.replace(destination, backup)
        os.replace(staging, destination)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(staging, destination)


def agent_context(name: str, kind: str, tier: str = "fast", framework: str | None = None) -> dict[str, Any]:
    if kind not in KIND_DEFAULTS:
        raise UserError(Problem(f"unknown kind {kind!r}", hint=f"use one of: {', '.join(KIND_DEFAULTS)}"))
    if framework is not None and framework not in FRAMEWORKS:
        raise UserError(
            Problem(f"unknown framework {framework!r}", hint=f"use one of: {', '.join(FRAMEWORKS)}")
        )
    defaults = dict(KIND_DEFAULTS[kind])
    # The example tool in tools.py is listed, so a new agent shows a working custom tool at once.
    defaults["tools"] = [*defaults["tools"], defaults["example_tool"]]
    return {
        "name": name,
        "kind": kind,
        "tier": tier,
        "schema_url": SCHEMA_ID,
        "max_tokens": 96,
        "entrypoint": "agent_main:run" if framework else None,
        "delegates": [],
        "tool_choice": None,
        **defaults,
    }


def new_agent(
    agents_dir: Path,
    name: str,
    kind: str,
    *,
    tier: str = "fast",
    force: bool = False,
    framework: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> Path:
    from sutazai.agents.loader import load_agent

    destination = free_destination(agents_dir, name, force)
    agents_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=agents_dir, prefix=f".{name}.") as tmp:
        staging = Path(tmp) / name
        staging.mkdir()
        context = {**agent_context(name, kind, tier, framework), **(overrides or {})}
        _render_tree(
            {**AGENT_FILES, "test_agent.py.j2": f"test_{name.replace('-', '_')}.py"},
            "agent",
            staging,
            context,
        )
        if framework:
            _render_tree({f"{framework}.py.j2": "agent_main.py"}, "frameworks", staging, context)
            (staging / "requirements.txt").write_text(FRAMEWORKS[framework] + "\n", encoding="utf-8")
        load_agent(staging)  # a template that does not validate is our bug: fail before placing
        _place(staging, destination, force)
    return destination


def init_workspace(root: Path, *, demo: bool = False, force: bool = False) -> Path:
    root = root.resolve()
    if (root / MARKER).exists() and not force:
        raise UserError(
            Problem(f"{root / MARKER} already exists", hint="it is a workspace already; use --force")
        )
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".init.") as tmp:
        staging = Path(tmp)
        _render_tree({"sutazai.toml.j2": MARKER, "gitignore.j2": ".gitignore"}, "workspace", staging, {})
        (staging / "agents").mkdir()
        if demo:
            for name, kind in DEMO_AGENTS.items():
                new_agent(staging / "agents", name, kind)
            new_agent(staging / "agents", DEMO_PLANNER["name"], DEMO_PLANNER["kind"], overrides=DEMO_PLANNER)
        for item in staging.iterdir():
            if item.name == "agents" and (root / "agents").is_dir():
                for agent in item.iterdir():  # keep agents the workspace already has
                    _place(agent, root / "agents" / agent.name, force)
            else:
                _place(item, root / item.name, force)
    return root
