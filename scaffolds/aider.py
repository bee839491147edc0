"""Aider on an agent's files, with the gateway as its model (OpenAI-compatible API)."""

from __future__ import annotations

from sutazai.errors import Problem, UserError
from sutazai.scaffolds.tool_envs import require
from sutazai.workspace import Workspace

AGENT_FILES = ("agent.yaml", "prompt.md", "tools.py", "smoke.yaml")


def aider_command(
    workspace: Workspace, name: str, extra: list[str], message: str | None = None, tier: str = "quality"
) -> list[str]:
    folder = workspace.agent_dir(name)
    if not folder.is_dir():
        raise UserError(Problem(f"no agent folder agents/{name}", hint="`sutazai list` shows the agents"))
    executable = require("aider")
    files = [f for f in AGENT_FILES if (folder / f).exists()]
    command = [
        str(executable),
        "--model",
        f"openai/{tier}",
        "--openai-api-base",
        workspace.settings.gateway.url + "/v1",
        "--openai-api-key",
        "sutazai-local",
        "--no-git",
        "--yes-always",
        "--no-show-model-warnings",
        "--no-check-update",
        "--analytics-disable",
        "--map-tokens",
        "0",
        "--no-stream",
        *files,
    ]
    if message:
        command += ["--message", message]
    return command + extra
