"""``sutazai launch``: coding agents configured for the gateway, and two of them run for real.

The fast tests check the configuration each tool gets (parsed as the tool's format, no token in any
file) and the window check. The slow ones install Codex CLI and Claude Code from npm into their own
prefix, start them headless on the embedded engine through ``sutazai launch``, and watch their
requests arrive under their own names in ``/admin/queue``; OpenCode's file is checked by OpenCode
itself (``opencode debug config`` validates it against its schema)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import httpx
import pytest
import yaml

from sutazai.scaffolds.coding_agents import AGENTS, TOKEN_ENV, Fit, Target, configure, environment
from sutazai.scaffolds.generate import init_workspace
from sutazai.workspace import Workspace
from tests.conftest import scripted_gateway
from tests.scripted_engine import ScriptedEngine

SUTAZAI = str(Path(sys.executable).parent / "sutazai")
SMALL = Target("http://127.0.0.1:11435", "quality", "fast", 4096, 2048)
LARGE = Target("http://127.0.0.1:11435", "big", "fast", 32_768, 4096)


def test_the_full_set_up_where_it_fits_the_lean_one_where_it_does_not() -> None:
    claude, codex, crush = AGENTS["claude"], AGENTS["codex"], AGENTS["crush"]
    assert Fit.of(claude, SMALL, None) == Fit(True, True, 599 + SMALL.output)
    assert Fit.of(claude, SMALL, False) == Fit(False, False, 19_653 + SMALL.output)
    assert Fit.of(claude, LARGE, None) == Fit(True, False, 19_653 + LARGE.output)
    assert Fit.of(codex, SMALL, None).lean and not Fit.of(codex, LARGE, None).lean
    assert Fit.of(crush, SMALL, None) == Fit(True, False, None)  # not measured: cannot say it does not fit


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_each_tool_gets_its_own_format_and_no_token_in_any_file(tmp_path: Path, name: str) -> None:
    launch = configure(name, SMALL, tmp_path / name, lean=Fit.of(AGENTS[name], SMALL, None).lean)
    launch.write()
    for file in launch.files:
        path = tmp_path / name / file
        assert path.stat().st_mode & 0o077 == 0  # private, like everything under .sutazai/
        text = path.read_text()
        assert "secret-token" not in text
        if path.suffix == ".json":
            json.loads(text)
        elif path.suffix == ".toml":
            config = tomllib.loads(text)
            provider = config["model_providers"]["sutazai"]
            assert provider["wire_api"] == "responses" and provider["env_key"] == TOKEN_ENV
            assert provider["http_headers"] == {
                "X-Sutazai-Agent": "codex",
                "X-Sutazai-Priority": "interactive",
            }
            assert config["model_context_window"] == 4096
        elif path.suffix == ".yml":
            [settings] = yaml.safe_load(text)
            assert settings["extra_params"]["extra_headers"]["X-Sutazai-Agent"] == "aider"
    env = environment(launch, "secret-token")
    assert env[TOKEN_ENV] == "secret-token"
    assert all("$" + TOKEN_ENV not in value for value in env.values())  # every placeholder resolved


def test_launch_refuses_what_does_not_fit_and_names_the_numbers(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    with scripted_gateway(root, ScriptedEngine()):  # publishes the embedded engine's 4,096 window
        result = subprocess.run(
            [SUTAZAI, "launch", "claude", "--full"], cwd=root, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2, result.stdout + result.stderr
        message = " ".join(result.stderr.split())
        assert "19,653" in message and "4,096-token window" in message and "--lean" in message
        unknown = subprocess.run(
            [SUTAZAI, "launch", "vim"], cwd=root, capture_output=True, text=True, timeout=60
        )
        assert unknown.returncode == 2 and "one of: claude" in unknown.stderr
        missing = subprocess.run(
            [SUTAZAI, "launch", "codex"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "SUTAZAI_TOOLS_DIR": str(tmp_path / "no-tools"), "PATH": "/usr/bin:/bin"},
        )
        assert missing.returncode == 2 and "--install" in missing.stderr
    shown = subprocess.run(  # --print needs no gateway
        [SUTAZAI, "launch", "codex", "--print", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    config = json.loads(shown.stdout)
    assert config["lean"] and 'wire_api = "responses"' in config["files"]["config.toml"]
    assert not (root / ".sutazai" / "launch").exists()  # showing writes nothing


# --- real tools on the embedded engine ----------------------------------------------------------


def _watch_queue(url: str, token: str, agent: str, stop: threading.Event, seen: list[str]) -> None:
    """Poll /admin/queue while the tool runs: its requests show there under its own name."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=5) as http:
        while not stop.is_set() and not seen:
            if agent in http.get("/admin/queue").json()["agents"]:
                seen.append(agent)
            stop.wait(0.05)


def _launch(
    root: Path, url: str, tool: str, args: list[str]
) -> tuple[subprocess.CompletedProcess[str], bool]:
    token = Workspace(root).gateway_token() or ""
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=_watch_queue, args=(url, token, tool, stop, seen))
    watcher.start()
    try:
        result = subprocess.run(
            [SUTAZAI, "launch", tool, "--install", "--", *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        stop.set()
        watcher.join()
    return result, bool(seen)


def _answers(url: str, token: str, agent: str) -> int:
    stats = httpx.get(f"{url}/admin/stats", headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
    return int(stats["latency_by_agent"].get(agent, {}).get("count", 0))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm")
@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("codex", ["exec", "--skip-git-repo-check", "Say hello."]),
        ("claude", ["-p", "Say hello.", "--max-turns", "1"]),  # a rambling answer must not grow past 4k
    ],
)
def test_a_coding_agent_answers_through_the_gateway_under_its_own_name(
    real_stack: tuple[Workspace, str], tool: str, args: list[str]
) -> None:
    workspace, url = real_stack
    token = workspace.gateway_token() or ""
    before = _answers(url, token, tool)
    result, queued = _launch(workspace.root, url, tool, args)
    output = " ".join((result.stdout + result.stderr).split())
    assert "lean set-up" in output  # neither tool's own prompt fits the 4,096-token window
    assert "unrecognized configuration" not in output, output  # Codex checks its config.toml
    assert queued, output  # seen in /admin/queue as itself while it ran
    assert _answers(url, token, tool) > before, output  # the gateway answered it
    assert "invalid_request_error" not in output and "internal gateway error" not in output, output
    # The tool printed what came back, or SmolLM2 rambled into the output cap (a tool call that
    # never closes) and the tool was told so in the answer's own terms: the model's failing, not ours.
    truncated = "Incomplete response returned, reason: max_output_tokens" in output  # Codex's words
    assert result.stdout.strip() or (tool == "codex" and truncated), output


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm")
def test_opencode_accepts_the_configuration_it_is_given(real_stack: tuple[Workspace, str]) -> None:
    workspace, _ = real_stack
    result = subprocess.run(
        [SUTAZAI, "launch", "opencode", "--install", "--", "debug", "config"],
        cwd=workspace.root,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    resolved = json.loads(result.stdout[result.stdout.index("{") :])
    assert resolved["model"] == "sutazai/quality"
    options = resolved["provider"]["sutazai"]["options"]  # OpenCode masks header and key values
    assert options["baseURL"] == workspace.settings.gateway.url + "/v1"
    assert set(options["headers"]) == {"X-Sutazai-Agent", "X-Sutazai-Priority"}
