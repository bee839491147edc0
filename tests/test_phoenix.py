"""Traces in a real viewer: Phoenix (PyPI ``arize-phoenix``, in an environment of its own under
``.cache/phoenix``) receives the demo planner's run: one trace from the planner through its delegate
and the gateway to the engine, the spans classified as agent, LLM and tool, input and output shown,
and no error printed by the run (Phoenix takes no metrics)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sutazai.scaffolds.generate import init_workspace
from sutazai.scaffolds.tool_envs import pip_install
from tests.conftest import free_port, serving
from tests.scripted_engine import Reply, ScriptedEngine
from tests.test_tracing import SUTAZAI, traced_gateway

pytestmark = pytest.mark.heavy
PHOENIX_ENV = Path(__file__).resolve().parents[1] / ".cache" / "phoenix"


def _phoenix_installed() -> Path:
    phoenix = PHOENIX_ENV / "bin" / "phoenix"
    if not phoenix.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PHOENIX_ENV)], check=True)
        # started once per run of the suite: compiling all of Phoenix's bytecode ahead cost ~30 s
        installed = pip_install(PHOENIX_ENV / "bin" / "python", ["arize-phoenix"], compile_bytecode=False)
        assert installed.returncode == 0, installed.stderr[-2000:]
    return phoenix


@pytest.fixture
def phoenix(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(free_port()),
        "PHOENIX_WORKING_DIR": str(tmp_path / "phoenix"),
    }
    server = subprocess.Popen(
        [str(_phoenix_installed()), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        serving(f"{url}/healthz", server, timeout=120)
        yield url
    finally:
        server.terminate()
        server.wait(30)


def test_phoenix_shows_the_planner_tree_as_one_trace(
    tmp_path: Path, engine: tuple[ScriptedEngine, str], phoenix: str
) -> None:
    root = init_workspace(tmp_path / "ws", demo=True)
    engine[0].replies = [
        Reply("", tool_calls=[{"name": "ask_fact_finder", "arguments": {"input": "capital of France?"}}]),
        Reply("Paris is the capital of France."),
        Reply("Plan: visit Paris."),
    ]
    with traced_gateway(engine[1], phoenix, tmp_path) as gateway:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "OTEL_EXPORTER_OTLP_ENDPOINT": phoenix,
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
        }
        run = subprocess.run(
            [SUTAZAI, "--gateway", gateway, "run", "planner", "Plan a trip to the capital of France."],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        assert "Failed to export" not in run.stderr and "405" not in run.stderr  # no viewer noise
    spans = _spans(phoenix, expect=lambda found: any(s["name"] == "gateway.route" for s in found))
    by_name: dict[str, list[dict[str, object]]] = {}
    for span in spans:
        by_name.setdefault(str(span["name"]), []).append(span)
    assert {str(s["context"]["trace_id"]) for s in spans} == {  # type: ignore[index]
        str(by_name["invoke_agent planner"][0]["context"]["trace_id"])  # type: ignore[index]
    }
    kinds = {str(s["name"]): s["span_kind"] for s in spans}
    assert kinds["invoke_agent planner"] == "AGENT" and kinds["invoke_agent fact-finder"] == "AGENT"
    assert kinds["execute_tool ask_fact_finder"] == "TOOL"
    assert kinds["chat fast"] == "LLM"
    [child] = by_name["invoke_agent fact-finder"]
    [tool] = by_name["execute_tool ask_fact_finder"]
    assert child["parent_id"] == tool["context"]["span_id"]  # type: ignore[index]
    chats = by_name["chat fast"]
    shown = [c["attributes"].get("output.value") for c in chats]  # type: ignore[union-attr]
    assert "Paris is the capital of France." in shown  # the LLM span's output, as Phoenix shows it
    assert any(str(n).startswith("chat smollm2") for n in by_name)  # the gateway's engine call


def _spans(phoenix: str, expect: object, timeout: float = 30.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    found: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        answer = httpx.get(f"{phoenix}/v1/projects/default/spans", params={"limit": 1000}, timeout=10)
        if answer.status_code == 200:
            found = answer.json()["data"]
            if callable(expect) and expect(found):
                return found
        time.sleep(0.5)
    raise AssertionError(f"Phoenix has {len(found)} spans: {sorted({s['name'] for s in found})}")
