"""The MCP server, spoken to by the ``mcp`` package's own client over stdio."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Literal

from mcp import Client
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, EmptyResult, Request, RequestParams, Result

from sutazai.agents.runstore import RunStore
from sutazai.scaffolds.generate import init_workspace
from tests.conftest import ServerThread, eventually
from tests.scripted_engine import Reply, ScriptedEngine


def _serve_mcp(root: Path, gateway: str) -> StdioServerParameters:
    """Point the workspace at ``gateway``; the parameters that start ``sutazai mcp`` in it."""
    toml = root / "sutazai.toml"
    toml.write_text(toml.read_text().replace("http://127.0.0.1:11435", gateway))
    return StdioServerParameters(
        command=str(Path(sys.executable).parent / "sutazai"), args=["mcp"], cwd=str(root)
    )


def _text(result: object) -> dict[str, object]:
    return json.loads(result.content[0].text)  # type: ignore[attr-defined,no-any-return]


async def test_mcp_lists_runs_smokes_and_traces(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", demo=True)
    engine = ScriptedEngine(replies=[Reply("MCP says hi.")], default="fine answer about Paris")
    engine.pick = lambda body: (
        Reply("A cat sat on a mat.") if "cat sat" in str(body["messages"][-1]) else None
    )
    with ServerThread(engine.app()) as scripted:
        params = _serve_mcp(root, scripted.url)
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name for t in (await session.list_tools()).tools}
            assert tools == {"list_agents", "run_agent", "run_smoke", "run_fleet", "read_trace"}
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
            assert smoke["passed"] == 2 and smoke["total"] == 2
            missing = await session.call_tool("run_agent", {"name": "nope", "input": "x"})
            assert missing.is_error and "no agent named" in missing.content[0].text  # type: ignore[union-attr]


async def test_mcp_at_the_current_spec(tmp_path: Path) -> None:
    """Output schemas and structured content, errors as isError, progress, resources, prompts and
    annotations, through the official client."""
    root = init_workspace(tmp_path / "ws", demo=True)
    engine = ScriptedEngine(default="A cat sat on a mat.")
    with ServerThread(engine.app()) as scripted:
        params = _serve_mcp(root, scripted.url)
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert all(t.output_schema for t in tools.values())  # every tool says what it returns
            assert tools["list_agents"].annotations.read_only_hint  # type: ignore[union-attr]
            assert tools["run_smoke"].annotations.read_only_hint is False  # type: ignore[union-attr]
            listed = await session.call_tool("list_agents", {})
            names = [a["name"] for a in listed.structured_content["agents"]]  # type: ignore[index]
            assert names == ["chat-buddy", "code-helper", "fact-finder", "planner", "summarizer"]
            progress: list[tuple[float, float | None, str | None]] = []

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                progress.append((done, total, message))

            smoke = await session.call_tool(
                "run_smoke", {"agents": ["summarizer"]}, progress_callback=on_progress
            )
            assert smoke.structured_content["total"] == 2  # type: ignore[index]
            assert [p[:2] for p in progress] == [(1, 2), (2, 2)], progress
            ran = await session.call_tool("run_agent", {"name": "summarizer", "input": "hello"})
            run_id = ran.structured_content["run_id"]  # type: ignore[index]
            resources = {str(r.uri) for r in (await session.list_resources()).resources}
            assert "sutazai://runs" in resources
            templates = {t.uri_template for t in (await session.list_resource_templates()).resource_templates}
            assert {"sutazai://runs/{run_id}", "sutazai://agents/{name}/{file}"} <= templates
            trace = json.loads((await session.read_resource(f"sutazai://runs/{run_id}")).contents[0].text)  # type: ignore[union-attr]
            assert trace["id"] == run_id and trace["steps"]
            spec = (await session.read_resource("sutazai://agents/summarizer/agent.yaml")).contents[0]
            assert "name: summarizer" in spec.text  # type: ignore[union-attr]
            for bad in ("sutazai://agents/summarizer/.env", "sutazai://agents/..%2F..%2Fetc/agent.yaml"):
                try:
                    await session.read_resource(bad)
                except Exception as exc:  # an error the client sees, nothing read
                    assert "agent" in str(exc) or "not" in str(exc), exc
                else:
                    raise AssertionError(f"{bad} was read")
            prompts = {p.name for p in (await session.list_prompts()).prompts}
            assert prompts == {"debug_run", "write_smoke_case"}
            debug = await session.get_prompt("debug_run", {"run_id": run_id})
            assert run_id in debug.messages[0].content.text  # type: ignore[union-attr]
            unknown = await session.call_tool("read_trace", {"run_id": "nope"})
            assert unknown.is_error and "no single run" in unknown.content[0].text  # type: ignore[union-attr]


class _CreateTaskResult(Result):
    """The Tasks extension's ``CreateTaskResult``, as a claim on ``tools/call``."""

    result_type: Literal["task"] = "task"
    task_id: str
    status: str
    status_message: str | None = None
    poll_interval_ms: int | None = None


class _TaskId(RequestParams):
    task_id: str


class _GetTask(Request[_TaskId, Literal["tasks/get"]]):
    name_param = "taskId"  # SEP-2663: tasks/* carry Mcp-Name


class _CancelTask(Request[_TaskId, Literal["tasks/cancel"]]):
    name_param = "taskId"


class _Task(Result, extra="allow"):
    task_id: str
    status: str
    status_message: str | None = None
    result: dict[str, object] | None = None


class _Tasks(ClientExtension):
    """The client side of ``io.modelcontextprotocol/tasks``: poll ``tasks/get`` until the task ends;
    every status message seen is kept (the progress a user would be shown)."""

    identifier = "io.modelcontextprotocol/tasks"

    def __init__(self) -> None:
        self.created: list[_CreateTaskResult] = []
        self.seen: list[str] = []

    def claims(self) -> list[ResultClaim[_CreateTaskResult]]:
        return [ResultClaim(result_type="task", model=_CreateTaskResult, resolve=self.resolve)]

    async def resolve(self, created: _CreateTaskResult, ctx: ClaimContext) -> CallToolResult:
        self.created.append(created)
        while True:
            task = await ctx.session.send_request(
                _GetTask(method="tasks/get", params=_TaskId(task_id=created.task_id)), _Task
            )
            self.seen.append(f"{task.status}: {task.status_message}")
            if task.status in ("completed", "failed", "cancelled"):
                assert task.status == "completed" and task.result is not None, task
                return CallToolResult.model_validate(task.result)
            await asyncio.sleep((created.poll_interval_ms or 200) / 1000 / 5)


async def test_run_smoke_and_run_agent_as_tasks_with_progress_and_cancel(tmp_path: Path) -> None:
    """2026-07-28 with the Tasks extension: the long tools answer with a task handle, progress is the
    task's status message, the result is the tool's own, and tasks/cancel cancels the run."""
    root = init_workspace(tmp_path / "ws", demo=True)
    engine = ScriptedEngine()
    answered = iter(range(1, 1000))  # each answer slower than the last: cases end one by one
    engine.pick = lambda body: None if engine.replies else Reply("A cat sat.", delay_s=0.05 * next(answered))
    with ServerThread(engine.app()) as scripted:
        params = _serve_mcp(root, scripted.url)
        tasks = _Tasks()
        async with Client(params, extensions=[tasks]) as client:
            smoke = await client.call_tool("run_smoke", {"agents": ["summarizer", "fact-finder"]})
            assert smoke.structured_content["total"] == 4, smoke  # type: ignore[index]
            assert len(tasks.created) == 1 and tasks.created[0].status == "working"
            assert tasks.seen[-1] == "completed: done"
            assert any("/4 " in s for s in tasks.seen), tasks.seen  # progress while it worked
            fleet = await client.call_tool(
                "run_fleet", {"agents": ["summarizer", "fact-finder"], "input": "hi"}
            )
            assert fleet.structured_content["ok"] == 2, fleet  # type: ignore[index]
            assert len(tasks.created) == 2 and any("/2 " in s for s in tasks.seen[-4:]), tasks.seen

            engine.replies = [Reply("slow " * 200, delay_s=0.05)]
            session = client.session
            created = await session.call_tool(
                "run_agent", {"name": "summarizer", "input": "hang on"}, allow_claimed=True
            )
            assert isinstance(created, _CreateTaskResult)
            await asyncio.sleep(1.0)
            await session.send_request(
                _CancelTask(method="tasks/cancel", params=_TaskId(task_id=created.task_id)), EmptyResult
            )
            task = await session.send_request(
                _GetTask(method="tasks/get", params=_TaskId(task_id=created.task_id)), _Task
            )
            assert task.status == "cancelled"
            try:
                await session.send_request(
                    _GetTask(method="tasks/get", params=_TaskId(task_id="nope")), _Task
                )
            except MCPError as exc:
                assert "no task 'nope'" in exc.error.message
            else:
                raise AssertionError("an unknown task id was answered")
        store = RunStore(root / ".sutazai" / "runs.db")
        try:
            eventually(lambda: [r.status for r in store.runs(limit=1)] == ["cancelled"], timeout=10)
            assert store.runs(limit=1)[0].source == "mcp"
        finally:
            store.close()

        # A client that does not declare the extension gets the plain answer, as before.
        async with Client(params) as plain:
            ran = await plain.call_tool("run_agent", {"name": "summarizer", "input": "hi"})
            assert ran.structured_content["status"] == "ok"  # type: ignore[index]


def test_a_client_that_vanishes_mid_call_leaves_its_run_recorded_cancelled(tmp_path: Path) -> None:
    """The client writes its call and goes away (stdin closed, no cancel sent): the server cancels
    the run, which is recorded as cancelled, and exits."""
    import subprocess
    import time

    root = init_workspace(tmp_path / "ws", demo=True)
    engine = ScriptedEngine(replies=[Reply("slow " * 400, delay_s=0.05)])
    with ServerThread(engine.app()) as scripted:
        _serve_mcp(root, scripted.url)
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "sutazai"), "mcp"],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert server.stdin is not None and server.stdout is not None
        hello = {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        }
        for message in (
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "run_agent", "arguments": {"name": "summarizer", "input": "x"}},
            },
        ):
            server.stdin.write((json.dumps(message) + "\n").encode())
            server.stdin.flush()
        server.stdout.readline()  # the initialize answer
        store = RunStore(root / ".sutazai" / "runs.db")
        try:
            eventually(lambda: [r.status for r in store.runs(limit=1)] == ["running"], timeout=15)
            time.sleep(0.5)
            server.stdin.close()  # gone, without a word
            assert server.wait(timeout=20) is not None
            eventually(lambda: [r.status for r in store.runs(limit=1)] == ["cancelled"], timeout=10)
        finally:
            store.close()
            server.kill()
