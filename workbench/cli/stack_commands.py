"""``sutazai stack ...``: the one-command local stack."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from sutazai.workbench.cli.context import workspace_from
from sutazai.workbench.cli.output import console, emit_json, err_console

if TYPE_CHECKING:
    from sutazai.gateway_report import QueueSnapshot
    from sutazai.stack.state import ServiceState

stack_app = typer.Typer(
    rich_markup_mode=None, help="Start, check, follow and stop the local backend stack.", no_args_is_help=True
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _table(rows: list[ServiceState]) -> None:
    from rich.table import Table

    table = Table("service", "state", "health", "pid", "url", box=None)
    for r in rows:
        colour = "green" if r.health == "healthy" else "red" if r.state != "stopped" else "dim"
        table.add_row(r.name, r.state, f"[{colour}]{r.health}[/]", str(r.pid or "-"), r.url)
    console.print(table)


@stack_app.command()
def up(
    ctx: typer.Context,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Return once healthy; keep running.")
    ] = False,
    docker: Annotated[
        bool, typer.Option("--docker", help="Run as containers through the Docker SDK.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Start every service and wait until all are healthy."""
    workspace = workspace_from(ctx)
    if docker:
        from sutazai.stack.docker_stack import docker_up

        rows = docker_up(workspace)
    else:
        from sutazai.stack import control

        rows = control.up(workspace, detach, on_note=lambda text: err_console.print(text, markup=False))
    if as_json:
        emit_json([r.to_json() for r in rows])
    else:
        _table(rows)
    if detach or docker:
        return
    from sutazai.stack import control

    console.print("[dim]stack is up; Ctrl-C stops it[/]")
    try:
        for line in control.follow(control.log_files(workspace, None), lines=0, forever=True):
            console.print(line, markup=False, highlight=False)
    except KeyboardInterrupt:
        pass
    finally:
        control.down(workspace)
        console.print("stack stopped")


@stack_app.command()
def down(
    ctx: typer.Context,
    docker: Annotated[bool, typer.Option("--docker", help="Stop and remove the stack's containers.")] = False,
) -> None:
    """Stop every service."""
    if docker:
        from sutazai.stack.docker_stack import docker_down

        _table(docker_down(workspace_from(ctx)))
        return
    from sutazai.stack import control

    stopped = control.down(workspace_from(ctx))
    console.print("stack stopped" if stopped else "stack was not running")


@stack_app.command()
def status(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Each service with state, health, pid and url."""
    from sutazai.stack import control

    rows = control.status(workspace_from(ctx))
    if as_json:
        emit_json([r.to_json() for r in rows])
    else:
        _table(rows)


@stack_app.command()
def logs(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Argument(help="One service (default: all).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n")] = 40,
) -> None:
    """Show (and follow) service logs."""
    from sutazai.stack import control

    try:
        for line in control.follow(control.log_files(workspace_from(ctx), service), lines, follow):
            console.print(line, markup=False, highlight=False)
    except KeyboardInterrupt:
        pass


@stack_app.command()
def restart(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Argument(help="Service name (default: every one, in turn).")] = None,
) -> None:
    """Restart a service, or every one in turn, without losing work: an engine is drained first
    (its queue moves to another replica or waits for it), then back in the gateway's table."""
    from sutazai.stack import control

    workspace = workspace_from(ctx)
    control.reconfigure(
        workspace, [service] if service else "all", lambda text: err_console.print(text, markup=False)
    )
    _table(control.status(workspace))


@stack_app.command()
def queue(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Who waits for the engines now: per engine in order, and per agent (needs the gateway token)."""
    import asyncio

    from sutazai.agents.gateway_client import GatewayClient

    workspace = workspace_from(ctx)

    async def fetch() -> QueueSnapshot:
        async with GatewayClient.for_workspace(workspace) as client:
            return await client.queue()

    snapshot = asyncio.run(fetch())
    if as_json:
        emit_json(snapshot.model_dump(mode="json"))
        return
    _queue_tables(snapshot)


def _queue_tables(snapshot: QueueSnapshot) -> None:
    from rich.table import Table

    engines = Table("engine", "slots", "in flight", "waiting", "mean hold", "resident", title="engines")
    for name, engine in snapshot.engines.items():
        hold = "-" if engine.mean_hold_s is None else f"{engine.mean_hold_s:.2f} s"
        resident = ", ".join(engine.resident_models or []) or "-"
        engines.add_row(
            name, str(engine.slots), str(engine.in_flight), str(len(engine.waiting)), hold, resident
        )
    console.print(engines)
    counts = snapshot.by_priority
    console.print("waiting by priority: " + ", ".join(f"{p} {n}" for p, n in counts.items()))
    if not snapshot.agents:
        console.print(f"nobody is waiting or running (routing: {snapshot.routing})")
        return
    agents = Table("agent", "in flight", "waiting", "by priority", "oldest wait", title="agents")
    for name, agent in sorted(snapshot.agents.items(), key=lambda kv: -kv[1].waiting):
        priorities = ", ".join(f"{p} {n}" for p, n in agent.by_priority.items()) or "-"
        agents.add_row(
            name, str(agent.in_flight), str(agent.waiting), priorities, f"{agent.oldest_wait_s:.1f} s"
        )
    console.print(agents)


def register(app: typer.Typer) -> None:
    app.add_typer(stack_app, name="stack")
