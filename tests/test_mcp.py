"""The MCP server, spoken to by the ``mcp`` package's own client over stdio."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from sutazai.scaffolds.generate import init_workspace
from tests.conftest import ServerThread
from tests.scripted_engine import Reply, ScriptedEngine


def _text(result: object) -> dict[str, object]:
    return json.loads(result.content[0].text)  # type: ignore[attr-defined,no-any-return]


async def test_mcp_lists_runs_smokes_and_traces(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", demo=True)
    engine = ScriptedEngine(replies=[Reply("MCP says hi.")], default="fine answer about Paris")
    engine.pick = lambda body: (
        Reply("A cat sat on a mat.") if "cat sat" in str(body["messages"][-1]) else None
    )
    with ServerThread(engine.app()) as scripted:
        toml = root / "sutazai.toml"
        toml.write_text(toml.read_text().replace("http://127.0.0.1:11435", scripted.url))
        params = StdioServerParameters(
            command=str(Path(sys.executable).parent / "sutazai"), args=["mcp"], cwd=str(root)
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name for t in (await session.list_tools()).tools}
            assert tools == {"list_agents", "run_agent", "run_smoke", "read_trace"}
            listed = (await session.call_tool("list_agents", {})).content[0].text  # type: ignore[union-attr]
            assert listed.splitlines()[0] == "5 agents:"
            assert [line.split(" ")[1] for line in listed.splitlines()[1:]] == [
                "chat-buddy",
                "code-helper",
                "fact-finder",
                "planner",
                "summarizer",
            ]
            ran = _text(await session.call_tool("run_agent", {"name": "summarizer", "input": "hello"}))
            assert ran["status"] == "ok" and ran["output"] == "MCP says hi."
            trace = _text(await session.call_tool("read_trace", {"run_id": ran["run_id"]}))
            assert (
                trace["steps"][0]["kind"] == "llm" and trace["steps"][0]["data"]["response"] == "MCP says hi."
            )
            smoke = _text(await session.call_tool("run_smoke", {"agents": ["summarizer"]}))
            assert smoke["summary"]["passed"] == 2
            missing = _text(await session.call_tool("run_agent", {"name": "nope", "input": "x"}))
            assert "no agent named" in missing["error"]
