"""``sutazai mcp``: the workbench as an MCP server (stdio), for Continue.dev's agent mode and any
MCP client: list agents, run one, run smoke tests, read a trace."""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import MCPServer

from sutazai.errors import UserError
from sutazai.workspace import Workspace


def build(workspace: Workspace) -> MCPServer:
    server: MCPServer = MCPServer(
        "sutazai",
        instructions="Work with the SutazAI agent fleet of this workspace: list agents, run one through the "
        "local gateway, run smoke tests, and read a run's trace step by step.",
    )

    def reply(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, default=str)

    @server.tool(structured_output=False)
    def list_agents() -> str:
        """List every agent of the workspace with its kind, model tier and description (broken ones with why)."""
        from sutazai.agents.loader import AgentCatalog

        # Lines a model can repeat, not JSON it has to read: with SmolLM2-135M behind Continue,
        # answers named the agents 3 times in 5 from these lines and 1 in 5 from the JSON.
        catalog = AgentCatalog.scan(workspace)
        lines = [f"{len(catalog.agents)} agents:"]
        lines += [
            f"- {a.name} ({a.spec.kind}, {a.spec.model_ref}): {a.spec.description or 'no description'}"
            for a in sorted(catalog.agents.values(), key=lambda a: a.name)
        ]
        for name, error in sorted(catalog.broken.items()):
            lines.append(f"- {name} (broken): {error.problems[0].render()}")
        return "\n".join(lines)

    @server.tool(structured_output=False)
    async def run_agent(name: str, input: str) -> str:
        """Run an agent once through the gateway and return its answer and run id."""
        from sutazai.agents.loader import AgentCatalog
        from sutazai.agents.session import open_runtime, run_to_end

        try:
            agent = AgentCatalog.scan(workspace).get(name)
        except UserError as exc:
            return reply({"error": str(exc)})
        async with open_runtime(workspace) as runtime:
            outcome = await run_to_end(runtime, agent, input, priority="interactive")
        return reply(
            {
                "run_id": outcome.run_id,
                "status": outcome.status,
                "output": outcome.output,
                "error": outcome.error,
                "tokens": outcome.tokens,
            }
        )

    @server.tool(structured_output=False)
    async def run_smoke(agents: list[str] | None = None, replay: bool = False) -> str:
        """Run smoke cases (all agents, or the named ones); replay=true uses cassettes and no engine."""
        from sutazai.agents.smoke.report import to_json
        from sutazai.agents.smoke.runner import SmokeRunner, collect

        try:
            suites = collect(workspace, agents or None)
        except UserError as exc:
            return reply({"error": str(exc)})
        results = await SmokeRunner(workspace, "replay" if replay else "live").run(suites)
        return reply(to_json(results))

    @server.tool(structured_output=False)
    def read_trace(run_id: str) -> str:
        """A run's trace: the run, then every step (prompt as sent, response, tool calls, timings, tokens),
        then the runs it delegated to (``children``), each with its own steps and children."""
        from sutazai.agents.run_record import run_view
        from sutazai.agents.runstore import RunStore

        store = RunStore(workspace.runs_db)
        record = store.run(run_id)
        if record is None:
            return reply({"error": f"no single run matches {run_id!r}"})
        return reply(run_view(store, record).to_json())

    return server


def serve(workspace: Workspace) -> None:
    build(workspace).run("stdio")
