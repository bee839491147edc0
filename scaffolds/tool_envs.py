"""External tools each in their own environment: Aider and GPT-Engineer in a virtual environment,
the Node coding agents (Claude Code, Codex CLI, OpenCode, Crush) in an npm prefix.

Their pins conflict with ours and with each other (aider-chat pins numpy 1.x and an older
litellm; gpt-engineer pins langchain 0.2), so they never enter the product's environment:
``sutazai tools install NAME`` makes ``<user data>/sutazai/tools/NAME``. The tool's own copy is
used first, then one on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sutazai.errors import Problem, UserError
from sutazai.files import locked


@dataclass(frozen=True)
class ToolSpec:
    name: str
    package: str
    executable: str
    installer: str = "pip"  # pip: a virtual environment; npm: a prefix of its own

    def own_executable(self, root: Path) -> Path:
        folder = root / self.name
        return folder / ("bin" if self.installer == "pip" else "node_modules/.bin") / self.executable


TOOLS = {
    "aider": ToolSpec("aider", "aider-chat", "aider"),
    "gpt-engineer": ToolSpec("gpt-engineer", "gpt-engineer", "gpte"),
    "claude": ToolSpec("claude", "@anthropic-ai/claude-code", "claude", "npm"),
    "codex": ToolSpec("codex", "@openai/codex", "codex", "npm"),
    "opencode": ToolSpec("opencode", "opencode-ai", "opencode", "npm"),
    "crush": ToolSpec("crush", "@charmland/crush", "crush", "npm"),
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
    own = spec.own_executable(tools_dir())
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
    """The tool into its own place, one installer at a time: a second `install` of the same tool
    (another terminal, a test beside a prefetch) waits for the first and finds it done."""
    spec = spec_of(name)
    tools_dir().mkdir(parents=True, exist_ok=True)
    with locked(tools_dir() / f".{name}.lock", timeout_s=900):
        own = spec.own_executable(tools_dir())
        if own.exists():
            return own
        return _npm_install(spec) if spec.installer == "npm" else _venv_install(spec, python)


def _venv_install(spec: ToolSpec, python: str) -> Path:
    target = tools_dir() / spec.name
    if not (target / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(target)], check=True)
    result = pip_install(target / "bin" / "python", [spec.package])
    if result.returncode != 0:
        raise UserError(Problem(f"installing {spec.package} failed: {result.stderr.strip()[-400:]}"))
    return target / "bin" / spec.executable


def pip_install(
    python: Path, args: list[str], compile_bytecode: bool = True
) -> subprocess.CompletedProcess[str]:
    """``pip install ARGS`` into the environment of ``python``, by uv when there is one
    (``SUTAZAI_UV`` or ``uv`` on PATH): Aider or GPT-Engineer in ~10 s instead of minutes of pip's
    resolver. The environment is the same either way: a plain venv the tool runs from, its
    bytecode compiled as pip does (uv would leave it to each start: Aider's imports took 6.6 s
    instead of 3.2 s where bytecode is not written, as under PYTHONDONTWRITEBYTECODE).
    ``compile_bytecode=False`` for an environment started once: compiling all of it costs more."""
    uv = os.environ.get("SUTAZAI_UV") or shutil.which("uv")
    if uv:
        compiled = ["--compile-bytecode"] if compile_bytecode else []  # uv's default: none
        command = [uv, "pip", "install", "-q", *compiled, "--python", str(python), *args]
    else:
        skipped = [] if compile_bytecode else ["--no-compile"]  # pip's default: compiled
        command = [str(python), "-m", "pip", "install", "-q", *skipped, *args]
    return subprocess.run(command, capture_output=True, text=True)


def _npm_install(spec: ToolSpec) -> Path:
    """The package into its own prefix. Install scripts run: Claude Code's links its platform
    binary (from an optional npm dependency, no download)."""
    npm = shutil.which("npm")
    if npm is None:
        raise UserError(
            Problem(f"{spec.name} needs npm (Node.js 18 or newer)", hint="install Node.js, then retry")
        )
    target = tools_dir() / spec.name
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(target),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            spec.package,
        ],
        capture_output=True,
        text=True,
    )
    executable = spec.own_executable(tools_dir())
    if result.returncode != 0 or not executable.exists():
        raise UserError(Problem(f"installing {spec.package} failed: {result.stderr.strip()[-400:]}"))
    return executable
