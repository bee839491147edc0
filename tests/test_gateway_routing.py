"""Routing across replicas, fallbacks and tiers (scripted OpenAI-compatible engines as replicas)."""

from __future__ import annotations

import httpx

from sutazai.stack.gateway.app import build_app
from sutazai.stack.gateway.config import GatewayConfig, engines_from_litellm
from sutazai.stack.gateway.core import Gateway
from sutazai.stack.gateway.engines import EngineConfig
from tests.conftest import ADMIN_TOKEN, ServerThread, admin_stats
from tests.scripted_engine import Reply, ScriptedEngine

BODY = {
    "model": "quality",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 4,
    "temperature": 0.5,
}


def test_replicas_share_load_and_a_dead_one_falls_through() -> None:
    a, b = ScriptedEngine(default="from a"), ScriptedEngine(default="from b")
    with ServerThread(a.app()) as ea, ServerThread(b.app()) as eb:
        config = GatewayConfig(
            engines=[
                EngineConfig("a", "openai", ea.url, 1, ["m"]),
                EngineConfig("b", "openai", eb.url, 1, ["m"]),
                EngineConfig("dead", "openai", "http://127.0.0.1:9", 1, ["m"]),
            ],
            tiers={"quality": ["m"]},
            token=ADMIN_TOKEN,
        )
        with ServerThread(build_app(Gateway(config))) as gw:
            import asyncio

            async def burst() -> list[str]:
                async with httpx.AsyncClient(timeout=30) as client:
                    replies = await asyncio.gather(
                        *(client.post(f"{gw.url}/v1/chat/completions", json=BODY) for _ in range(12))
                    )
                return [r.json()["choices"][0]["message"]["content"] for r in replies]

            answers = asyncio.run(burst())
            assert {"from a", "from b"} <= set(answers) and len(answers) == 12
            stats = admin_stats(gw.url)["engines"]
            assert stats["dead"]["healthy"] is False and stats["a"]["healthy"]


def test_tier_fallback_to_a_second_model() -> None:
    backup = ScriptedEngine(default="backup model")
    with ServerThread(backup.app()) as eb:
        config = GatewayConfig(
            engines=[
                EngineConfig("down", "openai", "http://127.0.0.1:9", 1, ["big"]),
                EngineConfig("up", "openai", eb.url, 1, ["small"]),
            ],
            tiers={"quality": ["big", "small"]},
        )
        with ServerThread(build_app(Gateway(config))) as gw:
            reply = httpx.post(f"{gw.url}/v1/chat/completions", json=BODY, timeout=30)
            assert reply.json()["choices"][0]["message"]["content"] == "backup model"
            assert backup.requests[0]["model"] == "small"
            direct = httpx.post(f"{gw.url}/v1/chat/completions", json={**BODY, "model": "small"}, timeout=30)
            assert direct.status_code == 200  # any served model is reachable by its own name


def test_litellm_model_list_gets_native_adapters(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "litellm.yaml"
    path.write_text(
        "model_list:\n"
        "  - model_name: local-llama\n    litellm_params: {model: ollama/llama3, api_base: 'http://h:11434'}\n"
        "  - model_name: vllm\n    litellm_params: {model: openai/x, api_base: 'http://g:8000/v1', api_key: k}\n"
        "  - model_name: claude\n    litellm_params: {model: anthropic/claude-3-haiku}\n"
    )
    kinds = {e.models[0]: e.kind for e in engines_from_litellm(path)}
    assert kinds == {"local-llama": "ollama", "vllm": "openai", "claude": "litellm"}


def test_a_dropped_connection_before_any_byte_is_retried_once() -> None:
    engine = ScriptedEngine(replies=[Reply(drop=True), Reply("second try")])
    with ServerThread(engine.app()) as e:
        config = GatewayConfig(
            engines=[EngineConfig("only", "openai", e.url, 1, ["m"])], tiers={"quality": ["m"]}
        )
        with ServerThread(build_app(Gateway(config))) as gw:
            reply = httpx.post(f"{gw.url}/v1/chat/completions", json=BODY, timeout=30)
            assert (
                reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"] == "second try"
            )
