"""``sutazai fleet run``: every agent of the workspace at once, through the shared gateway."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from sutazai.agents.session import demo_input, open_runtime, run_to_end
from sutazai.wire import Priority
from sutazai.workbench.cli.context import priority_flag, workspace_from
from sutazai.workbench.cli.output import EXIT_RUN_FAILED, console, emit_json

if TYPE_CHECKING:
    from sutazai.agents.run_record import RunView

fleet_app = typer.Typer(
    rich_markup_mode=None, help="Work with the whole fleet at once.", no_args_is_help=True
)


async def _run_fleet(
    ctx: typer.Context, text: str | None, copies: int, priority: Priority, only: list[str] | None = None
) -> list[tuple[dict[str, Any], RunView | None]]:
    from sutazai.agents.loader import AgentCatalog
    from sutazai.agents.run_record import run_view

    workspace = workspace_from(ctx)
    catalog = AgentCatalog.scan(workspace)
    agents = [catalog.get(name) for name in dict.fromkeys(only)] if only else list(catalog.agents.values())
    async with open_runtime(workspace) as runtime:

        async def one(agent: Any, copy: int) -> tuple[dict[str, Any], RunView | None]:
            prompt = text or demo_input(agent)
            started = time.perf_counter()
            finished = await run_to_end(runtime, agent, prompt, priority=priority)
            record = runtime.store.run(finished.run_id)
            view = run_view(runtime.store, record, steps=False) if record else None
            return {
                "agent": agent.name,
                "copy": copy,
                "input": prompt,
                "status": finished.status,
                "run_id": finished.run_id,
                "seconds": round(time.perf_counter() - started, 2),
                "tokens": finished.tokens,
                "output": finished.output,
                "error": finished.error,
                "children": view.to_json()["children"] if view else [],
            }, view

        jobs = [one(a, c) for a in agents for c in range(copies)]
        return list(await asyncio.gather(*jobs))


def _child_rows(view: RunView | None) -> list[tuple[str, ...]]:
    """A row a run it delegated to, indented by depth under the fleet row."""
    rows: list[tuple[str, ...]] = []
    for depth, child in view.walk()[1:] if view else []:
        run = child.run
        colour = "green" if run.status == "ok" else "red"
        answer = escape((run.output or "").replace("\n", " ")[:90])
        name = f"[dim]{'  ' * (depth - 1)}↳ {escape(run.agent)}[/]"
        rows.append((name, f"[{colour}]{run.status}[/]", "", str(child.tokens), f"[dim]{answer}[/]"))
    return rows


@fleet_app.command("run")
def run_fleet(
    ctx: typer.Context,
    text: Annotated[
        str | None,
        typer.Option("--input", help="One input for all (default: each agent's first smoke case)."),
    ] = None,
    copies: Annotated[int, typer.Option("--copies", min=1, max=1000, help="Runs per agent.")] = 1,
    only: Annotated[
        list[str] | None,
        typer.Option("--agent", help="Only this agent (repeat for more; default: every agent)."),
    ] = None,
    priority: Annotated[str, typer.Option(help="interactive | normal | batch")] = "normal",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run every agent (or those named) concurrently and show what each answered."""
    started = time.perf_counter()
    results = asyncio.run(_run_fleet(ctx, text, copies, priority_flag(priority) or "normal", only))
    rows = [row for row, _ in results]
    elapsed = time.perf_counter() - started
    if as_json:
        emit_json({"seconds": round(elapsed, 2), "runs": rows})
    else:
        from rich.table import Table

        table = Table("agent", "status", "s", "tokens", "answer", box=None)
        for r, view in results:
            answer = escape((r["output"] or r["error"] or "").replace("\n", " ")[:90])
            colour = "green" if r["status"] == "ok" else "red"
            table.add_row(
                r["agent"], f"[{colour}]{r['status']}[/]", str(r["seconds"]), str(r["tokens"]), answer
            )
            for child in _child_rows(view):
                table.add_row(*child)
        console.print(table)
        ok = sum(r["status"] == "ok" for r in rows)
        console.print(f"{ok}/{len(rows)} runs ok in {elapsed:.1f} s, {sum(r['tokens'] for r in rows)} tokens")
    if any(r["status"] != "ok" for r in rows):
        raise typer.Exit(EXIT_RUN_FAILED)


def register(app: typer.Typer) -> None:
    app.add_typer(fleet_app, name="fleet")
