"""Token budgets: per run (``limits.max_total_tokens``, the runtime) and per agent per day
(``[budgets]``, the gateway), in both dialects, visible in stats, runs and the TUI."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import ollama
import openai
import pytest

from sutazai.agents.runstore import RunStore
from sutazai.scaffolds.generate import init_workspace
from sutazai.stack.gateway.app import build_app
from sutazai.stack.gateway.budgets import DailyBudgets
from sutazai.stack.gateway.config import GatewayConfig
from sutazai.stack.gateway.core import Gateway
from sutazai.stack.gateway.engines import EngineConfig
from sutazai.workspace import Workspace
from tests.conftest import ADMIN_TOKEN, ServerThread, admin_stats
from tests.scripted_engine import Reply, ScriptedEngine
from tests.test_cli import cli


def _gateway(engine_url: str, tmp_path: Path) -> Gateway:
    return Gateway(
        GatewayConfig(
            engines=[EngineConfig("e", "openai", engine_url, 4, ["m"])],
            token=ADMIN_TOKEN,
            daily_tokens=0,
            agent_daily_tokens={"writer": 30},
            budget_file=tmp_path / ".sutazai" / "budgets.json",
        )
    )


def test_an_agent_past_its_daily_budget_gets_a_429_naming_it_in_both_dialects(tmp_path: Path) -> None:
    engine = ScriptedEngine(default="a few words of answer here")  # 10 prompt + 6 completion tokens
    with (
        ServerThread(engine.app()) as upstream,
        ServerThread(build_app(_gateway(upstream.url, tmp_path))) as gw,
    ):
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
        ask: dict[str, Any] = {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.5,
        }
        for _ in range(2):  # 16 + 16 = 32 tokens: past 30 after the second
            client.chat.completions.create(**ask, user="writer")
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(**ask, user="writer")
        assert "daily token budget of 30" in str(refused.value) and "writer" in str(refused.value)
        assert refused.value.response.headers["X-SutazAI-Budget"] == "exceeded"
        assert int(refused.value.response.headers["Retry-After"]) > 0
        client.chat.completions.create(**ask, user="reader")  # others are not limited
        with pytest.raises(ollama.ResponseError) as refused_ollama:
            ollama.Client(host=gw.url, headers={"X-Sutazai-Agent": "writer"}).chat(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
        assert refused_ollama.value.status_code == 429 and "daily token budget" in refused_ollama.value.error
        stats = admin_stats(gw.url)
        assert stats["budgets"]["writer"] == {"used": 32, "limit": 30}
    saved = tmp_path / ".sutazai" / "budgets.json"
    assert json.loads(saved.read_text())["used"]["writer"] == 32  # kept over a restart
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    again = DailyBudgets(0, {"writer": 30}, saved)
    assert again.used["writer"] == 32


def test_a_run_stops_when_its_token_budget_is_spent(
    tmp_path: Path, engine: tuple[ScriptedEngine, str]
) -> None:
    root = init_workspace(tmp_path / "ws", demo=True)
    spec = root / "agents" / "code-helper" / "agent.yaml"
    spec.write_text(spec.read_text().replace("limits:\n", "limits:\n  max_total_tokens: 10\n"))
    engine[0].replies = [
        Reply("", tool_calls=[{"name": "calculator", "arguments": {"expression": "2+2"}}]),
        Reply("4"),
    ]
    result = cli("--gateway", engine[1], "run", "code-helper", "2+2?", cwd=root)
    assert result.returncode != 0
    assert "budget of 10 (limits.max_total_tokens)" in " ".join((result.stderr + result.stdout).split())
    runs = json.loads(cli("runs", "--json", cwd=root).stdout)
    assert runs[0]["status"] == "budget" and "max_total_tokens" in runs[0]["error"]
    store = RunStore(Workspace(root).runs_db)
    assert [s.kind for s in store.steps(runs[0]["id"])] == ["llm", "tool", "error"]
    assert len(engine[0].requests) == 1  # the second call never went
    assert "budget" in cli("runs", cwd=root, env={**os.environ, "COLUMNS": "200"}).stdout


def test_budgets_in_sutazai_toml_are_validated(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", demo=True)
    toml = root / "sutazai.toml"
    toml.write_text(toml.read_text() + "\n[budgets]\ndaily_token = 5\n")
    bad = cli("doctor", cwd=root)
    assert (
        "daily_token" in bad.stdout + bad.stderr and "did you mean 'daily_tokens'" in bad.stdout + bad.stderr
    )
