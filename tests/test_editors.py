"""Editor setup: the Continue.dev config points at the gateway and our MCP server, and the VS Code
extension builds with ``npm ci && npm run compile``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sutazai.config import DEFAULT_TIERS

ROOT = Path(__file__).resolve().parents[1]


def test_continue_config_uses_the_gateway_tiers_and_mcp() -> None:
    config = yaml.safe_load((ROOT / ".continue" / "config.yaml").read_text())
    assert config["schema"] == "v1" and config["name"] and config["version"]
    roles = {role for m in config["models"] for role in m["roles"]}
    assert {"chat", "edit", "autocomplete", "embed"} <= roles
    assert all(
        m["apiBase"] == "http://127.0.0.1:11435" and m["provider"] == "ollama" for m in config["models"]
    )
    assert {m["model"] for m in config["models"]} <= set(DEFAULT_TIERS)
    [server] = config["mcpServers"]
    assert server["command"] == "sutazai" and server["args"] == ["mcp"]


@pytest.mark.slow
def test_vscode_extension_builds(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    work = tmp_path / "vscode"
    shutil.copytree(ROOT / "lsp" / "vscode", work, ignore=shutil.ignore_patterns("node_modules", "out"))
    for step in (["ci", "--no-audit", "--no-fund"], ["run", "compile"]):
        result = subprocess.run([npm, *step], cwd=work, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
    assert "LanguageClient" in (work / "out" / "extension.js").read_text()
