"""Aider on an agent's files, with the gateway as its model (OpenAI-compatible API).

Aider sizes its prompts from the model's context window, which it looks up by name: for a gateway
tier it found none and reported "Input tokens: ~3,471 of 0", overflowing a 4k slot. So the hook
asks the gateway (``/v1/models`` publishes each model's context and output limit), writes Aider's
model metadata and settings files for the tier (``.sutazai/aider/``), and picks what a small model can
follow: whole-file edits, no repo map. After the run it says plainly whether anything changed.

An edit is a change to the agent's own files. Aider's history files go to ``.sutazai/aider/NAME/``
(they once landed in the agent folder, and without git the hook reported them as the edit), and
hidden files never count, whoever wrote them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
from pathlib import Path

from sutazai.errors import Problem, UserError
from sutazai.files import atomic_write, private_dir
from sutazai.gateway_report import ModelEntry
from sutazai.scaffolds.tool_envs import require
from sutazai.workspace import Workspace

AGENT_FILES = ("agent.yaml", "prompt.md", "tools.py", "smoke.yaml")
DEFAULT_CONTEXT = 4096  # the embedded engine's slot, when the gateway cannot be asked
SMALL_MODEL_CONTEXT = 16_384  # below this, whole-file edits and no repo map


def model_entry(workspace: Workspace, model: str) -> ModelEntry | None:
    """What the gateway publishes about ``model``; None when it does not answer. Runs on its own
    thread, so the TUI (inside an event loop) can call it too."""
    from sutazai.agents.gateway_client import GatewayClient

    async def ask() -> list[ModelEntry]:
        url, token = workspace.settings.gateway.url, workspace.gateway_token()
        async with GatewayClient(url, timeout_s=3.0, token=token) as client:
            return await client.model_entries()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            entries = pool.submit(asyncio.run, ask()).result()
        except UserError:
            return None
    return next((e for e in entries if e.id == model), None)


def model_files(workspace: Workspace, tier: str) -> tuple[Path, Path, int]:
    """Aider's metadata and settings files for ``openai/<tier>``, and the context they declare."""
    entry = model_entry(workspace, tier)
    context = entry.context_length if entry and entry.context_length else DEFAULT_CONTEXT
    output = min(entry.max_output_tokens if entry and entry.max_output_tokens else context, context // 4)
    name = f"openai/{tier}"
    metadata = {
        name: {
            "max_input_tokens": context - output,
            "max_output_tokens": output,
            "max_tokens": output,
            "input_cost_per_token": 0.0,
            "output_cost_per_token": 0.0,
            "litellm_provider": "openai",
            "mode": "chat",
        }
    }
    small = context < SMALL_MODEL_CONTEXT
    settings = [
        f"- name: {name}",
        f"  edit_format: {'whole' if small else 'diff'}",
        f"  use_repo_map: {'false' if small else 'true'}",
        "  examples_as_sys_msg: true",
        f"  extra_params: {{max_tokens: {output}}}",
    ]
    folder = private_dir(workspace.private_dir() / "aider")
    meta_file, settings_file = folder / "model.metadata.json", folder / "model.settings.yml"
    atomic_write(meta_file, json.dumps(metadata, indent=1).encode())
    atomic_write(settings_file, ("\n".join(settings) + "\n").encode())
    return meta_file, settings_file, context


def aider_command(
    workspace: Workspace, name: str, extra: list[str], message: str | None = None, tier: str = "quality"
) -> list[str]:
    folder = workspace.agent_dir(name)
    if not folder.is_dir():
        raise UserError(Problem(f"no agent folder agents/{name}", hint="`sutazai list` shows the agents"))
    executable = require("aider")
    files = [f for f in AGENT_FILES if (folder / f).exists()]
    metadata, settings, context = model_files(workspace, tier)
    history = private_dir(workspace.private_dir() / "aider" / name)
    command = [
        str(executable),
        "--model",
        f"openai/{tier}",
        "--openai-api-base",
        workspace.settings.gateway.url + "/v1",
        "--openai-api-key",
        "sutazai-local",
        "--model-metadata-file",
        str(metadata),
        "--model-settings-file",
        str(settings),
        "--no-git",
        "--yes-always",
        "--no-show-model-warnings",
        "--no-check-update",
        "--analytics-disable",
        "--map-tokens",
        "0" if context < SMALL_MODEL_CONTEXT else "1024",
        "--no-stream",
        "--input-history-file",
        str(history / "input.history"),
        "--chat-history-file",
        str(history / "chat.history.md"),
        *files,
    ]
    if message:
        command += ["--message", message]
    return command + extra


def own_files(folder: Path) -> list[Path]:
    """The agent's own files: not hidden (tools' histories and caches are), not bytecode."""
    return [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and "__pycache__" not in p.parts
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]


def fingerprint(folder: Path) -> dict[str, str]:
    """A digest per file of the agent's own, to tell what an Aider run changed."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in own_files(folder)}


def changed_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
