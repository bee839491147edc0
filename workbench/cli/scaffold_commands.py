"""``sutazai new``: a new agent from a template (kind, optionally a framework)."""

from __future__ import annotations

from typing import Annotated

import typer

from sutazai.workbench.cli.context import workspace_from
from sutazai.workbench.cli.output import console, emit_json


def new(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Agent name: [a-z][a-z0-9-]*.")],
    kind: Annotated[
        str, typer.Option("--kind", "-k", help="document | code | conversation | knowledge")
    ] = "document",
    framework: Annotated[
        str | None, typer.Option("--framework", "-f", help="langchain | crewai | autogen | semantic-kernel")
    ] = None,
    tier: Annotated[
        str | None,
        typer.Option(help="Model tier: the new agent's (default fast), or GPT-Engineer's (default quality)."),
    ] = None,
    from_prompt: Annotated[
        str | None, typer.Option("--from-prompt", help="Describe the agent; GPT-Engineer writes it.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing agent folder.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create agents/NAME from a template; it runs at once with `sutazai run NAME`."""
    from sutazai.scaffolds.generate import new_agent

    workspace = workspace_from(ctx)
    if from_prompt is not None:
        _from_prompt(workspace, name, from_prompt, tier or "quality", force, as_json)
        return
    folder = new_agent(
        workspace.agents_dir, name, kind, tier=tier or "fast", force=force, framework=framework
    )
    files = sorted(p.name for p in folder.iterdir())
    if as_json:
        emit_json({"agent": name, "folder": str(folder), "files": files})
        return
    console.print(f"Created [bold]agents/{name}[/] ({', '.join(files)})")
    console.print(f'Next: sutazai run {name} "hello"   ·   sutazai smoke {name}')


def _from_prompt(
    workspace: object, name: str, description: str, tier: str, force: bool, as_json: bool
) -> None:
    from sutazai.scaffolds.gpte import generate_from_prompt
    from sutazai.workbench.cli.output import EXIT_RUN_FAILED, err_console
    from sutazai.workspace import Workspace

    assert isinstance(workspace, Workspace)
    console.print(f"GPT-Engineer is writing the agent through the gateway (tier {tier})…")

    def progress(seconds: float, characters: int) -> None:
        err_console.print(
            f"  … {seconds:.0f} s, {characters} characters from GPT-Engineer so far", markup=False
        )

    report = generate_from_prompt(workspace, name, description, tier=tier, force=force, progress=progress)
    if as_json:
        emit_json(
            {
                "created": str(report.created) if report.created else None,
                "files": report.files,
                "problems": report.problems,
                "tool_exit_code": report.tool_exit_code,
            }
        )
    elif report.created:
        console.print(f"Created [bold]agents/{name}[/] ({', '.join(report.files)}), validated")
    else:
        err_console.print("[red]nothing written[/]: the generated agent is not valid")
        for problem in report.problems:
            err_console.print(f"  {problem}", markup=False)
    if report.created is None:
        raise typer.Exit(EXIT_RUN_FAILED)


def register(app: typer.Typer) -> None:
    app.command()(new)


tools_app = typer.Typer(
    rich_markup_mode=None,
    help="External tools in their own environments (Aider, GPT-Engineer).",
    no_args_is_help=True,
)


@tools_app.command("install")
def tools_install(name: Annotated[str, typer.Argument(help="aider | gpt-engineer")]) -> None:
    """Create the tool's own virtual environment under the user data directory."""
    from sutazai.scaffolds.tool_envs import install

    console.print(f"installing {name} into its own environment…")
    console.print(f"{name}: {install(name)}")


@tools_app.command("list")
def tools_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Which tools are installed, and where."""
    from sutazai.scaffolds.tool_envs import TOOLS, find

    rows = {name: str(find(name) or "") for name in TOOLS}
    if as_json:
        emit_json(rows)
        return
    for name, path in rows.items():
        console.print(f"{name:<14} {path or '[dim]not installed: sutazai tools install ' + name + '[/]'}")


def aider(
    ctx: typer.Context,
    agent: Annotated[str, typer.Argument(help="Agent to edit.")],
    args: Annotated[list[str] | None, typer.Argument(help="Extra Aider arguments (after --).")] = None,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="One scripted edit, then exit.")
    ] = None,
    tier: Annotated[str, typer.Option(help="Gateway model tier for Aider.")] = "quality",
) -> None:
    """Run Aider on the agent's files, with the local gateway as its model."""
    import subprocess

    from sutazai.agents.loader import load_agent
    from sutazai.errors import SpecError
    from sutazai.scaffolds.aider import aider_command, changed_files, fingerprint
    from sutazai.workbench.cli.output import report_error

    workspace = workspace_from(ctx)
    command = aider_command(workspace, agent, list(args or []), message, tier)
    folder = workspace.agent_dir(agent)
    before = fingerprint(folder)
    code = subprocess.run(command, cwd=folder, check=False).returncode
    changed = changed_files(before, fingerprint(folder))
    if not changed:
        console.print(
            f"Aider changed nothing in agents/{agent} (exit code {code}); a small model often cannot "
            "follow Aider's edit format: try `--tier` with a larger model"
        )
        raise typer.Exit(code or 1)
    console.print(f"Aider changed in agents/{agent}: {', '.join(changed)}")
    try:
        load_agent(workspace.agent_dir(agent))
        console.print(f"agents/{agent} is valid after the edit")
    except SpecError as exc:
        report_error(exc)
        console.print("[yellow]the edited agent does not validate; fix it or undo the change[/]")
    raise typer.Exit(code)


def register_tools(app: typer.Typer) -> None:
    app.add_typer(tools_app, name="tools")
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(aider)
