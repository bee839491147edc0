"""The MCP conformance suite (npm ``@modelcontextprotocol/conformance``) against ``sutazai mcp --http``.

Its server scenarios that hold for any server run here: initialize, ping, tools/resources/prompts
lists and DNS-rebinding protection. The others call the suite's own fixture tools (``test_image_content``
and so on), which a workbench does not have. 0.1.12 is the newest release that runs on Node 20 (later
ones need Node 22's ``fs.globSync``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sutazai.scaffolds.generate import init_workspace
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
SUITE = "@modelcontextprotocol/conformance@0.1.12"
SCENARIOS = [
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
    "dns-rebinding-protection",
]


@pytest.fixture(scope="module")
def conformance() -> Path:
    if shutil.which("npm") is None:
        pytest.skip("needs npm (Node.js)")
    prefix = ROOT / ".cache" / "npm" / "mcp-conformance"
    executable = prefix / "node_modules" / ".bin" / "conformance"
    if not executable.exists():
        subprocess.run(
            ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", SUITE],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return executable


def test_conformance_server_scenarios_over_streamable_http(conformance: Path, tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", demo=True)
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "sutazai"), "mcp", "--http", str(port)],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, (
                    "sutazai mcp --http did not start"
                )
                time.sleep(0.2)
        for scenario in SCENARIOS:
            result = subprocess.run(
                [str(conformance), "server", "--url", url, "--scenario", scenario],
                capture_output=True,
                text=True,
                timeout=120,
            )
            summary = [line for line in result.stdout.splitlines() if line.startswith("Passed:")]
            assert result.returncode == 0 and summary and " 0 failed" in summary[0], (
                result.stdout + result.stderr
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
