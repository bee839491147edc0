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
from sutazai.scaffolds.kinds import DEMO_AGENTS, KIND_DEFAULTS
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


def _render_tree(mapping: dict[str, str], folder: str, target: Path, context: dict[str, Any]) -> None:
    for template, filename in mapping.items():
        text = _env.get_template(f"{folder}/{template}").render(**context)
        (target / filename).write_text(text, encoding="utf-8")


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


def agent_context(name: str, kind: str, tier: str = "fast") -> dict[str, Any]:
    if kind not in KIND_DEFAULTS:
        raise UserError(Problem(f"unknown kind {kind!r}", hint=f"use one of: {', '.join(KIND_DEFAULTS)}"))
    return {
        "name": name,
        "kind": kind,
        "tier": tier,
        "schema_url": SCHEMA_ID,
        "max_tokens": 96,
        **KIND_DEFAULTS[kind],
    }


def new_agent(agents_dir: Path, name: str, kind: str, *, tier: str = "fast", force: bool = False) -> Path:
    from sutazai.agents.loader import load_agent

    check_name(name)
    destination = agents_dir / name
    if destination.exists() and not force:
        raise UserError(Problem(f"{destination} already exists", hint="choose another name, or pass --force"))
    agents_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=agents_dir, prefix=f".{name}.") as tmp:
        staging = Path(tmp) / name
        staging.mkdir()
        _render_tree(AGENT_FILES, "agent", staging, agent_context(name, kind, tier))
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
        for item in staging.iterdir():
            if item.name == "agents" and (root / "agents").is_dir():
                for agent in item.iterdir():  # keep agents the workspace already has
                    _place(agent, root / "agents" / agent.name, force)
            else:
                _place(item, root / item.name, force)
    return root
