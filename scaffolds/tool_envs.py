"""External tools (Aider, GPT-Engineer) each in their own virtual environment.

Their pins conflict with ours and with each other (aider-chat pins numpy 1.x and an older
litellm; gpt-engineer pins langchain 0.2), so they never enter the product's environment:
``sutazai tools install NAME`` makes ``<user data>/sutazai/tools/NAME``. A copy already on PATH
is used first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sutazai.errors import Problem, UserError


@dataclass(frozen=True)
class ToolSpec:
    name: str
    package: str
    executable: str


TOOLS = {
    "aider": ToolSpec("aider", "aider-chat", "aider"),
    "gpt-engineer": ToolSpec("gpt-engineer", "gpt-engineer", "gpte"),
}


def tools_dir() -> Path:
    """The user's data folder (platformdirs), or ``SUTAZAI_TOOLS_DIR`` (tests keep their own)."""
    if override := os.environ.get("SUTAZAI_TOOLS_DIR"):
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("sutazai")) / "tools"


def spec_of(name: str) -> ToolSpec:
    if name not in TOOLS:
        raise UserError(Problem(f"unknown tool {name!r}", hint=f"tools: {', '.join(TOOLS)}"))
    return TOOLS[name]


def find(name: str) -> Path | None:
    spec = spec_of(name)
    own = tools_dir() / name / "bin" / spec.executable
    if own.exists():
        return own
    on_path = shutil.which(spec.executable)
    return Path(on_path) if on_path else None


def require(name: str) -> Path:
    found = find(name)
    if found is None:
        raise UserError(Problem(f"{name} is not installed", hint=f"run `sutazai tools install {name}`"))
    return found


def install(name: str, python: str = sys.executable) -> Path:
    spec = spec_of(name)
    target = tools_dir() / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not (target / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(target)], check=True)
    result = subprocess.run(
        [str(target / "bin" / "pip"), "install", "-q", spec.package], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise UserError(Problem(f"installing {spec.package} failed: {result.stderr.strip()[-400:]}"))
    return target / "bin" / spec.executable
