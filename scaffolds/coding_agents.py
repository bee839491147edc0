"""``sutazai launch TOOL``: today's coding agents with the workspace's gateway as their model.

Claude Code speaks Anthropic Messages, Codex CLI OpenAI Responses, OpenCode, Crush and Aider OpenAI
chat; the gateway serves all three, so each tool shares the fleet's scheduler, budgets and traces
instead of bypassing them. For each tool this module knows where its configuration lives and what it
costs: the tokens of its first request before the user's words, measured here on SmolLM2's tokenizer
(docs/coding-agents.md). Where that does not fit the tier's window, the tool's *lean* set-up (short
instructions and a few tools, where the tool lets them be replaced) is used and said; where nothing
fits, the launch stops before starting and names a tier that would fit.

Configuration goes to ``.sutazai/launch/TOOL/`` (0600). The token never goes into a file: the tool
reads it from its environment (``SUTAZAI_GATEWAY_TOKEN`` or the variable the tool reads).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sutazai.files import atomic_write, private_dir
from sutazai.wire import AGENT_HEADER, PRIORITY_HEADER

TOKEN_ENV = "SUTAZAI_GATEWAY_TOKEN"
LEAN_INSTRUCTIONS = (
    "You are a concise coding assistant working in the user's repository. "
    "Answer briefly. Use a tool only when the task needs it."
)
OUTPUT_SHARE = 4  # a tool may ask for at most a quarter of the window as its answer


@dataclass(frozen=True)
class CodingAgent:
    name: str
    title: str
    dialect: str  # what it speaks to the gateway
    prompt_tokens: int | None  # its first request before the user's words; None: not measured
    lean_tokens: int | None  # the same with short instructions and few tools; None: no lean set-up
    measured: str  # the release the figures come from


AGENTS = {
    a.name: a
    for a in (
        CodingAgent("claude", "Claude Code", "Anthropic Messages", 19_653, 599, "2.1.197"),
        CodingAgent("codex", "Codex CLI", "OpenAI Responses", 4_924, 1_100, "0.171.0"),
        CodingAgent("opencode", "OpenCode", "OpenAI chat", 7_060, 1_500, "1.18.33"),
        CodingAgent("crush", "Crush", "OpenAI chat", None, None, "0.96.1 (not run here)"),
        CodingAgent("aider", "Aider", "OpenAI chat", 1_700, None, "0.86 (whole-file edits, no map)"),
    )
}


@dataclass(frozen=True)
class Target:
    """The gateway and tiers a tool is pointed at, with the limits the gateway publishes."""

    url: str
    tier: str
    small_tier: str
    context: int
    max_output: int

    @property
    def output(self) -> int:
        return max(256, min(self.max_output or self.context, self.context // OUTPUT_SHARE))


@dataclass
class Launch:
    tool: CodingAgent
    folder: Path
    files: dict[str, str]  # name under ``folder`` -> content
    env: dict[str, str]  # added to the tool's environment; TOKEN_ENV holds the token
    argv: list[str]  # after the executable
    lean: bool
    notes: list[str] = field(default_factory=list)

    def write(self) -> None:
        for name, content in self.files.items():
            path = self.folder / name
            private_dir(path.parent)
            atomic_write(path, content.encode())


@dataclass(frozen=True)
class Fit:
    """Whether the tool's first request and an answer fit the window, and in which set-up."""

    fits: bool
    lean: bool
    need: int | None  # tokens: first request + answer

    @classmethod
    def of(cls, tool: CodingAgent, target: Target, lean: bool | None) -> Fit:
        def need(tokens: int | None) -> int | None:
            return None if tokens is None else tokens + target.output

        full, short = need(tool.prompt_tokens), need(tool.lean_tokens)
        if lean is None:  # automatic: the full set-up where it fits, else the lean one
            lean = short is not None and (full is None or full > target.context)
        chosen = short if lean else full
        return cls(chosen is None or chosen <= target.context, lean, chosen)


def headers(tool: CodingAgent) -> dict[str, str]:
    """Tagged as an interactive agent of its own name: a developer waits on it."""
    return {AGENT_HEADER: tool.name, PRIORITY_HEADER: "interactive"}


def configure(name: str, target: Target, folder: Path, lean: bool) -> Launch:
    tool = AGENTS[name]
    return BUILDERS[name](tool, target, folder, lean)


def _claude(tool: CodingAgent, target: Target, folder: Path, lean: bool) -> Launch:
    env = {
        "ANTHROPIC_BASE_URL": target.url,
        "ANTHROPIC_MODEL": target.tier,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": target.tier,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": target.tier,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": target.small_tier,
        "ANTHROPIC_CUSTOM_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers(tool).items()),
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": str(target.output),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    settings = {"env": env, "model": target.tier}
    argv = ["--bare", "--system-prompt", LEAN_INSTRUCTIONS, "--tools", "Read,Edit"] if lean else []
    return Launch(
        tool,
        folder,
        {"config/settings.json": json.dumps(settings, indent=2) + "\n"},
        # --bare reads the key from ANTHROPIC_API_KEY only; it goes out as x-api-key
        {**env, "CLAUDE_CONFIG_DIR": str(folder / "config"), "ANTHROPIC_API_KEY": f"${TOKEN_ENV}"},
        argv,
        lean,
    )


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _codex(tool: CodingAgent, target: Target, folder: Path, lean: bool) -> Launch:
    header_table = ", ".join(f"{_toml_string(k)} = {_toml_string(v)}" for k, v in headers(tool).items())
    lines = [
        f"model = {_toml_string(target.tier)}",
        'model_provider = "sutazai"',
        f"model_context_window = {target.context}",
        'approval_policy = "on-request"',
    ]
    files: dict[str, str] = {}
    if lean:
        files["instructions.md"] = LEAN_INSTRUCTIONS + "\n"
        lines.append(f"model_instructions_file = {_toml_string(str(folder / 'instructions.md'))}")
    lines += [
        "",
        "[model_providers.sutazai]",
        'name = "SutazAI gateway"',
        f"base_url = {_toml_string(target.url + '/v1')}",
        f"env_key = {_toml_string(TOKEN_ENV)}",
        'wire_api = "responses"',
        f"http_headers = {{ {header_table} }}",
    ]
    files["config.toml"] = "\n".join(lines) + "\n"
    return Launch(tool, folder, files, {"CODEX_HOME": str(folder)}, [], lean)


def _opencode(tool: CodingAgent, target: Target, folder: Path, lean: bool) -> Launch:
    models = {
        tier: {"name": tier, "limit": {"context": target.context, "output": target.output}, "tool_call": True}
        for tier in dict.fromkeys((target.tier, target.small_tier))
    }
    config: dict[str, object] = {
        "$schema": "https://opencode.ai/config.json",
        "provider": {
            "sutazai": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "SutazAI gateway",
                "options": {
                    "baseURL": target.url + "/v1",
                    "apiKey": f"{{env:{TOKEN_ENV}}}",
                    "headers": headers(tool),
                },
                "models": models,
            }
        },
        "model": f"sutazai/{target.tier}",
        "small_model": f"sutazai/{target.small_tier}",
        "autoupdate": False,
        "share": "disabled",
    }
    if lean:
        tools = {"*": False, "read": True, "edit": True, "write": True}
        config["agent"] = {"build": {"prompt": LEAN_INSTRUCTIONS, "tools": tools}}
    env = {"OPENCODE_CONFIG": str(folder / "opencode.json"), "OPENCODE_DISABLE_MODELS_FETCH": "true"}
    return Launch(tool, folder, {"opencode.json": json.dumps(config, indent=2) + "\n"}, env, [], lean)


def _crush(tool: CodingAgent, target: Target, folder: Path, lean: bool) -> Launch:
    model = {"context_window": target.context, "default_max_tokens": target.output}
    config = {
        "$schema": "https://charm.land/crush.json",
        "providers": {
            "sutazai": {
                "name": "SutazAI gateway",
                "type": "openai-compat",
                "base_url": target.url + "/v1",
                "api_key": f"${TOKEN_ENV}",
                "extra_headers": headers(tool),
                "models": [
                    {"id": tier, "name": tier, **model}
                    for tier in dict.fromkeys((target.tier, target.small_tier))
                ],
            }
        },
        "models": {
            "large": {"provider": "sutazai", "model": target.tier},
            "small": {"provider": "sutazai", "model": target.small_tier},
        },
        "options": {"disable_provider_auto_update": True},
    }
    env = {"XDG_CONFIG_HOME": str(folder / "config"), "XDG_DATA_HOME": str(folder / "data")}
    return Launch(
        tool, folder, {"config/crush/crush.json": json.dumps(config, indent=2) + "\n"}, env, [], lean
    )


def _aider(tool: CodingAgent, target: Target, folder: Path, lean: bool) -> Launch:
    name = f"openai/{target.tier}"
    metadata = {
        name: {
            "max_input_tokens": target.context - target.output,
            "max_output_tokens": target.output,
            "max_tokens": target.output,
            "input_cost_per_token": 0.0,
            "output_cost_per_token": 0.0,
            "litellm_provider": "openai",
            "mode": "chat",
        }
    }
    header_map = ", ".join(f"{k}: {v}" for k, v in headers(tool).items())
    settings = "\n".join(
        [
            f"- name: {name}",
            "  edit_format: whole",
            "  use_repo_map: false",
            f"  extra_params: {{max_tokens: {target.output}, extra_headers: {{{header_map}}}}}",
        ]
    )
    argv = [
        "--model",
        name,
        "--openai-api-base",
        target.url + "/v1",
        "--model-metadata-file",
        str(folder / "model.metadata.json"),
        "--model-settings-file",
        str(folder / "model.settings.yml"),
        "--input-history-file",
        str(folder / "input.history"),
        "--chat-history-file",
        str(folder / "chat.history.md"),
        "--map-tokens",
        "0",
        "--no-show-model-warnings",
        "--no-check-update",
        "--analytics-disable",
    ]
    files = {
        "model.metadata.json": json.dumps(metadata, indent=1) + "\n",
        "model.settings.yml": settings + "\n",
    }
    return Launch(tool, folder, files, {"OPENAI_API_KEY": f"${TOKEN_ENV}"}, argv, lean)


BUILDERS = {"claude": _claude, "codex": _codex, "opencode": _opencode, "crush": _crush, "aider": _aider}


def environment(launch: Launch, token: str) -> dict[str, str]:
    """What the tool's process gets on top of the user's: the token where the tool reads it."""
    placeholder = f"${TOKEN_ENV}"
    return {TOKEN_ENV: token, **{k: v.replace(placeholder, token) for k, v in launch.env.items()}}


def tiers_that_fit(need: int, windows: dict[str, int]) -> list[str]:
    """Tiers (or models) whose window holds ``need`` tokens, the smallest window first."""
    return sorted((name for name, context in windows.items() if context >= need), key=lambda n: windows[n])
