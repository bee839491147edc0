"""``sutazai mcp``: the workbench as an MCP server (stdio, or Streamable HTTP on loopback), for
Continue.dev's agent mode and any MCP client.

Tools (each with an ``outputSchema`` and structured content; a mistake is an ``isError`` result
that says what to do): list the agents, run one, run smoke cases (with progress), read a trace.
Tools that run the fleet are annotated as not read-only, so clients ask first. Resources: the
recent runs and each run's trace (``sutazai://runs/{run_id}``), each agent's files
(``sutazai://agents/{name}/{file}``). Prompts: "debug this run" and "write a smoke case for this
run". The SDK negotiates both current revisions (2025-11-25 and 2026-07-28); on 2026-07-28 a client
that declares the Tasks extension gets ``run_agent`` and ``run_smoke`` as tasks (``mcp_tasks``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from sutazai.errors import UserError
from sutazai.workbench.mcp_tasks import McpTasks, report
from sutazai.workspace import Workspace

READS = ToolAnnotations(read_only_hint=True, open_world_hint=False)
RUNS_THE_FLEET = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
AGENT_FILES = ("agent.yaml", "prompt.md", "tools.py", "smoke.yaml")
RECENT_RUNS = 50


class AgentInfo(BaseModel):
    name: str
    kind: str | None = None
    tier: str | None = None
    description: str | None = None
    broken: str | None = Field(default=None, description="Why the agent does not load, if it does not.")


class AgentList(BaseModel):
    agents: list[AgentInfo]


class RunResult(BaseModel):
    run_id: str
    status: str = Field(description="ok | error | timeout | budget | cancelled | unavailable")
    output: str
    error: str | None = None
    tokens: int


class FleetReport(BaseModel):
    ok: int
    total: int
    runs: list[RunResult] = Field(description="One run per agent: run_id, status, output, tokens.")


class CaseOutcome(BaseModel):
    agent: str
    case: str
    status: str = Field(description="passed | failed | error | skipped | stale | unavailable")
    reasons: list[str] = Field(default_factory=list)


class SmokeReport(BaseModel):
    passed: int
    failed: int
    total: int
    cases: list[CaseOutcome]


class Trace(BaseModel, extra="allow"):
    """The run's record (agent, status, input, output, tokens, timings), its steps and children."""

    id: str
    agent: str
    status: str
    steps: list[dict[str, Any]] = Field(
        description="Every step: prompt as sent, response, tool calls, timings."
    )
    children: list[dict[str, Any]] = Field(description="The runs it delegated to, each with its own steps.")


def build(workspace: Workspace) -> MCPServer:
    server: MCPServer = MCPServer(
        "sutazai",
        extensions=[McpTasks()],
        instructions="Work with the SutazAI agent fleet of this workspace: list agents, run one through the "
        "local gateway, run smoke tests, and read a run's trace step by step.",
    )

    @server.tool(annotations=READS)
    def list_agents() -> Annotated[CallToolResult, AgentList]:
        """List every agent of the workspace with its kind, model tier and description (broken ones with why)."""
        from sutazai.agents.loader import AgentCatalog

        catalog = AgentCatalog.scan(workspace)
        agents = [
            AgentInfo(name=a.name, kind=a.spec.kind, tier=a.spec.model_ref, description=a.spec.description)
            for a in sorted(catalog.agents.values(), key=lambda a: a.name)
        ]
        agents += [
            AgentInfo(name=n, broken=e.problems[0].render()) for n, e in sorted(catalog.broken.items())
        ]
        # Lines a model can repeat, beside the structured list: with SmolLM2-135M behind Continue,
        # answers named the agents 3 times in 5 from these lines and 1 in 5 from the JSON.
        lines = [f"{len(catalog.agents)} agents:"]
        lines += [
            f"- {a.name} ({a.kind}, {a.tier}): {a.description or 'no description'}"
            for a in agents
            if not a.broken
        ]
        lines += [f"- {a.name} (broken): {a.broken}" for a in agents if a.broken]
        listing = AgentList(agents=agents)
        return CallToolResult(
            content=[TextContent(text="\n".join(lines))], structured_content=listing.model_dump()
        )

    @server.tool(annotations=RUNS_THE_FLEET)
    async def run_agent(name: str, input: str, ctx: Context) -> RunResult:
        """Run an agent once through the gateway (interactive priority) and return its answer and run id."""
        from sutazai.agents.events import Token
        from sutazai.agents.loader import AgentCatalog
        from sutazai.agents.session import open_runtime, run_to_end

        try:
            agent = AgentCatalog.scan(workspace).get(name)
        except UserError as exc:
            raise ToolError(f"{exc} (list_agents names them)") from None
        tokens = 0

        async def progress(event: object) -> None:
            nonlocal tokens
            if isinstance(event, Token):
                tokens += 1
                if tokens % 16 == 1:
                    await report(ctx, tokens, None, f"{tokens} tokens from {name}")

        async with open_runtime(workspace) as runtime:
            outcome = await run_to_end(
                runtime,
                agent,
                input,
                priority="interactive",
                on_event=lambda e: _later(progress(e)),
                source="mcp",
            )
        return RunResult(
            run_id=outcome.run_id,
            status=outcome.status,
            output=outcome.output,
            error=outcome.error,
            tokens=outcome.tokens,
        )

    @server.tool(annotations=RUNS_THE_FLEET)
    async def run_smoke(ctx: Context, agents: list[str] | None = None, replay: bool = False) -> SmokeReport:
        """Run smoke cases (all agents, or the named ones); replay=true uses cassettes and no engine.
        Reports progress after each case."""
        from sutazai.agents.smoke.runner import CaseResult, SmokeRunner, collect

        try:
            suites = collect(workspace, agents or None)
        except UserError as exc:
            raise ToolError(str(exc)) from None
        total = sum(len(s.cases) for s in suites)
        done: list[CaseResult] = []

        def on_result(result: CaseResult) -> None:
            done.append(result)
            _later(
                report(
                    ctx,
                    len(done),
                    total,
                    f"{len(done)}/{total} {result.agent}/{result.case}: {result.status}",
                )
            )

        results = await SmokeRunner(workspace, "replay" if replay else "live").run(suites, on_result)
        cases = [CaseOutcome(agent=r.agent, case=r.case, status=r.status, reasons=r.reasons) for r in results]
        passed = sum(1 for c in cases if c.status == "passed")
        return SmokeReport(passed=passed, failed=len(cases) - passed, total=len(cases), cases=cases)

    @server.tool(annotations=RUNS_THE_FLEET)
    async def run_fleet(
        ctx: Context, agents: list[str] | None = None, input: str | None = None
    ) -> FleetReport:
        """Run every agent (or the named ones) once, concurrently, through the shared gateway at normal
        priority; each gets `input` or its first smoke case's. Reports progress as runs finish."""
        import asyncio

        from sutazai.agents.loader import AgentCatalog
        from sutazai.agents.session import demo_input, open_runtime, run_to_end

        catalog = AgentCatalog.scan(workspace)
        try:
            chosen = [catalog.get(name) for name in agents] if agents else list(catalog.agents.values())
        except UserError as exc:
            raise ToolError(f"{exc} (list_agents names them)") from None
        results: list[RunResult] = []

        async with open_runtime(workspace) as runtime:

            async def one(agent: Any) -> None:
                outcome = await run_to_end(runtime, agent, input or demo_input(agent), source="mcp")
                results.append(
                    RunResult(
                        run_id=outcome.run_id,
                        status=outcome.status,
                        output=outcome.output,
                        error=outcome.error,
                        tokens=outcome.tokens,
                    )
                )
                await report(
                    ctx,
                    len(results),
                    len(chosen),
                    f"{len(results)}/{len(chosen)} {agent.name}: {outcome.status}",
                )

            await asyncio.gather(*(one(agent) for agent in chosen))
        ok = sum(r.status == "ok" for r in results)
        return FleetReport(ok=ok, total=len(results), runs=list(results))

    @server.tool(annotations=READS)
    def read_trace(run_id: str) -> Trace:
        """A run's trace: the run, then every step (prompt as sent, response, tool calls, timings, tokens),
        then the runs it delegated to (``children``), each with its own steps and children."""
        return Trace(**_trace(workspace, run_id))

    @server.resource("sutazai://runs", name="runs", mime_type="application/json")
    def recent_runs() -> str:
        """The workspace's most recent runs (newest first): id, agent, status, tokens, when."""
        from sutazai.agents.runstore import RunStore

        store = RunStore(workspace.runs_db)
        try:
            runs = store.runs(None, RECENT_RUNS)
        finally:
            store.close()
        rows = [
            {
                "id": r.id,
                "agent": r.agent,
                "status": r.status,
                "tokens": r.prompt_tokens + r.completion_tokens,
                "started_at": r.started_at,
            }
            for r in runs
        ]
        return json.dumps(rows)

    @server.resource("sutazai://runs/{run_id}", name="run", mime_type="application/json")
    def run_resource(run_id: str) -> str:
        """One run's trace, as read_trace returns it."""
        return json.dumps(_trace(workspace, run_id), default=str)

    @server.resource("sutazai://agents/{name}/{file}", name="agent file", mime_type="text/plain")
    def agent_file(name: str, file: str) -> str:
        """One of an agent's own files: agent.yaml, prompt.md, tools.py or smoke.yaml."""
        if file not in AGENT_FILES:
            raise ResourceError(f"{file!r} is not an agent file; files: {', '.join(AGENT_FILES)}")
        try:
            path = workspace.agent_dir(name) / file  # check_name: a name never escapes agents/
        except UserError as exc:
            raise ResourceError(str(exc)) from None
        if not path.is_file():
            raise ResourceError(f"agents/{name}/{file} does not exist")
        return path.read_text(encoding="utf-8")

    @server.prompt(name="debug_run", description="Explain what went wrong in a run, from its trace.")
    def debug_run(run_id: str) -> str:
        trace = json.dumps(_trace(workspace, run_id), default=str)[:12_000]
        return (
            f"Here is the trace of SutazAI run {run_id} as JSON (run, steps, children):\n\n{trace}\n\n"
            "Say what the agent was asked, what each step did, and where the run went wrong (a wrong "
            "tool, bad arguments, a loop, an error or a budget stop). Then propose one change to the "
            "agent's prompt, tools or limits, naming the file (agents/<name>/agent.yaml or prompt.md)."
        )

    @server.prompt(name="write_smoke_case", description="Write a smoke case that pins what this run did.")
    def write_smoke_case(run_id: str) -> str:
        trace = json.dumps(_trace(workspace, run_id), default=str)[:12_000]
        return (
            f"Here is the trace of SutazAI run {run_id}:\n\n{trace}\n\nWrite one smoke case for the "
            "agent's smoke.yaml that would catch a regression of this run: a `name`, the `input`, and "
            "`expect` with what must hold (`contains`, `regex`, `tool_called`, `trajectory`, `status`). "
            "Answer with the YAML of the case only. (`sutazai smoke add AGENT --from-run RUN` records "
            "one with a cassette, so it replays without an engine.)"
        )

    return server


def _trace(workspace: Workspace, run_id: str) -> dict[str, Any]:
    from sutazai.agents.run_record import run_view
    from sutazai.agents.runstore import RunStore

    store = RunStore(workspace.runs_db)
    try:
        record = store.run(run_id)
        if record is None:
            raise ToolError(
                f"no single run matches {run_id!r}: the sutazai://runs resource lists recent ones"
            )
        return run_view(store, record).to_json()
    finally:
        store.close()


def _later(awaitable: Any) -> None:
    """Send a progress notification without waiting for it (the runner's callbacks are plain)."""
    import asyncio

    task = asyncio.ensure_future(awaitable)
    _PENDING.add(task)
    task.add_done_callback(_PENDING.discard)


_PENDING: set[Any] = set()


def serve(workspace: Workspace, http_port: int | None = None, host: str = "127.0.0.1") -> None:
    server = build(workspace)
    if http_port is None:
        server.run("stdio")
    else:  # Streamable HTTP; the SDK's DNS-rebinding guard keeps it to loopback Host headers
        server.run("streamable-http", host=host, port=http_port)
