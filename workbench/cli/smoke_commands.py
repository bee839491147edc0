"""``sutazai smoke``: the gate before deploy."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sutazai.workbench.cli.context import workspace_from
from sutazai.workbench.cli.default_group import group_with_default
from sutazai.workbench.cli.output import EXIT_GATEWAY, EXIT_RUN_FAILED, console, emit_json

if TYPE_CHECKING:
    from sutazai.agents.smoke.runner import CaseResult


def smoke(
    ctx: typer.Context,
    agents: Annotated[list[str] | None, typer.Argument(help="Agents to test (default: all).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Only cases with this tag.")] = None,
    parallel: Annotated[int, typer.Option("--parallel", "-p", min=1, max=256)] = 4,
    record: Annotated[bool, typer.Option("--record", help="Store model exchanges in cassettes.")] = False,
    replay: Annotated[bool, typer.Option("--replay", help="Replay cassettes offline, no engine.")] = False,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run smoke cases through the gateway (batch priority); non-zero exit on any failure."""
    from sutazai.agents.smoke.report import counts, to_json, write_junit
    from sutazai.agents.smoke.runner import SmokeRunner, collect
    from sutazai.errors import Problem, UserError

    if record and replay:
        raise UserError(Problem("--record and --replay exclude each other"))
    workspace = workspace_from(ctx)
    suites = collect(workspace, agents or None, tag or None)
    runner = SmokeRunner(workspace, "replay" if replay else "record" if record else "live", parallel)
    if as_json:
        results = asyncio.run(runner.run(suites))
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(
            TextColumn("{task.description:<20}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]}"),
            console=console,
            transient=False,
        ) as progress:
            bars = {
                s.agent.name: progress.add_task(s.agent.name, total=len(s.cases), failed="") for s in suites
            }

            def advance(result: object) -> None:
                from sutazai.agents.smoke.runner import CaseResult

                assert isinstance(result, CaseResult)
                task = bars[result.agent]
                if result.status == "passed":
                    progress.update(task, advance=1)
                else:
                    progress.update(task, advance=1, failed=f"[red]{result.status}: {result.case}[/]")

            results = asyncio.run(runner.run(suites, advance))
        console.print(summary_table(results))
    if junit:
        write_junit(results, junit)
    c = counts(results)
    if as_json:
        emit_json(to_json(results))
    else:
        console.print(", ".join(f"{n} {k}" for k, n in c.items() if n) or "no cases")
    if c["unavailable"]:
        raise typer.Exit(EXIT_GATEWAY)
    if c["failed"] or c["stale"] or c["error"]:
        raise typer.Exit(EXIT_RUN_FAILED)


def add(
    ctx: typer.Context,
    agent_name: Annotated[str, typer.Argument(metavar="AGENT", help="The agent the case is for.")],
    run_id: Annotated[str, typer.Option("--from-run", help="The recorded run to turn into a case.")],
    name: Annotated[str | None, typer.Option("--name", help="The new case's name.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Turn a recorded run into a smoke case and its cassette (expectations proposed: edit them)."""
    from sutazai.agents.gateway_client import GatewayClient
    from sutazai.agents.loader import AgentCatalog
    from sutazai.agents.runstore import RunStore
    from sutazai.agents.smoke.from_run import add_from_run

    workspace = workspace_from(ctx)
    agent = AgentCatalog.scan(workspace).get(agent_name)
    settings = workspace.settings

    async def embed(texts: list[str]) -> list[list[float]]:  # only for runs that recalled memories
        async with GatewayClient.for_workspace(workspace, agent=agent.name) as client:
            return await client.embed(texts, settings.memory.embedding_model, agent=agent.name)

    added = asyncio.run(add_from_run(agent, RunStore(workspace.runs_db), run_id, name, embed))
    if as_json:
        emit_json(
            {
                "case": added.case.model_dump(exclude_none=True),
                "smoke_file": str(added.smoke_file),
                "cassette": str(added.cassette),
            }
        )
        return
    console.print(
        f"added case [bold]{added.case.name}[/] to {added.smoke_file} (expectations proposed: edit them)"
    )
    console.print(f"cassette: {added.cassette}; check it offline: sutazai smoke {agent.name} --replay")
    if added.fresh_cassette:
        console.print(
            "note: the agent changed since its cassette was recorded: other cases need --record again"
        )


COLOURS = {"passed": "green", "failed": "red", "stale": "yellow", "error": "red", "unavailable": "magenta"}


def summary_table(results: list[CaseResult]) -> Table:
    table = Table("agent", "case", "result", "ms", "tokens", "reason", box=None)
    for r in results:
        reason = escape("\n".join(r.reasons)) if r.reasons else ""
        table.add_row(
            escape(r.agent),
            escape(r.case),
            f"[{COLOURS[r.status]}]{r.status}[/]",
            f"{r.latency_ms:.0f}",
            str(r.prompt_tokens + r.completion_tokens),
            reason,
        )
    return table


smoke_app = group_with_default(
    "Smoke tests before deploy: `sutazai smoke [AGENTS]` runs them, `sutazai smoke add` adds one.",
    ("run", smoke),
    ("add", add),
)


def register(app: typer.Typer) -> None:
    app.add_typer(smoke_app, name="smoke")
