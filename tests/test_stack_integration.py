"""The runtime, the stack commands and the Ollama adapter, on the real embedded engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from sutazai.agents.gateway_client import GatewayClient
from sutazai.agents.loader import AgentCatalog
from sutazai.agents.runstore import RunStore
from sutazai.agents.runtime import AgentRuntime
from sutazai.stack.gateway.app import build_app
from sutazai.stack.gateway.config import GatewayConfig
from sutazai.stack.gateway.core import Gateway
from sutazai.stack.gateway.engines import EngineConfig
from sutazai.workspace import Workspace
from tests.conftest import ServerThread

pytestmark = pytest.mark.slow
SUTAZAI = str(Path(sys.executable).parent / "sutazai")


def test_demo_fleet_answers_through_the_gateway(real_stack: tuple[Workspace, str]) -> None:
    workspace, _ = real_stack
    result = subprocess.run(
        [SUTAZAI, "fleet", "run", "--json"], cwd=workspace.root, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)["runs"]
    assert {r["agent"] for r in runs} == {"summarizer", "code-helper", "chat-buddy", "fact-finder", "planner"}
    assert all(r["status"] == "ok" and r["output"].strip() and r["tokens"] > 0 for r in runs)


def test_stack_status_json_lists_every_service(real_stack: tuple[Workspace, str]) -> None:
    workspace, _ = real_stack
    rows = json.loads(
        subprocess.run(
            [SUTAZAI, "stack", "status", "--json"],
            cwd=workspace.root,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )
    assert [r["name"] for r in rows] == ["engine", "embedder", "gateway"]
    assert all(r["state"] == "running" and r["health"] == "healthy" and r["pid"] and r["url"] for r in rows)
    logs = subprocess.run(
        [SUTAZAI, "stack", "logs", "gateway", "-n", "5"],
        cwd=workspace.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "gateway listening" in logs.stdout


async def test_agent_memory_uses_real_embeddings(real_stack: tuple[Workspace, str]) -> None:
    workspace, url = real_stack
    runtime = AgentRuntime(workspace, GatewayClient(url), RunStore(workspace.runs_db))
    agent = AgentCatalog.scan(workspace).get("fact-finder")
    memory = runtime.memory_for(agent)
    await memory.remember(
        ["The project codename is Bluebird.", "Lunch is served at noon.", "The office cat is called Miso."]
    )
    hits = await memory.recall("What is the codename of the project?", 1)
    assert hits[0].text == "The project codename is Bluebird."
    await runtime.client.aclose()


def test_ollama_adapter_against_a_second_gateway(real_stack: tuple[Workspace, str]) -> None:
    """A gateway whose engine is "an Ollama" (the first gateway speaks the Ollama API)."""
    _, url = real_stack
    config = GatewayConfig(
        engines=[EngineConfig("ollama", "ollama", url, 4, [], [])], tiers={"chat": ["smollm2"]}
    )
    gateway = Gateway(config)
    with ServerThread(build_app(gateway)) as second:  # start-up discovers the models through /api/tags
        assert {"smollm2", "fast", "embed"} <= set(gateway.engines["ollama"].models)
        reply = httpx.post(
            f"{second.url}/v1/chat/completions",
            timeout=60,
            json={"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8},
        )
        assert reply.status_code == 200, reply.text
        assert (
            reply.json()["choices"][0]["message"]["content"]
            and reply.json()["usage"]["completion_tokens"] > 0
        )
        streamed = httpx.post(
            f"{second.url}/api/generate",
            timeout=60,
            json={"model": "smollm2", "prompt": "Say hi", "options": {"num_predict": 5}},
        )
        lines = [json.loads(line) for line in streamed.text.splitlines()]
        assert lines[-1]["done"] and lines[-1]["eval_count"] > 0
        vectors = httpx.post(
            f"{second.url}/v1/embeddings", json={"model": "embed", "input": ["x"]}, timeout=60
        )
        assert len(vectors.json()["data"][0]["embedding"]) == 384


def test_demo_smoke_cases_pass_live_and_in_replay(real_stack: tuple[Workspace, str]) -> None:
    """Every demo case passes live on SmolLM2, then offline from its cassettes. The agents run at
    temperature 0 and the gateway caches such answers, so a failure here would only repeat: it is
    shown case by case (agent, case, reasons) rather than tried again."""
    workspace, _ = real_stack
    live = subprocess.run(
        [SUTAZAI, "smoke", "--record", "--json"],
        cwd=workspace.root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert live.returncode in (0, 1), live.stdout + live.stderr  # 1: a case failed, shown below
    cases: list[dict[str, Any]] = json.loads(live.stdout)["cases"]
    assert len(cases) == 10  # 2 cases for each of the 5 demo agents
    assert [(c["agent"], c["case"], c["reasons"]) for c in cases if c["status"] != "passed"] == []
    replay = subprocess.run(
        [SUTAZAI, "--gateway", "http://127.0.0.1:9", "smoke", "--replay", "--json"],
        cwd=workspace.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replay.returncode == 0 and json.loads(replay.stdout)["summary"]["passed"] == 10
