"""``sutazai stack ...``: the one-command local stack."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from sutazai.workbench.cli.output import console, emit_json
from sutazai.workbench.cli.session import workspace_from

if TYPE_CHECKING:
    from sutazai.stack.state import ServiceState

stack_app = typer.Typer(help="Start, check, follow and stop the local backend stack.", no_args_is_help=True)
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

        rows = control.up(workspace, detach)
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
def restart(ctx: typer.Context, service: Annotated[str, typer.Argument(help="Service name.")]) -> None:
    """Restart one service (the supervisor brings it back at once)."""
    from sutazai.stack import control

    control.restart(workspace_from(ctx), service)
    console.print(f"restart of {service} requested")


def register(app: typer.Typer) -> None:
    app.add_typer(stack_app, name="stack")
