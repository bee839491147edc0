"""OpenTelemetry: with OTEL_EXPORTER_OTLP_ENDPOINT set, a run exports run -> llm/tool spans over OTLP/HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aiohttp import web

from sutazai.scaffolds.generate import init_workspace
from tests.conftest import ServerThread
from tests.scripted_engine import Reply, ScriptedEngine

SUTAZAI = str(Path(sys.executable).parent / "sutazai")


def test_a_cli_run_exports_spans_to_an_otlp_collector(
    tmp_path: Path, engine: tuple[ScriptedEngine, str]
) -> None:
    received: list[bytes] = []

    async def traces(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(status=200)

    collector = web.Application()
    collector.router.add_post("/v1/traces", traces)
    root = init_workspace(tmp_path / "ws", demo=True)
    engine[0].replies = [
        Reply('TOOL: calculator {"expression": "2+2"}'),
        Reply("4, secret sk-abcdefghijklmnopqrstu"),
    ]
    with ServerThread(collector) as otlp:
        env = {"PATH": "/usr/bin:/bin", "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url, "HOME": str(tmp_path)}
        result = subprocess.run(
            [SUTAZAI, "--gateway", engine[1], "run", "code-helper", "2+2?"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    body = b"".join(received)
    for name in (b"run", b"llm", b"tool", b"sutazai.agent", b"code-helper", b"calculator"):
        assert name in body, name
    assert b"sk-abcdefghijklmnopqrstu" not in body and b"2+2?" not in body  # no prompts or secrets in traces
