"""The gateway on the real embedded engine, spoken to by the official clients."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from sutazai.workspace import Workspace
from tests.conftest import admin_stats

pytestmark = pytest.mark.slow
MESSAGES = [{"role": "user", "content": "Name one colour."}]


@pytest.fixture(scope="module")
def url(real_stack: tuple[Workspace, str]) -> str:
    return real_stack[1]


@pytest.fixture(scope="module")
def token(real_stack: tuple[Workspace, str]) -> str:
    return real_stack[0].gateway_token() or ""


def test_openai_sdk_chat_stream_completions_embeddings_models(url: str) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    reply = client.chat.completions.create(model="fast", messages=MESSAGES, max_tokens=12)  # type: ignore[arg-type]
    assert reply.choices[0].message.content and reply.usage and reply.usage.completion_tokens > 0

    pieces, usage = [], None
    for chunk in client.chat.completions.create(
        model="smollm2",
        messages=MESSAGES,
        max_tokens=12,
        stream=True,  # type: ignore[arg-type]
        stream_options={"include_usage": True},
    ):
        pieces += [c.delta.content or "" for c in chunk.choices]
        usage = chunk.usage or usage
    assert (
        "".join(pieces) and usage is not None and usage.completion_tokens == len([p for p in pieces if p])
    ) or usage

    completion = client.completions.create(model="fast", prompt="Once upon a time", max_tokens=8)
    assert completion.choices[0].text

    embeddings = client.embeddings.create(model="embed", input=["red apple", "green pear"])
    assert len(embeddings.data) == 2 and len(embeddings.data[0].embedding) == 384
    assert {m.id for m in client.models.list()} >= {
        "smollm2",
        "fast",
        "quality",
        "local",
        "embed",
        "e5-small",
    }


def test_openai_sdk_errors_are_typed(url: str) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="not found"):
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)  # type: ignore[arg-type]


def test_ollama_client_everything(url: str) -> None:
    import ollama

    client = ollama.Client(host=url)
    reply = client.chat(model="fast", messages=MESSAGES, options={"num_predict": 10})
    assert reply.message.content and reply.done and reply.eval_count and reply.eval_count > 0
    parts = list(client.chat(model="fast", messages=MESSAGES, stream=True, options={"num_predict": 10}))
    assert parts[-1].done and parts[-1].prompt_eval_count and all(not p.done for p in parts[:-1])
    generated = client.generate(model="fast", prompt="Say yes.", options={"num_predict": 6})
    assert generated.response and generated.done
    assert len(client.embed(model="embed", input=["a", "b"]).embeddings) == 2
    assert len(client.embeddings(model="embed", prompt="a").embedding) == 384
    names = {m.model for m in client.list().models}
    assert {"smollm2", "fast", "embed"} <= names
    shown = client.show("fast")
    assert "completion" in (shown.capabilities or [])
    assert any(m.model == "smollm2" for m in client.ps().models)
    assert httpx.get(f"{url}/api/version").json()["version"]


def test_litellm_as_a_client_both_dialects(url: str) -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    via_openai = litellm.completion(
        model="openai/fast", api_base=f"{url}/v1", api_key="x", messages=MESSAGES, max_tokens=8
    )
    assert via_openai.choices[0].message.content
    via_ollama = litellm.completion(model="ollama/fast", api_base=url, messages=MESSAGES, max_tokens=8)
    assert via_ollama.choices[0].message.content
    embedded = litellm.embedding(model="openai/embed", api_base=f"{url}/v1", api_key="x", input=["hello"])
    assert len(embedded.data[0]["embedding"]) == 384


def test_health_metrics_and_stats(url: str, token: str) -> None:
    assert httpx.get(f"{url}/healthz").json()["status"] == "ok"
    httpx.post(
        f"{url}/v1/chat/completions",
        headers={"X-Sutazai-Agent": "stats-probe"},
        json={"model": "fast", "messages": MESSAGES, "max_tokens": 4},
        timeout=60,
    )
    metrics = httpx.get(f"{url}/metrics").text
    assert "sutazai_requests_total" in metrics and "sutazai_tokens_total" in metrics
    stats: dict[str, Any] = admin_stats(url, token)
    assert set(stats["queue_depth"]) == {"interactive", "normal", "batch"}
    assert stats["engines"]["embedded"]["slots"] == 8 and "stats-probe" in stats["latency_by_agent"]
    assert {"p50_ms", "p95_ms"} <= set(stats["latency_by_model"]["fast"])


def test_same_agent_keeps_its_slot_and_prompt_cache(url: str) -> None:
    body = {
        "model": "fast",
        "messages": [
            {"role": "system", "content": "You are a terse assistant. " * 20},
            {"role": "user", "content": "hi"},
        ],
        "max_tokens": 4,
        "temperature": 0.7,
    }
    headers = {"X-Sutazai-Agent": "cache-probe"}
    httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=60)
    second = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=60).json()
    assert second["usage"]["prompt_tokens_details"]["cached_tokens"] > 50


def test_deterministic_requests_are_cached(url: str, token: str) -> None:
    body = {
        "model": "fast",
        "messages": [{"role": "user", "content": "Cache me, please."}],
        "max_tokens": 6,
        "temperature": 0,
    }
    first = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60).json()
    before = admin_stats(url, token)["cache"]["hits"]
    again = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60).json()
    assert again["choices"][0]["message"]["content"] == first["choices"][0]["message"]["content"]
    assert admin_stats(url, token)["cache"]["hits"] == before + 1
    bypass = httpx.post(
        f"{url}/v1/chat/completions", json=body, headers={"X-Sutazai-Cache": "bypass"}, timeout=60
    )
    assert bypass.status_code == 200 and admin_stats(url, token)["cache"]["hits"] == before + 1


def test_both_dialects_count_answers_errors_and_embeddings_the_same_way(tmp_path: Path) -> None:
    """One recording path: an error is counted under the model it asked for in either dialect
    (a made-up name as "?", never a new label), and embeddings are counted in both."""
    import httpx

    from sutazai.scaffolds.generate import init_workspace
    from tests.conftest import scripted_gateway
    from tests.scripted_engine import ScriptedEngine

    root = init_workspace(tmp_path / "ws")
    with scripted_gateway(root, ScriptedEngine(default="ok")) as url, httpx.Client(base_url=url) as http:
        assert http.post("/api/chat", json={"model": "fast", "messages": "not a list"}).status_code == 400
        assert http.post("/v1/chat/completions", json={"model": "fast", "messages": 3}).status_code == 400
        assert http.post("/api/chat", json={"model": "made-up", "messages": []}).status_code == 404
        assert http.post("/api/embed", json={"model": "embed", "input": ["a"]}).status_code == 200
        assert http.post("/v1/embeddings", json={"model": "embed", "input": ["a"]}).status_code == 200
        metrics = http.get("/metrics").text
    for api in ("ollama", "openai"):
        assert f'sutazai_requests_total{{api="{api}",model="fast",status="400"}} 1.0' in metrics, metrics
        assert f'sutazai_requests_total{{api="{api}-embed",model="embed",status="200"}} 1.0' in metrics
    assert 'model="made-up"' not in metrics and 'api="ollama",model="?",status="404"' in metrics
