"""``sutazai``: one entry point; each command group lives in its own module.

Start-up stays light (``sutazai --help`` well under 0.5 s): modules below import their heavy
dependencies inside the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sutazai import __version__
from sutazai.errors import UserError
from sutazai.workbench.cli import (
    a2a_command,
    agent_commands,
    dap_command,
    doctor,
    fleet_commands,
    launch_command,
    plan_command,
    scaffold_commands,
    smoke_commands,
    stack_commands,
)
from sutazai.workbench.cli.output import report_error

app = typer.Typer(
    rich_markup_mode=None,
    name="sutazai",
    help="SutazAI Workbench: build, run, trace and smoke-test fleets of local LLM agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sutazai {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    workspace: Annotated[
        Path | None, typer.Option("--workspace", "-w", help="Workspace folder (default: found from cwd).")
    ] = None,
    gateway: Annotated[str | None, typer.Option("--gateway", help="Gateway URL, overriding config.")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    flags: dict[str, Any] = {}
    if gateway:
        flags["gateway"] = {"url": gateway}
    ctx.obj = {"workspace": workspace, "flags": flags}


agent_commands.register(app)
doctor.register(app)
stack_commands.register(app)
fleet_commands.register(app)
plan_command.register(app)
smoke_commands.register(app)
scaffold_commands.register(app)
scaffold_commands.register_tools(app)
launch_command.register(app)
dap_command.register(app)
a2a_command.register(app)


def run() -> None:
    """Console-script entry: user mistakes become a clear message and an exit code."""
    from sutazai.offline import quiet_environment

    quiet_environment()
    as_json = "--json" in sys.argv
    try:
        code = app(standalone_mode=False)
    except UserError as exc:
        sys.exit(report_error(exc, as_json))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:  # a read-only or missing path: the user's to fix, not a traceback
        from sutazai.errors import Problem

        where = f" {exc.filename}" if exc.filename else ""
        problem = Problem(
            f"cannot use{where}: {exc.strerror or exc}", hint="check that the path exists and is writable"
        )
        sys.exit(report_error(UserError(problem), as_json))
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        # Recent typer vendors click (typer._click), so its exceptions are not click's: match the shape.
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            sys.exit(exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)
